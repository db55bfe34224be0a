"""Agent performance against counts worked out by hand, callbacks kept included."""

from __future__ import annotations

import datetime as dt
import itertools
from zoneinfo import ZoneInfo

import pytest

from outreach.models import AgentDailyStats, ContactAttempt, Disposition
from outreach.performance import agent_daily_stats_rebuild, agent_performance
from tests.factories import CampaignFactory, CustomerFactory, TeamFactory, agent_on

TOKYO = ZoneInfo("Asia/Tokyo")
NOW = dt.datetime(2026, 3, 12, 10, 0, tzinfo=TOKYO)
DAY = dt.date(2026, 3, 10)
_keys = itertools.count()

pytestmark = pytest.mark.django_db


def at(d, hh, mm=0) -> dt.datetime:
    return dt.datetime(2026, 3, d, hh, mm, tzinfo=TOKYO)


def attempt(agent, when, *, campaign, customer=None, **fields) -> ContactAttempt:
    fields.setdefault("channel", "call")
    return ContactAttempt.objects.create(
        idempotency_key=f"k{next(_keys)}",
        campaign=campaign,
        customer=customer or CustomerFactory(),
        agent=agent,
        disposition=Disposition.objects.get(code="success"),
        attempted_at=when,
        **fields,
    )


@pytest.fixture
def floor():
    north, south = TeamFactory(name="North"), TeamFactory(name="South")
    return {
        "north": north,
        "south": south,
        "x": agent_on(north, username="x"),
        "y": agent_on(north, username="y"),
        "z": agent_on(south, username="z"),
        "campaign": CampaignFactory(),
        "other": CampaignFactory(),
    }


def test_counts_rates_and_handle_time_per_agent_and_team(floor):
    c, x, y, z = floor["campaign"], floor["x"], floor["y"], floor["z"]
    # x: 4 counted calls (2 reached, 1 converted; 60+120+180+240 s), 1 e-mail, 1 not counted
    attempt(x, at(10, 9), campaign=c, duration_seconds=60, reached=True, success=True)
    attempt(x, at(10, 10), campaign=c, duration_seconds=120, reached=True)
    attempt(x, at(10, 11), campaign=c, duration_seconds=180)
    attempt(x, at(10, 12), campaign=c, duration_seconds=240)
    attempt(x, at(10, 13), campaign=c, channel="email")
    attempt(x, at(10, 14), campaign=c, duration_seconds=999, counts_as_attempt=False)
    # y: 2 calls, 1 reached; z (other team): 1 call on the other campaign, reached and converted
    attempt(y, at(10, 9), campaign=c, duration_seconds=30, reached=True)
    attempt(y, at(11, 9), campaign=c, duration_seconds=90)
    attempt(z, at(10, 9), campaign=floor["other"], duration_seconds=300, reached=True, success=True)
    # outside the range
    attempt(x, at(9, 23, 59), campaign=c, duration_seconds=1)

    result = agent_performance(start=DAY, end=dt.date(2026, 3, 12), now=NOW)
    by_name = {row.name: row for row in result["agents"]}
    ax = by_name["x"]
    assert (ax.attempts, ax.reached, ax.conversions, ax.calls) == (5, 2, 1, 4)
    assert ax.contact_rate == 40.0
    assert ax.conversion_rate == 50.0
    assert ax.average_handle_seconds == 150.0
    assert (by_name["y"].attempts, by_name["y"].contact_rate, by_name["y"].conversion_rate) == (
        2,
        50.0,
        0.0,
    )
    teams = {row.name: row for row in result["teams"]}
    assert (teams["North"].attempts, teams["North"].reached, teams["North"].calls) == (7, 3, 6)
    assert teams["North"].average_handle_seconds == 120.0  # (600 + 120) / 6
    assert teams["South"].conversions == 1
    assert result["total"].attempts == 8

    only_north = agent_performance(start=DAY, end=DAY, team=floor["north"], now=NOW)
    assert [row.name for row in only_north["agents"]] == ["x", "y"]
    assert only_north["total"].attempts == 6  # y's second call is on the 11th
    only_other = agent_performance(start=DAY, end=DAY, campaign_id=floor["other"].pk, now=NOW)
    assert [row.name for row in only_other["agents"]] == ["z"]


def test_callbacks_kept_within_15_minutes_by_the_same_agent(floor):
    c, x, y = floor["campaign"], floor["x"], floor["y"]
    c1, c2, c3, c4, c5, c6 = (CustomerFactory() for _ in range(6))

    def promise(customer, due, scope="personal"):
        attempt(x, at(10, 15), campaign=c, customer=customer, callback_at=due, callback_scope=scope)

    promise(c1, at(11, 10))
    attempt(x, at(11, 10, 10), campaign=c, customer=c1)  # 10 min late: kept
    promise(c2, at(11, 11))
    attempt(x, at(11, 11, 20), campaign=c, customer=c2)  # 20 min late: not kept
    promise(c3, at(11, 12))
    attempt(y, at(11, 12), campaign=c, customer=c3)  # another agent: not kept for x
    promise(c4, at(11, 13))
    attempt(x, at(11, 12, 45), campaign=c, customer=c4)  # 15 min early, on the boundary: kept
    promise(c5, at(11, 14), scope="any_agent")  # not a personal callback
    promise(c6, at(12, 9, 50))  # window closes 10:05, after now: not due yet

    result = agent_performance(start=DAY, end=dt.date(2026, 3, 12), now=NOW)
    ax = next(row for row in result["agents"] if row.name == "x")
    assert (ax.callbacks_due, ax.callbacks_kept) == (4, 2)
    assert ax.callbacks_kept_rate == 50.0
    ay = next(row for row in result["agents"] if row.name == "y")
    assert (ay.callbacks_due, ay.callbacks_kept_rate) == (0, None)


