"""Reads for segmentation: segments with counts and trend, members, history, migration matrix, explain."""

from __future__ import annotations

import datetime as dt

from django.db import connection
from django.db.models import BigIntegerField, Case, Count, Q, QuerySet, Value, When
from django.utils import timezone

from customers.filters import SegmentationRunFilter, SegmentMemberFilter, SegmentTransitionFilter
from customers.importing.staging import quote
from customers.models import Customer, CustomerRfm, Segment, SegmentationRun, SegmentTransition
from customers.segmentation.conditions import (
    conditions_to_q,
    describe_conditions,
    explain_conditions,
    validate_conditions,
)


def segment_list(*, trend_runs: int = 8) -> list[dict]:
    """Segments in rule order with their member count now and over the last full runs."""
    counts = segment_member_counts()
    runs = list(
        SegmentationRun.objects.filter(parameters__full=True, finished_at__isnull=False).order_by(
            "-finished_at"
        )[:trend_runs]
    )[::-1]
    result = []
    for segment in Segment.objects.order_by("position", "id"):
        result.append(
            {
                "segment": segment,
                "members": counts.get(segment.pk, 0),
                "trend": [
                    {
                        "run": run.pk,
                        "date": run.reference_date,
                        "members": run.segment_counts.get(str(segment.pk), 0),
                    }
                    for run in runs
                ],
                "rule": describe_conditions(segment.conditions),
            }
        )
    return result


def segment_member_counts() -> dict[int | None, int]:
    """Customers per segment now (None: scored but in no segment)."""
    return dict(CustomerRfm.objects.values_list("segment_id").annotate(n=Count("pk")).order_by())


def segment_member_list(*, segment: Segment, filters: dict | None = None) -> QuerySet[CustomerRfm]:
    rows = (
        CustomerRfm.objects.filter(segment=segment)
        .select_related("customer")
        .order_by("customer_id")
    )
    return SegmentMemberFilter(filters or {}, queryset=rows).qs


def customer_transition_list(*, customer: Customer) -> QuerySet[SegmentTransition]:
    return (
        SegmentTransition.objects.filter(customer=customer)
        .select_related("from_segment", "to_segment", "run")
        .order_by("-created_at", "-id")
    )


def transition_list(*, filters: dict | None = None) -> QuerySet[SegmentTransition]:
    rows = SegmentTransition.objects.select_related("from_segment", "to_segment").order_by(
        "-created_at", "-id"
    )
    return SegmentTransitionFilter(filters or {}, queryset=rows).qs


def migration_matrix(*, from_run: SegmentationRun, to_run: SegmentationRun) -> dict:
    """How many customers were in segment X after ``from_run`` and in Y after ``to_run``.

    A customer's segment after a run is the target of their latest transition up to that run.
    """
    transitions = quote(SegmentTransition._meta.db_table)
    state = (
        f"SELECT customer_id, to_segment_id AS segment_id FROM ("
        f"SELECT customer_id, to_segment_id, ROW_NUMBER() OVER (PARTITION BY customer_id ORDER BY run_id DESC) AS n "
        f"FROM {transitions} WHERE run_id <= %s) x WHERE n = 1"
    )
    sql = (
        f"SELECT a.segment_id, b.segment_id, COUNT(*) FROM ({state}) b "
        f"LEFT JOIN ({state}) a ON a.customer_id = b.customer_id GROUP BY a.segment_id, b.segment_id"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [to_run.pk, from_run.pk])
        cells = cursor.fetchall()
    segments = {s.pk: s for s in Segment.objects.all()}
    keys = sorted(
        {k for row in cells for k in row[:2] if k is not None},
        key=lambda k: (segments[k].position, k) if k in segments else (10**9, k),
    )
    matrix = {(a, b): n for a, b, n in cells}
    return {
        "from_run": from_run,
        "to_run": to_run,
        "segments": [segments.get(k) for k in keys],
        "rows": [
            {
                "from": segments.get(a),
                "cells": [matrix.get((a, b), 0) for b in keys],
                "total": sum(matrix.get((a, b), 0) for b in keys),
            }
            for a in [None, *keys]
            if any(matrix.get((a, b), 0) for b in keys)
        ],
        "moved": sum(n for (a, b), n in matrix.items() if a != b and a is not None),
    }


