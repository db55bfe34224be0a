from outreach.models.audit import CustomerCardView
from outreach.models.dispositions import Disposition
from outreach.models.performance import AgentDailyStats
from outreach.models.queue import (
    AgentProfile,
    CampaignLaunch,
    CampaignMember,
    CloseReason,
    ContactAttempt,
    Lane,
    MemberGroup,
    MemberStatus,
    Team,
    VoiceCategory,
)

__all__ = [
    "AgentDailyStats",
    "AgentProfile",
    "CampaignLaunch",
    "CampaignMember",
    "CloseReason",
    "ContactAttempt",
    "CustomerCardView",
    "Disposition",
    "Lane",
    "MemberGroup",
    "MemberStatus",
    "Team",
    "VoiceCategory",
]