def test_daily_stats_rebuild_gives_the_same_numbers_as_the_live_read(floor):
    c, x, y = floor["campaign"], floor["x"], floor["y"]
    customer = CustomerFactory()
    attempt(x, at(10, 9), campaign=c, customer=customer, reached=True, duration_seconds=60)
    attempt(
        x,
        at(10, 10),
        campaign=c,
        customer=customer,
        callback_at=at(11, 9),
        callback_scope="personal",
    )
    attempt(x, at(11, 9, 5), campaign=c, customer=customer, success=True, reached=True)
    attempt(y, at(12, 9), campaign=c)  # today: never in the stats
    live = agent_performance(start=DAY, end=dt.date(2026, 3, 12), now=NOW)

    written = agent_daily_stats_rebuild(start=DAY, end=dt.date(2026, 3, 12), now=NOW)
    assert written == 2  # x on the 10th and the 11th; today is left to the live read
    assert agent_daily_stats_rebuild(start=DAY, end=dt.date(2026, 3, 12), now=NOW) == 2
    assert AgentDailyStats.objects.count() == 2
    assert AgentDailyStats.objects.get(day=dt.date(2026, 3, 11)).callbacks_kept == 1
    mixed = agent_performance(start=DAY, end=dt.date(2026, 3, 12), now=NOW)
    assert mixed["rebuilt_through"] == dt.date(2026, 3, 11)
    for before, after in zip(live["agents"], mixed["agents"], strict=True):
        assert vars(before) == vars(after)


def test_no_attempts_gives_no_rates():
    result = agent_performance(start=DAY, end=DAY, now=NOW)
    assert result["agents"] == []
    total = result["total"]
    assert (total.contact_rate, total.conversion_rate, total.average_handle_seconds) == (
        None,
        None,
        None,
    )


# Pages and API -------------------------------------------------------------------------------


@pytest.fixture
def logged(floor):
    c = floor["campaign"]
    today = dt.datetime.now(TOKYO).replace(hour=9, minute=0)
    attempt(floor["x"], today - dt.timedelta(days=1), campaign=c, reached=True, success=True)
    attempt(floor["z"], today - dt.timedelta(days=1), campaign=floor["other"], reached=True)
    return floor


def test_performance_page_for_supervisors(supervisor_client, logged):
    response = supervisor_client.get("/work/performance/", HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    body = response.content.decode()
    assert 'id="agent-table"' in body and 'id="team-table"' in body
    assert "North" in body and "South" in body
    assert 'id="agent-conversions"' in body  # the chart
    assert 'href="/work/performance/"' in body  # nav link
    only = supervisor_client.get(f"/work/performance/?team={logged['south'].pk}")
    assert "agent-table" in only.content.decode()
    assert ">x<" not in only.content.decode()


def test_performance_page_rejects_a_reversed_range(supervisor_client):
    response = supervisor_client.get("/work/performance/?start=2026-03-10&end=2026-03-01")
    assert response.status_code == 200
    assert "field-error" in response.content.decode()


def test_performance_page_and_api_refuse_agents(agent_client):
    assert agent_client.get("/work/performance/").status_code == 403
    assert agent_client.get("/api/outreach/agent-performance/").status_code == 403


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
@pytest.mark.parametrize("table", ["agents", "teams"])
def test_performance_export_neutralises_formulas(supervisor_client, fmt, table):
    team = TeamFactory(name="=cmd|' /C calc'!A0")
    agent = agent_on(team, username="@agent")
    campaign = CampaignFactory()
    attempt(agent, dt.datetime.now(TOKYO) - dt.timedelta(days=1), campaign=campaign)
    response = supervisor_client.get(f"/work/performance/?export={fmt}&table={table}")
    assert response.status_code == 200
    if fmt == "csv":
        text = b"".join(response.streaming_content).decode("utf-8-sig")
        assert "'=cmd|" in text
        assert ",=cmd" not in text and "\n=cmd" not in text and "\n@agent" not in text
    else:
        import io

        from openpyxl import load_workbook

        sheet = load_workbook(io.BytesIO(response.content)).active
        cells = [c for row in sheet.iter_rows(min_row=2, values_only=True) for c in row]
        assert "'=cmd|' /C calc'!A0" in cells
        assert not any(isinstance(c, str) and c[:1] in "=+-@" for c in cells)


def test_performance_api(api_client, logged):
    response = api_client.get("/api/outreach/agent-performance/")
    assert response.status_code == 200
    data = response.json()
    agents = {row["name"]: row for row in data["agents"]}
    assert agents["x"]["conversions"] == 1 and agents["x"]["conversion_rate"] == 100.0
    assert data["total"]["attempts"] == 2
    assert {row["name"] for row in data["teams"]} == {"North", "South"}
    by_campaign = api_client.get(
        f"/api/outreach/agent-performance/?campaign={logged['other'].pk}"
    ).json()
    assert [row["name"] for row in by_campaign["agents"]] == ["z"]
    by_team = api_client.get(f"/api/outreach/agent-performance/?team={logged['north'].pk}").json()
    assert [row["name"] for row in by_team["agents"]] == ["x"]
    bad = api_client.get("/api/outreach/agent-performance/?start=2026-03-10&end=2026-03-01")
    assert bad.status_code == 400
