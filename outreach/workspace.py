"""Reads for the agent workspace: the "my work" counts, who may open which customer card, and
the audit of card views."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Count, Q
from django.http import HttpRequest
from django.utils import timezone

from campaigns.models import Campaign, CampaignState
from config.roles import is_supervisor
from customers.models import Customer
from outreach.models import (
    CampaignMember,
    ContactAttempt,
    CustomerCardView,
    Lane,
    MemberStatus,
)


@dataclass
class CampaignWork:
    campaign: Campaign
    callbacks: int = 0
    retries: int = 0
    fresh: int = 0


@dataclass
class MyWork:
    campaigns: list[CampaignWork] = field(default_factory=list)
    callbacks: list[CampaignMember] = field(default_factory=list)
    held: list[CampaignMember] = field(default_factory=list)
    attempts_today: int = 0
    reached_today: int = 0
    converted_today: int = 0


def my_work(*, agent: AbstractBaseUser, now: datetime | None = None) -> MyWork:
    """What is waiting for ``agent`` now, per running campaign they work on, their callbacks,
    the claims they hold, and today's tally (local day)."""
    now = now or timezone.now()
    campaigns = list(
        Campaign.objects.filter(
            state=CampaignState.RUNNING, teams__is_active=True, teams__agents__user=agent
        )
        .distinct()
        .order_by("-priority", "id")
    )
    work = MyWork(campaigns=[CampaignWork(c) for c in campaigns])
    if campaigns:
        visible = Q(owner__isnull=True) | Q(owner=agent)
        callback_visible = Q(callback_agent=agent) | (Q(callback_agent__isnull=True) & visible)
        rows = (
            CampaignMember.objects.filter(
                campaign__in=campaigns, status=MemberStatus.QUEUED, due_at__lte=now
            )
            .filter((Q(lane=Lane.CALLBACK) & callback_visible) | (~Q(lane=Lane.CALLBACK) & visible))
            .order_by()
            .values("campaign_id", "lane")
            .annotate(n=Count("id"))
        )
        by_campaign = {w.campaign.pk: w for w in work.campaigns}
        for row in rows:
            target = by_campaign[row["campaign_id"]]
            if row["lane"] == Lane.CALLBACK:
                target.callbacks = row["n"]
            elif row["lane"] == Lane.RETRY:
                target.retries = row["n"]
            else:
                target.fresh = row["n"]
    work.callbacks = list(
        CampaignMember.objects.filter(
            callback_agent=agent, status=MemberStatus.QUEUED, lane=Lane.CALLBACK
        )
        .select_related("customer", "campaign")
        .order_by("due_at")[:50]
    )
    work.held = list(
        CampaignMember.objects.filter(claimed_by=agent, status=MemberStatus.CLAIMED)
        .select_related("customer", "campaign")
        .order_by("claimed_at")
    )
    local = timezone.localtime(now)
    start = datetime.combine(local.date(), time.min, tzinfo=local.tzinfo)
    tally = ContactAttempt.objects.filter(agent=agent, attempted_at__gte=start).aggregate(
        attempts=Count("id", filter=Q(counts_as_attempt=True)),
        reached=Count("id", filter=Q(reached=True)),
        converted=Count("id", filter=Q(success=True)),
    )
    work.attempts_today = tally["attempts"]
    work.reached_today = tally["reached"]
    work.converted_today = tally["converted"]
    return work


def card_access(user: AbstractBaseUser, customer: Customer) -> tuple[str, CampaignMember | None]:
    """Why ``user`` may open ``customer``'s card ('' = may not) and the membership it is through.

    Supervisors may open any card; an agent only a customer they hold a claim on, a callback
    they take, or an open membership they own (担当者)."""
    open_statuses = [MemberStatus.QUEUED, MemberStatus.CLAIMED]
    members = CampaignMember.objects.filter(customer=customer).select_related("campaign")
    claim = members.filter(claimed_by=user, status=MemberStatus.CLAIMED).first()
    if claim is not None:
        return "claim", claim
    callback = members.filter(
        callback_agent=user, status=MemberStatus.QUEUED, lane=Lane.CALLBACK
    ).first()
    if callback is not None:
        return "callback", callback
    owned = members.filter(owner=user, status__in=open_statuses).first()
    if owned is not None:
        return "owner", owned
    if is_supervisor(user):
        return "supervisor", None
    return "", None


def card_view_record(
    *,
    user: AbstractBaseUser,
    customer: Customer,
    member: CampaignMember | None,
    reason: str,
    request: HttpRequest | None = None,
) -> CustomerCardView:
    """Write the audit entry for one card view."""
    address = request.META.get("REMOTE_ADDR") if request is not None else None
    return CustomerCardView.objects.create(
        user=user, customer=customer, member=member, reason=reason, ip_address=address or None
    )
