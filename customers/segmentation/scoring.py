"""Set-based RFM scoring in the database (PostgreSQL; SQLite for the embedded demo).

Definitions (all as of a reference date D, in the default time zone):
- Purchases counted: those made before the end of D. An *order* is a distinct order id (lines
  without an order id count one each).
- recency_days = D − date of the last purchase, in whole days (0 = bought on D).
- frequency / monetary = orders / amount within the look-back window (the last N days up to D);
  purchase_count / total_amount = the same over all time.
- Customers who never bought have no scores (NULL) and recency NULL; they still get a row, so
  segment rules can place them (e.g. "no purchase yet").

Scores 1–5 (5 best) come from edges: R ≥ s when recency_days ≤ r_edge[s]; F ≥ s when
frequency ≥ f_edge[s]; M likewise. Equal values therefore always get equal scores (ties).
- Fixed cut-offs: the supervisor's four numbers are the edges.
- Quintiles: over the customers who bought, the edge for score s is the first value whose
  percent rank ((rank − 1) / (n − 1), ties share the lowest rank) is at least (s − 1) / 5, the
  ordering being ascending for F and M and from the oldest purchase to the newest for R. A value
  shared by many customers (say 35 % bought once) sits wholly in the bucket of its lowest rank.
The edges used are stored on the run, so every score can be explained and a later partial
re-scoring (customers touched by new purchases) uses the same edges as the last full run.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import connection
from django.utils import timezone

from customers.importing.staging import Dialect, is_postgres, quote
from customers.models import Customer, CustomerRfm, Purchase, RfmMethod, RfmSettings

SCORES = (2, 3, 4, 5)


@dataclass
class Edges:
    """Thresholds for scores 2..5 per dimension (None: that score is not reachable)."""

    r: list[int | None]  # max recency_days for R >= 2, 3, 4, 5
    f: list[float | None]  # min frequency for F >= 2, 3, 4, 5
    m: list[float | None]  # min monetary for M >= 2, 3, 4, 5

    def as_dict(self) -> dict[str, list]:
        return {"r": self.r, "f": self.f, "m": self.m}

    @classmethod
    def from_dict(cls, data: dict) -> Edges:
        return cls(r=list(data["r"]), f=list(data["f"]), m=list(data["m"]))

    @classmethod
    def from_settings(cls, rfm: RfmSettings) -> Edges:
        recency = sorted(int(v) for v in rfm.recency_cutoffs)  # [≤R5, ≤R4, ≤R3, ≤R2]
        return cls(
            r=list(reversed(recency)),
            f=[float(v) for v in sorted(rfm.frequency_cutoffs)],
            m=[float(v) for v in sorted(rfm.monetary_cutoffs)],
        )


def _tz_name() -> str:
    return settings.TIME_ZONE


def _end_of_day(reference_date: dt.date) -> dt.datetime:
    return dt.datetime.combine(
        reference_date + dt.timedelta(days=1), dt.time(), tzinfo=ZoneInfo(_tz_name())
    )


def _local_date_sql(expr: str, reference_date: dt.date) -> tuple[str, list]:
    """SQL for the local calendar date of a stored timestamp."""
    if is_postgres():
        return f"CAST(({expr} AT TIME ZONE %s) AS date)", [_tz_name()]
    # SQLite keeps UTC text; shift by the zone's offset on the reference date (exact for zones
    # without daylight saving such as Asia/Tokyo; the embedded demo only).
    offset = _end_of_day(reference_date).utcoffset() or dt.timedelta()
    return f"date({expr}, %s)", [f"{int(offset.total_seconds())} seconds"]


def _days_between_sql(reference_date: dt.date, local_date: str) -> str:
    if is_postgres():
        return f"(CAST(%s AS date) - {local_date})"
    return f"CAST(julianday(%s) - julianday({local_date}) AS INTEGER)"


def aggregate_table(
    table: str, *, reference_date: dt.date, lookback_days: int, customer_ids: list[int] | None
) -> None:
    """Materialise one row per customer who bought before the end of the reference date."""
    purchases = quote(Purchase._meta.db_table)
    end = _end_of_day(reference_date)
    window_start = end - dt.timedelta(days=lookback_days)
    local_last, tz_params = _local_date_sql("MAX(p.purchased_at)", reference_date)
    recency = _days_between_sql(reference_date, local_last)
    order_key = "CASE WHEN p.order_id <> '' THEN p.order_id ELSE p.line_key END"
    in_window = "p.purchased_at >= %s"
    where_ids = ""
    adapt = connection.ops.adapt_datetimefield_value  # raw SQL: SQLite needs Django's UTC text
    params: list = [
        reference_date.isoformat(),
        *tz_params,
        adapt(window_start),
        adapt(window_start),
    ]
    if customer_ids is not None:
        where_ids = f" AND p.customer_id IN ({', '.join(['%s'] * len(customer_ids))})"
    unlogged = "UNLOGGED " if is_postgres() else ""
    sql = f"""
        CREATE {unlogged}TABLE {quote(table)} AS
        SELECT p.customer_id,
               {recency} AS recency_days,
               COUNT(DISTINCT CASE WHEN {in_window} THEN {order_key} END) AS frequency,
               COALESCE(SUM(CASE WHEN {in_window} THEN p.amount END), 0) AS monetary,
               COUNT(DISTINCT {order_key}) AS purchase_count,
               SUM(p.amount) AS total_amount,
               MIN(p.purchased_at) AS first_purchase_at,
               MAX(p.purchased_at) AS last_purchase_at
        FROM {purchases} p
        WHERE p.purchased_at < %s{where_ids}
        GROUP BY p.customer_id
    """
    params.append(adapt(end))
    if customer_ids is not None:
        params.extend(customer_ids)
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {quote(table)}")
        cursor.execute(sql, params)
        if is_postgres():
            cursor.execute(f"ANALYZE {quote(table)}")


def quintile_edges(table: str) -> Edges:
    """Edges from the percent ranks of the aggregated customers (see the module docstring)."""
    bounds = [(s - 1) / 5 for s in SCORES]
    selects = []
    params: list = []
    for bound in bounds:
        selects.append("MAX(CASE WHEN pr_r >= %s THEN recency_days END)")
        params.append(bound)
    for column in ("f", "m"):
        value = "frequency" if column == "f" else "monetary"
        for bound in bounds:
            selects.append(f"MIN(CASE WHEN pr_{column} >= %s THEN {value} END)")
            params.append(bound)
    sql = f"""
        SELECT {", ".join(selects)} FROM (
            SELECT recency_days, frequency, monetary,
                   PERCENT_RANK() OVER (ORDER BY recency_days DESC) AS pr_r,
                   PERCENT_RANK() OVER (ORDER BY frequency) AS pr_f,
                   PERCENT_RANK() OVER (ORDER BY monetary) AS pr_m
            FROM {quote(table)}
        ) ranked
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()

    def number(value):
        return None if value is None else float(value)

    return Edges(
        r=[None if v is None else int(v) for v in row[0:4]],
        f=[number(v) for v in row[4:8]],
        m=[number(v) for v in row[8:12]],
    )


