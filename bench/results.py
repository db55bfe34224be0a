"""Benchmark: campaign results (``campaigns.results``) with 10M contact attempts and 10M purchases.

    .venv/bin/python bench/results.py               # generate (about 5-10 minutes), then measure
    .venv/bin/python bench/results.py --keep-data   # measure again on the data of the last run

Works in its own database, retention_bench_results (created and migrated; the server comes from
--server, default postgres://postgres@127.0.0.1:5432; any DATABASE_URL is ignored so another bench
database is never touched). Generated set-based with generate_series: 1M customers; one measured
call campaign launched 30 days before "now" with every customer as a member (90% treatment, 10%
holdout; treatment members attempted, reached, converted in realistic proportions); 10M contact
attempts (half on the measured campaign within its window, half on four other campaigns); 10M
purchase lines over two years (treatment members a little more likely to buy in the window, so
there is a lift to find).

Measured, server-side in this process:
* the snapshot computation (``campaign_results_refresh``: the three set-based statements), 3 runs;
* the results page (``GET /campaigns/<id>/results/`` through the test Client, template rendered,
  snapshot present) and the results API, 20 requests each: p50 / p95 / max. Target ≤ 1 s.
Prints a table and writes bench/results/results-*.json.
"""

from __future__ import annotations

# ruff: noqa: E402 (imports follow the path fix and django.setup())
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
sys.path.insert(0, str(ROOT))

import argparse
import json
import os
import statistics
import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bench._db import ensure_database, without_secondary_indexes

DB_NAME = "retention_bench_results"
TOKYO = ZoneInfo("Asia/Tokyo")
NOW = datetime(2026, 11, 1, 12, 0, tzinfo=TOKYO)
LAUNCH = NOW - timedelta(days=30)


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--server", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--attempts", type=int, default=10_000_000)
    parser.add_argument("--purchases", type=int, default=10_000_000)
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--keep-data", action="store_true", help="reuse the data of the last run")
    return parser.parse_args()


ARGS = _arguments()
SERVER = ARGS.server.rstrip("/")


ensure_database(SERVER, DB_NAME)
os.environ["DATABASE_URL"] = f"{SERVER}/{DB_NAME}"
os.environ["DATABASE_CONN_MAX_AGE"] = "0"

from bench import _django

_django.setup()

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from campaigns.models import Campaign, CampaignKind, CampaignState
from campaigns.results import campaign_results_refresh
from config.roles import SUPERVISOR
from customers.models import Customer, Purchase
from outreach.models import CampaignMember, ContactAttempt

CUSTOMERS_SQL = """
INSERT INTO customers_customer (id, source, external_id, name, name_kana, email, phone,
    mobile_phone, birth_date, gender, postal_code, prefecture, address, country, time_zone,
    attributes, tags, created_at, updated_at)
SELECT g, 'bench', 'R' || lpad(g::text, 7, '0'), '顧客 ' || g, 'コキャク ' || g,
       'c' || g || '@example.jp', '+8135' || lpad(g::text, 8, '0'), NULL, NULL, '', '',
       'Prefecture ' || (1 + g %% 47), '', 'JP', 'Asia/Tokyo', '{}'::jsonb, '[]'::jsonb, now(), now()
FROM generate_series(1, %(customers)s) g
"""

# Every customer is a member of campaign 1: 1 in 10 held out; of the treatment, 70% waiting were
# attempted (the first 70% by id), members converted at a 4% rate among the attempted.
MEMBERS_SQL = """
INSERT INTO outreach_campaignmember (campaign_id, customer_id, "group", status, close_reason,
    lane, tier, rank, due_at, attempts, converted_at)
SELECT %(campaign)s, g,
       CASE WHEN g %% 10 = 0 THEN 'holdout' ELSE 'treatment' END,
       CASE WHEN g %% 10 = 0 THEN 'held_out'
            WHEN g <= %(customers)s * 0.7 THEN 'done' ELSE 'queued' END,
       CASE WHEN g %% 10 <> 0 AND g <= %(customers)s * 0.7 AND g %% 25 = 1 THEN 'converted'
            WHEN g %% 10 <> 0 AND g <= %(customers)s * 0.7 THEN 'final' ELSE '' END,
       2, 1, g, %(launch)s, 0,
       CASE WHEN g %% 10 <> 0 AND g <= %(customers)s * 0.7 AND g %% 25 = 1
            THEN %(launch)s + (g %% 29) * interval '1 day' + interval '3 hours' END
FROM generate_series(1, %(customers)s) g
"""

