"""Reads for the agent workspace: the "my work" counts, who may open which customer card, and
the audit of card views."""

from __future__ import annotations

import operator
from dataclasses import dataclass, field
from datetime import datetime, time
from functools import reduce

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import BooleanField, Count, ExpressionWrapper, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce
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
    Team,
)

# Waiting members are counted up to this many per lane and campaign (more shows as "999+").
WAITING_SHOWN_MAX = 999


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
    visible = Q(owner__isnull=True) | Q(owner=agent)
    callback_visible = Q(callback_agent=agent) | (Q(callback_agent__isnull=True) & visible)
    waiting = {
        "callbacks": Q(lane=Lane.CALLBACK) & callback_visible,
        "retries": Q(lane=Lane.RETRY) & visible,
        "fresh": Q(lane=Lane.FRESH) & visible,
    }
    # The campaigns and what waits in each lane in one query; each count stops after
    # WAITING_SHOWN_MAX + 1 members (the page says "999+"), so it costs the same on a queue of
    # a thousand or a million.
    counts = {}
    for name, lane_filter in waiting.items():
        first = (
            CampaignMember.objects.filter(
                lane_filter,
                campaign=OuterRef(OuterRef("pk")),
                status=MemberStatus.QUEUED,
                due_at__lte=now,
            )
            .order_by()
            .values("pk")[: WAITING_SHOWN_MAX + 1]
        )
        counts[name] = Coalesce(
            Subquery(
                CampaignMember.objects.filter(pk__in=first)
                .order_by()
                .values("campaign")
                .annotate(n=Count("pk"))
                .values("n")
            ),
            0,
        )
    mine = Team.objects.filter(is_active=True, agents__user=agent).values("campaigns")
    campaigns = list(
        Campaign.objects.filter(state=CampaignState.RUNNING, pk__in=mine)
        .annotate(**{f"waiting_{name}": count for name, count in counts.items()})
        .order_by("-priority", "id")
    )
    work = MyWork(
        campaigns=[
            CampaignWork(
                c,
                callbacks=c.waiting_callbacks,
                retries=c.waiting_retries,
                fresh=c.waiting_fresh,
            )
            for c in campaigns
        ]
    )
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
    # One query for the three ways in; the first match wins in this order, lowest id first.
    open_statuses = [MemberStatus.QUEUED, MemberStatus.CLAIMED]
    ways = (
        ("claim", Q(claimed_by=user, status=MemberStatus.CLAIMED)),
        ("callback", Q(callback_agent=user, status=MemberStatus.QUEUED, lane=Lane.CALLBACK)),
        ("owner", Q(owner=user, status__in=open_statuses)),
    )
    annotations = {f"through_{reason}": ExpressionWrapper(q, BooleanField()) for reason, q in ways}
    members = list(
        CampaignMember.objects.filter(customer=customer)
        .filter(reduce(operator.or_, (q for _reason, q in ways)))
        .annotate(**annotations)
        .select_related("campaign")
        .order_by("pk")
    )
    for reason, _q in ways:
        for member in members:
            if getattr(member, f"through_{reason}"):
                return reason, member
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
