"""Retention KPIs per period (month or week) and per segment, pre-aggregated into ``KpiSnapshot``.

Definitions (DOMAIN.md "Measures"), stated once; periods are local calendar months or ISO weeks
(Monday to Sunday) in ``TIME_ZONE``; ``[start, end)``; the current period runs to now.

- **Active** at a moment: bought at least once in the ``KPI_ACTIVE_DAYS`` (365) days before it.
  The same threshold makes a customer **lost**: 365 days without a purchase.
- **Customers at start**: active at the period start.
- **Retention rate** = customers at start who bought again within the period ÷ customers at start.
- **Churn rate** = customers at start who were lost by the period end (no purchase in the 365 days
  before the end, so none within the period either) ÷ customers at start. A customer at start who
  did not buy in the period but bought within the last 365 days before the end is neither
  retained nor lost, so retention + churn ≤ 100%.
- **NPS** = % promoters (9–10) − % detractors (0–6) over every survey answer
  (``ContactAttempt.nps``) logged in the period; the number of answers is kept beside it.
- **LTV** by the three formulas of ``customers.ltv``, averaged over every customer with a purchase
  before the period end, with their history up to that end and the period's last day (today for
  the current period) as reference date. Formula 1 per customer equals annual revenue × years
  retained, so the averages come from per-first-purchase-day revenue sums, not a per-row loop.
- **Dormant**: in a segment whose lifecycle is "dormant". Segment history comes from
  ``SegmentTransition``: a customer's segment at a moment is the target of their latest transition
  before it (``CustomerRfm`` holds the same for now). Dormant at end counts the period end;
  **reactivation rate** = dormant at start who bought within the period ÷ dormant at start.
- **Per segment**: a segment row counts the customers who were in the segment at the period start
  (retention, churn, reactivation, NPS, LTV alike); the row without segment counts everyone.
- An empty base gives no rate (``None``), shown as "—", never a division by zero.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

import django_filters
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from customers.ltv import CENT, history_years, ltv_settings
from customers.models import (
    KpiPeriod,
    KpiSnapshot,
    Lifecycle,
    Purchase,
    Segment,
    SegmentationRun,
    SegmentTransition,
)

SNAPSHOT_MONTHS = 24
SNAPSHOT_WEEKS = 26


def active_days() -> int:
    return int(getattr(settings, "KPI_ACTIVE_DAYS", 365))


@dataclass(frozen=True)
class Period:
    kind: str  # a KpiPeriod value
    start: dt.date
    end: dt.date  # exclusive

    @property
    def label(self) -> str:
        if self.kind == KpiPeriod.MONTH:
            return f"{self.start:%Y-%m}"
        year, week, _day = self.start.isocalendar()
        return f"{year}-W{week:02d}"


def period_start(kind: str, day: dt.date) -> dt.date:
    if kind == KpiPeriod.MONTH:
        return day.replace(day=1)
    return day - dt.timedelta(days=day.weekday())


def _next_start(kind: str, start: dt.date) -> dt.date:
    if kind == KpiPeriod.MONTH:
        return (start.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    return start + dt.timedelta(days=7)


def periods_between(kind: str, first: dt.date, last: dt.date) -> list[Period]:
    """The periods of ``kind`` that contain any day from ``first`` to ``last``."""
    start = period_start(kind, first)
    periods = []
    while start <= last:
        end = _next_start(kind, start)
        periods.append(Period(kind, start, end))
        start = end
    return periods


def recent_periods(kind: str, *, today: dt.date, count: int) -> list[Period]:
    """The last ``count`` periods of ``kind``, the current one included."""
    start = period_start(kind, today)
    for _step in range(count - 1):
        start = period_start(kind, start - dt.timedelta(days=1))
    return periods_between(kind, start, today)


def _moment(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.min, tzinfo=timezone.get_current_timezone())


def _param(value: dt.datetime):
    return connection.ops.adapt_datetimefield_value(value)


def _drop(cursor, *tables: str) -> None:
    for table in tables:
        cursor.execute(f"DROP TABLE IF EXISTS {table}")


def _segment_at_sql(table: str) -> str:
    """CREATE a temp table of each customer's segment just before a moment (one parameter)."""
    transitions = SegmentTransition._meta.db_table
    if connection.vendor == "postgresql":
        return (
            f"CREATE TEMP TABLE {table} AS SELECT DISTINCT ON (customer_id) customer_id, "
            f"to_segment_id AS segment_id FROM {transitions} WHERE created_at < %s "
            f"ORDER BY customer_id, created_at DESC, id DESC"
        )
    return (
        f"CREATE TEMP TABLE {table} AS SELECT customer_id, segment_id FROM ("
        f"SELECT customer_id, to_segment_id AS segment_id, ROW_NUMBER() OVER ("
        f"PARTITION BY customer_id ORDER BY created_at DESC, id DESC) AS n "
        f"FROM {transitions} WHERE created_at < %s) x WHERE n = 1"
    )


