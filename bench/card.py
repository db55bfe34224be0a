"""Benchmark: the customer card's read side (``customers.card.customer_card``) at scale.

    # once: an empty, migrated database filled with set-based SQL (about 10-15 minutes)
    createdb -h 127.0.0.1 -U postgres retention_bench_card
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/retention_bench_card .venv/bin/python manage.py migrate
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/retention_bench_card .venv/bin/python bench/card.py generate

    # the measurement: 500 random customers, server-side time in this process
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/retention_bench_card .venv/bin/python bench/card.py run

``generate`` writes 1M customers, 10M purchase lines over 200 categories (skewed: a few customers
buy a lot, popular categories dominate, each customer leans towards a "home" group of related
categories), 5 campaigns, 20 agents, 2M contact attempts and queued callbacks; then runs the
product's own RFM segmentation and category-affinity rebuild. ``run`` times ``customer_card`` for
random customers (p50/p95/max, queries per card), EXPLAINs the per-customer queries and writes
bench/results/card-*.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path

import _django
from _db import without_secondary_indexes
from _timing import percentile, step

_django.setup()

from django.db import connection, reset_queries  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.utils import timezone  # noqa: E402

HERE = Path(__file__).resolve().parent
REFERENCE = datetime(2026, 11, 1, tzinfo=UTC)

CUSTOMERS_SQL = """
INSERT INTO customers_customer (id, source, external_id, name, name_kana, email, phone,
    mobile_phone, birth_date, gender, postal_code, prefecture, address, country, time_zone,
    attributes, tags, created_at, updated_at)
SELECT g, 'bench', 'B' || lpad(g::text, 7, '0'), '顧客 ' || g, 'コキャク ' || g,
       'c' || g || '@example.jp', '+8135' || lpad(g::text, 8, '0'),
       CASE WHEN g %% 3 = 0 THEN '+8190' || lpad(g::text, 8, '0') END,
       CASE WHEN g %% 10 <> 0 THEN date '1945-01-01' + (random() * 22000)::int END,
       (ARRAY['female', 'male', 'other', ''])[1 + g %% 4], '', 'Prefecture ' || (1 + g %% 47),
       '', 'JP', CASE WHEN g %% 5 = 0 THEN 'Asia/Tokyo' ELSE '' END,
       '{}'::jsonb, '[]'::jsonb, now(), now()
FROM generate_series(1, %(customers)s) g
"""

# Each line picks its customer from a power law (customer 1 ~1,500 lines, the median ~6); its
# category is, 60% of the time, near the customer's home category (so affinities exist), else a
# Zipf-like draw over all categories. Times lean towards the recent past.
PURCHASES_SQL = """
INSERT INTO customers_purchase (id, customer_id, source, line_key, order_id, purchased_at,
    amount, currency, quantity, product_code, product_name, category, attributes, created_at)
SELECT g, c, 'bench', 'L' || g, 'O' || (g / 2), ts,
       round((exp(random() * 4) * 400)::numeric, 0), 'JPY', 1 + (random() * random() * 3)::int,
       'P' || cat || '-' || (random() * 40)::int, '商品 ' || cat || '-' || (random() * 40)::int,
       'カテゴリ ' || lpad(cat::text, 3, '0'), '{}'::jsonb, now()
FROM (
    SELECT g, c, ts,
           CASE WHEN random() < 0.6
                THEN (home + (power(random(), 2) * 12)::int) %% %(categories)s
                ELSE least((%(categories)s * power(random(), 2.5))::int, %(categories)s - 1)
           END AS cat
    FROM (
        SELECT g, c, ts,
               least((%(categories)s * power(((c::bigint * 2654435761) %% 1000003) / 1000003.0, 1.7))::int,
                     %(categories)s - 1) AS home
        FROM (
            SELECT g,
                   1 + least((%(customers)s * power(random(), 1.6))::int, %(customers)s - 1) AS c,
                   timestamptz '2026-11-01 00:00+09' - power(random(), 1.4) * interval '1825 days' AS ts
            FROM generate_series(1, %(purchases)s) g
        ) a
    ) b
) d
"""

ATTEMPTS_SQL = """
INSERT INTO outreach_contactattempt (idempotency_key, campaign_id, customer_id, agent_id, channel,
    address, disposition_id, attempted_at, duration_seconds, notes, voice_category, voice_text,
    nps, callback_at, callback_scope, disclosure_given, reached, success, counts_as_attempt,
    created_at)
