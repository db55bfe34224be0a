"""Launch: turn a scheduled campaign into its members, set-based, as a Celery task with progress.

Steps (each one SQL statement or a few, never a loop over customers):
1. target   - members from the current segment snapshot (``CustomerRfm``): target segments and
              extra filters (birthday-month campaigns: customers born in the launch month),
              ordered existing customers > dormant > new (the segment's lifecycle), then M, then R.
2. suppress - remove the suppressed with their reason (``outreach.compliance.SUPPRESSIONS``).
3. holdout  - hold out exactly round(eligible × share) members: those with the smallest
              md5("<seed>:<customer id>"), the seed drawn once and stored on the campaign, so the
              same seed and the same eligible set always give the same groups.
4. assign   - round robin / capacity-weighted push / named owner (pull assigns nobody).
5. start    - the campaign goes to running.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Case, F, IntegerField, OuterRef, Q, Subquery, Value, When, Window
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import ExtractMonth, RowNumber
from django.utils import timezone
from django.utils.translation import gettext as _

from campaigns.models import AssignmentMode, Campaign, CampaignKind, CampaignState
from campaigns.services import campaign_transition
from customers.models import Customer, CustomerRfm, Lifecycle
from customers.segmentation.conditions import conditions_to_q
from customers.segmentation.selectors import latest_reference_date
from outreach import compliance
from outreach.models import (
    AgentProfile,
    CampaignLaunch,
    CampaignMember,
    Lane,
    MemberGroup,
    MemberStatus,
)

logger = logging.getLogger(__name__)

STEPS = ["target", "suppress", "holdout", "assign", "start"]
TIER = {Lifecycle.EXISTING: 1, Lifecycle.DORMANT: 2, Lifecycle.NEW: 3}


def sqlite_md5(sender, connection, **kwargs) -> None:
    # PostgreSQL has md5(); SQLite gets the same function so the holdout is the same on both.
    if connection.vendor == "sqlite":
        connection.connection.create_function(
            "md5",
            1,
            lambda text: hashlib.md5(str(text).encode(), usedforsecurity=False).hexdigest(),
            deterministic=True,
        )


def holdout_key(seed: int, customer_id: int) -> str:
    """The value members are sorted by to pick the holdout (same as the SQL of step 3)."""
    return hashlib.md5(f"{seed}:{customer_id}".encode(), usedforsecurity=False).hexdigest()


def holdout_size(eligible: int, percent: Decimal) -> int:
    return int((Decimal(eligible) * Decimal(percent) / 100).quantize(Decimal(1), ROUND_HALF_UP))


@transaction.atomic
def campaign_launch_start(*, campaign: Campaign, by=None) -> CampaignLaunch:
    """Queue the launch of a scheduled campaign (the task does the work)."""
    locked = Campaign.objects.select_for_update().get(pk=campaign.pk)
    if locked.state != CampaignState.SCHEDULED:
        raise ValidationError(
            _("Only a scheduled campaign can be launched; this one is %(state)s.")
            % {"state": locked.get_state_display().lower()},
            code="not_scheduled",
        )
    launch = CampaignLaunch.objects.filter(campaign=locked).first()
    if launch and launch.status == CampaignLaunch.Status.RUNNING:
        return launch
    if launch is None:
        launch = CampaignLaunch(campaign=locked)
    launch.status = CampaignLaunch.Status.QUEUED
    launch.created_by = by
    launch.error = ""
    launch.steps_done = 0
    launch.steps_total = len(STEPS)
    launch.step = ""
    launch.save()
    from outreach.tasks import campaign_launch_task

    transaction.on_commit(lambda: campaign_launch_task.delay(locked.pk))
    return launch


def campaign_launch_run(*, campaign_id: int, now: datetime | None = None) -> CampaignLaunch:
    """Materialise the members of a campaign whose launch is queued. Idempotent: a finished
    launch is returned as it is; a failed or interrupted one starts again from scratch."""
    now = now or timezone.now()
    claimed = CampaignLaunch.objects.filter(
        campaign_id=campaign_id, status=CampaignLaunch.Status.QUEUED
    ).update(status=CampaignLaunch.Status.RUNNING, started_at=now, steps_done=0)
    launch = CampaignLaunch.objects.select_related("campaign").get(campaign_id=campaign_id)
    if not claimed:
        return launch
    campaign = launch.campaign
    try:
        _run(launch, campaign, now)
    except Exception as error:
        logger.exception("launch of campaign %s failed", campaign_id)
        launch.status = CampaignLaunch.Status.FAILED
        launch.error = str(error)
        launch.finished_at = timezone.now()
        launch.save(update_fields=["status", "error", "finished_at"])
        raise
    return launch


def _run(launch: CampaignLaunch, campaign: Campaign, now: datetime) -> None:
    timings: dict[str, float] = {}

    def step(name: str, work: Callable[[], None]) -> None:
        launch.step = name
        launch.save(update_fields=["step"])
        started = time.perf_counter()
        with transaction.atomic():
            work()
        timings[name] = round(time.perf_counter() - started, 3)
        launch.steps_done += 1
        launch.timings = timings
        launch.save(update_fields=["steps_done", "timings", *_count_fields])

    _count_fields = ["targeted", "excluded", "holdout", "treatment"]
    if campaign.holdout_seed is None:
        campaign.holdout_seed = secrets.randbits(62)
        Campaign.objects.filter(pk=campaign.pk).update(holdout_seed=campaign.holdout_seed)

    def target() -> None:
        CampaignMember.objects.filter(campaign=campaign).delete()  # an interrupted launch
        launch.targeted = _insert_members(campaign, now)

    def suppress() -> None:
        counts = compliance.suppress(
            CampaignMember.objects.filter(campaign=campaign), campaign, now=now
        )
        launch.excluded = {reason: n for reason, n in counts.items() if n}

    def holdout() -> None:
        launch.holdout, launch.treatment = _split_holdout(campaign)

    def assign() -> None:
        _assign(campaign)

    def start() -> None:
        campaign_transition(campaign=campaign, to_state=CampaignState.RUNNING, by=launch.created_by)
        Campaign.objects.filter(pk=campaign.pk).update(launched_at=now)
        launch.status = CampaignLaunch.Status.SUCCEEDED
        launch.finished_at = timezone.now()
        launch.save(update_fields=["status", "finished_at"])

    for name, work in zip(STEPS, [target, suppress, holdout, assign, start], strict=True):
        step(name, work)


def _target_queryset(campaign: Campaign, now: datetime):
    reference_date = latest_reference_date()
    rows = CustomerRfm.objects.all()
    segment_ids = list(campaign.target_segments.values_list("pk", flat=True))
    if segment_ids:
        rows = rows.filter(segment_id__in=segment_ids)
    if campaign.extra_filters:
        rows = rows.filter(conditions_to_q(campaign.extra_filters, reference_date=reference_date))
    if campaign.kind == CampaignKind.BIRTHDAY_MONTH:
        month = timezone.localtime(now, compliance.customer_zone("", campaign)[0]).month
        rows = rows.annotate(birth_month=ExtractMonth("customer__birth_date")).filter(
            birth_month=month
        )
    tier = Case(
        *[When(segment__lifecycle=key, then=Value(value)) for key, value in TIER.items()],
        default=Value(1),
        output_field=IntegerField(),
    )
    return rows.annotate(
        member_tier=tier,
        member_rank=Window(
            RowNumber(),
            order_by=[
                tier.asc(),
                F("m").desc(nulls_last=True),
                F("r").desc(nulls_last=True),
                F("customer_id").asc(),
            ],
        ),
    ).values_list("customer_id", "member_tier", "member_rank")


def _insert_members(campaign: Campaign, now: datetime) -> int:
    sql, params = _target_queryset(campaign, now).query.sql_with_params()
    table = CampaignMember._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {table} (campaign_id, customer_id, tier, rank, "group", status,
                                 close_reason, lane, due_at, attempts)
            SELECT %s, t.customer_id, t.member_tier, t.member_rank, '', %s, '', %s, %s, 0
            FROM ({sql}) t
            """,
            [campaign.pk, MemberStatus.QUEUED, Lane.FRESH, timezone.now(), *params],
        )
        return cursor.rowcount