def customer_explain(*, customer: Customer) -> dict | None:
    """Why the customer is in their segment: values, scores, the edges used, every rule tried."""
    rfm = CustomerRfm.objects.select_related("segment", "run").filter(customer=customer).first()
    if rfm is None:
        return None
    reference_date = rfm.reference_date
    rules = []
    winner = None
    for segment in Segment.objects.filter(is_active=True).order_by("position", "id"):
        checks = explain_conditions(segment.conditions, rfm, reference_date=reference_date)
        matched = CustomerRfm.objects.filter(pk=rfm.pk).filter(_q(segment, reference_date)).exists()
        rules.append(
            {
                "segment": segment,
                "matched": matched,
                "checks": checks,
                "rule": describe_conditions(segment.conditions),
            }
        )
        if matched:
            winner = segment
            break
    return {
        "rfm": rfm,
        "edges": (rfm.run.parameters.get("edges") if rfm.run else None),
        "method": (rfm.run.parameters.get("method") if rfm.run else None),
        "lookback_days": (rfm.run.parameters.get("lookback_days") if rfm.run else None),
        "rules": rules,
        "winner": winner,
        "stored_segment": rfm.segment,
    }


def _q(segment: Segment, reference_date):
    from customers.segmentation.conditions import conditions_to_q

    return conditions_to_q(segment.conditions, reference_date=reference_date)


def latest_reference_date() -> dt.date:
    """The reference date of the current scores (today when nobody has been scored yet)."""
    latest = (
        CustomerRfm.objects.order_by("-reference_date")
        .values_list("reference_date", flat=True)
        .first()
    )
    return latest or timezone.localdate()


def _match(conditions: dict, reference_date: dt.date) -> Q:
    q = conditions_to_q(conditions, reference_date=reference_date)
    # An empty rule matches everyone; When() refuses an empty Q.
    return q if not isinstance(q, Q) or q else Q(pk__isnull=False)


def segment_preview(
    *, conditions: dict, position: int | None = None, segment: Segment | None = None
) -> dict:
    """How many scored customers ``conditions`` would take on their own, and in ``position``
    given the active rules tried before it (``None``: after every active rule).

    Raises the ConditionError of ``validate_conditions`` for a bad rule.
    """
    validate_conditions(conditions)
    reference_date = latest_reference_date()
    rule = _match(conditions, reference_date)
    alone = CustomerRfm.objects.filter(rule).count()
    before = Segment.objects.filter(is_active=True)
    if segment is not None and segment.pk:
        before = before.exclude(pk=segment.pk)
    if position is not None:
        ahead = Q(position__lt=position)
        # Equal positions are tried by id; a new segment gets the highest id.
        if segment is not None and segment.pk:
            ahead |= Q(position=position, pk__lt=segment.pk)
        else:
            ahead |= Q(position=position)
        before = before.filter(ahead)
    whens = [
        When(_match(s.conditions, reference_date), then=Value(s.pk))
        for s in before.order_by("position", "id")
    ]
    whens.append(When(rule, then=Value(0)))  # segment ids start at 1: 0 marks "this rule"
    in_position = (
        CustomerRfm.objects.annotate(
            preview_pick=Case(*whens, default=Value(None), output_field=BigIntegerField())
        )
        .filter(preview_pick=0)
        .count()
    )
    return {
        "matches": alone,
        "in_position": in_position,
        "position": position,
        "rules_before": len(whens) - 1,
        "reference_date": reference_date,
    }


def segmentation_run_list(*, filters: dict | None = None) -> QuerySet[SegmentationRun]:
    runs = SegmentationRun.objects.select_related("created_by").order_by("-started_at", "-id")
    return SegmentationRunFilter(filters or {}, queryset=runs).qs


def full_run_list() -> QuerySet[SegmentationRun]:
    """Finished full runs, newest first (the ones a migration matrix compares)."""
    return SegmentationRun.objects.filter(
        parameters__full=True, finished_at__isnull=False
    ).order_by("-finished_at", "-id")


def default_matrix_runs() -> tuple[SegmentationRun | None, SegmentationRun | None]:
    """The last two full runs as (from, to)."""
    runs = list(full_run_list()[:2])
    if len(runs) < 2:
        return None, (runs[0] if runs else None)
    return runs[1], runs[0]