SELECT 'bench-' || g, campaigns[1 + (g %% array_length(campaigns, 1))],
       1 + least((%(customers)s * power(random(), 1.3))::int, %(customers)s - 1),
       agents[1 + ((g / 7) %% array_length(agents, 1))], 'call', '',
       dispositions[1 + ((g / 3) %% array_length(dispositions, 1))],
       timestamptz '2026-11-01 00:00+09' - random() * interval '365 days', (random() * 600)::int,
       CASE WHEN g %% 4 = 0 THEN 'メモ: お客様は夕方の連絡を希望 ' || g ELSE '' END,
       CASE WHEN g %% 9 = 0 THEN 'request' ELSE '' END,
       CASE WHEN g %% 9 = 0 THEN '配送日を変更したい' ELSE '' END,
       CASE WHEN g %% 13 = 0 THEN (g %% 11) END, NULL, '', true, g %% 2 = 0, false, true, now()
FROM generate_series(1, %(attempts)s) g,
     (SELECT array_agg(id) AS campaigns FROM campaigns_campaign) c,
     (SELECT array_agg(id) AS agents FROM auth_user WHERE username LIKE 'bench-agent-%%') a,
     (SELECT array_agg(id) AS dispositions FROM outreach_disposition
      WHERE NOT callback AND NOT refused_product AND NOT do_not_contact) d
"""

MEMBERS_SQL = """
INSERT INTO outreach_campaignmember (campaign_id, customer_id, "group", status, close_reason,
    lane, tier, rank, due_at, owner_id, callback_agent_id, attempts)
SELECT campaign_id, customer_id, 'treatment', 'queued', '',
       CASE WHEN customer_id %% 10 = 0 THEN 0 ELSE 2 END, 1, customer_id,
       timestamptz '2026-11-01 10:00+09' + (customer_id %% 72) * interval '1 hour', NULL,
       CASE WHEN customer_id %% 20 = 0 THEN agents[1 + customer_id %% array_length(agents, 1)] END,
       0
FROM (SELECT c.id AS campaign_id, g AS customer_id
      FROM campaigns_campaign c, generate_series(1, %(customers)s, 5) g) m,
     (SELECT array_agg(id) AS agents FROM auth_user WHERE username LIKE 'bench-agent-%%') a
"""


def customers_and_purchases(params: dict, clock: float) -> float:
    """Write ``params["customers"]`` customers and ``params["purchases"]`` purchase lines (the
    skewed generator above) and move the id sequences past them; prints a step for each and
    returns the clock after the last."""
    with connection.cursor() as cursor:
        cursor.execute(CUSTOMERS_SQL, params)
        cursor.execute(
            "SELECT setval(pg_get_serial_sequence('customers_customer', 'id'), %s)",
            [params["customers"]],
        )
        cursor.execute("ANALYZE customers_customer")
    clock = step("customers", clock)
    without_secondary_indexes("customers_purchase", PURCHASES_SQL, params)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT setval(pg_get_serial_sequence('customers_purchase', 'id'), %s)",
            [params["purchases"]],
        )
    return step("purchases", clock)


def create_campaigns() -> None:
    """The five running call campaigns the generated contact attempts belong to."""
    from datetime import date

    from campaigns.models import Campaign, CampaignKind, CampaignState
    from customers.models import Channel

    for n in range(5):
        Campaign.objects.create(
            name=f"Bench campaign {n}",
            kind=CampaignKind.DORMANT_REACTIVATION,
            channel=Channel.CALL,
            state=CampaignState.RUNNING,
            product=f"カテゴリ {n:03d}",
            starts_on=date(2026, 1, 1),
            ends_on=date(2027, 12, 31),
            disclosure_company="株式会社サンプル",
            disclosure_product="サンプル",
            disclosure_purpose="ご案内のお電話です",
        )


def generate(args: argparse.Namespace) -> None:
    """Fill an empty migrated database with the benchmark data set."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from config.roles import AGENT
    from customers.models import Customer
    from customers.services.affinity import category_affinity_rebuild
    from customers.services.segments import segmentation_run

    if Customer.objects.exists():
        raise SystemExit("The database already has customers; generate into an empty one.")
    params = {
        "customers": args.customers,
        "purchases": args.purchases,
        "categories": args.categories,
        "attempts": args.attempts,
    }
    started = clock = time.perf_counter()
    print(f"generating into {connection.settings_dict['NAME']}: {params}", flush=True)
    clock = customers_and_purchases(params, clock)

    agents = Group.objects.get(name=AGENT)
    users = get_user_model()
    for n in range(20):
        user = users.objects.create_user(f"bench-agent-{n:02d}", password=None)
        user.first_name, user.last_name = f"Agent{n:02d}", "ベンチ"
        user.save()
        user.groups.add(agents)
    create_campaigns()
    without_secondary_indexes("outreach_contactattempt", ATTEMPTS_SQL, params)
    without_secondary_indexes("outreach_campaignmember", MEMBERS_SQL, params)
    clock = step("campaigns, attempts, members", clock)

    run = segmentation_run(cause="manual")
    clock = step(f"segmentation ({run.customers_scored:,} scored)", clock)
    pairs = category_affinity_rebuild()
    clock = step(f"category affinity ({pairs:,} pairs)", clock)
    with connection.cursor() as cursor:  # autocommit: what autovacuum would have done by now
        for table in ("customers_purchase", "outreach_contactattempt", "outreach_campaignmember"):
            cursor.execute(f"VACUUM (ANALYZE) {table}")
    print(f"done in {time.perf_counter() - started:.0f} s")


