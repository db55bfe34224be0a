"""Benchmark: launch of a 1M-member campaign, then claiming with 16 and 64 concurrent agents
through the service beside a raw SQL SKIP LOCKED claim, on the same data in the same run.

    .venv/bin/python bench/claims.py                       # 1,000,000 customers, 20 s per run
    .venv/bin/python bench/claims.py --keep-data           # reuse the customers of the last run
    .venv/bin/python bench/claims.py --keep-data --processes 1 2   # threads only, then 2 processes

Works in its own database, retention_bench_queue (created, migrated; the server comes from
--server, default postgres://postgres@127.0.0.1:5432; any DATABASE_URL is ignored so another
bench database is never touched). Customers, scores, do-not-contact entries, product refusals
and a contact history are generated set-based in SQL.

Claiming: every claimer is a thread with its own connection; with --processes N the claimers
are spread over N forked processes (claimer i in process i mod N), as the service runs in
several gunicorn / Celery worker processes in production, the same for raw and service. All
processes start at one barrier; their latencies and claimed ids are pooled, and duplicates are
counted across processes. Several counts (--processes 1 2) are measured one after the other on
the same launch, each with raw and service interleaved as below. Only the claim is timed
(``outreach.claiming.claim_next``, or one UPDATE … WHERE id = (SELECT … FOR UPDATE SKIP LOCKED)
for the raw baseline, with the service's filter and ORDER BY owner_id, due_at, rank so it too
walks member_claim_idx instead of sorting the lane); each claimed member is then closed with a
plain UPDATE outside the timed section, the same for both, so throughput counts claim + close.
Raw and service take turns in --rounds slices (default 4 × 5 s each), so other load on the
machine weighs on both alike; the slices of each path are added up. ``now`` is a Tuesday 11:00
Asia/Tokyo inside the campaign, so the calling-window check passes for Tokyo customers (the
others are set aside by the rules, as in production). Targets (issue 4): service ≥ 50 % of raw
throughput, p95 ≤ 50 ms at 64 claimers, zero duplicates. Prints a table and writes
bench/results/queue-*.json.
"""

from __future__ import annotations

# ruff: noqa: E402 (imports follow the path fix and django.setup())
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
# This file shares its name with the standard library's ``queue`` (which psycopg imports): run
# as a script, keep its own folder off the import path and reach the bench helpers by package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
sys.path.insert(0, str(ROOT))

import argparse
import json
import multiprocessing
import os
import statistics
import threading
import time
from datetime import datetime, timedelta
from decimal import Decimal
from unittest import mock
from zoneinfo import ZoneInfo

import psycopg

from bench._db import ensure_database

DB_NAME = "retention_bench_queue"
PRODUCT = "WATER-SERVER"
TOKYO = ZoneInfo("Asia/Tokyo")


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--server", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=float, default=20.0, help="per measured configuration")
    parser.add_argument(
        "--rounds", type=int, default=4, help="slices per configuration, raw and service in turn"
    )
    parser.add_argument("--claimers", type=int, nargs="+", default=[16, 64])
    parser.add_argument(
        "--processes",
        type=int,
        nargs="+",
        default=[1],
        help="claimer processes (1 = all claimers threads of this process); several are run in turn",
    )
    parser.add_argument("--holdout", type=Decimal, default=Decimal("5"), help="percent")
    parser.add_argument(
        "--keep-data", action="store_true", help="reuse customers of a previous run if complete"
    )
    return parser.parse_args()


ARGS = _arguments()
SERVER = ARGS.server.rstrip("/")
DSN = f"{SERVER}/{DB_NAME}"


ensure_database(SERVER, DB_NAME)
os.environ["DATABASE_URL"] = DSN  # never the database DATABASE_URL names (another bench's)
os.environ["DATABASE_CONN_MAX_AGE"] = "0"

from bench import _django

_django.setup()

from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import connection, transaction
from django.utils import timezone

