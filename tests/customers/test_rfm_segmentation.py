"""RFM scores and segments against an independent computation on hand-built data."""

import datetime as dt
import math
from zoneinfo import ZoneInfo

import pytest

from customers.models import (
    Customer,
    CustomerRfm,
    RfmSettings,
    Segment,
    SegmentTransition,
)
from customers.services.segments import segmentation_run
from tests.factories import purchase

pytestmark = pytest.mark.django_db
TOKYO = ZoneInfo("Asia/Tokyo")
REF = dt.date(2025, 6, 30)


def _tokyo(y, m, d, hh=12, mm=0) -> dt.datetime:
    return dt.datetime(y, m, d, hh, mm, tzinfo=TOKYO)


# -- the independent computation: plain Python, written from the definitions, not from the SQL --


def _percent_rank_scores(values: dict[str, float], *, descending: bool) -> dict[str, int]:
    n = len(values)
    scores = {}
    for key, value in values.items():
        below = sum(
            1 for other in values.values() if (other > value if descending else other < value)
        )
        rank_fraction = below / (n - 1) if n > 1 else 0.0
        scores[key] = min(5, 1 + math.floor(5 * rank_fraction + 1e-9))
    return scores


@pytest.fixture
def shop():
    """Twelve customers with varied histories, one who never bought, one buying after REF."""
    people = {key: Customer.objects.create(external_id=key, name=key) for key in "ABCDEFGHIJKL"}
    n = 0

    def order(key, when, amount):
        nonlocal n
        n += 1
        purchase(people[key], when, amount, f"O{n}")

    order("A", _tokyo(2025, 6, 30, 23, 59), 50_000)  # last minute of REF: recency 0
    order("A", _tokyo(2025, 6, 1), 20_000)
    order("A", _tokyo(2025, 5, 1), 20_000)
    order("B", _tokyo(2025, 6, 20), 3_000)
    order("C", _tokyo(2025, 3, 1), 8_000)
    order("C", _tokyo(2025, 1, 1), 8_000)
    order("D", _tokyo(2024, 12, 24), 120_000)
    for month in range(1, 7):
        order("E", _tokyo(2024, month, 10), 10_000)
    order("F", _tokyo(2023, 1, 5), 5_000)  # outside a 365-day window
    order("G", _tokyo(2025, 6, 20), 3_000)  # ties with B on every value
    order("H", _tokyo(2025, 4, 15), 15_000)
    order("H", _tokyo(2025, 5, 15), 15_000)
    order("I", _tokyo(2024, 9, 1), 1_000)
    order("J", _tokyo(2025, 7, 1, 0, 0), 99_000)  # after REF: not counted at all
    order("K", _tokyo(2025, 6, 29, 0, 30), 7_000)
    # L never bought
    return people


def _expected(lookback_days: int):
    end = dt.datetime.combine(REF + dt.timedelta(days=1), dt.time(), tzinfo=TOKYO)
    start = end - dt.timedelta(days=lookback_days)
    raw = {}
    for customer in Customer.objects.all():
        purchases = [p for p in customer.purchases.all() if p.purchased_at < end]
        if not purchases:
            continue
        last = max(p.purchased_at for p in purchases).astimezone(TOKYO).date()
        in_window = [p for p in purchases if p.purchased_at >= start]
        raw[customer.external_id] = {
            "recency_days": (REF - last).days,
            "frequency": len({p.order_id for p in in_window}),
            "monetary": float(sum(p.amount for p in in_window)),
            "purchase_count": len({p.order_id for p in purchases}),
        }
    return raw