def _explain(customer_id: int) -> dict[str, str]:
    """EXPLAIN (ANALYZE) of the per-customer queries of one card, as PostgreSQL ran them."""
    from customers.card import customer_card
    from customers.models import Customer

    customer = Customer.objects.get(pk=customer_id)
    with CaptureQueriesContext(connection) as queries:
        customer_card(customer, now=timezone.now())
    plans = {}
    with connection.cursor() as cursor:
        for index, query in enumerate(queries.captured_queries):
            sql = query["sql"]
            if not sql.lstrip().upper().startswith("SELECT"):
                continue
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + sql)
            plans[f"{index + 1}: {sql[:160]}"] = "\n".join(row[0] for row in cursor.fetchall())
    return plans


def run(args: argparse.Namespace) -> None:
    """Time ``customer_card`` for random customers and write the results."""
    from customers.card import customer_card
    from customers.models import CategoryAffinity, Customer, Purchase
    from outreach.models import ContactAttempt

    if connection.vendor != "postgresql":
        raise SystemExit("Set DATABASE_URL to the PostgreSQL benchmark database.")
    with connection.cursor() as cursor:
        cursor.execute("SELECT max(id) FROM customers_customer")
        max_id = cursor.fetchone()[0] or 0
        cursor.execute(
            "SELECT reltuples::bigint FROM pg_class WHERE oid = 'customers_purchase'::regclass"
        )
        purchases_estimate = cursor.fetchone()[0]
    if not max_id:
        raise SystemExit("No customers: run `bench/card.py generate` first.")
    customers = Customer.objects.count()
    rng = random.Random(args.seed)
    ids: list[int] = []
    while len(ids) < args.requests:
        candidate = rng.randint(1, max_id)
        if candidate not in ids:
            ids.append(candidate)
    sample = {c.pk: c for c in Customer.objects.filter(pk__in=ids)}

    now = timezone.now()
    for customer_id in ids[: args.warmup]:  # connection, imports, translations
        customer_card(sample[customer_id], now=now)

    timings: list[float] = []
    query_counts: list[int] = []
    purchase_lines: list[int] = []
    contacts: list[int] = []
    for customer_id in ids:
        customer = Customer.objects.get(pk=customer_id)  # the view loads it too
        reset_queries()
        with CaptureQueriesContext(connection) as queries:
            started = time.perf_counter()
            card = customer_card(customer, now=now)
            elapsed = time.perf_counter() - started
        timings.append(elapsed * 1000)
        query_counts.append(len(queries.captured_queries))
        purchase_lines.append(card.purchases.line_count)
        contacts.append(len(card.contacts.entries))

    heaviest = max(range(len(ids)), key=lambda i: purchase_lines[i])
    # The power law makes customer 1 the heaviest buyer: time their card too.
    heavy_id = Purchase.objects.filter(customer_id=1).values_list("customer_id", flat=True).first()
    heavy_timings = []
    if heavy_id:
        heavy = Customer.objects.get(pk=heavy_id)
        for _ in range(20):
            started = time.perf_counter()
            heavy_card = customer_card(heavy, now=now)
            heavy_timings.append((time.perf_counter() - started) * 1000)

    summary = {
        "requests": len(timings),
        "p50_ms": round(statistics.median(timings), 2),
        "p95_ms": round(percentile(timings, 0.95), 2),
        "p99_ms": round(percentile(timings, 0.99), 2),
        "max_ms": round(max(timings), 2),
        "mean_ms": round(statistics.fmean(timings), 2),
        "queries_min": min(query_counts),
        "queries_max": max(query_counts),
        "purchase_lines_median": statistics.median(purchase_lines),
        "purchase_lines_max_in_sample": purchase_lines[heaviest],
        "contacts_shown_max": max(contacts),
    }
    if heavy_timings:
        summary["heavy_customer"] = {
            "customer_id": heavy_id,
            "purchase_lines": heavy_card.purchases.line_count,
            "p50_ms": round(statistics.median(heavy_timings), 2),
            "max_ms": round(max(heavy_timings), 2),
        }
    plans = _explain(ids[heaviest]) if args.explain else {}
    result = {
        "benchmark": "customer_card",
        "when": timezone.now().isoformat(),
        "database": connection.settings_dict["NAME"],
        "host": platform.node(),
        "data": {
            "customers": customers,
            "purchases_estimate": purchases_estimate,
            "contact_attempts": ContactAttempt.objects.count(),
            "category_pairs": CategoryAffinity.objects.count(),
        },
        "summary": summary,
        "explain": plans,
    }
    _print_table(result)
    if plans:
        for title, plan in plans.items():
            print(f"\n-- {title}\n{plan}")
    out = HERE / "results" / f"card-{datetime.now():%Y%m%d-%H%M%S}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2, ensure_ascii=False, default=str))
    print(f"\nwritten: {out.relative_to(HERE.parent)}")