@dataclass
class _Counts:
    customers_at_start: int = 0
    retained: int = 0
    lost: int = 0
    dormant_at_start: int = 0
    reactivated: int = 0
    dormant_at_end: int = 0
    nps_responses: int = 0
    promoters: int = 0
    detractors: int = 0
    ltv_customers: int = 0
    annual_revenue: Decimal = Decimal(0)  # Σ revenue ÷ history years
    revenue: Decimal = Decimal(0)

    def add(self, other: _Counts) -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))


def _customer_totals_create(cursor) -> None:
    """Temp table kpi_totals: every buyer's first purchase and revenue to date (one pass over all
    purchases, shared by every period of a rebuild)."""
    _drop(cursor, "kpi_totals")
    cursor.execute(
        f"CREATE TEMP TABLE kpi_totals AS SELECT customer_id, MIN(purchased_at) AS first_at, "
        f"SUM(amount) AS revenue FROM {Purchase._meta.db_table} GROUP BY customer_id"
    )


def kpi_compute(
    *, period: Period, now: dt.datetime | None = None, totals_ready: bool = False
) -> dict[int | None, _Counts]:
    """Counts of ``period`` per segment at the period start (key None: every customer).

    Set-based statements over purchases, transitions and survey answers; nothing loops over
    customers in Python. Only purchases from the look-back window before the period start on
    are grouped per period; revenue up to the period end is the customer's total (kpi_totals,
    built once per rebuild unless ``totals_ready``) minus what they bought after the end.
    """
    from outreach.models import ContactAttempt

    now = now or timezone.now()
    start = _moment(period.start)
    end = min(_moment(period.end), now)
    window = dt.timedelta(days=active_days())
    reference = (
        period.end - dt.timedelta(days=1) if _moment(period.end) <= now else timezone.localdate(now)
    )
    tz = timezone.get_current_timezone_name()
    purchases = Purchase._meta.db_table
    attempts = ContactAttempt._meta.db_table
    first_on, first_params = connection.ops.datetime_cast_date_sql("t.first_at", (), tz)
    dormant = list(Segment.objects.filter(lifecycle=Lifecycle.DORMANT).values_list("pk", flat=True))
    counts: dict[int | None, _Counts] = {}

    def row(segment_id) -> _Counts:
        return counts.setdefault(segment_id, _Counts())

    with connection.cursor() as cursor:
        _drop(cursor, "kpi_buyers", "kpi_seg_start", "kpi_seg_end")
        if connection.vendor == "postgresql":
            # Group purchase lines by customer and sort the transitions in memory, not on disk.
            cursor.execute("SET work_mem = '256MB'")
        if not totals_ready:
            _customer_totals_create(cursor)
        cursor.execute(
            f"CREATE TEMP TABLE kpi_buyers AS SELECT customer_id, "
            f"MAX(CASE WHEN purchased_at < %s THEN 1 ELSE 0 END) AS active_start, "
            f"MAX(CASE WHEN purchased_at >= %s AND purchased_at < %s THEN 1 ELSE 0 END) "
            f"AS bought, "
            f"MAX(CASE WHEN purchased_at >= %s AND purchased_at < %s THEN 1 ELSE 0 END) "
            f"AS active_end, "
            f"SUM(CASE WHEN purchased_at >= %s THEN amount ELSE 0 END) AS after_end "
            f"FROM {purchases} WHERE purchased_at >= %s GROUP BY customer_id",
            [
                _param(start),
                _param(start),
                _param(end),
                _param(end - window),
                _param(end),
                _param(end),
                _param(start - window),
            ],
        )
        cursor.execute(_segment_at_sql("kpi_seg_start"), [_param(start)])
        cursor.execute(_segment_at_sql("kpi_seg_end"), [_param(end)])
        cursor.execute(
            f"SELECT s.segment_id, {first_on}, SUM(COALESCE(b.active_start, 0)), "
            f"SUM(COALESCE(b.active_start * b.bought, 0)), "
            f"SUM(COALESCE(b.active_start * (1 - b.active_end), 0)), "
            f"COUNT(*), SUM(t.revenue - COALESCE(b.after_end, 0)) "
            f"FROM kpi_totals t LEFT JOIN kpi_buyers b ON b.customer_id = t.customer_id "
            f"LEFT JOIN kpi_seg_start s ON s.customer_id = t.customer_id "
            f"WHERE t.first_at < %s GROUP BY 1, 2",
            [*first_params, _param(end)],
        )
        for segment_id, first_day, at_start, retained, lost, buyers, revenue in cursor.fetchall():
            if isinstance(first_day, str):  # SQLite
                first_day = dt.date.fromisoformat(first_day)
            revenue = Decimal(str(revenue or 0))
            counts_row = row(segment_id)
            counts_row.customers_at_start += int(at_start or 0)
            counts_row.retained += int(retained or 0)
            counts_row.lost += int(lost or 0)
            counts_row.ltv_customers += int(buyers)
            counts_row.revenue += revenue
            counts_row.annual_revenue += revenue / history_years(first_day, reference)
        if dormant:
            marks = ", ".join(["%s"] * len(dormant))
            cursor.execute(
                f"SELECT s.segment_id, COUNT(*), SUM(COALESCE(b.bought, 0)) FROM kpi_seg_start s "
                f"LEFT JOIN kpi_buyers b ON b.customer_id = s.customer_id "
                f"WHERE s.segment_id IN ({marks}) GROUP BY 1",
                dormant,
            )
            for segment_id, at_start, reactivated in cursor.fetchall():
                row(segment_id).dormant_at_start += int(at_start)
                row(segment_id).reactivated += int(reactivated or 0)
            cursor.execute(
                f"SELECT segment_id, COUNT(*) FROM kpi_seg_end WHERE segment_id IN ({marks}) "
                f"GROUP BY 1",
                dormant,
            )
            for segment_id, at_end in cursor.fetchall():
                row(segment_id).dormant_at_end += int(at_end)
        cursor.execute(
            f"SELECT s.segment_id, COUNT(*), SUM(CASE WHEN a.nps >= 9 THEN 1 ELSE 0 END), "
            f"SUM(CASE WHEN a.nps <= 6 THEN 1 ELSE 0 END) FROM {attempts} a "
            f"LEFT JOIN kpi_seg_start s ON s.customer_id = a.customer_id "
            f"WHERE a.nps IS NOT NULL AND a.attempted_at >= %s AND a.attempted_at < %s GROUP BY 1",
            [_param(start), _param(end)],
        )
        for segment_id, responses, promoters, detractors in cursor.fetchall():
            row(segment_id).nps_responses += int(responses)
            row(segment_id).promoters += int(promoters or 0)
            row(segment_id).detractors += int(detractors or 0)
        _drop(cursor, "kpi_buyers", "kpi_seg_start", "kpi_seg_end")
        if not totals_ready:
            _drop(cursor, "kpi_totals")
        if connection.vendor == "postgresql":
            cursor.execute("RESET work_mem")

    everyone = _Counts()
    for counts_row in counts.values():
        everyone.add(counts_row)
    result: dict[int | None, _Counts] = {
        segment_id: counts_row for segment_id, counts_row in counts.items() if segment_id
    }
    result[None] = everyone
    return result