def test_quintile_scores_match_an_independent_computation(shop):
    RfmSettings.objects.update(method="quintiles", lookback_days=365)
    segmentation_run(cause="manual", reference_date=REF)

    raw = _expected(365)
    r = _percent_rank_scores({k: v["recency_days"] for k, v in raw.items()}, descending=True)
    f = _percent_rank_scores({k: v["frequency"] for k, v in raw.items()}, descending=False)
    m = _percent_rank_scores({k: v["monetary"] for k, v in raw.items()}, descending=False)
    stored = {
        row.customer.external_id: row for row in CustomerRfm.objects.select_related("customer")
    }

    assert set(stored) == set("ABCDEFGHIJKL")
    for key, values in raw.items():
        row = stored[key]
        assert row.recency_days == values["recency_days"], key
        assert row.frequency == values["frequency"], key
        assert float(row.monetary) == values["monetary"], key
        assert row.purchase_count == values["purchase_count"], key
        assert (row.r, row.f, row.m) == (r[key], f[key], m[key]), key
    assert stored["A"].recency_days == 0
    assert (stored["B"].r, stored["B"].f, stored["B"].m) == (
        stored["G"].r,
        stored["G"].f,
        stored["G"].m,
    )
    assert stored["F"].frequency == 0 and stored["F"].purchase_count == 1
    for never in ("J", "L"):
        assert (stored[never].r, stored[never].f, stored[never].m, stored[never].recency_days) == (
            None,
            None,
            None,
            None,
        )


def test_fixed_cutoffs_score_exactly_at_their_edges(shop):
    RfmSettings.objects.update(
        method="cutoffs",
        lookback_days=730,
        recency_cutoffs=[1, 30, 100, 365],
        frequency_cutoffs=[2, 3, 4, 6],
        monetary_cutoffs=[5_000, 16_000, 30_000, 90_000],
    )
    segmentation_run(cause="manual", reference_date=REF)
    rows = {row.customer.external_id: row for row in CustomerRfm.objects.select_related("customer")}

    assert rows["A"].r == 5  # 0 days ≤ 1
    assert rows["K"].r == 5  # 1 day ≤ 1 (edge inclusive)
    assert rows["B"].r == 4  # 10 days
    assert rows["E"].recency_days == 385 and rows["E"].r == 1
    assert rows["E"].f == 5  # 6 orders ≥ 6
    assert rows["C"].f == 2 and rows["H"].f == 2  # 2 orders
    assert rows["B"].f == 1
    assert rows["C"].m == 3  # 16,000 ≥ 16,000
    assert rows["D"].m == 5  # 120,000


def test_segments_take_the_first_matching_rule_and_everyone_gets_one(shop):
    segmentation_run(cause="manual", reference_date=REF)
    rows = CustomerRfm.objects.select_related("segment", "customer")
    assert all(row.segment is not None for row in rows)
    by_key = {row.customer.external_id: row.segment.key for row in rows}
    assert by_key["L"] == "no_purchase"
    for row in rows:
        first = next(
            s
            for s in Segment.objects.filter(is_active=True).order_by("position")
            if CustomerRfm.objects.filter(pk=row.pk).filter(_q(s)).exists()
        )
        assert row.segment == first


def _q(segment):
    from customers.segmentation.conditions import conditions_to_q

    return conditions_to_q(segment.conditions, reference_date=REF)


def test_rule_order_decides_between_overlapping_rules(shop):
    Segment.objects.all().update(is_active=False)
    everyone = Segment.objects.create(key="everyone", name="Everyone", position=20, conditions={})
    recent = Segment.objects.create(
        key="recent",
        name="Recent",
        position=10,
        conditions={"all": [{"field": "recency_days", "op": "lte", "value": 30}]},
    )
    segmentation_run(cause="manual", reference_date=REF)
    assert set(
        CustomerRfm.objects.filter(segment=recent).values_list("customer__external_id", flat=True)
    ) == {"A", "B", "G", "K"}
    assert CustomerRfm.objects.filter(segment=everyone).count() == 8


