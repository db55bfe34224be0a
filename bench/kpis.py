"""Benchmark: the KPI dashboard and the agent performance page at scale (server time).

    # once: its own database, migrated, filled set-based (about 15-25 minutes)
    createdb -h 127.0.0.1 -U postgres retention_bench_kpis
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/retention_bench_kpis .venv/bin/python manage.py migrate
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/retention_bench_kpis .venv/bin/python bench/kpis.py generate

    # the measurement (or: make bench-kpis)
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/retention_bench_kpis .venv/bin/python bench/kpis.py run

``generate`` writes 1M customers, 10M purchase lines over five years (bench/card.py's skewed
generator), 24 monthly segmentation runs of history (first placements, then about 10% of the
customers moving each month, with dormant-lifecycle segments among the targets), 5 campaigns,
20 agents in 3 teams and 10M contact attempts over the last year (7.7% with an NPS answer, 2.5%
personal callback requests of which half are followed up by the same agent 5 minutes after the
due time). ``run`` times, in this process through the test client: the nightly snapshot rebuild
(``kpi_snapshots_rebuild``) and the agent-daily-stats rebuild once, then the KPI page, the KPI
API, the agent performance page (30 days and 365 days) and its API, each ``--requests`` times
(p50/p95/max), and writes bench/results/kpis-*.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import _django

_django.setup()
sys.path.insert(0, str(Path(__file__).resolve().parent))  # settings rewrite sys.path

from _db import without_secondary_indexes  # noqa: E402
from _timing import percentile, step  # noqa: E402
from card import create_campaigns, customers_and_purchases  # noqa: E402
from django.db import connection  # noqa: E402

HERE = Path(__file__).resolve().parent

RUNS_SQL = """
INSERT INTO customers_segmentationrun (cause, reference_date, method, parameters,
    customers_scored, customers_moved, segment_counts, timings, started_at, finished_at)
SELECT 'nightly', (now() - k * interval '1 month')::date, 'quintiles', '{"full": true}'::jsonb,
       %(customers)s, 0, '{}'::jsonb, '{}'::jsonb, now() - k * interval '1 month',
       now() - k * interval '1 month'
FROM generate_series(24, 1, -1) k
"""

# Run k (oldest first) places everyone on its first run, then moves ~10% of the customers a month.
TRANSITIONS_SQL = """
INSERT INTO customers_segmenttransition (customer_id, run_id, from_segment_id, to_segment_id,
    cause, created_at)
SELECT g, r.id, NULL::bigint, segments[1 + (g::bigint * 7919) %% array_length(segments, 1)], 'first', r.started_at
FROM generate_series(1, %(customers)s) g,
     (SELECT id, started_at FROM customers_segmentationrun ORDER BY started_at LIMIT 1) r,
     (SELECT array_agg(id ORDER BY id) AS segments FROM customers_segment) s
UNION ALL
SELECT g, r.id, NULL::bigint, segments[1 + ((g + r.id)::bigint * 104729) %% array_length(segments, 1)],
       'time_passing', r.started_at
FROM (SELECT id, started_at FROM customers_segmentationrun ORDER BY started_at OFFSET 1) r,
     generate_series(1, %(customers)s) g,
     (SELECT array_agg(id ORDER BY id) AS segments FROM customers_segment) s
WHERE (g::bigint * 2654435761 + r.id * 40503) %% 10 = 0
"""

# Deterministic pseudo-random times over the last year; every 40th attempt asks for a personal
# callback a day later, and every 80th's next attempt (same agent, customer and campaign) comes
# 5 minutes after that callback was due.
ATTEMPTS_SQL = """
INSERT INTO outreach_contactattempt (idempotency_key, campaign_id, customer_id, agent_id, channel,
    address, disposition_id, attempted_at, duration_seconds, notes, voice_category, voice_text,
    nps, callback_at, callback_scope, disclosure_given, reached, success, counts_as_attempt,
    created_at)
SELECT 'kb-' || g, campaigns[1 + (k %% array_length(campaigns, 1))],
       1 + (k::bigint * 48271) %% %(customers)s, agents[1 + ((k / 7) %% array_length(agents, 1))], 'call',
       '', dispositions[1 + ((g / 3) %% array_length(dispositions, 1))],
       CASE WHEN g %% 80 = 1 THEN base + interval '1 day 5 minutes' ELSE base END,
       (g::bigint * 37) %% 600,
       '', '', '', CASE WHEN g %% 13 = 0 THEN (g %% 11) END,
       CASE WHEN g %% 40 = 0 THEN base + interval '1 day' END,
       CASE WHEN g %% 40 = 0 THEN 'personal' ELSE '' END,
       true, g %% 2 = 0, g %% 9 = 0, true, now()