def _split_holdout(campaign: Campaign) -> tuple[int, int]:
    eligible = CampaignMember.objects.filter(campaign=campaign, status=MemberStatus.QUEUED)
    size = holdout_size(eligible.count(), campaign.holdout_percent)
    table = CampaignMember._meta.db_table
    collate = ' COLLATE "C"' if connection.vendor == "postgresql" else ""
    cast = "customer_id::text" if connection.vendor == "postgresql" else "customer_id"
    with connection.cursor() as cursor:
        if size:
            cursor.execute(
                f"""
                UPDATE {table} SET status = %s, "group" = %s
                WHERE id IN (
                    SELECT id FROM {table}
                    WHERE campaign_id = %s AND status = %s
                    ORDER BY md5(%s || {cast}){collate}, customer_id
                    LIMIT %s
                )
                """,
                [
                    MemberStatus.HELD_OUT,
                    MemberGroup.HOLDOUT,
                    campaign.pk,
                    MemberStatus.QUEUED,
                    f"{campaign.holdout_seed}:",
                    size,
                ],
            )
    treatment = eligible.update(group=MemberGroup.TREATMENT)
    return size, treatment


def campaign_agents(campaign: Campaign) -> list[AgentProfile]:
    """Available agents of the teams working ``campaign``, in a stable order."""
    return list(
        AgentProfile.objects.filter(
            team__campaigns=campaign, team__is_active=True, is_available=True, user__is_active=True
        )
        .select_related("user")
        .order_by("user_id")
        .distinct()
    )


