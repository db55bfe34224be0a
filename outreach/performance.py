"""Agent performance per agent and per team over a date range.

Definitions, stated once (days are local dates in ``TIME_ZONE``):

- **attempts**: logged contact attempts that count as an attempt (``counts_as_attempt``);
  reached and conversions are counted among them (``reached``, ``success``).
- **contact rate** = reached ÷ attempts; **conversion rate** = conversions ÷ reached (per person
  spoken to; the campaign funnel has its own member-based rate).
- **average handle time** = Σ ``duration_seconds`` ÷ counted call attempts (e-mails have none).
- **personal callbacks due**: attempts by the agent that promised a personal callback
  (``callback_scope = personal``), counted on the local day of the promised ``callback_at``, once
  the keep window has closed (``callback_at`` + 15 minutes ≤ now).
- **kept**: the same agent logged another attempt on the same campaign and customer within
  ``CALLBACK_KEPT_MINUTES`` (15) of the promised time, before or after. A callback moved later
  without a new outcome keeps its first promised time and so counts as not kept.
- **team**: the agent's current team (``AgentProfile``).

Past days come from ``AgentDailyStats`` (rebuilt set-based per day by a task); days not rebuilt
yet (today) are read from the attempts themselves on the (agent, attempted_at) index, so the page
is never stale.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.models import Max, Sum
from django.utils import timezone

from outreach.models import AgentDailyStats, AgentProfile, ContactAttempt, Team

CALLBACK_KEPT_MINUTES = 15
COUNTS = (
    "attempts",
    "reached",
    "conversions",
    "calls",
    "handle_seconds",
    "callbacks_due",
    "callbacks_kept",
)


def _moment(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.min, tzinfo=timezone.get_current_timezone())


def _param(value: dt.datetime):
    return connection.ops.adapt_datetimefield_value(value)


def _daily_sql(*, campaign_id: int | None = None) -> tuple[str, list]:
    """SELECT day, agent_id, campaign_id and the counts for attempts in [%s, %s) and personal
    callbacks due in [%s, %s) whose window closed before %s (five datetime parameters follow the
    returned ones)."""
    attempts = ContactAttempt._meta.db_table
    tz = timezone.get_current_timezone_name()
    attempted_day, attempted_params = connection.ops.datetime_cast_date_sql(
        "a.attempted_at", (), tz
    )
    users = get_user_model()._meta.db_table
    due_day, due_params = connection.ops.datetime_cast_date_sql("r.callback_at", (), tz)
    window = CALLBACK_KEPT_MINUTES * 60
    if connection.vendor == "postgresql":
        low = f"r.callback_at - interval '{window} seconds'"
        high = f"r.callback_at + interval '{window} seconds'"
    else:
        low = f"datetime(r.callback_at, '-{window} seconds')"
        high = f"datetime(r.callback_at, '+{window} seconds')"
    only_campaign = " AND a.campaign_id = %s" if campaign_id else ""
    only_campaign_r = " AND r.campaign_id = %s" if campaign_id else ""
    campaign_params = [campaign_id] if campaign_id else []
    sql = (
        f"SELECT day, agent_id, campaign_id, SUM(attempts), SUM(reached), SUM(conversions), "
        f"SUM(calls), SUM(handle_seconds), SUM(callbacks_due), SUM(callbacks_kept) FROM ("
        # Driven by the users, so a short range walks attempt_agent_time_idx per agent.
        f"SELECT {attempted_day} AS day, a.agent_id, a.campaign_id, COUNT(*) AS attempts, "
        f"SUM(CASE WHEN a.reached THEN 1 ELSE 0 END) AS reached, "
        f"SUM(CASE WHEN a.success THEN 1 ELSE 0 END) AS conversions, "
        f"SUM(CASE WHEN a.channel = 'call' THEN 1 ELSE 0 END) AS calls, "
        f"SUM(CASE WHEN a.channel = 'call' THEN a.duration_seconds ELSE 0 END) "
        f"AS handle_seconds, 0 AS callbacks_due, 0 AS callbacks_kept "
        f"FROM {users} u JOIN {attempts} a ON a.agent_id = u.id "
        f"AND a.attempted_at >= %s AND a.attempted_at < %s "
        f"WHERE a.counts_as_attempt{only_campaign} GROUP BY 1, 2, 3 "
        f"UNION ALL "
        f"SELECT {due_day}, r.agent_id, r.campaign_id, 0, 0, 0, 0, 0, COUNT(*), "
        f"SUM(CASE WHEN EXISTS (SELECT 1 FROM {attempts} f WHERE f.customer_id = r.customer_id "
        f"AND f.campaign_id = r.campaign_id AND f.agent_id = r.agent_id AND f.id <> r.id "
        f"AND f.attempted_at >= {low} AND f.attempted_at <= {high}) THEN 1 ELSE 0 END) "
        f"FROM {attempts} r WHERE r.callback_scope = 'personal' AND r.agent_id IS NOT NULL "
        f"AND r.callback_at >= %s AND r.callback_at < %s AND r.callback_at <= %s"
        f"{only_campaign_r} GROUP BY 1, 2, 3"
        f") x GROUP BY day, agent_id, campaign_id"
    )
    return sql, [attempted_params, due_params, campaign_params]


def _daily_rows(
    first: dt.date, last: dt.date, *, now: dt.datetime, campaign_id: int | None = None
) -> list[tuple]:
    """(day, agent_id, campaign_id, *COUNTS) for the local days ``first`` to ``last``."""
    if first > last:
        return []
    sql, (attempted_params, due_params, campaign_params) = _daily_sql(campaign_id=campaign_id)
    start, end = _param(_moment(first)), _param(_moment(last + dt.timedelta(days=1)))
    closed = _param(now - dt.timedelta(minutes=CALLBACK_KEPT_MINUTES))
    params = [
        *attempted_params,
        start,
        end,
        *campaign_params,
        *due_params,
        start,
        end,
        closed,
        *campaign_params,
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    return [
        (dt.date.fromisoformat(day) if isinstance(day, str) else day, *rest) for day, *rest in rows
    ]


@transaction.atomic
def agent_daily_stats_rebuild(
    *, start: dt.date, end: dt.date, now: dt.datetime | None = None
) -> int:
    """Replace the stats of the complete local days ``start`` to ``end`` (today and later are
    left to the live read). Idempotent; returns the rows written."""
    now = now or timezone.now()
    end = min(end, timezone.localdate(now) - dt.timedelta(days=1))
    if start > end:
        return 0
    rows = _daily_rows(start, end, now=now)
    AgentDailyStats.objects.filter(day__gte=start, day__lte=end).delete()
    AgentDailyStats.objects.bulk_create(
        [
            AgentDailyStats(
                day=day,
                agent_id=agent_id,
                campaign_id=campaign_id,
                computed_at=now,
                **{name: int(value or 0) for name, value in zip(COUNTS, counts, strict=True)},
            )
            for day, agent_id, campaign_id, *counts in rows
        ],
        batch_size=2000,
    )
    return len(rows)


@dataclass
class Performance:
    """Counts and rates of one agent or team (rates in percent, ``None`` without a base)."""

    key: int | None
    name: str
    team: str = ""
    attempts: int = 0
    reached: int = 0
    conversions: int = 0
    calls: int = 0
    handle_seconds: int = 0
    callbacks_due: int = 0
    callbacks_kept: int = 0
    agents: list[str] = field(default_factory=list)

    def add(self, counts) -> None:
        for name, value in zip(COUNTS, counts, strict=True):
            setattr(self, name, getattr(self, name) + int(value or 0))

    @property
    def contact_rate(self) -> float | None:
        return _percent(self.reached, self.attempts)

    @property
    def conversion_rate(self) -> float | None:
        return _percent(self.conversions, self.reached)

    @property
    def average_handle_seconds(self) -> float | None:
        return round(self.handle_seconds / self.calls, 1) if self.calls else None

    @property
    def callbacks_kept_rate(self) -> float | None:
        return _percent(self.callbacks_kept, self.callbacks_due)


def _percent(part: int, whole: int) -> float | None:
    return round(part * 100 / whole, 1) if whole else None


def agent_performance(
    *,
    start: dt.date,
    end: dt.date,
    team: Team | None = None,
    campaign_id: int | None = None,
    now: dt.datetime | None = None,
) -> dict:
    """Per agent and per team from ``start`` to ``end`` (local days, inclusive): AgentDailyStats
    up to the last rebuilt day, the attempts themselves after it."""
    now = now or timezone.now()
    rebuilt_through = AgentDailyStats.objects.aggregate(day=Max("day"))["day"]
    live_from = start if rebuilt_through is None else max(start, rebuilt_through + dt.timedelta(1))
    totals: dict[int, list[int]] = {}

    def add(agent_id: int, counts) -> None:
        current = totals.setdefault(agent_id, [0] * len(COUNTS))
        for index, value in enumerate(counts):
            current[index] += int(value or 0)

    stored = AgentDailyStats.objects.filter(
        day__gte=start, day__lte=min(end, live_from - dt.timedelta(1))
    )
    if campaign_id:
        stored = stored.filter(campaign_id=campaign_id)
    sums = {name: Sum(name) for name in COUNTS}
    for row in stored.values("agent_id").annotate(**sums).order_by():
        add(row["agent_id"], [row[name] for name in COUNTS])
    for _day, agent_id, _campaign_id, *counts in _daily_rows(
        live_from, end, now=now, campaign_id=campaign_id
    ):
        add(agent_id, counts)

    users = get_user_model().objects.in_bulk(list(totals))
    profiles = {
        p.user_id: p.team
        for p in AgentProfile.objects.filter(user_id__in=list(totals)).select_related("team")
    }
    agents: list[Performance] = []
    teams: dict[int | None, Performance] = {}
    for agent_id, counts in totals.items():
        agent_team = profiles.get(agent_id)
        if team is not None and agent_team != team:
            continue
        user = users.get(agent_id)
        name = (user.get_full_name() or user.get_username()) if user else f"#{agent_id}"
        row = Performance(key=agent_id, name=name, team=agent_team.name if agent_team else "")
        row.add(counts)
        agents.append(row)
        team_key = agent_team.pk if agent_team else None
        team_row = teams.setdefault(
            team_key, Performance(key=team_key, name=agent_team.name if agent_team else "")
        )
        team_row.add(counts)
        team_row.agents.append(name)
    total = Performance(key=None, name="")
    for row in agents:
        total.add([getattr(row, name) for name in COUNTS])
    return {
        "start": start,
        "end": end,
        "agents": sorted(agents, key=lambda r: (r.team, r.name)),
        "teams": sorted(teams.values(), key=lambda r: (r.key is None, r.name)),
        "total": total,
        "rebuilt_through": rebuilt_through,
    }