# Half the attempts on the measured campaign (its attempted treatment members, inside the window),
# half spread over the other campaigns and the whole customer base over a year.
ATTEMPTS_SQL = """
INSERT INTO outreach_contactattempt (idempotency_key, campaign_id, customer_id, channel, address,
    disposition_id, attempted_at, duration_seconds, notes, voice_category, voice_text,
    callback_scope, disclosure_given, reached, success, counts_as_attempt, created_at)
SELECT 'r' || g,
       CASE WHEN g %% 2 = 0 THEN %(campaign)s
            ELSE others[1 + (g / 2) %% array_length(others, 1)] END,
       CASE WHEN g %% 2 = 1 THEN y WHEN x %% 10 = 0 THEN x + 1 ELSE x END,
       'call', '', CASE WHEN g %% 5 < 2 THEN reached_id ELSE noanswer_id END,
       CASE WHEN g %% 2 = 0 THEN %(launch)s + random() * interval '30 days'
            ELSE %(now)s - random() * interval '365 days' END,
       CASE WHEN g %% 5 < 2 THEN 30 + (g %% 400) ELSE 0 END, '', '', '', '', true,
       g %% 5 < 2, false, true, now()
FROM (
    SELECT g, 1 + (g::bigint * 7919) %% (%(customers)s * 7 / 10) AS x,
           1 + (g::bigint * 104729) %% %(customers)s AS y
    FROM generate_series(1, %(attempts)s) g
) a,
     (SELECT array_agg(id) AS others FROM campaigns_campaign WHERE id <> %(campaign)s) o,
     (SELECT id AS reached_id FROM outreach_disposition WHERE code = 'interested') r,
     (SELECT id AS noanswer_id FROM outreach_disposition WHERE code = 'no_answer') n
"""

# Two years of purchases; lines inside the window go to treatment members a little more often.
PURCHASES_SQL = """
INSERT INTO customers_purchase (id, customer_id, source, line_key, order_id, purchased_at,
    amount, currency, quantity, product_code, product_name, category, attributes, created_at)
SELECT g, c, 'bench', 'L' || g, 'O' || g, ts, round((exp(random() * 4) * 400)::numeric, 0),
       'JPY', 1, 'P1', '商品', 'カテゴリ', '{}'::jsonb, now()
FROM (
    SELECT g, 1 + (g::bigint * 48271) %% %(customers)s AS c,
           %(now)s - random() * interval '730 days' AS ts
    FROM generate_series(1, %(purchases)s) g
) p
WHERE NOT (c %% 10 = 0 AND ts >= %(launch)s AND random() < 0.15)
"""


def _insert(table: str, statement: str, params: dict) -> float:
    """``without_secondary_indexes`` (no ANALYZE: ``generate`` ends with VACUUM ANALYZE), timed;
    prints the rows and seconds, returns the seconds."""
    started = time.perf_counter()
    rows = without_secondary_indexes(table, statement, params, analyze=False)
    seconds = time.perf_counter() - started
    print(f"  {table:<28} {rows:>11,} rows {seconds:8.1f} s", flush=True)
    return round(seconds, 1)


