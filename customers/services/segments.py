"""Writes for segmentation: score customers, place them in segments, record every move."""

from __future__ import annotations

import datetime as dt
import time

from django.contrib.auth.models import AbstractBaseUser
from django.db import connection, transaction
from django.db.models import BigIntegerField, Case, Value, When
from django.db.models.functions import Cast
from django.utils import timezone
from django.utils.text import slugify

from customers.importing.staging import Dialect, quote
from customers.models import (
    CustomerRfm,
    RfmMethod,
    Segment,
    SegmentationRun,
    SegmentTransition,
    TransitionCause,
)
from customers.segmentation.conditions import conditions_to_q, validate_conditions
from customers.segmentation.scoring import (
    Edges,
    aggregate_table,
    current_settings,
    edges_for_full_run,
    write_scores,
)


def _last_full_run() -> SegmentationRun | None:
    return (
        SegmentationRun.objects.filter(parameters__full=True, finished_at__isnull=False)
        .order_by("-finished_at", "-id")
        .first()
    )


@transaction.atomic
def segmentation_run(
    *,
    cause: str,
    reference_date: dt.date | None = None,
    customer_ids: list[int] | None = None,
    created_by: AbstractBaseUser | None = None,
) -> SegmentationRun:
    """Re-score and re-segment every customer, or only ``customer_ids`` (touched by new purchases
    or outcomes). A partial run reuses the edges of the last full run, so a customer's scores mean
    the same as everybody else's; without a full run yet, the run is full.
    """
    started = time.perf_counter()
    timings: dict[str, float] = {}
    reference_date = reference_date or timezone.localdate()
    rfm_settings = current_settings()
    previous = _last_full_run() if customer_ids is not None else None
    if customer_ids is not None and previous is None:
        customer_ids = None
    if customer_ids is not None and not customer_ids:
        customer_ids = []
    run = SegmentationRun.objects.create(
        cause=cause,
        reference_date=reference_date,
        method=rfm_settings.method,
        created_by=created_by if created_by and created_by.is_authenticated else None,
    )
    table = f"rfm_aggregate_{run.pk}"
    try:
        t = time.perf_counter()
        aggregate_table(
            table,
            reference_date=reference_date,
            lookback_days=rfm_settings.lookback_days,
            customer_ids=customer_ids,
        )
        timings["aggregate"] = round(time.perf_counter() - t, 3)
        t = time.perf_counter()
        if customer_ids is None:
            edges = edges_for_full_run(table, rfm_settings)
        elif rfm_settings.method == RfmMethod.CUTOFFS:
            edges = Edges.from_settings(rfm_settings)
        else:
            edges = Edges.from_dict(previous.parameters["edges"])
        timings["edges"] = round(time.perf_counter() - t, 3)
        t = time.perf_counter()
        scored = write_scores(
            table, edges, reference_date=reference_date, run_id=run.pk, customer_ids=customer_ids
        )
        timings["scores"] = round(time.perf_counter() - t, 3)
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {quote(table)}")
    t = time.perf_counter()
    moved = assign_segments(run, customer_ids=customer_ids)
    timings["segments"] = round(time.perf_counter() - t, 3)
    run.customers_scored = scored
    run.customers_moved = moved
    run.parameters = {
        "full": customer_ids is None,
        "method": rfm_settings.method,
        "lookback_days": rfm_settings.lookback_days,
        "edges": edges.as_dict(),
        "edges_from_run": previous.pk if previous else None,
    }
    if customer_ids is None:
        run.segment_counts = segment_counts()
    timings["total"] = round(time.perf_counter() - started, 3)
    run.timings = timings
    run.finished_at = timezone.now()
    run.save()
    return run


def segment_counts() -> dict[str, int]:
    """Members per segment for the run's snapshot (JSON keys: segment id, or "none")."""
    from customers.segmentation.selectors import segment_member_counts

    return {str(k) if k is not None else "none": n for k, n in segment_member_counts().items()}


