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
from django.db import connection, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from campaigns.models import AssignmentMode, Campaign, CampaignState
from customers.models import Customer
from outreach import compliance
from outreach.models import AgentProfile, CampaignMember, CloseReason, Lane, MemberStatus, Team

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
    return _campaigns_to_work(agent, campaign, timezone.now())


def _campaigns_to_work(
    agent: AbstractBaseUser, campaign: Campaign | None, now: datetime
) -> list[Campaign]:
    """``agent_campaigns``, each with what waits there for ``agent`` now, in one query: the
    claim they hold (``held_member_id``, ``held_since``) and whether a callback or a retry
    may be due (``due_callback``, ``due_retry_*``; never false when one is, so an empty lane
    is not searched).

    Hand-written: it runs on every claim, and the ORM spent longer building it than
    PostgreSQL spent running it. The retry probes are two (owner IS NULL, owner = agent) so
    each is one range of member_claim_idx.
    """
    member = CampaignMember._meta.db_table
    held = f"""
        SELECT m.{{}} FROM {member} m
        WHERE m.campaign_id = c.id AND m.claimed_by_id = %s AND m.status = %s
              AND m.claim_expires_at > %s
        ORDER BY m.claimed_at LIMIT 1
    """
    due = f"""
        EXISTS (SELECT 1 FROM {member} m
                WHERE m.campaign_id = c.id AND m.status = %s AND m.lane = %s AND m.due_at <= %s
                      AND {{}})
    """
    team_campaigns = Team.campaigns.through._meta.db_table
    only = "AND c.id = %s" if campaign is not None else ""
    sql = f"""
        SELECT c.*,
               ({held.format("id")}) AS held_member_id,
               ({held.format("claimed_at")}) AS held_since,
               {
        due.format(
            "(m.callback_agent_id = %s OR (m.callback_agent_id IS NULL AND "
            "(m.owner_id IS NULL OR m.owner_id = %s)))"
        )
    } AS due_callback,
               {due.format("m.owner_id IS NULL")} AS due_retry_free,
               {due.format("m.owner_id = %s")} AS due_retry_owned
        FROM {Campaign._meta.db_table} c
        WHERE c.state = %s {only}
          AND c.id IN (SELECT tc.campaign_id FROM {team_campaigns} tc
                       JOIN {Team._meta.db_table} t ON t.id = tc.team_id
                       JOIN {AgentProfile._meta.db_table} a ON a.team_id = t.id
                       WHERE t.is_active AND a.user_id = %s)
        ORDER BY c.priority DESC, c.starts_on, c.id
    """
    at = connection.ops.adapt_datetimefield_value(now)
    held_params = [agent.pk, MemberStatus.CLAIMED, at]
    queued = [MemberStatus.QUEUED]
    params = [
        *held_params,
        *held_params,
        *queued,
        Lane.CALLBACK,
        at,
        agent.pk,
        agent.pk,
        *queued,
        Lane.RETRY,
        at,
        *queued,
        Lane.RETRY,
        at,
        agent.pk,
        CampaignState.RUNNING,
        *([campaign.pk] if campaign is not None else []),
        agent.pk,
    ]
    return list(Campaign.objects.raw(sql, params))


def _may_be_due(campaign: Campaign, lane: int) -> bool:
    if lane == Lane.CALLBACK:
        return campaign.due_callback
    if lane == Lane.RETRY:
        return campaign.due_retry_free or campaign.due_retry_owned
    return True  # first contacts: nearly always some; the claim query itself is the probe