from campaigns.models import Campaign, CampaignKind, CampaignState
from customers.models import Channel, Customer, CustomerRfm, Segment
from outreach import compliance
from outreach.claiming import claim_next
from outreach.launch import campaign_launch_run, campaign_launch_start
from outreach.models import (
    AgentProfile,
    CampaignLaunch,
    CampaignMember,
    ContactAttempt,
    Disposition,
    Team,
)

MEMBER = CampaignMember._meta.db_table


def _h(expression: str, salt: int, modulus: int) -> str:
    """A deterministic pseudo-random 0 … modulus-1 from an integer expression (SQL)."""
    return f"mod(hashint4(({expression})::int + {salt})::bigint + 2147483648, {modulus})"


# Most customers in Tokyo; some abroad (their own calling window applies), some unknown.
ZONES = [
    (90, "Asia/Tokyo", "JP", "+81"),
    (94, "Asia/Seoul", "KR", "+82"),
    (96, "America/Los_Angeles", "US", "+1"),
    (98, "Europe/London", "GB", "+44"),
    (99, "Asia/Singapore", "SG", "+65"),
    (100, "", "JP", "+81"),
]


def _case(column: int) -> str:
    whens = " ".join(f"WHEN z < {bound} THEN '{row[column]}'" for bound, *row in ZONES)
    return f"CASE {whens} END"


def generate(customers: int) -> dict[str, float]:
    """Customers, RFM scores, do-not-contact entries and product refusals, set-based."""
    timings: dict[str, float] = {}
    segments = list(Segment.objects.filter(is_active=True).values_list("pk", flat=True))
    tz, country, prefix = _case(0), _case(1), _case(2)
    steps = [
        (
            "customers",
            f"""
            INSERT INTO {Customer._meta.db_table} (source, external_id, name, name_kana, email,
                phone, mobile_phone, birth_date, gender, postal_code, prefecture, address,
                country, time_zone, attributes, tags, created_at, updated_at)
            SELECT 'bench-queue', 'Q' || i, '顧客 ' || i, '', 'c' || i || '@example.jp',
                   CASE WHEN mod(i, 200) = 0 THEN NULL ELSE {prefix} || '3' || lpad(i::text, 8, '0') END,
                   CASE WHEN mod(i, 3) = 0 THEN {prefix} || '90' || lpad(i::text, 8, '0') END,
                   date '1950-01-01' + {_h("i", 11, 20000)}::int,
                   '', '', '', '', {country}, {tz}, '{{}}', '[]', now(), now()
            FROM (SELECT i, {_h("i", 0, 100)} AS z FROM generate_series(1, %s) i) s
            """,
            [customers],
        ),
        (
            "scores",
            f"""
            INSERT INTO {CustomerRfm._meta.db_table} (customer_id, reference_date, recency_days,
                frequency, monetary, purchase_count, total_amount, r, f, m, segment_id,
                segment_since, purchases_changed, scored_at)
            SELECT id, current_date, 1 + {_h("id", 21, 900)}, 1 + {_h("id", 22, 12)},
                   1000 + {_h("id", 23, 200000)}, 1 + {_h("id", 22, 12)},
                   1000 + {_h("id", 23, 200000)},
                   1 + {_h("id", 24, 5)}, 1 + {_h("id", 25, 5)}, 1 + {_h("id", 26, 5)},
                   (%s::int[])[1 + {_h("id", 27, len(segments))}], now(), false, now()
            FROM {Customer._meta.db_table}
            """,
            [segments],
        ),
        (
            "do-not-contact",
            f"""
            INSERT INTO customers_donotcontact (scope, customer_id, phone, email, reason, source,
                note, created_at)
            SELECT 'customer', id, NULL, NULL, 'request', 'bench', '', now()
            FROM {Customer._meta.db_table} WHERE {_h("id", 31, 100)} = 0
            UNION ALL
            SELECT 'phone', NULL, phone, NULL, 'wrong_number', 'bench', '', now()
            FROM {Customer._meta.db_table} WHERE phone IS NOT NULL AND {_h("id", 32, 200)} = 0
            """,
            [],
        ),
        (
            "refusals",
            f"""
            INSERT INTO customers_productrefusal (customer_id, product, refused_at, source, note)
            SELECT id, CASE WHEN {_h("id", 41, 2)} = 0 THEN %s ELSE 'OTHER-PRODUCT' END,
                   now(), 'bench', ''
            FROM {Customer._meta.db_table} WHERE {_h("id", 42, 50)} = 0
            """,
            [PRODUCT],
        ),
    ]
    _run_steps(steps, timings)
    return timings