def _assign(campaign: Campaign) -> None:
    mode = campaign.assignment_mode
    waiting = CampaignMember.objects.filter(campaign=campaign, status=MemberStatus.QUEUED)
    if mode == AssignmentMode.OWNER:
        attribute = campaign.owner_attribute or "owner"
        owner_name = Customer.objects.filter(pk=OuterRef(OuterRef("customer_id"))).annotate(
            owner_name=KeyTextTransform(attribute, "attributes")
        )
        user_model = get_user_model()
        waiting.update(
            owner=Subquery(
                user_model.objects.filter(
                    is_active=True,
                    username=Subquery(owner_name.values("owner_name")[:1]),
                ).values("pk")[:1]
            )
        )
        return
    if mode not in (AssignmentMode.ROUND_ROBIN, AssignmentMode.WEIGHTED):
        return
    agents = campaign_agents(campaign)
    if not agents:
        raise ValidationError(
            _("No available agent works on this campaign: add a team with agents, or use pull.")
        )
    weights = [a.capacity if mode == AssignmentMode.WEIGHTED else 1 for a in agents]
    total = sum(weights)
    if mode == AssignmentMode.ROUND_ROBIN:
        # Exactly in turn: position p goes to agent p mod n.
        slot, scale = f"s.pos %% {total}", total
    else:
        # Capacity-weighted: position p goes to the agent whose share of [0, 1) holds
        # frac(p × golden ratio); that sequence is evenly spread, so shares interleave and every
        # prefix of the launch order is split close to the capacities.
        product = "s.pos * 0.6180339887498949"
        frac = (
            f"({product}) %% 1"
            if connection.vendor == "postgresql"
            else f"({product}) - CAST({product} AS INTEGER)"
        )
        slot, scale = f"({frac}) * {total}", total
    whens, bound = [], 0
    for agent, weight in zip(agents, weights, strict=True):
        bound += weight
        if bound < scale:
            whens.append(f"WHEN {slot} < {bound} THEN {int(agent.user_id)}")
    last = int(agents[-1].user_id)
    whens = [*whens, f"ELSE {last}"]
    table = CampaignMember._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            UPDATE {table} SET owner_id = CASE {" ".join(whens)} END
            FROM (
                SELECT id, ROW_NUMBER() OVER (ORDER BY rank, id) - 1 AS pos
                FROM {table} WHERE campaign_id = %s AND status = %s
            ) s
            WHERE {table}.id = s.id
            """,
            [campaign.pk, MemberStatus.QUEUED],
        )


# A launch still "running" after this long lost its worker; it is queued again.
STALE_LAUNCH = timedelta(hours=2)


def campaigns_launch_due(*, today=None) -> list[int]:
    """Queue the launch of every scheduled campaign whose start date has come (and re-queue a
    launch whose worker died)."""
    today = today or timezone.localdate()
    CampaignLaunch.objects.filter(
        status=CampaignLaunch.Status.RUNNING, started_at__lt=timezone.now() - STALE_LAUNCH
    ).update(status=CampaignLaunch.Status.QUEUED)
    due = Campaign.objects.filter(state=CampaignState.SCHEDULED, starts_on__lte=today).filter(
        Q(launch__isnull=True) | Q(launch__status=CampaignLaunch.Status.QUEUED)
    )
    started = []
    for campaign in due:
        campaign_launch_start(campaign=campaign)
        started.append(campaign.pk)
    return started
