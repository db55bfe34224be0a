"""`make run`'s demo: data through the import pipeline, a team of the demo agents and a launched
campaign whose queue the demo agent can work."""

import pytest
from django.core.management import call_command

from campaigns.models import Campaign, CampaignState
from outreach.demo import DEMO_CAMPAIGN
from outreach.models import AgentProfile, CampaignMember, MemberGroup

pytestmark = pytest.mark.django_db(transaction=True)


def test_load_demo_launches_a_campaign_for_the_demo_agents(capsys):
    call_command("load_demo", customers=400, purchases=4000)
    campaign = Campaign.objects.get(name=DEMO_CAMPAIGN)
    assert campaign.state == CampaignState.RUNNING
    assert CampaignMember.objects.filter(campaign=campaign, group=MemberGroup.TREATMENT).exists()
    assert AgentProfile.objects.filter(user__username="agent", team__campaigns=campaign).exists()
    output = capsys.readouterr().out
    assert DEMO_CAMPAIGN in output and "demo-agent-pass" in output

    members = CampaignMember.objects.filter(campaign=campaign).count()
    call_command("load_demo")  # again: nothing doubles
    assert Campaign.objects.filter(name=DEMO_CAMPAIGN).count() == 1
    assert CampaignMember.objects.filter(campaign=campaign).count() == members