def contact_history(claim_now: datetime) -> dict[str, float]:
    """Last month's campaign: 10 % contacted once in the last days, 1 % three times (at the
    frequency cap of 3 in 14 days)."""
    past = Campaign.objects.create(
        name="Bench: last month's campaign",
        kind=CampaignKind.DORMANT_REACTIVATION,
        channel=Channel.CALL,
        state=CampaignState.COMPLETED,
        product="OTHER-PRODUCT",
    )
    disposition = Disposition.objects.get(code="no_answer")
    steps = [
        (
            "contact history",
            f"""
            INSERT INTO {ContactAttempt._meta.db_table} (idempotency_key, campaign_id,
                customer_id, channel, address, disposition_id, attempted_at, duration_seconds,
                notes, voice_category, voice_text, callback_scope, disclosure_given, reached,
                success, counts_as_attempt, created_at)
            SELECT 'bench-' || c.id || '-' || n, %s, c.id, 'call', coalesce(c.phone, ''), %s,
                   %s::timestamptz - (n || ' days')::interval - interval '2 hours', 30,
                   '', '', '', '', false, false, false, true, now()
            FROM {Customer._meta.db_table} c
            CROSS JOIN LATERAL generate_series(1, CASE WHEN {_h("c.id", 51, 100)} = 0 THEN 3
                                                       ELSE 1 END) n
            WHERE {_h("c.id", 52, 10)} = 0
            """,
            [past.pk, disposition.pk, claim_now],
        ),
    ]
    timings: dict[str, float] = {}
    _run_steps(steps, timings)
    return timings


def _run_steps(steps: list, timings: dict[str, float]) -> None:
    with connection.cursor() as cursor:
        for name, sql, params in steps:
            started = time.perf_counter()
            cursor.execute(sql, params)
            timings[name] = round(time.perf_counter() - started, 2)
            print(f"  {name:<16} {cursor.rowcount:>10,} rows  {timings[name]:7.2f} s", flush=True)
        cursor.execute("ANALYZE")


def _reset(keep_data: bool, customers: int) -> bool:
    """Empty the database for a fresh run; True when the customers can be kept."""
    call_command("migrate", verbosity=0)
    kept = (
        keep_data
        and Customer.objects.filter(source="bench-queue").count() == customers
        and CustomerRfm.objects.count() == customers
    )
    # Campaigns cascade to members, launches and contact attempts; customers to everything else.
    tables = "campaigns_campaign" if kept else f"{Customer._meta.db_table}, campaigns_campaign"
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
    Team.objects.filter(name__startswith="Bench").delete()
    get_user_model().objects.filter(username__startswith="bench-agent-").delete()
    return kept


def claim_moment() -> datetime:
    """The next Tuesday 11:00 in Tokyo that is not a public holiday (inside the window)."""
    day = timezone.localdate() + timedelta(days=1)
    while day.weekday() != 1 or compliance.holiday_name(day, "JP"):
        day += timedelta(days=1)
    return datetime(day.year, day.month, day.day, 11, tzinfo=TOKYO)


