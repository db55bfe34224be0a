"""Retention KPIs against numbers worked out by hand (DOMAIN.md "Measures" examples included)."""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from customers.kpis import (
    Period,
    kpi_compute,
    kpi_snapshot_list,
    kpi_snapshots_rebuild,
    ltv_averages,
    nps_score,
    percent,
    periods_between,
    recent_periods,
)
from customers.ltv import ltv_all, ltv_settings
from customers.models import (
    KpiSnapshot,
    Lifecycle,
    LtvFormula,
    Purchase,
    SegmentationRun,
    SegmentTransition,
)
from outreach.models import ContactAttempt, Disposition
from tests.factories import CampaignFactory, CustomerFactory, SegmentFactory

TOKYO = ZoneInfo("Asia/Tokyo")
MARCH = Period("month", dt.date(2026, 3, 1), dt.date(2026, 4, 1))
NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=TOKYO)
_lines = itertools.count()


def at(y, m, d, hh=12, mm=0) -> dt.datetime:
    return dt.datetime(y, m, d, hh, mm, tzinfo=TOKYO)


def buy(customer, when: dt.datetime, amount: str = "1000", order: str | None = None) -> Purchase:
    n = next(_lines)
    return Purchase.objects.create(
        customer=customer,
        line_key=f"L{n}",
        order_id=order if order is not None else f"O{n}",
        purchased_at=when,
        amount=Decimal(amount),
    )


def customers(n: int) -> list:
    return [CustomerFactory() for _ in range(n)]


def place(customer, segment, when: dt.datetime, run=None) -> SegmentTransition:
    run = run or SegmentationRun.objects.create(
        cause="manual", reference_date=when.date(), method="quintiles"
    )
    return SegmentTransition.objects.create(
        customer=customer, run=run, to_segment=segment, cause="first", created_at=when
    )


def four_placed_in_january_one_back_in_march(segment) -> None:
    """Four customers who bought in January and were placed in ``segment``; one of them buys
    again in March (March retention: 1 of 4, 25%)."""
    group = customers(4)
    for customer in group:
        buy(customer, at(2026, 1, 15))
        place(customer, segment, at(2026, 1, 20))
    buy(group[0], at(2026, 3, 10))


pytestmark = pytest.mark.django_db


def test_domain_example_100_active_30_bought_again_is_30_percent_retention():
    # Given 100 customers active at 1 March (bought in January), 30 of whom buy again in March
    group = customers(100)
    for customer in group:
        buy(customer, at(2026, 1, 15))
    for customer in group[:30]:
        buy(customer, at(2026, 3, 10))
    # When March is computed
    everyone = kpi_compute(period=MARCH, now=NOW)[None]
    # Then
    assert everyone.customers_at_start == 100
    assert everyone.retained == 30
    assert percent(everyone.retained, everyone.customers_at_start) == 30.0
    assert everyone.lost == 0


def test_domain_example_100_at_start_10_lost_is_10_percent_churn():
    # Given 100 active at 1 March: 10 whose last purchase (15 March 2025) passes 365 days during
    # March, 90 who bought in June 2025 (still active at the end, but not again in March)
    group = customers(100)
    for customer in group[:10]:
        buy(customer, at(2025, 3, 15))
    for customer in group[10:]:
        buy(customer, at(2025, 6, 1))
    everyone = kpi_compute(period=MARCH, now=NOW)[None]
    assert everyone.customers_at_start == 100
    assert everyone.lost == 10
    assert percent(everyone.lost, everyone.customers_at_start) == 10.0
    assert everyone.retained == 0


