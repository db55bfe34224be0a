"""Benchmark: the agent workspace pages at scale, server-side, through the whole Django stack.

    .venv/bin/python bench/workspace.py                  # or: make bench-workspace
    .venv/bin/python bench/workspace.py --requests 200 --keep

Runs against the database bench/card.py generated (1M customers, 10M purchase lines, 2M contact
attempts; DATABASE_URL defaults to postgres://postgres@127.0.0.1:5432/retention_bench_card and
must be migrated). Each request goes through ``django.test.Client``: every middleware, the
view, the selectors and the template; only the network is skipped. Settings are the
production module (DEBUG off, cached template loader, HTTPS, CSRF enforced on the posts, Celery
not eager) with throw-away secrets.

Server time is frozen (time_machine) at a Tuesday 11:00 Asia/Tokyo inside the campaign. The run
makes a running call campaign (``--members`` random customers, first-contact lane), a team of
``--agents`` agents and a supervisor, then measures:

* **card (agent)**: GET /work/members/<id>/ by the agent holding the claim, each on a member
  just claimed with ``claim_next`` (claim outside the timed section; afterwards the member is
  closed with a plain UPDATE so it is not claimed again);
* **card (supervisor)**: GET /work/customers/<id>/ for random customers, and 20 times the
  customer with the most purchase lines (customer 1, ~1,100 lines);
* **outcome post**: POST /work/members/<id>/outcome/ with HX-Request, each on a member claimed
  just before (untimed): no_answer, callback_personal (tomorrow 10:00), refused and success
  with the four disclosure boxes, in turn.

The outcome service re-segments the customer through Celery after commit. In production a
worker does that work, not the request: here Celery is not eager and the broker is kombu's
in-memory transport, so the request pays for publishing the message and nothing more (the
number of messages published per request is counted).

Per scenario: p50/p95/p99/max ms, queries per request (min/max) and the share of time spent in
SQL; the query shapes that cost most. Target (issue 5): p95 ≤ 150 ms. The campaign, its
members, the attempts and card views the run made are deleted at the end (``--keep`` keeps
them). Prints a table and writes bench/results/workspace-*.json.
"""

from __future__ import annotations

# ruff: noqa: E402 (imports follow the environment and django.setup())
import argparse
import os
import re
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=500, help="per scenario")
    parser.add_argument("--warmup", type=int, default=20, help="untimed, per scenario")
    parser.add_argument("--members", type=int, default=200_000, help="members of the campaign")
    parser.add_argument("--agents", type=int, default=20)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--keep", action="store_true", help="keep what the run created")
    return parser.parse_args()


ARGS = _arguments()

# Production settings with throw-away secrets; Celery not eager on the in-memory broker.
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/retention_bench_card")
os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.production"
os.environ.setdefault("DJANGO_SECRET_KEY", "bench-workspace-" + "x" * 40)
os.environ.setdefault("OUTREACH_PUBLIC_URL", "https://bench.invalid")
os.environ["DJANGO_ALLOWED_HOSTS"] = "testserver"
os.environ.pop("CELERY_BROKER_URL", None)  # memory:// (base settings)

import json
import platform
import random
import statistics
import time
from collections import defaultdict
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import _django
from _timing import percentile

_django.setup("config.settings.production")

import time_machine
from celery.signals import after_task_publish
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connection, reset_queries
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from campaigns.models import Campaign, CampaignKind, CampaignState
from config.roles import SUPERVISOR
from customers.models import Channel, Customer, ProductRefusal
from outreach.claiming import claim_next
from outreach.models import (
    AgentProfile,
    CampaignMember,
    ContactAttempt,
    CustomerCardView,
    Team,
)

TOKYO = ZoneInfo("Asia/Tokyo")
# A Tuesday, no public holiday, inside the default 9:00–20:00 calling window.
NOW = datetime(2026, 12, 1, 11, 0, tzinfo=TOKYO)
NAME = "Bench workspace"
PRODUCT = "BENCH-WORKSPACE"  # refusals logged by the run touch only this product
USER_PREFIX = "bench-ws-"
KEY_PREFIX = "bench-ws-"
TARGET_P95_MS = 150.0
MEMBER = CampaignMember._meta.db_table