def _score_case(column: str, edges: list, *, higher_is_better: bool) -> tuple[str, list]:
    """CASE giving 5..1 from edges for scores 2..5."""
    parts, params = [], []
    for score, edge in reversed(list(zip(SCORES, edges, strict=True))):
        if edge is None:
            continue
        parts.append(f"WHEN {column} {'>=' if higher_is_better else '<='} %s THEN {score}")
        params.append(edge)
    return f"CASE WHEN {column} IS NULL THEN NULL {' '.join(parts)} ELSE 1 END", params


def write_scores(
    table: str,
    edges: Edges,
    *,
    reference_date: dt.date,
    run_id: int,
    customer_ids: list[int] | None,
) -> int:
    """Upsert CustomerRfm for every customer (or the given ones) from the aggregate table."""
    rfm = quote(CustomerRfm._meta.db_table)
    customers = quote(Customer._meta.db_table)
    r_case, r_params = _score_case("a.recency_days", edges.r, higher_is_better=False)
    f_case, f_params = _score_case(
        "CASE WHEN a.customer_id IS NULL THEN NULL ELSE a.frequency END",
        edges.f,
        higher_is_better=True,
    )
    m_case, m_params = _score_case(
        "CASE WHEN a.customer_id IS NULL THEN NULL ELSE a.monetary END",
        edges.m,
        higher_is_better=True,
    )
    now = timezone.now()
    where_ids, id_params = "", []
    if customer_ids is not None:
        where_ids = f" AND c.id IN ({', '.join(['%s'] * len(customer_ids))})"
        id_params = list(customer_ids)
    columns = (
        "customer_id",
        "run_id",
        "reference_date",
        "recency_days",
        "frequency",
        "monetary",
        "purchase_count",
        "total_amount",
        "first_purchase_at",
        "last_purchase_at",
        "r",
        "f",
        "m",
        "scored_at",
        "purchases_changed",
    )
    updates = ", ".join(
        f"{c} = excluded.{c}" for c in columns if c not in ("customer_id", "purchases_changed")
    )
    # Remember whether this scoring saw purchases the previous one did not (a transition's cause).
    d = Dialect()
    updates += (
        f", purchases_changed = ({d.distinct(f'{rfm}.last_purchase_at', 'excluded.last_purchase_at')}"
        f" OR {rfm}.purchase_count <> excluded.purchase_count)"
    )
    sql = f"""
        INSERT INTO {rfm} ({", ".join(columns)})
        SELECT c.id, %s, %s, a.recency_days, COALESCE(a.frequency, 0), COALESCE(a.monetary, 0),
               COALESCE(a.purchase_count, 0), COALESCE(a.total_amount, 0),
               a.first_purchase_at, a.last_purchase_at, {r_case}, {f_case}, {m_case}, %s,
               CASE WHEN a.customer_id IS NULL THEN FALSE ELSE TRUE END
        FROM {customers} c LEFT JOIN {quote(table)} a ON a.customer_id = c.id
        WHERE 1 = 1{where_ids}
        ON CONFLICT (customer_id) DO UPDATE SET {updates}
    """
    params = [
        run_id,
        reference_date,
        *r_params,
        *f_params,
        *m_params,
        connection.ops.adapt_datetimefield_value(now),
        *id_params,
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def current_settings() -> RfmSettings:
    return RfmSettings.objects.order_by("pk").first() or RfmSettings.objects.create()


def edges_for_full_run(table: str, rfm_settings: RfmSettings) -> Edges:
    if rfm_settings.method == RfmMethod.CUTOFFS:
        return Edges.from_settings(rfm_settings)
    return quintile_edges(table)
