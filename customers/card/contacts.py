"""The card's contact history and waiting callbacks (outreach models, imported when used:
``outreach`` imports ``customers``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from customers.models import Channel, Customer


def _user_name(user: Any) -> str:
    if user is None:
        return ""
    return user.get_full_name() or user.get_username()


@dataclass(frozen=True)
class ContactEntry:
    """One past contact attempt, as the timeline shows it."""

    attempt_id: int
    attempted_at: datetime
    campaign_id: int
    campaign_name: str
    agent_id: int | None
    agent_name: str  # "" for the mailer / a batch send
    channel: str
    channel_label: str
    disposition_code: str
    disposition_name: str  # in the active language
    reached: bool
    success: bool
    duration_seconds: int
    notes: str
    voice_category: str
    voice_category_label: str  # "" when none
    voice_text: str
    nps: int | None
    callback_at: datetime | None
    callback_scope: str


@dataclass(frozen=True)
class ContactTimeline:
    entries: tuple[ContactEntry, ...]  # newest first
    has_more: bool  # older contacts exist beyond ``limit``


def contact_timeline(customer: Customer, limit: int = 50) -> ContactTimeline:
    """Every past contact of the customer across campaigns and agents, newest first.

    One query on ``attempt_customer_time_idx`` with campaign, agent and disposition joined.
    """
    from outreach.models import ContactAttempt, VoiceCategory

    attempts = list(
        ContactAttempt.objects.filter(customer_id=customer.pk)
        .select_related("campaign", "agent", "disposition")
        .only(
            "attempted_at",
            "channel",
            "duration_seconds",
            "notes",
            "voice_category",
            "voice_text",
            "nps",
            "callback_at",
            "callback_scope",
            "reached",
            "success",
            "campaign__name",
            "agent__username",
            "agent__first_name",
            "agent__last_name",
            "disposition__code",
            "disposition__name",
            "disposition__name_ja",
        )
        .order_by("-attempted_at", "-pk")[: limit + 1]
    )
    voices = dict(VoiceCategory.choices)
    channels = dict(Channel.choices)
    entries = tuple(
        ContactEntry(
            attempt_id=a.pk,
            attempted_at=a.attempted_at,
            campaign_id=a.campaign_id,
            campaign_name=a.campaign.name,
            agent_id=a.agent_id,
            agent_name=_user_name(a.agent),
            channel=a.channel,
            channel_label=str(channels.get(a.channel, a.channel)),
            disposition_code=a.disposition.code,
            disposition_name=a.disposition.display_name(),
            reached=a.reached,
            success=a.success,
            duration_seconds=a.duration_seconds,
            notes=a.notes,
            voice_category=a.voice_category,
            voice_category_label=str(voices[a.voice_category]) if a.voice_category else "",
            voice_text=a.voice_text,
            nps=a.nps,
            callback_at=a.callback_at,
            callback_scope=a.callback_scope,
        )
        for a in attempts[:limit]
    )
    return ContactTimeline(entries=entries, has_more=len(attempts) > limit)


@dataclass(frozen=True)
class OpenCallback:
    """A waiting callback of the customer in some campaign."""

    member_id: int
    campaign_id: int
    campaign_name: str
    due_at: datetime
    personal: bool  # True: only ``agent`` takes it; False: any agent on the campaign
    agent_id: int | None
    agent_name: str


def open_callbacks(customer: Customer) -> list[OpenCallback]:
    """The customer's queued callback-lane members, soonest first, with who takes each.

    One query on ``member_customer_idx`` (customer, status).
    """
    from outreach.models import CampaignMember, Lane, MemberStatus

    members = (
        CampaignMember.objects.filter(
            customer_id=customer.pk, status=MemberStatus.QUEUED, lane=Lane.CALLBACK
        )
        .select_related("campaign", "callback_agent")
        .only(
            "due_at",
            "campaign__name",
            "callback_agent__username",
            "callback_agent__first_name",
            "callback_agent__last_name",
        )
        .order_by("due_at", "pk")
    )
    return [
        OpenCallback(
            member_id=m.pk,
            campaign_id=m.campaign_id,
            campaign_name=m.campaign.name,
            due_at=m.due_at,
            personal=m.callback_agent_id is not None,
            agent_id=m.callback_agent_id,
            agent_name=_user_name(m.callback_agent),
        )
        for m in members
    ]