def test_window_and_period_boundaries_follow_local_time():
    a, b, c, d = customers(4)
    # a: exactly 365 days before the period start (00:00 JST) is still active; buys at 00:00 on
    # 1 March JST (= 28 Feb UTC), which is inside March
    buy(a, dt.datetime(2025, 3, 1, 0, 0, tzinfo=TOKYO))
    buy(a, dt.datetime(2026, 3, 1, 0, 0, tzinfo=TOKYO))
    # b: one second too early for the window: not a customer at start; buys on 1 April 00:00
    buy(b, dt.datetime(2025, 2, 28, 23, 59, 59, tzinfo=TOKYO))
    buy(b, dt.datetime(2026, 4, 1, 0, 0, tzinfo=TOKYO))
    # c: first purchase in March: new, not a customer at start
    buy(c, at(2026, 3, 2))
    # d: active at start, last purchase 31 Mar 23:59 JST: retained
    buy(d, at(2025, 12, 1))
    buy(d, dt.datetime(2026, 3, 31, 23, 59, tzinfo=TOKYO))
    everyone = kpi_compute(period=MARCH, now=NOW)[None]
    assert (everyone.customers_at_start, everyone.retained, everyone.lost) == (2, 2, 0)


def test_nps_counts_9_and_10_as_promoters_and_0_to_6_as_detractors():
    campaign = CampaignFactory()
    customer = CustomerFactory()
    disposition = Disposition.objects.get(code="success")

    def answer(key: str, when: dt.datetime, score: int | None) -> None:
        ContactAttempt.objects.create(
            idempotency_key=key,
            campaign=campaign,
            customer=customer,
            channel="call",
            disposition=disposition,
            attempted_at=when,
            nps=score,
        )

    answers = [10, 9, 8, 7, 6, 0]
    for n, score in enumerate(answers):
        answer(f"nps-{n}", at(2026, 3, 1 + n), score)
    # outside the period, and an attempt without an answer: not counted
    answer("apr", at(2026, 4, 1, 0, 0), 10)
    answer("none", at(2026, 3, 9), None)
    everyone = kpi_compute(period=MARCH, now=NOW)[None]
    assert (everyone.nps_responses, everyone.promoters, everyone.detractors) == (6, 2, 2)
    assert nps_score(everyone.promoters, everyone.detractors, everyone.nps_responses) == 0.0
    # 9, 9, 9, 6: 75% − 25% = 50
    assert nps_score(3, 1, 4) == 50.0
    assert nps_score(0, 0, 0) is None


def test_ltv_averages_match_the_card_formulas_per_customer():
    # a: 12 orders of 5,000 over the year to 31 March (the DOMAIN.md example): 180,000 / 108,000 /
    # 56,000; b: one order of 10,000 two years before: history 2 years → 15,000 / 9,000 / 6,000
    a, b = customers(2)
    for month in range(12):
        day = dt.date(2025, 4, 1) + dt.timedelta(days=30 * month)
        buy(a, at(day.year, day.month, day.day), "5000")
    buy(b, at(2024, 3, 31), "10000")
    buy(b, at(2026, 4, 2), "99999")  # after the period: not in its history
    counts = kpi_compute(period=MARCH, now=NOW)[None]
    averages = ltv_averages(counts)
    assert averages == (Decimal("97500.00"), Decimal("58500.00"), Decimal("31000.00"))
    # and independently, the mean of the card's per-customer values
    settings_row = ltv_settings()
    per_customer = [
        ltv_all(
            orders=orders,
            revenue=Decimal(revenue),
            first_purchase_on=first,
            reference_date=dt.date(2026, 3, 31),
            settings=settings_row,
        )
        for orders, revenue, first in (
            (12, 60000, dt.date(2025, 4, 1)),
            (1, 10000, dt.date(2024, 3, 31)),
        )
    ]
    assert [r.value for r in per_customer[0]] == [
        Decimal("180000.00"),
        Decimal("108000.00"),
        Decimal("56000.00"),
    ]
    for index, formula in enumerate(LtvFormula.values):
        mean = sum(results[index].value for results in per_customer) / 2
        assert per_customer[0][index].formula == formula
        assert averages[index] == mean