def launch(claim_now: datetime, agents: int) -> tuple[Campaign, CampaignLaunch, float, list]:
    campaign = Campaign.objects.create(
        name="Bench: 1M reactivation",
        kind=CampaignKind.DORMANT_REACTIVATION,
        channel=Channel.CALL,
        state=CampaignState.SCHEDULED,
        product=PRODUCT,
        offer="First month free",
        starts_on=timezone.localdate(),
        ends_on=claim_now.date() + timedelta(days=60),
        disclosure_company="株式会社サンプル",
        disclosure_product="ウォーターサーバー",
        disclosure_purpose="ご案内のお電話です",
        holdout_percent=ARGS.holdout,
        time_zone="Asia/Tokyo",
    )
    campaign.target_segments.set(Segment.objects.filter(is_active=True))
    team = Team.objects.create(name="Bench team")
    team.campaigns.add(campaign)
    users = get_user_model().objects.bulk_create(
        get_user_model()(username=f"bench-agent-{n:03d}", password="!") for n in range(agents)
    )
    AgentProfile.objects.bulk_create(AgentProfile(user=user, team=team) for user in users)
    # Started as the product starts it; the task body runs here (not on a worker) to be timed.
    with mock.patch("outreach.tasks.campaign_launch_task.delay"):
        campaign_launch_start(campaign=campaign)
    started = time.perf_counter()
    record = campaign_launch_run(campaign_id=campaign.pk)
    total = time.perf_counter() - started
    campaign.refresh_from_db()
    return campaign, record, total, users


# --------------------------------------------------------------------------------------------
# Claiming
# --------------------------------------------------------------------------------------------

CLOSE = f"""
    UPDATE {MEMBER} SET status = 'done', close_reason = 'final', closed_at = %s,
           claimed_by_id = NULL, claimed_at = NULL, claim_expires_at = NULL
    WHERE id = %s
"""

RAW_CLAIM = f"""
    UPDATE {MEMBER} SET status = 'claimed', claimed_by_id = %s, claimed_at = %s,
           claim_expires_at = %s
    WHERE id = (
        SELECT id FROM {MEMBER}
        WHERE campaign_id = %s AND status = 'queued' AND lane = 2 AND owner_id IS NULL
              AND due_at <= %s
        ORDER BY owner_id, due_at, rank LIMIT 1
        FOR UPDATE SKIP LOCKED
    )
    RETURNING id
"""


class ServiceClaimer:
    """``claim_next`` on the thread's own Django connection."""

    label = "service claim_next"

    def __init__(self, campaign: Campaign, agent, now: datetime) -> None:
        self.campaign, self.agent, self.now = campaign, agent, now
        self.closer = None
        connection.ensure_connection()

    def claim(self) -> int | None:
        member = claim_next(agent=self.agent, campaign=self.campaign, now=self.now).member
        return member.pk if member else None

    def close(self, member_id: int) -> None:
        # The same prepared statement, bound server-side, as the raw path's close, on the
        # psycopg connection under Django's: it stands in for the agent's work, alike for both.
        if self.closer is None:
            self.closer = psycopg.Cursor(connection.connection)
        self.closer.execute(CLOSE, [self.now, member_id], prepare=True)

    def finish(self) -> None:
        connection.close()


class RawClaimer:
    """One UPDATE … SKIP LOCKED statement on the thread's own psycopg connection."""

    label = "raw SQL SKIP LOCKED"

    def __init__(self, campaign: Campaign, agent, now: datetime) -> None:
        self.conn = psycopg.connect(DSN, autocommit=True)
        self.params = [agent.pk, now, now + timedelta(minutes=20), campaign.pk, now]
        self.now = now

    def claim(self) -> int | None:
        row = self.conn.execute(RAW_CLAIM, self.params, prepare=True).fetchone()
        return row[0] if row else None

    def close(self, member_id: int) -> None:
        self.conn.execute(CLOSE, [self.now, member_id], prepare=True)

    def finish(self) -> None:
        self.conn.close()