def generate() -> dict[str, float]:
    call_command("migrate", verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE customers_customer, campaigns_campaign RESTART IDENTITY CASCADE")
    campaigns = [
        Campaign.objects.create(
            name=f"Bench results {n}",
            kind=CampaignKind.DORMANT_REACTIVATION,
            channel="call",
            state=CampaignState.RUNNING if n == 0 else CampaignState.COMPLETED,
            launched_at=LAUNCH if n == 0 else LAUNCH - timedelta(days=60 * n),
            cost_per_call=80,
        )
        for n in range(5)
    ]
    params = {
        "customers": ARGS.customers,
        "attempts": ARGS.attempts,
        "purchases": ARGS.purchases,
        "campaign": campaigns[0].pk,
        "launch": LAUNCH,
        "now": NOW,
    }
    timings = {
        "customers": _insert("customers_customer", CUSTOMERS_SQL, params),
        "members": _insert("outreach_campaignmember", MEMBERS_SQL, params),
        "attempts": _insert("outreach_contactattempt", ATTEMPTS_SQL, params),
        "purchases": _insert("customers_purchase", PURCHASES_SQL, params),
    }
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT setval(pg_get_serial_sequence('customers_customer', 'id'), "
            "(SELECT max(id) FROM customers_customer))"
        )
        cursor.execute(
            "SELECT setval(pg_get_serial_sequence('customers_purchase', 'id'), "
            "(SELECT coalesce(max(id), 1) FROM customers_purchase))"
        )
        cursor.execute("VACUUM ANALYZE")
    return timings


def _stats(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "runs": len(ordered),
        "p50_ms": round(statistics.median(ordered) * 1000, 1),
        "p95_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))] * 1000, 1),
        "max_ms": round(ordered[-1] * 1000, 1),
    }


def measure() -> dict:
    import time_machine

    campaign = Campaign.objects.get(name="Bench results 0")
    user, _created = get_user_model().objects.get_or_create(username="bench-results-supervisor")
    user.groups.add(Group.objects.get(name=SUPERVISOR))
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    client = Client()
    client.force_login(user)
    client.cookies["django_language"] = "en"
    counts = {
        "customers": Customer.objects.count(),
        "members": CampaignMember.objects.filter(campaign=campaign).count(),
        "contact_attempts": ContactAttempt.objects.count(),
        "campaign_attempts": ContactAttempt.objects.filter(campaign=campaign).count(),
        "purchases": Purchase.objects.count(),
    }
    print("rows:", ", ".join(f"{k} {v:,}" for k, v in counts.items()), flush=True)
    result: dict = {"database": DB_NAME, "counts": counts}
    with time_machine.travel(NOW, tick=True):
        refresh = []
        for _ in range(3):
            started = time.perf_counter()
            snapshot = campaign_results_refresh(campaign=campaign, window_days=30)
            refresh.append(time.perf_counter() - started)
        result["snapshot_refresh"] = _stats(refresh)
        data = snapshot.data
        result["numbers"] = {
            "funnel": data["funnel"],
            "groups": {
                k: {"members": v["members"], "buyers": v["buyers"]}
                for k, v in data["groups"].items()
            },
        }
        for name, url in (
            ("results_page", f"/campaigns/{campaign.pk}/results/?window=30"),
            ("results_api", f"/api/campaigns/{campaign.pk}/results/?window_days=30"),
        ):
            client.get(url)  # warm the template and URL caches
            samples, queries = [], 0
            for _ in range(ARGS.requests):
                with CaptureQueriesContext(connection) as captured:
                    started = time.perf_counter()
                    response = client.get(url)
                    samples.append(time.perf_counter() - started)
                assert response.status_code == 200, response.status_code
                queries = len(captured)
            result[name] = {**_stats(samples), "queries": queries}
            if name == "results_page":
                page = response.content.decode()
                result["page_shows_lift"] = 'id="repurchase-chart-lift"' in page
    return result


def report(result: dict) -> None:
    print()
    print(
        f"{'measurement':<34} {'runs':>5} {'p50 ms':>9} {'p95 ms':>9} {'max ms':>9} {'queries':>8}"
    )
    rows = (
        ("snapshot refresh (30-day window)", result["snapshot_refresh"]),
        ("results page (server, rendered)", result["results_page"]),
        ("results API", result["results_api"]),
    )
    for label, row in rows:
        print(
            f"{label:<34} {row['runs']:>5} {row['p50_ms']:>9.1f} {row['p95_ms']:>9.1f}"
            f" {row['max_ms']:>9.1f} {row.get('queries', ''):>8}"
        )
    target = result["results_page"]["max_ms"] <= 1000
    result["target_page_max_1s"] = target
    print(
        f"\nresults page ≤ 1 s (max of {result['results_page']['runs']}): {'yes' if target else 'NO'}"
    )
    print("numbers:", json.dumps(result["numbers"]))
    out = HERE / "results" / f"results-{datetime.now():%Y%m%d-%H%M%S}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2, default=str))
    print(f"written {out.relative_to(ROOT)}")


def main() -> None:
    if connection.vendor != "postgresql":
        raise SystemExit("needs PostgreSQL")
    kept = ARGS.keep_data and Campaign.objects.filter(name="Bench results 0").exists()
    timings = {}
    if not kept:
        print(f"generating in {DB_NAME} …", flush=True)
        timings = generate()
    result = measure()
    result["generate_seconds"] = timings
    report(result)


if __name__ == "__main__":
    main()
