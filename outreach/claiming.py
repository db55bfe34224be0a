"""Handing members to agents: claim the next one, release it, expire abandoned claims.

A claim is taken inside one transaction: the best waiting member is locked with
``SELECT … FOR UPDATE SKIP LOCKED`` (so concurrent agents never wait on, nor get, the same row)
together with every compliance fact about its customer, the rules are checked on those facts
at that moment, and the row is marked claimed. A member that fails a rule is dealt with on the
spot (excluded for good, or put back until the rule clears) and the next one is tried.

Order: due callbacks first (personal ones only to their agent), then due retries, then first
contacts; campaigns by priority; inside a lane by due time, then launch order.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from campaigns.models import AssignmentMode, Campaign, CampaignState
from outreach import compliance
from outreach.models import CampaignMember, CloseReason, Lane, MemberStatus

# How many unsuitable members one claim may skip (and deal with) before giving up for now.
MAX_SKIPS = 25
# A temporary block with no end of its own (e.g. a campaign paused) is looked at again after this.
RECHECK_AFTER = timedelta(hours=1)


@dataclass
class ClaimResult:
    member: CampaignMember | None
    verdict: compliance.Verdict | None = None
    resumed: bool = False  # the agent already held this claim
    skipped: Counter = field(default_factory=Counter)
    message: str = ""


def agent_campaigns(agent: AbstractBaseUser, campaign: Campaign | None = None) -> list[Campaign]:
    """Running campaigns ``agent`` works on (through a team), highest priority first."""
    campaigns = Campaign.objects.filter(
        state=CampaignState.RUNNING,
        teams__is_active=True,
        teams__agents__user=agent,
    ).distinct()
    if campaign is not None:
        campaigns = campaigns.filter(pk=campaign.pk)
    return list(campaigns.order_by("-priority", "starts_on", "id"))


def claim_next(
    *,
    agent: AbstractBaseUser,
    campaign: Campaign | None = None,
    now: datetime | None = None,
) -> ClaimResult:
    """Claim the best member ``agent`` may contact now (or return the one they already hold)."""
    now = now or timezone.now()
    campaigns = agent_campaigns(agent, campaign)
    if not campaigns:
        return ClaimResult(None, message=_("You are not on any running campaign."))
    skipped: Counter = Counter()
    with transaction.atomic():
        held = _held_claim(agent, campaigns, now, skipped)
        if held is not None:
            return held
        for lane in (Lane.CALLBACK, Lane.RETRY, Lane.FRESH):
            for current in campaigns:
                for queryset in _candidate_querysets(current, lane, agent):
                    result = _claim_from(current, queryset, agent, now, skipped)
                    if result is not None:
                        result.skipped = skipped
                        return result
                    if sum(skipped.values()) >= MAX_SKIPS:
                        return _nothing(skipped)
    return _nothing(skipped)


def _nothing(skipped: Counter) -> ClaimResult:
    if skipped:
        message = _("No member can be contacted right now (%(n)s set aside by the rules).") % {
            "n": sum(skipped.values())
        }
    else:
        message = _("No member is waiting right now.")
    return ClaimResult(None, skipped=skipped, message=message)


def _held_claim(
    agent: AbstractBaseUser, campaigns: list[Campaign], now: datetime, skipped: Counter
) -> ClaimResult | None:
    by_id = {c.pk: c for c in campaigns}
    held = (
        CampaignMember.objects.filter(
            claimed_by=agent,
            status=MemberStatus.CLAIMED,
            campaign_id__in=by_id,
            claim_expires_at__gt=now,
        )
        .order_by("claimed_at")
        .values_list("pk", "campaign_id")
    )
    for pk, campaign_id in held:
        current = by_id[campaign_id]
        member = (
            CampaignMember.objects.select_for_update(of=("self",))
            .annotate(**compliance.facts_annotations(current, now=now))
            .get(pk=pk)
        )
        verdict = _evaluate(current, member, now)
        member.campaign = current
        if verdict.allowed:
            return ClaimResult(member, verdict, resumed=True)
        _set_aside(member, verdict, now, skipped)
    return None


def _candidate_querysets(
    campaign: Campaign, lane: int, agent: AbstractBaseUser
) -> list[QuerySet[CampaignMember]]:
    base = CampaignMember.objects.filter(campaign=campaign, status=MemberStatus.QUEUED, lane=lane)
    if lane == Lane.CALLBACK:
        mine = Q(callback_agent=agent)
        anyone = Q(callback_agent__isnull=True) & (Q(owner__isnull=True) | Q(owner=agent))
        return [base.filter(mine | anyone)]
    if campaign.assignment_mode == AssignmentMode.PULL:
        return [base.filter(owner__isnull=True)]
    # Pushed or owned members first, then any member nobody owns.
    return [base.filter(owner=agent), base.filter(owner__isnull=True)]


def _claim_from(
    campaign: Campaign,
    queryset: QuerySet[CampaignMember],
    agent: AbstractBaseUser,
    now: datetime,
    skipped: Counter,
) -> ClaimResult | None:
    annotations = compliance.facts_annotations(campaign, now=now)
    while sum(skipped.values()) < MAX_SKIPS:
        member = (
            queryset.filter(due_at__lte=now)
            .select_for_update(skip_locked=True, of=("self",))
            .annotate(**annotations)
            .order_by("due_at", "rank")
            .first()
        )
        if member is None:
            return None
        verdict = _evaluate(campaign, member, now)
        if not verdict.allowed:
            _set_aside(member, verdict, now, skipped)
            continue
        member.status = MemberStatus.CLAIMED
        member.claimed_by = agent
        member.claimed_at = now
        member.claim_expires_at = now + timedelta(minutes=settings.OUTREACH_CLAIM_MINUTES)
        member.save(update_fields=["status", "claimed_by", "claimed_at", "claim_expires_at"])
        member.campaign = campaign
        return ClaimResult(member, verdict)
    return None


def _evaluate(campaign: Campaign, member: CampaignMember, now: datetime) -> compliance.Verdict:
    # A callback the customer asked for is honoured past the attempt limit (never past a
    # suppression or the calling window).
    attempts = 0 if member.lane == Lane.CALLBACK else member.attempts
    return compliance.evaluate(campaign, compliance.Facts.of(member), now=now, attempts=attempts)


@transaction.atomic
def claim_verify(
    *, member: CampaignMember, agent: AbstractBaseUser, now: datetime | None = None
) -> compliance.Verdict:
    """Right before dialling or sending: may the held member still be contacted? A refusal or
    do-not-contact logged meanwhile (by anyone, in any campaign) wins; a failed check takes
    the member out of the queue, or back until the rule clears, and ends the claim."""
    now = now or timezone.now()
    campaign = Campaign.objects.get(pk=member.campaign_id)
    locked = (
        CampaignMember.objects.select_for_update(of=("self",))
        .annotate(**compliance.facts_annotations(campaign, now=now))
        .get(pk=member.pk)
    )
    if locked.status != MemberStatus.CLAIMED or locked.claimed_by_id != agent.pk:
        closed = compliance.Block(
            locked.close_reason or "not_claimed",
            str(CloseReason(locked.close_reason).label)
            if locked.close_reason
            else _("You do not hold this member."),
            True,
        )
        return compliance.Verdict([closed])
    verdict = _evaluate(campaign, locked, now)
    if not verdict.allowed:
        _set_aside(locked, verdict, now, Counter())
    return verdict


def _set_aside(
    member: CampaignMember, verdict: compliance.Verdict, now: datetime, skipped: Counter
) -> None:
    """Apply a failed check to a locked member: leave the campaign, or wait until it clears."""
    permanent = verdict.permanent
    if permanent is not None:
        reason = _close_reason(permanent.code)
        member.status = (
            MemberStatus.DONE if reason == CloseReason.EXHAUSTED else MemberStatus.EXCLUDED
        )
        member.close_reason = reason
        member.closed_at = now
        skipped[permanent.code] += 1
    else:
        member.status = MemberStatus.QUEUED
        member.due_at = verdict.retry_at or now + RECHECK_AFTER
        skipped[verdict.blocks[0].code] += 1
    member.claimed_by = None
    member.claimed_at = None
    member.claim_expires_at = None
    member.save(
        update_fields=[
            "status",
            "close_reason",
            "closed_at",
            "due_at",
            "claimed_by",
            "claimed_at",
            "claim_expires_at",
        ]
    )


def _close_reason(code: str) -> str:
    if code == compliance.Check.ATTEMPTS_EXHAUSTED:
        return CloseReason.EXHAUSTED
    if code == compliance.Check.OUTSIDE_WINDOW:
        return CloseReason.CAMPAIGN_ENDED
    return code


@transaction.atomic
def claim_release(
    *, member: CampaignMember, agent: AbstractBaseUser, now: datetime | None = None
) -> CampaignMember:
    """Give a claimed member back to the queue, where it was."""
    locked = CampaignMember.objects.select_for_update().get(pk=member.pk)
    if locked.status != MemberStatus.CLAIMED or locked.claimed_by_id != agent.pk:
        raise ValidationError(_("You do not hold this member."), code="not_claimed")
    locked.status = MemberStatus.QUEUED
    locked.claimed_by = None
    locked.claimed_at = None
    locked.claim_expires_at = None
    locked.save(update_fields=["status", "claimed_by", "claimed_at", "claim_expires_at"])
    return locked


def claims_expire(*, now: datetime | None = None) -> int:
    """Return every claim held past its expiry to the queue (beat, every minute)."""
    now = now or timezone.now()
    return CampaignMember.objects.filter(
        status=MemberStatus.CLAIMED, claim_expires_at__lte=now
    ).update(status=MemberStatus.QUEUED, claimed_by=None, claimed_at=None, claim_expires_at=None)