def measure(
    kind,
    campaign: Campaign,
    agents: list,
    now: datetime,
    seconds: float,
    release=None,
    stop_signal=None,
) -> dict:
    """Run ``len(agents)`` claimer threads for ``seconds``; latencies of the claim alone.

    In a claimer process, ``release`` (run once every thread is warm) waits at the barrier of
    all processes, and the run ends when the parent sets ``stop_signal`` instead of by a sleep.
    """
    n = len(agents)
    ready = threading.Barrier(n + 1, action=release)
    stop = threading.Event()
    latencies: list[list[float]] = [[] for _ in range(n)]
    claimed: list[list[int]] = [[] for _ in range(n)]
    empty = [0] * n
    errors: list[str] = []

    def work(i: int) -> None:
        claimer = None
        try:
            claimer = kind(campaign, agents[i], now)
            warm = claimer.claim()  # first query plans and caches, not measured
            if warm is not None:
                claimed[i].append(warm)
                claimer.close(warm)
            ready.wait(timeout=60)
            while not stop.is_set():
                started = time.perf_counter()
                member_id = claimer.claim()
                elapsed = time.perf_counter() - started
                if member_id is None:
                    empty[i] += 1
                    continue
                latencies[i].append(elapsed)
                claimed[i].append(member_id)
                claimer.close(member_id)
        except Exception as error:  # reported in the results
            errors.append(f"{type(error).__name__}: {error}")
            ready.abort()
        finally:
            if claimer is not None:
                claimer.finish()

    threads = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(n)]
    for thread in threads:
        thread.start()
    ready.wait(timeout=180)
    started, cpu = time.perf_counter(), time.process_time()
    if stop_signal is None:
        time.sleep(seconds)
    else:
        stop_signal.wait(seconds + 120)
    stop.set()
    for thread in threads:
        thread.join(timeout=60)
    wall = time.perf_counter() - started
    cpu = time.process_time() - cpu  # this Python process, all threads (claims and closes)
    return {
        "latencies": [x for per in latencies for x in per],
        "seconds": wall,
        "cpu": cpu,
        "empty": sum(empty),
        "errors": errors,
        "ids": [x for per in claimed for x in per],
    }


def _claimer_process(kind, campaign, agents, now, seconds, start, stop_signal, results) -> None:
    """Body of one forked claimer process: its share of the claimers as threads."""
    try:
        part = measure(
            kind,
            campaign,
            agents,
            now,
            seconds,
            release=lambda: start.wait(timeout=180),
            stop_signal=stop_signal,
        )
    except Exception as error:  # e.g. a broken barrier; reported in the results
        part = {"latencies": [], "seconds": 0.0, "cpu": 0.0, "empty": 0, "ids": []}
        part["errors"] = [f"{type(error).__name__}: {error}"]
    results.put(part)


def measure_processes(
    kind, campaign: Campaign, agents: list, now: datetime, seconds: float, processes: int
) -> dict:
    """``measure`` with the claimers spread over ``processes`` forked processes, started
    together at one barrier and stopped together; latencies, ids and CPU pooled."""
    if processes == 1:
        return measure(kind, campaign, agents, now, seconds)
    context = multiprocessing.get_context("fork")
    connection.close()  # no connection of this process is inherited by the children
    start = context.Barrier(processes + 1)
    stop_signal = context.Event()
    results = context.Queue()
    children = [
        context.Process(
            target=_claimer_process,
            args=(kind, campaign, agents[p::processes], now, seconds, start, stop_signal, results),
            daemon=True,
        )
        for p in range(processes)
    ]
    for child in children:
        child.start()
    errors: list[str] = []
    try:
        start.wait(timeout=240)
        time.sleep(seconds)
    except threading.BrokenBarrierError:
        errors.append("BrokenBarrierError: a claimer process did not start")
    stop_signal.set()
    parts = [results.get(timeout=240) for _ in children]
    for child in children:
        child.join(timeout=60)
    return {
        "latencies": [x for part in parts for x in part["latencies"]],
        "seconds": max(part["seconds"] for part in parts),  # all started at one barrier
        "cpu": sum(part["cpu"] for part in parts),
        "empty": sum(part["empty"] for part in parts),
        "errors": errors + [e for part in parts for e in part["errors"]],
        "ids": [x for part in parts for x in part["ids"]],
    }