def ltv_averages(counts: _Counts, settings_row=None) -> tuple[Decimal, Decimal, Decimal] | None:
    """Average LTV by the three formulas of ``customers.ltv`` over the counted customers."""
    if not counts.ltv_customers:
        return None
    settings_row = settings_row or ltv_settings()
    retained = Decimal(settings_row.years_retained)
    annual = counts.annual_revenue / counts.ltv_customers
    revenue = counts.revenue / counts.ltv_customers
    costs = Decimal(settings_row.acquisition_cost) + Decimal(settings_row.retention_cost)
    return (
        (annual * retained).quantize(CENT),
        (annual * Decimal(settings_row.gross_margin_percent) / 100 * retained).quantize(CENT),
        (revenue - costs).quantize(CENT),
    )


def _snapshots(period: Period, counts: dict, *, now: dt.datetime, settings_row) -> list:
    rows = []
    for segment_id, c in counts.items():
        ltv = ltv_averages(c, settings_row)
        rows.append(
            KpiSnapshot(
                period=period.kind,
                period_start=period.start,
                period_end=period.end,
                is_complete=_moment(period.end) <= now,
                segment_id=segment_id,
                customers_at_start=c.customers_at_start,
                retained=c.retained,
                lost=c.lost,
                dormant_at_start=c.dormant_at_start,
                reactivated=c.reactivated,
                dormant_at_end=c.dormant_at_end,
                nps_responses=c.nps_responses,
                promoters=c.promoters,
                detractors=c.detractors,
                ltv_customers=c.ltv_customers,
                ltv_order_value=ltv[0] if ltv else None,
                ltv_margin=ltv[1] if ltv else None,
                ltv_net=ltv[2] if ltv else None,
                computed_at=now,
            )
        )
    return rows


