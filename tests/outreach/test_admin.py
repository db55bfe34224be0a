"""Admin pages of the work queue load with their columns and filters, and launch works there."""

from datetime import timedelta

import pytest
from django.urls import reverse

from campaigns.models import CampaignState
from outreach.claiming import claim_next
from outreach.models import CampaignLaunch, CampaignMember, Disposition
from outreach.outcomes import contact_log
from tests.factories import CampaignFactory, CustomerRfmFactory, SegmentFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "model",
    [
        "team",
        "agentprofile",
        "campaignlaunch",
        "campaignmember",
        "contactattempt",
        "customercardview",
    ],
)
def test_changelists_load(admin_client, running_campaign, agent_x, now, model):
    member = CampaignMember.objects.create(
        campaign=running_campaign,
        customer=CustomerRfmFactory().customer,
        group="treatment",
        due_at=now - timedelta(days=1),
    )
    claim_next(agent=agent_x, now=now)
    contact_log(
        member=member,
        agent=agent_x,
        disposition=Disposition.objects.get(code="no_answer"),
        idempotency_key="admin",
        now=now,
    )
    response = admin_client.get(reverse(f"admin:outreach_{model}_changelist"))
    assert response.status_code == 200


def test_launch_action(admin_client, django_capture_on_commit_callbacks):
    segment = SegmentFactory()
    CustomerRfmFactory(segment=segment)
    campaign = CampaignFactory(state=CampaignState.SCHEDULED)
    campaign.target_segments.set([segment])
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(
            reverse("admin:campaigns_campaign_changelist"),
            {"action": "launch_campaigns", "_selected_action": [campaign.pk]},
        )
    assert CampaignLaunch.objects.get(campaign=campaign).status == "succeeded"