MEMBERS_SQL = f"""
INSERT INTO {MEMBER} (campaign_id, customer_id, "group", status, close_reason, lane, tier, rank,
    due_at, attempts)
SELECT %(campaign)s, id, 'treatment', 'queued', '', 2, 1,
       row_number() OVER (ORDER BY md5(id::text || %(seed)s)), %(due)s, 0
FROM (SELECT id FROM {Customer._meta.db_table}
      ORDER BY md5(id::text || %(seed)s) LIMIT %(members)s) c
"""

# Card scenario: the viewed member leaves the queue so the next claim_next takes another one.
CLOSE_SQL = f"""
UPDATE {MEMBER} SET status = 'done', close_reason = 'final', closed_at = %s,
       claimed_by_id = NULL, claimed_at = NULL, claim_expires_at = NULL
WHERE id = %s
"""


# --------------------------------------------------------------------------------------------
# Set-up and clean-up
# --------------------------------------------------------------------------------------------


def cleanup() -> dict[str, int]:
    """Remove what earlier runs made (campaign, members, attempts, card views, refusals,
    users); the generated data set is left as bench/card.py wrote it."""
    users = get_user_model().objects.filter(username__startswith=USER_PREFIX)
    campaigns = Campaign.objects.filter(name__startswith=NAME)
    removed = {
        "card_views": CustomerCardView.objects.filter(user__in=users).delete()[0],
        "attempts": ContactAttempt.objects.filter(idempotency_key__startswith=KEY_PREFIX).delete()[
            0
        ],
        "refusals": ProductRefusal.objects.filter(product=PRODUCT).delete()[0],
    }
    with connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {MEMBER} WHERE campaign_id IN (SELECT id FROM {Campaign._meta.db_table}"
            " WHERE name LIKE %s)",
            [NAME + "%"],
        )
        removed["members"] = cursor.rowcount
    removed["campaigns"] = campaigns.delete()[0]
    Team.objects.filter(name__startswith=NAME).delete()
    removed["users"] = users.delete()[0]
    return removed


def setup() -> tuple[Campaign, list, object, float]:
    """A running call campaign over random customers, a team of agents and a supervisor."""
    started = time.perf_counter()
    campaign = Campaign.objects.create(
        name=f"{NAME} {datetime.now():%Y%m%d-%H%M%S}",
        kind=CampaignKind.DORMANT_REACTIVATION,
        channel=Channel.CALL,
        state=CampaignState.RUNNING,
        product=PRODUCT,
        offer="初月無料",
        starts_on=NOW.date() - timedelta(days=30),
        ends_on=NOW.date() + timedelta(days=60),
        script="お世話になっております。{{ name }}様でいらっしゃいますか。",
        disclosure_company="株式会社サンプル",
        disclosure_product="ウォーターサーバー",
        disclosure_purpose="ご案内のお電話です",
        time_zone="Asia/Tokyo",
    )
    team = Team.objects.create(name=f"{NAME} team")
    team.campaigns.add(campaign)
    users = get_user_model()
    agents = []
    for n in range(ARGS.agents):
        user = users.objects.create_user(
            f"{USER_PREFIX}agent-{n:02d}", password=None, first_name=f"Agent{n:02d}"
        )
        AgentProfile.objects.create(user=user, team=team)
        agents.append(user)
    supervisor = users.objects.create_user(f"{USER_PREFIX}supervisor", password=None)
    supervisor.groups.add(Group.objects.get(name=SUPERVISOR))
    with connection.cursor() as cursor:
        cursor.execute(
            MEMBERS_SQL,
            {
                "campaign": campaign.pk,
                "seed": str(ARGS.seed),
                "due": NOW - timedelta(days=1),
                "members": ARGS.members,
            },
        )
    with connection.cursor() as cursor:  # autocommit: what autovacuum does after a launch
        cursor.execute(f"VACUUM (ANALYZE) {MEMBER}")
    return campaign, agents, supervisor, time.perf_counter() - started