def test_dormant_count_and_reactivation_per_segment_from_transitions():
    dormant = SegmentFactory(lifecycle=Lifecycle.DORMANT)
    existing = SegmentFactory(lifecycle=Lifecycle.EXISTING)
    d1, d2, d3, d4, e1, e2 = customers(6)
    for customer in (d1, d2, d3):
        buy(customer, at(2024, 1, 10))
        place(customer, dormant, at(2026, 2, 1))
    buy(d1, at(2026, 3, 5))  # reactivated
    place(d4, existing, at(2026, 2, 1))
    place(d4, dormant, at(2026, 3, 20))  # dormant at the end only
    place(d2, existing, at(2026, 3, 25))  # leaves before the end
    for customer in (e1, e2):
        buy(customer, at(2025, 12, 1))
        place(customer, existing, at(2026, 2, 1))
    buy(e1, at(2026, 3, 15))
    place(d1, dormant, at(2026, 4, 2))  # after the period: ignored

    counts = kpi_compute(period=MARCH, now=NOW)
    assert (counts[dormant.pk].dormant_at_start, counts[dormant.pk].reactivated) == (3, 1)
    assert percent(1, 3) == 33.3
    assert counts[dormant.pk].dormant_at_end == 3  # d1, d3, d4
    assert counts[None].dormant_at_end == 3
    assert counts[None].dormant_at_start == 3
    assert (counts[existing.pk].customers_at_start, counts[existing.pk].retained) == (2, 1)
    assert counts[existing.pk].dormant_at_start == 0
    # everyone: e1, e2 active at start (the dormant ones bought in 2024)
    assert (counts[None].customers_at_start, counts[None].retained) == (2, 1)


def test_no_customers_gives_no_rate_instead_of_a_division_by_zero():
    counts = kpi_compute(period=MARCH, now=NOW)[None]
    assert counts.customers_at_start == 0
    assert percent(counts.retained, counts.customers_at_start) is None
    assert ltv_averages(counts) is None
    snapshot = KpiSnapshot(customers_at_start=0, dormant_at_start=0, nps_responses=0)
    assert snapshot.retention_rate is None
    assert snapshot.churn_rate is None
    assert snapshot.reactivation_rate is None
    assert snapshot.nps is None


def test_periods_months_and_iso_weeks():
    assert [
        p.label for p in periods_between("month", dt.date(2025, 12, 15), dt.date(2026, 2, 1))
    ] == [
        "2025-12",
        "2026-01",
        "2026-02",
    ]
    weeks = recent_periods("week", today=dt.date(2026, 3, 4), count=2)
    assert [(p.start, p.end) for p in weeks] == [
        (dt.date(2026, 2, 23), dt.date(2026, 3, 2)),
        (dt.date(2026, 3, 2), dt.date(2026, 3, 9)),
    ]
    assert weeks[-1].label == "2026-W10"


def test_rebuild_fills_snapshots_per_period_and_segment_and_is_idempotent():
    segment = SegmentFactory()
    four_placed_in_january_one_back_in_march(segment)
    created = kpi_snapshots_rebuild(now=NOW, months=5, weeks=2)
    assert created == KpiSnapshot.objects.count()
    assert kpi_snapshots_rebuild(now=NOW, months=5, weeks=2) == created
    march = KpiSnapshot.objects.get(period="month", period_start=MARCH.start, segment=None)
    assert (march.customers_at_start, march.retained, march.retention_rate) == (4, 1, 25.0)
    assert march.is_complete
    mine = KpiSnapshot.objects.get(period="month", period_start=MARCH.start, segment=segment)
    assert mine.retained == 1
    june = KpiSnapshot.objects.get(period="month", period_start=dt.date(2026, 6, 1), segment=None)
    assert not june.is_complete
    rows = kpi_snapshot_list(
        filters={"period": "month", "start": "2026-02-15", "end": "2026-03-31"}
    )
    assert [r.period_start for r in rows] == [dt.date(2026, 2, 1), dt.date(2026, 3, 1)]
    rows = kpi_snapshot_list(filters={"segment": str(segment.pk)})
    assert {r.segment_id for r in rows} == {segment.pk}