# A period that ended less than this long ago is recomputed by the incremental rebuild too:
# purchases and survey answers for it may still arrive (imports, late logging).
SETTLE_DAYS = 7


def kpi_snapshots_rebuild(
    *,
    now: dt.datetime | None = None,
    months: int = SNAPSHOT_MONTHS,
    weeks: int = SNAPSHOT_WEEKS,
    full: bool = True,
) -> int:
    """Recompute the snapshots of the last ``months`` months and ``weeks`` weeks (current ones
    included); periods outside that window are dropped. ``full=False`` (the nightly run) only
    recomputes periods that are missing, were still running when computed, or ended within
    ``SETTLE_DAYS``; settled periods keep their rows. Each period's rows are replaced in one
    transaction, so readers see old or new numbers, never a mix; running it twice gives the same
    rows. Returns the number of rows written."""
    now = now or timezone.now()
    today = timezone.localdate(now)
    settings_row = ltv_settings()
    segments = set(Segment.objects.values_list("pk", flat=True))
    settled = set()
    if not full:
        settled = set(
            KpiSnapshot.objects.filter(
                segment__isnull=True,
                is_complete=True,
                period_end__lte=today - dt.timedelta(days=SETTLE_DAYS),
            ).values_list("period", "period_start")
        )
    written = 0
    keep: dict[str, list[dt.date]] = {}
    totals_ready = False
    for kind, count in ((KpiPeriod.MONTH, months), (KpiPeriod.WEEK, weeks)):
        periods = recent_periods(kind, today=today, count=count)
        keep[kind] = [period.start for period in periods]
        for period in periods:
            if (kind, period.start) in settled:
                continue
            if not totals_ready:
                with connection.cursor() as cursor:
                    _customer_totals_create(cursor)
                totals_ready = True
            counts = kpi_compute(period=period, now=now, totals_ready=True)
            for segment_id in segments:
                counts.setdefault(segment_id, _Counts())
            rows = _snapshots(
                period,
                {k: v for k, v in counts.items() if k is None or k in segments},
                now=now,
                settings_row=settings_row,
            )
            with transaction.atomic():
                KpiSnapshot.objects.filter(period=kind, period_start=period.start).delete()
                KpiSnapshot.objects.bulk_create(rows, batch_size=1000)
            written += len(rows)
    with connection.cursor() as cursor:
        _drop(cursor, "kpi_totals")
    for kind, starts in keep.items():
        KpiSnapshot.objects.filter(period=kind).exclude(period_start__in=starts).delete()
    return written


# Reads -------------------------------------------------------------------------------------


def percent(part: int, whole: int) -> float | None:
    """``part`` ÷ ``whole`` in percent; ``None`` (shown "—") when there is no base."""
    return round(part * 100 / whole, 1) if whole else None


def nps_score(promoters: int, detractors: int, responses: int) -> float | None:
    """% promoters − % detractors, −100 to 100; ``None`` without answers."""
    if not responses:
        return None
    return round((promoters - detractors) * 100 / responses, 1)