def measure_interleaved(
    campaign: Campaign, agents: list, now: datetime, processes: int
) -> list[dict]:
    """Raw and service, ``--rounds`` slices each, taken in turn (raw, service, raw, …), so that
    whatever else loads the machine meanwhile weighs on both paths alike; the slices of each
    path are then added up."""
    slices: dict = {kind: [] for kind in (RawClaimer, ServiceClaimer)}
    seconds = ARGS.seconds / ARGS.rounds
    for _round in range(ARGS.rounds):
        for kind in slices:
            vacuum()
            slices[kind].append(measure_processes(kind, campaign, agents, now, seconds, processes))
    return [_summary(kind, len(agents), processes, parts) for kind, parts in slices.items()]


def _summary(kind, n: int, processes: int, parts: list[dict]) -> dict:
    flat = sorted(x for part in parts for x in part["latencies"])
    wall = sum(part["seconds"] for part in parts)
    cpu = sum(part["cpu"] for part in parts)
    errors = [e for part in parts for e in part["errors"]]
    return {
        "claimers": n,
        "processes": processes,
        "path": kind.label,
        "seconds": round(wall, 2),
        "claims": len(flat),
        "per_second": round(len(flat) / wall, 1),
        "p50_ms": round(1000 * statistics.median(flat), 2) if flat else None,
        "p95_ms": round(1000 * flat[int(0.95 * (len(flat) - 1))], 2) if flat else None,
        "p99_ms": round(1000 * flat[int(0.99 * (len(flat) - 1))], 2) if flat else None,
        "max_ms": round(1000 * flat[-1], 2) if flat else None,
        "client_cpu_ms_per_claim": round(1000 * cpu / len(flat), 2) if flat else None,
        "empty_claims": sum(part["empty"] for part in parts),
        "errors": errors[:5],
        "error_count": len(errors),
        "slices": len(parts),
        "ids": [x for part in parts for x in part["ids"]],
    }


def vacuum() -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM (ANALYZE) {MEMBER}")