def _print_table(result: dict) -> None:
    data, s = result["data"], result["summary"]
    print(
        f"\ncustomer_card on {result['database']}: {data['customers']:,} customers, "
        f"~{data['purchases_estimate']:,} purchase lines, {data['contact_attempts']:,} contacts, "
        f"{data['category_pairs']:,} category pairs"
    )
    rows = [
        ("requests", f"{s['requests']}"),
        ("p50", f"{s['p50_ms']:.1f} ms"),
        ("p95", f"{s['p95_ms']:.1f} ms"),
        ("p99", f"{s['p99_ms']:.1f} ms"),
        ("max", f"{s['max_ms']:.1f} ms"),
        ("queries per card", f"{s['queries_min']}–{s['queries_max']}"),
        (
            "purchase lines (median / max)",
            f"{s['purchase_lines_median']:.0f} / {s['purchase_lines_max_in_sample']}",
        ),
    ]
    if "heavy_customer" in s:
        heavy = s["heavy_customer"]
        rows.append(
            (
                f"heaviest customer #{heavy['customer_id']} ({heavy['purchase_lines']} lines)",
                f"p50 {heavy['p50_ms']:.1f} ms, max {heavy['max_ms']:.1f} ms",
            )
        )
    width = max(len(label) for label, _ in rows)
    print("-" * (width + 22))
    for label, value in rows:
        print(f"{label:<{width}}  {value:>18}")
    print("-" * (width + 22))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    gen = commands.add_parser("generate", help="fill an empty migrated database")
    gen.add_argument("--customers", type=int, default=1_000_000)
    gen.add_argument("--purchases", type=int, default=10_000_000)
    gen.add_argument("--categories", type=int, default=200)
    gen.add_argument("--attempts", type=int, default=2_000_000)
    measure = commands.add_parser("run", help="time customer_card")
    measure.add_argument("--requests", type=int, default=500)
    measure.add_argument("--warmup", type=int, default=20)
    measure.add_argument("--seed", type=int, default=7)
    measure.add_argument("--no-explain", dest="explain", action="store_false")
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        raise SystemExit("Set DATABASE_URL to a PostgreSQL database.")
    generate(args) if args.command == "generate" else run(args)


if __name__ == "__main__":
    main()