FROM (
    SELECT g, CASE WHEN g %% 80 = 1 THEN g - 1 ELSE g END AS k,
           now() - interval '2 days'
               - ((CASE WHEN g %% 80 = 1 THEN g - 1 ELSE g END)::bigint * 2654435761 %% 31536000)
                 * interval '1 second' AS base
    FROM generate_series(1, %(attempts)s) g
) x,
     (SELECT array_agg(id ORDER BY id) AS campaigns FROM campaigns_campaign) c,
     (SELECT array_agg(id ORDER BY id) AS agents FROM auth_user
      WHERE username LIKE 'bench-agent-%%') a,
     (SELECT array_agg(id ORDER BY id) AS dispositions FROM outreach_disposition) d
"""


def generate(args: argparse.Namespace) -> None:
    """Fill an empty migrated database with the benchmark data set."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from campaigns.models import Campaign
    from config.roles import AGENT, SUPERVISOR
    from customers.models import Customer, SegmentTransition
    from outreach.models import AgentProfile, ContactAttempt, Team

    params = {
        "customers": args.customers,
        "purchases": args.purchases,
        "categories": 200,
        "attempts": args.attempts,
    }
    started = clock = time.perf_counter()
    print(f"generating into {connection.settings_dict['NAME']}: {params}", flush=True)
    # Each step is skipped when its data is there, so an interrupted run can be resumed.
    wrote = not ContactAttempt.objects.exists()
    if not Customer.objects.exists():
        clock = customers_and_purchases(params, clock)
    if not SegmentTransition.objects.exists():
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM customers_segmentationrun")
            cursor.execute(RUNS_SQL, params)
        without_secondary_indexes("customers_segmenttransition", TRANSITIONS_SQL, params)
        clock = step("segment history", clock)

    users = get_user_model()
    if not users.objects.filter(username="bench-supervisor").exists():
        users.objects.create_user("bench-supervisor", password=None).groups.add(
            Group.objects.get(name=SUPERVISOR)
        )
        teams = [Team.objects.create(name=f"Bench team {n}") for n in range(3)]
        agents = Group.objects.get(name=AGENT)
        for n in range(20):
            user = users.objects.create_user(f"bench-agent-{n:02d}", password=None)
            user.groups.add(agents)
            AgentProfile.objects.create(user=user, team=teams[n % 3])
    if not Campaign.objects.exists():
        create_campaigns()
    if not ContactAttempt.objects.exists():
        without_secondary_indexes("outreach_contactattempt", ATTEMPTS_SQL, params)
        clock = step("campaigns, agents, attempts", clock)
    if not wrote:
        print("already generated")
        return
    with connection.cursor() as cursor:  # autocommit: what autovacuum would have done by now
        for table in (
            "customers_purchase",
            "customers_segmenttransition",
            "outreach_contactattempt",
        ):
            cursor.execute(f"VACUUM (ANALYZE) {table}")
    print(f"done in {time.perf_counter() - started:.0f} s")


def _time_get(client, url: str, requests: int) -> dict:
    timings = []
    for _ in range(requests):
        began = time.perf_counter()
        response = client.get(url)
        timings.append(time.perf_counter() - began)
        if response.status_code != 200:
            raise SystemExit(f"{url}: HTTP {response.status_code}")
    return {
        "url": url,
        "requests": requests,
        "p50_ms": round(statistics.median(timings) * 1000, 1),
        "p95_ms": round(percentile(timings, 0.95) * 1000, 1),
        "max_ms": round(max(timings) * 1000, 1),
    }