def assign_segments(run: SegmentationRun, *, customer_ids: list[int] | None = None) -> int:
    """Place customers in the first active segment whose rules match; record each move once.

    One SELECT computes every customer's new segment (a CASE over the rules, compiled and
    parameterised by the ORM); transitions are inserted and segments updated from it set-based.
    """
    segments = list(Segment.objects.filter(is_active=True).order_by("position", "id"))
    rows = CustomerRfm.objects.all()
    if customer_ids is not None:
        rows = rows.filter(customer_id__in=customer_ids)
    whens: list[When] = []
    catch_all: int | None = None
    for segment in segments:
        q = conditions_to_q(segment.conditions, reference_date=run.reference_date)
        if not q:
            # Empty conditions take everyone still unplaced; later rules can never match.
            catch_all = segment.pk
            break
        whens.append(When(q, then=Value(segment.pk)))
    # Cast: with no rules at all PostgreSQL would otherwise get an untyped NULL parameter.
    default = Cast(Value(catch_all), BigIntegerField())
    new_segment = (
        Case(*whens, default=default, output_field=BigIntegerField()) if whens else default
    )
    select_sql, select_params = (
        rows.annotate(new_segment=new_segment)
        .values("customer_id", "new_segment")
        .query.sql_with_params()
    )
    d = Dialect()
    rfm = quote(CustomerRfm._meta.db_table)
    transitions = quote(SegmentTransition._meta.db_table)
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    changed = d.distinct("t.segment_id", "s.new_segment")
    cause, cause_params = _transition_cause(run)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {transitions} (customer_id, run_id, from_segment_id, to_segment_id, cause, created_at) "
            f"SELECT t.customer_id, %s, t.segment_id, s.new_segment, {cause}, %s "
            f"FROM {rfm} t JOIN ({select_sql}) s ON s.customer_id = t.customer_id WHERE {changed}",
            [run.pk, *cause_params, now, *select_params],
        )
        moved = cursor.rowcount
        cursor.execute(
            f"UPDATE {rfm} SET segment_id = s.new_segment, segment_since = %s "
            f"FROM ({select_sql}) s WHERE {rfm}.customer_id = s.customer_id "
            f"AND {d.distinct(rfm + '.segment_id', 's.new_segment')}",
            [now, *select_params],
        )
    return moved


def _transition_cause(run: SegmentationRun) -> tuple[str, list]:
    """SQL (over the customer's score row ``t``, before it is updated) for why they move."""
    if run.cause == SegmentationRun.Cause.RULE_CHANGE:
        forced = TransitionCause.RULE_CHANGE
    elif run.cause == SegmentationRun.Cause.OUTCOME:
        forced = TransitionCause.OUTCOME
    else:
        forced = None
    first = "WHEN t.segment_id IS NULL AND t.segment_since IS NULL THEN %s"
    if forced:
        return f"CASE {first} ELSE %s END", [TransitionCause.FIRST, forced]
    return (
        f"CASE {first} WHEN t.purchases_changed THEN %s ELSE %s END",
        [TransitionCause.FIRST, TransitionCause.NEW_PURCHASE, TransitionCause.TIME_PASSING],
    )


@transaction.atomic
def segment_save(*, segment: Segment | None = None, **fields) -> Segment:
    """Create or change a segment; its conditions are validated first (specific messages)."""
    conditions = fields.get("conditions", segment.conditions if segment else {})
    validate_conditions(conditions)
    segment = segment or Segment()
    for name, value in fields.items():
        setattr(segment, name, value)
    segment.full_clean()
    segment.save()
    resegment_after_rule_change()
    return segment


def resegment_after_rule_change() -> None:
    from customers.tasks import segmentation_run_task

    transaction.on_commit(lambda: segmentation_run_task.delay(SegmentationRun.Cause.RULE_CHANGE))


def unique_segment_key(name: str) -> str:
    """A free slug for a new segment (names are often Japanese: fall back to ``segment-N``)."""
    base = slugify(name)[:32] or "segment"
    key, n = base, 1
    while Segment.objects.filter(key=key).exists():
        n += 1
        key = f"{base}-{n}"
    return key


def segmentation_start(cause: str = SegmentationRun.Cause.MANUAL):
    """Queue a full re-segmentation (runs in-process when Celery is eager)."""
    from customers.tasks import segmentation_run_task

    return segmentation_run_task.delay(str(cause))