# Pages and API -------------------------------------------------------------------------------


@pytest.fixture
def march_snapshots():
    segment = SegmentFactory(name="=cmd|' /C calc'!A0", lifecycle=Lifecycle.DORMANT)
    four_placed_in_january_one_back_in_march(segment)
    kpi_snapshots_rebuild(now=NOW, months=5, weeks=2)
    return segment


def test_kpi_page_shows_charts_table_and_freshness_for_supervisors(
    supervisor_client, march_snapshots
):
    response = supervisor_client.get("/customers/kpis/", HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    body = response.content.decode()
    assert 'id="kpi-retention"' in body and "<svg" in body
    assert 'id="kpi-freshness"' in body and "Numbers computed at" in body
    assert 'data-period="2026-03-01"' in body
    assert "25.0%" in body  # March: 1 of 4 bought again
    assert "—" in body  # no NPS answers
    assert 'href="/customers/kpis/"' in body  # nav link


def test_kpi_page_without_customers_shows_dashes_not_errors(supervisor_client):
    kpi_snapshots_rebuild(now=NOW, months=2, weeks=1)
    response = supervisor_client.get("/customers/kpis/")
    assert response.status_code == 200
    assert "—" in response.content.decode()


def test_kpi_page_and_api_refuse_agents(agent_client):
    assert agent_client.get("/customers/kpis/").status_code == 403
    assert agent_client.post("/customers/kpis/recompute/").status_code == 403
    assert agent_client.get("/customers/segments/movement/").status_code == 403
    assert agent_client.get("/api/customers/kpis/").status_code == 403
    assert agent_client.post("/api/customers/kpis/recompute/").status_code == 403
    assert agent_client.get("/api/customers/segment-movement/").status_code == 403


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_kpi_export_neutralises_formulas(supervisor_client, march_snapshots, fmt):
    response = supervisor_client.get(f"/customers/kpis/?segment={march_snapshots.pk}&export={fmt}")
    assert response.status_code == 200
    if fmt == "csv":
        text = b"".join(response.streaming_content).decode("utf-8-sig")
        assert "'=cmd|" in text
        assert "\n=cmd" not in text and ",=cmd" not in text
    else:
        import io

        from openpyxl import load_workbook

        sheet = load_workbook(io.BytesIO(response.content)).active
        names = [row[1] for row in sheet.iter_rows(min_row=2, values_only=True)]
        assert names and all(name == "'=cmd|' /C calc'!A0" for name in names)


def test_recompute_now_rebuilds_the_snapshots(
    supervisor_client, django_capture_on_commit_callbacks
):
    buy(CustomerFactory(), at(2026, 1, 15))
    with django_capture_on_commit_callbacks(execute=True):
        response = supervisor_client.post("/customers/kpis/recompute/")
    assert response.status_code == 302
    assert KpiSnapshot.objects.filter(segment=None).exists()


def test_kpi_api_lists_snapshots_with_filters(api_client, march_snapshots):
    response = api_client.get("/api/customers/kpis/?period=month&start=2026-03-01&end=2026-03-31")
    assert response.status_code == 200
    rows = response.json()["results"]
    assert [r["period_start"] for r in rows] == ["2026-03-01"]
    assert rows[0]["retention_rate"] == 25.0
    assert rows[0]["nps"] is None and rows[0]["segment"] is None
    one = api_client.get(f"/api/customers/kpis/?segment={march_snapshots.pk}&period=week").json()
    assert {r["segment"] for r in one["results"]} == {march_snapshots.pk}
    assert {r["period"] for r in one["results"]} == {"week"}
    assert api_client.get("/api/customers/kpis/?period=year").status_code == 400


def test_kpi_recompute_api_queues_a_rebuild(api_client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = api_client.post("/api/customers/kpis/recompute/")
    assert response.status_code == 202
    assert response.json() == {"queued": True}


def test_segment_movement_counts_moves_into_and_out_of_dormant_per_run():
    dormant = SegmentFactory(lifecycle=Lifecycle.DORMANT)
    existing = SegmentFactory(lifecycle=Lifecycle.EXISTING)
    today = dt.date(2026, 3, 18)
    first = SegmentationRun.objects.create(cause="manual", reference_date=today, method="quintiles")
    second = SegmentationRun.objects.create(
        cause="nightly", reference_date=today, method="quintiles"
    )
    a, b, c, d = customers(4)
    for customer, segment in ((a, existing), (b, existing), (c, dormant), (d, None)):
        SegmentTransition.objects.create(
            customer=customer,
            run=first,
            to_segment=segment,
            cause="first",
            created_at=at(2026, 3, 16),
        )
    for customer, was, now_in in (
        (a, existing, dormant),
        (b, existing, dormant),
        (c, dormant, existing),
    ):
        SegmentTransition.objects.create(
            customer=customer,
            run=second,
            from_segment=was,
            to_segment=now_in,
            cause="time_passing",
            created_at=at(2026, 3, 17),
        )
    from customers.kpis import segment_movement_trend

    by_run = {m.key: m for m in segment_movement_trend(by="run", today=today)}
    assert (by_run[first.pk].into_dormant, by_run[first.pk].out_of_dormant) == (1, 0)
    assert (
        by_run[second.pk].into_dormant,
        by_run[second.pk].out_of_dormant,
        by_run[second.pk].moved,
    ) == (2, 1, 3)
    weeks = segment_movement_trend(by="week", weeks=4, today=today)
    assert len(weeks) == 4
    assert (weeks[-1].into_dormant, weeks[-1].out_of_dormant) == (3, 1)


def test_matrix_page_shows_the_movement_chart_and_the_api_the_trend(supervisor_client, api_client):
    response = supervisor_client.get("/customers/segments/matrix/")
    assert response.status_code == 200
    assert 'id="segment-movement"' in response.content.decode()
    page = supervisor_client.get("/customers/segments/movement/?movement_by=run")
    assert page.status_code == 200
    assert supervisor_client.get("/customers/segments/movement/?export=xlsx").status_code == 200
    trend = api_client.get("/api/customers/segment-movement/?weeks=3")
    assert trend.status_code == 200
    assert len(trend.json()) == 3


def test_incremental_rebuild_keeps_settled_periods_and_recomputes_recent_ones():
    group = customers(2)
    for customer in group:
        buy(customer, at(2026, 1, 15))
    kpi_snapshots_rebuild(now=NOW, months=5, weeks=2)
    # a late import adds a March purchase, and a purchase lands in the running month
    buy(group[0], at(2026, 3, 10))
    buy(group[1], at(2026, 6, 1, 13))
    later = NOW + dt.timedelta(hours=2)
    kpi_snapshots_rebuild(now=later, months=5, weeks=2, full=False)
    march = KpiSnapshot.objects.get(period="month", period_start=MARCH.start, segment=None)
    june = KpiSnapshot.objects.get(period="month", period_start=dt.date(2026, 6, 1), segment=None)
    assert (march.retained, march.computed_at) == (0, NOW)  # settled: kept as it was
    assert (june.retained, june.computed_at) == (1, later)  # running: recomputed
    kpi_snapshots_rebuild(now=later, months=5, weeks=2, full=True)
    march = KpiSnapshot.objects.get(period="month", period_start=MARCH.start, segment=None)
    assert march.retained == 1
    # a shorter window drops the periods outside it
    kpi_snapshots_rebuild(now=later, months=2, weeks=1, full=False)
    assert set(
        KpiSnapshot.objects.filter(period="month").values_list("period_start", flat=True)
    ) == {dt.date(2026, 5, 1), dt.date(2026, 6, 1)}