# --------------------------------------------------------------------------------------------
# Measuring
# --------------------------------------------------------------------------------------------

_published: list[str] = []


@after_task_publish.connect
def _count_published(sender=None, **kwargs) -> None:
    _published.append(str(sender))


class Scenario:
    """Timings, query counts and query shapes of one kind of request."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.ms: list[float] = []
        self.cpu_ms: list[float] = []
        self.sql_ms: list[float] = []
        self.queries: list[int] = []
        self.tasks: list[int] = []
        self.failures: list[str] = []
        self.shapes: dict[str, list[float]] = defaultdict(list)

    def measure(self, check, send, *args, **kwargs) -> None:
        """Time ``send(*args, **kwargs)`` (one request) and count its queries."""
        published = len(_published)
        reset_queries()  # the log keeps 9,000 queries; a full one would capture nothing
        with CaptureQueriesContext(connection) as captured:
            started, cpu = time.perf_counter(), time.process_time()
            response = send(*args, **kwargs)
            elapsed = (time.perf_counter() - started) * 1000
            cpu = (time.process_time() - cpu) * 1000
        problem = check(response)
        if problem:
            self.failures.append(problem)
        self.ms.append(elapsed)
        self.cpu_ms.append(cpu)
        self.queries.append(len(captured.captured_queries))
        self.tasks.append(len(_published) - published)
        sql_ms = 0.0
        for query in captured.captured_queries:
            spent = float(query["time"]) * 1000
            sql_ms += spent
            self.shapes[_shape(query["sql"])].append(spent)
        self.sql_ms.append(sql_ms)

    def summary(self) -> dict:
        top = sorted(self.shapes.items(), key=lambda item: -sum(item[1]))[:8]
        return {
            "requests": len(self.ms),
            "p50_ms": round(statistics.median(self.ms), 2),
            "p95_ms": round(percentile(self.ms, 0.95), 2),
            "p99_ms": round(percentile(self.ms, 0.99), 2),
            "max_ms": round(max(self.ms), 2),
            "mean_ms": round(statistics.fmean(self.ms), 2),
            "cpu_p50_ms": round(statistics.median(self.cpu_ms), 2),
            "cpu_p95_ms": round(percentile(self.cpu_ms, 0.95), 2),
            "sql_share": round(sum(self.sql_ms) / sum(self.ms), 3),
            "queries_min": min(self.queries),
            "queries_max": max(self.queries),
            "tasks_published_per_request": sorted(set(self.tasks)),
            "failures": len(self.failures),
            "failure_examples": self.failures[:5],
            "target_p95_ms": TARGET_P95_MS,
            "meets_target": percentile(self.ms, 0.95) <= TARGET_P95_MS and not self.failures,
            "costliest_queries": [
                {
                    "sql": shape,
                    "per_request": round(len(times) / len(self.ms), 2),
                    "mean_ms": round(statistics.fmean(times), 3),
                    "p95_ms": round(percentile(times, 0.95), 3),
                    "total_ms": round(sum(times), 1),
                }
                for shape, times in top
            ],
        }


def _shape(sql: str) -> str:
    """The statement with its literals blanked, so the same query groups across requests."""
    sql = re.sub(r"'(?:[^']|'')*'", "?", sql)
    sql = re.sub(r"\b\d+(?:\.\d+)?\b", "?", sql)
    sql = re.sub(r"\(\?(?:, \?)*\)", "(…)", sql)
    sql = re.sub(r"^(SELECT (?:DISTINCT )?)(?:\"\w+\"\.\"\w+\", )+", r"\1… ", sql)
    return sql[:300]


def _ok_page(marker: str):
    def check(response) -> str:
        if response.status_code != 200:
            return f"HTTP {response.status_code}"
        if marker not in response.content.decode():
            return f"no {marker!r} in the page"
        return ""

    return check


def login(user) -> Client:
    # Behind the TLS-terminating proxy, as production.py expects (SECURE_PROXY_SSL_HEADER).
    client = Client(
        enforce_csrf_checks=True,
        HTTP_HOST="testserver",
        HTTP_X_FORWARDED_PROTO="https",
        HTTP_ACCEPT_LANGUAGE="ja",
    )
    client.force_login(user)
    return client


def claim(agent) -> CampaignMember:
    result = claim_next(agent=agent)
    if result.member is None:
        raise SystemExit(f"claim_next gave nothing to {agent}: {result.message}")
    return result.member


def card_scenario(label: str, agents: list, clients: dict, count: int) -> Scenario:
    """GET the card of a freshly claimed member as the agent holding the claim."""
    scenario = Scenario(label)
    for i in range(count):
        agent = agents[i % len(agents)]
        member = claim(agent)
        url = reverse("outreach:work-card", args=[member.pk])
        scenario.measure(_ok_page('id="outcome-form"'), clients[agent.pk].get, url)
        with connection.cursor() as cursor:
            cursor.execute(CLOSE_SQL, [NOW, member.pk])
    return scenario


def supervisor_scenario(label: str, client: Client, customer_ids: list[int]) -> Scenario:
    scenario = Scenario(label)
    for customer_id in customer_ids:
        url = reverse("outreach:customer-card", args=[customer_id])
        scenario.measure(_ok_page('id="customer-card"'), client.get, url)
    return scenario


DISPOSITIONS = ("no_answer", "callback_personal", "refused", "success")


def outcome_body(i: int, run: str) -> dict:
    code = DISPOSITIONS[i % len(DISPOSITIONS)]
    body = {
        "disposition": code,
        "idempotency_key": f"{KEY_PREFIX}{run}-{i}",
        "notes": "ベンチ: 不在" if code == "no_answer" else "",
    }
    if code == "callback_personal":
        tomorrow = (NOW + timedelta(days=1)).replace(hour=10, minute=0)
        body.update(callback_at=tomorrow.strftime("%Y-%m-%dT%H:%M"), callback_personal="1")
    if code == "success":
        body.update(
            disclosed_company="on",
            disclosed_caller="on",
            disclosed_product="on",
            disclosed_purpose="on",
            voice_category="praise",
            voice_text="丁寧な説明でした",
        )
    return body


def outcome_scenario(label: str, agents: list, clients: dict, count: int, run: str) -> Scenario:
    """POST an outcome (htmx) for a member claimed just before, dispositions in turn."""
    scenario = Scenario(label)
    for i in range(count):
        agent = agents[i % len(agents)]
        member = claim(agent)
        client = clients[agent.pk]
        url = reverse("outreach:work-outcome", args=[member.pk])
        body = outcome_body(i, run)
        headers = {
            "HTTP_HX_REQUEST": "true",
            "HTTP_X_CSRFTOKEN": client.cookies["csrftoken"].value,
            "HTTP_ORIGIN": "https://testserver",
        }
        scenario.measure(_ok_page('id="logged"'), client.post, url, body, **headers)
    return scenario


def _customer_weights(customer_ids: list[int]) -> dict:
    """Purchase lines and contact attempts of the customers a scenario showed."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT min(p), max(p), percentile_cont(0.5) WITHIN GROUP (ORDER BY p),
                   min(a), max(a)
            FROM (SELECT c.id,
                         (SELECT count(*) FROM customers_purchase WHERE customer_id = c.id) p,
                         (SELECT count(*) FROM outreach_contactattempt WHERE customer_id = c.id) a
                  FROM unnest(%s::bigint[]) AS c(id)) x
            """,
            [customer_ids],
        )
        low, high, median, contacts_low, contacts_high = cursor.fetchone()
    return {
        "purchase_lines_min": low,
        "purchase_lines_median": median,
        "purchase_lines_max": high,
        "contacts_min": contacts_low,
        "contacts_max": contacts_high,
    }


def run() -> dict:
    if connection.vendor != "postgresql":
        raise SystemExit("Set DATABASE_URL to the PostgreSQL benchmark database.")
    if not Customer.objects.filter(pk=1).exists():
        raise SystemExit("No customers: run `bench/card.py generate` first (see its docstring).")
    assert not settings.DEBUG and not settings.CELERY_TASK_ALWAYS_EAGER
    loaders = settings.TEMPLATES[0]["OPTIONS"].get("loaders")
    print(f"cleaning up earlier runs: {cleanup()}", flush=True)
    run_id = f"{datetime.now():%Y%m%d%H%M%S}"
    result: dict = {"scenarios": {}, "load_average_before": os.getloadavg()}
    with time_machine.travel(NOW, tick=False):
        campaign, agents, supervisor, setup_s = setup()
        print(f"campaign #{campaign.pk}: {ARGS.members:,} members ({setup_s:.1f} s)", flush=True)
        clients = {agent.pk: login(agent) for agent in agents}
        for client in clients.values():  # the work page sets the CSRF cookie, as in a browser
            client.get(reverse("outreach:work"))
        boss = login(supervisor)
        # Warm-up: connection, imports, translations, template cache, first broker publish.
        card_scenario("warm-up", agents, clients, ARGS.warmup)
        outcome_scenario("warm-up", agents, clients, ARGS.warmup, run_id + "w")

        agent_cards = card_scenario("card (agent, claim)", agents, clients, ARGS.requests)
        print(f"  agent card: done, {len(agent_cards.ms)} requests", flush=True)

        with connection.cursor() as cursor:
            cursor.execute("SELECT max(id) FROM customers_customer")
            max_id = cursor.fetchone()[0]
        rng = random.Random(ARGS.seed)
        picked = rng.sample(range(1, max_id + 1), ARGS.requests + ARGS.warmup)
        supervisor_scenario("warm-up", boss, picked[: ARGS.warmup])
        boss_cards = supervisor_scenario("card (supervisor)", boss, picked[ARGS.warmup :])
        print(f"  supervisor card: done, {len(boss_cards.ms)} requests", flush=True)
        heavy = supervisor_scenario("card (supervisor, customer 1)", boss, [1] * 20)

        outcomes = outcome_scenario("outcome post", agents, clients, ARGS.requests, run_id)
        print(f"  outcome post: done, {len(outcomes.ms)} requests", flush=True)

        viewed = list(
            CustomerCardView.objects.filter(user__in=agents)
            .order_by("-id")
            .values_list("customer_id", flat=True)[: ARGS.requests]
        )
        posted = list(
            ContactAttempt.objects.filter(
                idempotency_key__startswith=f"{KEY_PREFIX}{run_id}-"
            ).values_list("customer_id", flat=True)
        )
        for scenario, customers in (
            (agent_cards, viewed),
            (boss_cards, picked[ARGS.warmup :]),
            (heavy, [1]),
            (outcomes, posted),
        ):
            result["scenarios"][scenario.label] = {
                **scenario.summary(),
                "customers_shown": _customer_weights(customers),
            }

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT reltuples::bigint FROM pg_class WHERE oid = 'customers_purchase'::regclass"
        )
        purchases = cursor.fetchone()[0]
        cursor.execute(
            "SELECT reltuples::bigint FROM pg_class WHERE oid = 'outreach_contactattempt'::regclass"
        )
        attempts = cursor.fetchone()[0]
    result.update(
        load_average_after=os.getloadavg(),
        cpus=os.cpu_count(),
        benchmark="workspace",
        when=timezone.now().isoformat(),
        server_time_frozen_at=NOW.isoformat(),
        database=connection.settings_dict["NAME"],
        host=platform.node(),
        settings={
            "module": os.environ["DJANGO_SETTINGS_MODULE"],
            "DEBUG": settings.DEBUG,
            "template_loaders": loaders or "default (cached when DEBUG is off)",
            "CELERY_TASK_ALWAYS_EAGER": settings.CELERY_TASK_ALWAYS_EAGER,
            "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
            "CONN_MAX_AGE": settings.DATABASES["default"]["CONN_MAX_AGE"],
            "csrf_enforced": True,
            "https": True,
        },
        data={
            "customers": Customer.objects.count(),
            "purchases_estimate": purchases,
            "contact_attempts_estimate": attempts,
            "campaign_members": ARGS.members,
            "agents": ARGS.agents,
        },
        notes=[
            "Server-side time: django.test.Client through every middleware, view and template; "
            "no network, no WSGI server.",
            "Celery is not eager: the outcome post publishes the re-segmentation task to the "
            "in-memory broker after commit; the worker's work is not in the request's time.",
            "Agent cards: each member claimed with claim_next (untimed) just before the GET.",
        ],
    )
    return result


def print_table(result: dict) -> None:
    data = result["data"]
    print(
        f"\nworkspace on {result['database']}: {data['customers']:,} customers, "
        f"~{data['purchases_estimate']:,} purchase lines, "
        f"~{data['contact_attempts_estimate']:,} contacts; campaign of "
        f"{data['campaign_members']:,} members, {data['agents']} agents"
    )
    print(
        "production settings (DEBUG off, cached templates, HTTPS, CSRF); Celery NOT eager "
        "(task published to the in-memory broker, not run)"
    )
    before, after = result["load_average_before"], result["load_average_after"]
    print(
        f"host {result['host']}, {result['cpus']} CPUs, load average {before[0]:.1f} before, "
        f"{after[0]:.1f} after (PostgreSQL on the same host)"
    )
    header = (
        f"{'scenario':<30}{'n':>5}{'p50':>8}{'p95':>8}{'p99':>8}{'max':>8}{'cpu p95':>9}"
        f"{'SQL %':>7}{'queries':>9}{'tasks':>6}{'lines':>11}{'contacts':>10}  p95 ≤ 150"
    )
    print("-" * len(header))
    print(header + "\n" + "-" * len(header))
    for label, s in result["scenarios"].items():
        shown = s["customers_shown"]
        queries = f"{s['queries_min']}–{s['queries_max']}"
        tasks = ",".join(str(n) for n in s["tasks_published_per_request"])
        lines = f"{shown['purchase_lines_min']}–{shown['purchase_lines_max']}"
        contacts = f"{shown['contacts_min']}–{shown['contacts_max']}"
        verdict = "ok" if s["meets_target"] else "MISSED"
        if s["failures"]:
            verdict += f" ({s['failures']} failed)"
        print(
            f"{label:<30}{s['requests']:>5}{s['p50_ms']:>8.1f}{s['p95_ms']:>8.1f}"
            f"{s['p99_ms']:>8.1f}{s['max_ms']:>8.1f}{s['cpu_p95_ms']:>9.1f}"
            f"{s['sql_share'] * 100:>6.0f}%{queries:>9}{tasks:>6}{lines:>11}{contacts:>10}"
            f"  {verdict}"
        )
    print("-" * len(header))
    print(
        "ms server-side (wall); cpu = this process's CPU time; lines / contacts = purchase lines "
        "and contact attempts of the customers shown; tasks = Celery messages published"
    )


def main() -> None:
    try:
        result = run()
        out = HERE / "results" / f"workspace-{datetime.now():%Y%m%d-%H%M%S}.json"
        out.parent.mkdir(exist_ok=True)
        out.write_text(json.dumps(result, indent=2, ensure_ascii=False, default=str))
        print_table(result)
        print(f"\nwritten: {out.relative_to(HERE.parent)}")
    finally:
        if not ARGS.keep:
            print(f"cleaning up: {cleanup()}", flush=True)


if __name__ == "__main__":
    main()
