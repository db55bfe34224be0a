"""Demo set-up for `make run`: a team of the demo agents and a launched call campaign, created
through the same services supervisors use."""

from __future__ import annotations

from datetime import time, timedelta
from decimal import Decimal

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from campaigns.models import Campaign, CampaignKind, CampaignState
from campaigns.services import campaign_create, campaign_transition
from customers.models import Channel, Segment
from outreach.launch import campaign_launch_start
from outreach.models import AgentProfile, CampaignLaunch, Team

DEMO_TEAM = "東京センター"
DEMO_CAMPAIGN = "休眠顧客 掘り起こしコール"


def demo_outreach_setup(*, supervisor: AbstractBaseUser, agents: list[AbstractBaseUser]) -> str:
    """Create (once) the demo team and launch the demo campaign. Returns a one-line summary."""
    with transaction.atomic():
        team, _ = Team.objects.get_or_create(name=DEMO_TEAM)
        for agent in agents:
            AgentProfile.objects.update_or_create(
                user=agent, defaults={"team": team, "capacity": 80}
            )
        campaign = Campaign.objects.filter(name=DEMO_CAMPAIGN).first()
        if campaign is None:
            today = timezone.localdate()
            campaign = campaign_create(
                created_by=supervisor,
                name=DEMO_CAMPAIGN,
                kind=CampaignKind.DORMANT_REACTIVATION,
                channel=Channel.CALL,
                product="定期便",
                offer="定期便の再開で初回20%オフ",
                starts_on=today - timedelta(days=1),
                ends_on=today + timedelta(days=60),
                priority=80,
                script=(
                    "お世話になっております。株式会社サンプル通販の{agent}と申します。"
                    "以前ご利用いただいた定期便の再開についてご案内のお電話です。"
                ),
                disclosure_company="株式会社サンプル通販",
                disclosure_product="定期便（健康食品）",
                disclosure_purpose="定期便再開のご案内（勧誘）のお電話です",
                holdout_percent=Decimal("10"),
                window_start=time(9, 0),
                window_end=time(21, 0),
                call_on_weekends=True,
                frequency_cap_contacts=3,
                frequency_cap_days=14,
                target_segments=Segment.objects.filter(
                    key__in=["at_risk", "cant_lose", "hibernating", "about_to_sleep"]
                ),
            )
            team.campaigns.add(campaign)
            campaign_transition(campaign=campaign, to_state=CampaignState.SCHEDULED, by=supervisor)
        if campaign.state == CampaignState.SCHEDULED:
            campaign_launch_start(campaign=campaign, by=supervisor)
    launch = CampaignLaunch.objects.filter(campaign=campaign).first()
    if launch is None:
        return f"Campaign “{campaign.name}”: {campaign.state}"
    return (
        f"Campaign “{campaign.name}”: {launch.status} — targeted {launch.targeted}, "
        f"excluded {sum(launch.excluded.values())}, holdout {launch.holdout}, "
        f"treatment {launch.treatment}"
    )