def run(args: argparse.Namespace) -> None:
    from datetime import timedelta

    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.test import Client
    from django.utils import timezone

    from customers.kpis import kpi_snapshots_rebuild
    from customers.models import Purchase
    from outreach.models import ContactAttempt
    from outreach.performance import agent_daily_stats_rebuild

    result: dict = {
        "scenario": "kpis",
        "database": connection.settings_dict["NAME"],
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": platform.platform(),
        "purchases": Purchase.objects.count(),
        "attempts": ContactAttempt.objects.count(),
        "precompute": {},
        "pages": [],
    }
    today = timezone.localdate()
    if not args.skip_rebuild:
        # The nightly run recomputes the running and just-ended periods (full=False); time that
        # many periods from scratch, then fill the rest of the 24 months + 26 weeks the page reads
        # with copies so the page works on a table of production size.
        began = time.perf_counter()
        rows = kpi_snapshots_rebuild(months=args.months, weeks=args.weeks, full=True)
        seconds = time.perf_counter() - began
        periods = args.months + args.weeks
        result["precompute"]["kpi_periods_computed"] = periods
        result["precompute"]["kpi_rebuild_s"] = round(seconds, 1)
        result["precompute"]["kpi_seconds_per_period"] = round(seconds / periods, 1)
        result["precompute"]["kpi_snapshot_rows"] = rows
        print(f"  KPI snapshots: {periods} periods, {rows} rows in {seconds:.1f} s", flush=True)
        _fill_snapshot_history(today)
        began = time.perf_counter()
        rows = agent_daily_stats_rebuild(start=today - timedelta(days=400), end=today)
        result["precompute"]["agent_daily_stats_rebuild_400_days_s"] = round(
            time.perf_counter() - began, 1
        )
        result["precompute"]["agent_daily_stats_rows"] = rows
        began = time.perf_counter()
        agent_daily_stats_rebuild(start=today - timedelta(days=3), end=today)
        result["precompute"]["agent_daily_stats_rebuild_3_days_s"] = round(
            time.perf_counter() - began, 1
        )
        print(f"  precompute: {result['precompute']}", flush=True)
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    client = Client()
    client.force_login(get_user_model().objects.get(username="bench-supervisor"))
    month = (today - timedelta(days=30)).isoformat()
    year = (today - timedelta(days=365)).isoformat()
    urls = [
        "/customers/kpis/",
        "/customers/kpis/?period=week",
        f"/api/customers/kpis/?period=month&start={year}&end={today}",
        "/customers/segments/matrix/",
        "/api/customers/segment-movement/",
        f"/work/performance/?start={month}&end={today}",
        f"/work/performance/?start={year}&end={today}",
        f"/api/outreach/agent-performance/?start={year}&end={today}",
    ]
    for url in urls:
        client.get(url)  # warm-up
        timing = _time_get(client, url, args.requests)
        result["pages"].append(timing)
    _print_table(result)
    out = HERE / "results" / f"kpis-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2, ensure_ascii=False))
    print(f"written to {out}")


def _fill_snapshot_history(today) -> None:
    """Copy the oldest computed rows into the periods not computed, up to 24 months + 26 weeks."""
    from customers.kpis import SNAPSHOT_MONTHS, SNAPSHOT_WEEKS, recent_periods
    from customers.models import KpiSnapshot

    copies = []
    for kind, count in (("month", SNAPSHOT_MONTHS), ("week", SNAPSHOT_WEEKS)):
        template = list(KpiSnapshot.objects.filter(period=kind).order_by("period_start"))
        have = {row.period_start for row in template}
        first = [row for row in template if row.period_start == min(have)]
        for period in recent_periods(kind, today=today, count=count):
            if period.start in have:
                continue
            for row in first:
                row.pk = None
                row.period_start, row.period_end = period.start, period.end
                copies.append(
                    KpiSnapshot(
                        **{f.attname: getattr(row, f.attname) for f in row._meta.concrete_fields}
                    )
                )
    KpiSnapshot.objects.bulk_create(copies, batch_size=1000)


def _print_table(result: dict) -> None:
    print(
        f"\n{result['purchases']:,} purchases, {result['attempts']:,} contact attempts "
        f"({result['database']})"
    )
    for key, value in result["precompute"].items():
        print(f"  {key}: {value}")
    print(f"\n{'page':<72} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}  ≤1 s")
    for row in result["pages"]:
        ok = "yes" if row["max_ms"] <= 1000 else "NO"
        print(f"{row['url']:<72} {row['p50_ms']:>8} {row['p95_ms']:>8} {row['max_ms']:>8}  {ok}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    gen = commands.add_parser("generate", help="fill an empty migrated database")
    gen.add_argument("--customers", type=int, default=1_000_000)
    gen.add_argument("--purchases", type=int, default=10_000_000)
    gen.add_argument("--attempts", type=int, default=10_000_000)
    measure = commands.add_parser("run", help="time the pages")
    measure.add_argument("--requests", type=int, default=20)
    measure.add_argument(
        "--skip-rebuild", action="store_true", help="use the snapshots already there"
    )
    measure.add_argument("--months", type=int, default=2, help="months computed in the timing")
    measure.add_argument("--weeks", type=int, default=2, help="weeks computed in the timing")
    args = parser.parse_args()
    {"generate": generate, "run": run}[args.command](args)


if __name__ == "__main__":
    main()