def test_transitions_are_recorded_exactly_once_per_change(shop):
    first = segmentation_run(cause="nightly", reference_date=REF)
    assert SegmentTransition.objects.filter(run=first).count() == Customer.objects.count()
    assert SegmentTransition.objects.filter(run=first, from_segment__isnull=False).count() == 0
    assert set(SegmentTransition.objects.filter(run=first).values_list("cause", flat=True)) == {
        "first"
    }

    again = segmentation_run(cause="nightly", reference_date=REF)
    assert again.customers_moved == 0
    assert SegmentTransition.objects.filter(run=again).count() == 0

    customer = shop["L"]
    purchase(customer, _tokyo(2025, 6, 30, 10), 4_000, "NEW1")
    touched = segmentation_run(cause="touched", reference_date=REF, customer_ids=[customer.pk])
    moves = SegmentTransition.objects.filter(run=touched)
    assert list(moves.values_list("customer_id", "from_segment__key", "cause")) == [
        (customer.pk, "no_purchase", "new_purchase")
    ]
    assert touched.parameters["full"] is False
    assert touched.parameters["edges"] == first.parameters["edges"]
    assert CustomerRfm.objects.get(customer=customer).recency_days == 0


def test_time_passing_moves_customers_without_new_purchases(shop):
    # Fixed cut-offs: with quintiles R is relative, so the least stale customer would stay R5.
    RfmSettings.objects.update(method="cutoffs")
    segmentation_run(cause="nightly", reference_date=REF)
    later = segmentation_run(cause="nightly", reference_date=REF + dt.timedelta(days=800))
    assert later.customers_moved > 0
    causes = dict(
        SegmentTransition.objects.filter(run=later).values_list("customer__external_id", "cause")
    )
    assert causes.pop("J") == "new_purchase"  # J's purchase (after REF) is seen for the first time
    assert set(causes.values()) == {"time_passing"}
    # By then every buyer (J too: their purchase was after REF, but long before REF + 800 days).
    assert CustomerRfm.objects.filter(segment__key="lost").count() == 11


def test_with_every_segment_switched_off_customers_are_scored_but_unplaced(shop):
    Segment.objects.update(is_active=False)
    run = segmentation_run(cause="manual", reference_date=REF)
    assert run.customers_scored == Customer.objects.count()
    assert not CustomerRfm.objects.filter(segment__isnull=False).exists()


def test_flushed_databases_get_the_default_segments_back():
    from customers.segmentation.defaults import DEFAULT_SEGMENTS, segments_ensure_defaults

    Segment.objects.all().delete()
    assert segments_ensure_defaults() == len(DEFAULT_SEGMENTS)
    assert segments_ensure_defaults() == 0
    assert list(Segment.objects.order_by("position").values_list("key", flat=True))[:2] == [
        "champions",
        "loyal",
    ]


def test_a_rule_change_is_the_cause_of_the_moves_it_makes(shop):
    segmentation_run(cause="nightly", reference_date=REF)
    Segment.objects.filter(key="champions").update(
        position=1, conditions={"all": [{"field": "recency_days", "op": "lte", "value": 400}]}
    )
    run = segmentation_run(cause="rule_change", reference_date=REF)
    assert run.customers_moved > 0
    assert set(SegmentTransition.objects.filter(run=run).values_list("cause", flat=True)) == {
        "rule_change"
    }


def test_refused_in_the_last_n_days_is_a_rule_condition(shop):
    from customers.models import ProductRefusal
    from customers.segmentation.conditions import conditions_to_q, describe_conditions

    ProductRefusal.objects.create(
        customer=shop["A"], product="化粧品", refused_at=_tokyo(2025, 6, 1)
    )
    ProductRefusal.objects.create(
        customer=shop["B"], product="化粧品", refused_at=_tokyo(2024, 1, 1)
    )
    ProductRefusal.objects.create(
        customer=shop["C"], product="化粧品", refused_at=_tokyo(2025, 7, 2)
    )  # after REF
    segmentation_run(cause="manual", reference_date=REF)
    rule = {"field": "product_refused", "op": "any_of", "value": ["化粧品"], "within_days": 90}

    matched = CustomerRfm.objects.filter(conditions_to_q(rule, reference_date=REF))
    assert set(matched.values_list("customer__external_id", flat=True)) == {"A"}
    any_time = {"field": "product_refused", "op": "is_true", "value": True}
    assert set(
        CustomerRfm.objects.filter(conditions_to_q(any_time, reference_date=REF)).values_list(
            "customer__external_id", flat=True
        )
    ) == {"A", "B", "C"}  # without a window every refusal counts
    assert "90" in describe_conditions(rule)