def claim_next(
    *,
    agent: AbstractBaseUser,
    campaign: Campaign | None = None,
    now: datetime | None = None,
) -> ClaimResult:
    """Claim the best member ``agent`` may contact now (or return the one they already hold)."""
    now = now or timezone.now()
    campaigns = _campaigns_to_work(agent, campaign, now)
    if not campaigns:
        return ClaimResult(None, message=_("You are not on any running campaign."))
    skipped: Counter = Counter()
    with transaction.atomic():
        held = _held_claim(agent, campaigns, now, skipped)
        if held is not None:
            return held
        for lane in (Lane.CALLBACK, Lane.RETRY, Lane.FRESH):
            for current in campaigns:
                if not _may_be_due(current, lane):
                    continue
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
    # At most one per campaign (member_one_claim_per_agent_per_campaign), oldest first.
    holding = sorted((c for c in campaigns if c.held_member_id), key=lambda c: c.held_since)
    for current in holding:
        member = (
            CampaignMember.objects.select_for_update(of=("self",))
            .annotate(**compliance.facts_annotations(current, now=now))
            .filter(
                pk=current.held_member_id,
                status=MemberStatus.CLAIMED,
                claimed_by=agent,
                claim_expires_at__gt=now,
            )
            .first()
        )
        if member is None:  # released, closed or expired since the survey
            continue
        verdict = _evaluate(current, member, now)
        member.campaign = current
        if verdict.allowed:
            return ClaimResult(member, verdict, resumed=True)
        _set_aside(member, verdict, now, skipped)
    return None


def _callback_for(agent: AbstractBaseUser) -> Q:
    """Callbacks ``agent`` may take: their own, and any-agent ones on members nobody else owns."""
    mine = Q(callback_agent=agent)
    anyone = Q(callback_agent__isnull=True) & (Q(owner__isnull=True) | Q(owner=agent))
    return mine | anyone


def _candidate_querysets(
    campaign: Campaign, lane: int, agent: AbstractBaseUser
) -> list[QuerySet[CampaignMember]]:
    """The waiting members ``agent`` may take in one lane, best first, in the order to try."""
    base = CampaignMember.objects.filter(campaign=campaign, status=MemberStatus.QUEUED, lane=lane)
    if lane == Lane.CALLBACK:
        # Few rows (due callbacks): found through the index's campaign and lane, then sorted.
        return [base.filter(_callback_for(agent)).order_by("due_at", "rank")]
    # The owner is fixed by the filter, so ordering by it changes nothing, but it lets
    # PostgreSQL read member_claim_idx (campaign, lane, owner, due_at, rank) in order and stop
    # at the first unlocked row; without it (IS NULL is no equality) it sorts the whole lane.
    order = ("owner_id", "due_at", "rank")
    if campaign.assignment_mode == AssignmentMode.PULL:
        return [base.filter(owner__isnull=True).order_by(*order)]
    # Pushed or owned members first, then any member nobody owns.
    return [
        base.filter(owner=agent).order_by(*order),
        base.filter(owner__isnull=True).order_by(*order),
    ]


def _claim_from(
    campaign: Campaign,
    queryset: QuerySet[CampaignMember],
    agent: AbstractBaseUser,
    now: datetime,
    skipped: Counter,
) -> ClaimResult | None:
    candidates = queryset.filter(due_at__lte=now).select_for_update(skip_locked=True)
    annotations = None  # built once a member is found: most lanes are empty
    while sum(skipped.values()) < MAX_SKIPS:
        member = candidates.first()
        if member is None:
            return None
        if annotations is None:
            annotations = compliance.facts_annotations(campaign, now=now, prefix="")
        # The facts are read once the row is locked, in the same transaction, by the
        # customer's key: one row, so every fact is an index lookup (joined to the locking
        # query, PostgreSQL would hash the whole do-not-contact and refusal tables each time).
        facts = (
            Customer.objects.filter(pk=member.customer_id)
            .annotate(**annotations)
            .values(*annotations)
            .get()
        )
        verdict = _evaluate(campaign, member, now, compliance.Facts.of(facts))
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


def _evaluate(
    campaign: Campaign,
    member: CampaignMember,
    now: datetime,
    facts: compliance.Facts | None = None,
) -> compliance.Verdict:
    """The rules for ``member`` now; ``facts`` default to its ``f_*`` annotations."""
    # A callback the customer asked for is honoured past the attempt limit and the frequency
    # cap (never past a suppression or the calling window).
    facts = facts if facts is not None else compliance.Facts.of(member)
    return compliance.evaluate(
        campaign,
        facts,
        now=now,
        attempts=member.attempts,
        requested_callback=member.lane == Lane.CALLBACK,
    )


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