class KpiSnapshotFilter(django_filters.FilterSet):
    """Filters of the KPI page and API: period kind, date range (by period start), segment.

    Without a segment, the rows for all customers."""

    period = django_filters.ChoiceFilter(
        choices=KpiPeriod.choices, empty_label=None, method="filter_period", label=_("period")
    )
    start = django_filters.DateFilter(field_name="period_end", lookup_expr="gt", label=_("from"))
    end = django_filters.DateFilter(field_name="period_start", lookup_expr="lte", label=_("to"))
    segment = django_filters.ModelChoiceFilter(
        queryset=Segment.objects.order_by("position", "id"),
        method="filter_segment",
        label=_("segment"),
        empty_label=_("All customers"),
    )

    class Meta:
        model = KpiSnapshot
        fields: list[str] = []

    def filter_period(self, queryset, name, value):
        return queryset.filter(period=value)

    def filter_segment(self, queryset, name, value):
        return queryset.filter(segment=value)

    def filter_queryset(self, queryset):
        data = self.form.cleaned_data
        queryset = super().filter_queryset(queryset)
        if not data.get("period"):
            queryset = queryset.filter(period=KpiPeriod.MONTH)
        if not data.get("segment"):
            queryset = queryset.filter(segment__isnull=True)
        return queryset


def kpi_snapshot_list(*, filters: dict | None = None) -> QuerySet[KpiSnapshot]:
    """Snapshots in period order for the page and the API (invalid filters: none)."""
    base = KpiSnapshot.objects.select_related("segment").order_by("period_start")
    filterset = KpiSnapshotFilter(filters or {}, queryset=base)
    if not filterset.is_valid():
        return base.none()
    return filterset.qs


def kpi_freshness() -> dt.datetime | None:
    """When the snapshots were computed (None: never)."""
    return (
        KpiSnapshot.objects.order_by("-computed_at").values_list("computed_at", flat=True).first()
    )


# Segment movement ---------------------------------------------------------------------------


@dataclass
class Movement:
    """Moves into and out of dormant-lifecycle segments in one run or one week."""

    key: int | dt.date  # run id, or the Monday of the week
    day: dt.date  # run reference date, or the Monday
    into_dormant: int = 0
    out_of_dormant: int = 0
    moved: int = 0  # every change of segment (first placements excluded)


def segment_movement_trend(
    *, by: str = "week", weeks: int = 26, today: dt.date | None = None
) -> list[Movement]:
    """Per run (``by="run"``) or per week of the run's reference date, over the last ``weeks`` weeks:
    customers moving into a dormant-lifecycle segment (from a non-dormant one or from none) and
    out of one (to a non-dormant segment or none).

    One GROUP BY (run, from, to) on the transition_run_idx index; weeks are built in Python from
    the few runs, so no scan by time over all transitions.
    """
    today = today or timezone.localdate()
    since = period_start(KpiPeriod.WEEK, today) - dt.timedelta(weeks=weeks - 1)
    runs = {
        run.pk: run
        for run in SegmentationRun.objects.filter(reference_date__gte=since).only(
            "pk", "reference_date"
        )
    }
    dormant = set(Segment.objects.filter(lifecycle=Lifecycle.DORMANT).values_list("pk", flat=True))
    cells = (
        SegmentTransition.objects.filter(run_id__in=list(runs))
        .values_list("run_id", "from_segment_id", "to_segment_id")
        .annotate(n=Count("*"))
        .order_by()
    )
    buckets: dict = {}
    for run_id, from_id, to_id, n in cells:
        run = runs[run_id]
        if by == "run":
            key, day = run_id, run.reference_date
        else:
            day = period_start(KpiPeriod.WEEK, run.reference_date)
            key = day
        bucket = buckets.setdefault(key, Movement(key=key, day=day))
        if from_id is not None and from_id != to_id:
            bucket.moved += n
        if to_id in dormant and from_id not in dormant:
            bucket.into_dormant += n
        if from_id in dormant and to_id not in dormant:
            bucket.out_of_dormant += n
    if by != "run":  # every week shown, quiet ones as zero
        for index in range(weeks):
            day = since + dt.timedelta(weeks=index)
            buckets.setdefault(day, Movement(key=day, day=day))
    return sorted(buckets.values(), key=lambda m: (m.day, str(m.key)))