def explain(campaign: Campaign, agent, now: datetime) -> dict[str, str]:
    """The plan of the service's claim statement (``claiming._claim_in_one``: campaign checked,
    held claim or next member locked and claimed, compliance facts read; it must walk
    member_claim_idx), run inside a transaction that is rolled back."""
    from outreach.claiming import _numbered, one_statement

    sql, params, _facts = one_statement(campaign, agent, now)
    with transaction.atomic():
        cursor = psycopg.RawCursor(connection.connection)
        cursor.execute(f"EXPLAIN {_numbered(sql)}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
        transaction.set_rollback(True)
    return {"claim": plan}


def main() -> None:
    if connection.vendor != "postgresql":
        raise SystemExit("needs PostgreSQL")
    claim_now = claim_moment()
    most = max(ARGS.claimers)
    print(f"database {DB_NAME}; claims at {claim_now.isoformat()} (Asia/Tokyo)", flush=True)
    result: dict = {"database": DB_NAME, "claim_now": claim_now.isoformat()}
    if _reset(ARGS.keep_data, ARGS.customers):
        print(f"reusing {ARGS.customers:,} customers", flush=True)
        result["generate"] = {}
    else:
        print(f"generating {ARGS.customers:,} customers …", flush=True)
        result["generate"] = generate(ARGS.customers)
    result["generate"].update(contact_history(claim_now))

    print("launching …", flush=True)
    campaign, record, total, users = launch(claim_now, most)
    result["launch"] = {
        "status": record.status,
        "total_seconds": round(total, 2),
        "timings": record.timings,
        "targeted": record.targeted,
        "excluded": record.excluded,
        "holdout": record.holdout,
        "treatment": record.treatment,
    }
    if record.status != CampaignLaunch.Status.SUCCEEDED:
        raise SystemExit(f"launch failed: {record.error}")
    vacuum()  # what autovacuum does after a launch rewrote a million rows
    result["plans"] = explain(campaign, users[0], claim_now)
    print("claim statement uses member_claim_idx:", "member_claim_idx" in result["plans"]["claim"])

    runs = []
    for claimers in ARGS.claimers:
        for processes in ARGS.processes:
            print(
                f"claiming: {claimers} claimers in {processes} process(es), raw and service in"
                f" turn, {ARGS.rounds} × {ARGS.seconds / ARGS.rounds:.0f} s each …",
                flush=True,
            )
            runs.extend(measure_interleaved(campaign, users[:claimers], claim_now, processes))
    all_ids = [x for run in runs for x in run.pop("ids")]
    duplicates = len(all_ids) - len(set(all_ids))
    double_claims = CampaignMember.objects.filter(campaign=campaign, status="claimed").count()
    result["claims"] = runs
    result["duplicates"] = duplicates
    result["left_claimed"] = double_claims
    _report(result)


def _report(result: dict) -> None:
    launch_ = result["launch"]
    print(
        f"\nlaunch of {launch_['targeted']:,} targeted members: {launch_['total_seconds']:.2f} s"
        f"  (excluded {sum(launch_['excluded'].values()):,}: {launch_['excluded']};"
        f" holdout {launch_['holdout']:,}; treatment {launch_['treatment']:,})"
    )
    for step, seconds in launch_["timings"].items():
        print(f"  {step:<10} {seconds:8.2f} s")
    print(
        "\nclaims (timed: the claim alone; each claimed member is then closed by a plain UPDATE,"
        " untimed, both paths)"
    )
    header = (
        f"{'claimers':>8} {'procs':>5}  {'path':<20} {'claims':>8} {'claims/s':>9} {'p50 ms':>8}"
        f" {'p95 ms':>8} {'p99 ms':>8} {'vs raw':>7} {'errors':>6} {'py cpu ms':>9}"
    )
    print(header)
    raw: dict[tuple[int, int], float] = {}
    verdicts = []
    for run in result["claims"]:
        key = (run["claimers"], run["processes"])
        if run["path"].startswith("raw"):
            raw[key] = run["per_second"]
        share = run["per_second"] / raw[key] if raw.get(key) else None
        run["share_of_raw"] = round(share, 3) if share is not None else None
        print(
            f"{run['claimers']:>8} {run['processes']:>5}  {run['path']:<20} {run['claims']:>8,} {run['per_second']:>9.1f}"
            f" {run['p50_ms'] or 0:>8.2f} {run['p95_ms'] or 0:>8.2f} {run['p99_ms'] or 0:>8.2f}"
            f" {f'{share:.0%}' if share is not None else '':>7} {run['error_count']:>6}"
            f" {run['client_cpu_ms_per_claim'] or 0:>9.2f}"
        )
        if run["path"].startswith("service"):
            verdicts.append(
                f"{run['claimers']} claimers, {run['processes']} process(es):"
                f" {share:.0%} of raw (target ≥ 50 %)"
                + (f", p95 {run['p95_ms']} ms (target ≤ 50 ms)" if run["claimers"] >= 64 else "")
            )
    print(
        "py cpu ms: CPU time of the claimer process(es) per claim (GIL-bound: at most one core"
        " per process)"
    )
    print(f"duplicates: {result['duplicates']} (target 0); left claimed: {result['left_claimed']}")
    for line in verdicts:
        print(line)
    out = HERE / "results" / f"queue-{datetime.now():%Y%m%d-%H%M%S}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2, ensure_ascii=False, default=str))
    print(f"\nwritten {out}")


if __name__ == "__main__":
    main()
