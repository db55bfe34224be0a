"""Campaign results: funnel, contact and conversion rates, repurchase within an attribution window
for contacted treatment / whole treatment (intention to treat) / holdout, and lift with its 95% CI.

Definitions (all counts within the window unless said otherwise):

* **Window**: from the launch (``Campaign.launched_at``; if missing, the first contact attempt)
  for ``window_days`` days, cut at the time of computation. "Day d" is [start + d days,
  start + d + 1 days).
* **Funnel** over treatment members: *attempted* = at least one attempt that counts as an attempt
  (or reached them); *reached* = at least one attempt that reached them; *converted* = the member
  was closed as converted (``converted_at``) in the window.
* **Contact rate** = reached ÷ attempted. **Conversion rate** = converted ÷ reached and
  converted ÷ treatment (both shown, labelled). **Attempts per member** = counted attempts ÷
  attempted members. **List penetration** = attempted ÷ treatment.
* **Exhaustion forecast**: treatment members still waiting (queued or claimed, now) ÷ counted
  attempts per day over the last 7 days → days, and the date it falls on.
* **Average handle time**: mean ``duration_seconds`` of attempts with a duration > 0.
* **Repurchase**: a member bought if they have ≥ 1 purchase in the window; revenue per member is
  the window's purchase amount averaged over all members of the group (non-buyers count as 0).
  Groups: *contacted* = reached treatment members, *treatment* = all treatment members (intention
  to treat), *holdout*. Members excluded at launch (no group) are in neither.
* **Lift** (ITT) = p_treatment − p_holdout with Newcombe's hybrid score 95% interval; revenue lift
  = difference of means with a Welch normal 95% interval (``campaigns.stats``). Incremental
  purchasers = lift × treatment size; cost per incremental purchaser = contact cost (counted
  attempts × cost per call / per e-mail) ÷ incremental purchasers, when costs are set and the
  increment is positive. The contacted group is self-selected (who answers differs from who does
  not), so only the ITT comparison is causal.

Numbers are pre-aggregated (``CampaignResultSnapshot``): ``campaign_results_refresh`` computes the
raw counts and sums set-based in three SQL statements (members LEFT JOIN per-customer attempt and
"bought in window" aggregates, grouped to a few hundred rows), and ``campaign_results`` derives
every rate and interval from a snapshot in microseconds.
"""

from __future__ import annotations

import math
import time as clock
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db import connection, transaction
from django.db.models import Min
from django.utils import timezone
from django.utils.translation import gettext as _

from campaigns.models import Campaign, CampaignResultSnapshot, CampaignState
from campaigns.stats import Interval, newcombe_difference, welch_difference
from customers.models import Channel, Purchase

DEFAULT_WINDOW_DAYS = 30
MAX_WINDOW_DAYS = 366
RECENT_RATE_DAYS = 7
SNAPSHOT_VERSION = 1
GROUPS = ("contacted", "treatment", "holdout")


# --- computing the raw numbers (set-based SQL) ----------------------------------------------------


def campaign_results_window(
    campaign: Campaign, *, window_days: int, now: datetime | None = None
) -> tuple[datetime | None, datetime | None]:
    """The attribution window [start, end): launch (or first attempt) + window_days, cut at now."""
    from outreach.models import ContactAttempt

    now = now or timezone.now()
    start = campaign.launched_at
    if start is None:
        start = ContactAttempt.objects.filter(campaign=campaign).aggregate(m=Min("attempted_at"))[
            "m"
        ]
    if start is None:
        return None, None
    return start, max(start, min(start + timedelta(days=window_days), now))


def _table(model: Any) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def _day_expression(column: str) -> str:
    """Whole days from the window start (the next %s parameter) to ``column``."""
    if connection.vendor == "postgresql":
        return f"FLOOR(EXTRACT(EPOCH FROM ({column} - %s)) / 86400)::integer"
    # SQLite keeps UTC text; julianday differences are in days (epsilon against 0.99999…).
    return f"CAST(julianday({column}) - julianday(%s) + 1e-9 AS INTEGER)"


def _dt(value: datetime) -> Any:
    return connection.ops.adapt_datetimefield_value(value)


def _number(value: Any) -> float:
    return float(value or 0)


def _empty_group() -> dict[str, float]:
    return {"members": 0, "buyers": 0, "revenue": 0.0, "revenue_sq": 0.0}


def campaign_results_compute(
    campaign: Campaign, *, window_days: int = DEFAULT_WINDOW_DAYS, now: datetime | None = None
) -> dict[str, Any]:
    """The raw counts and sums a snapshot stores (see the module docstring for definitions)."""
    from outreach.models import CampaignMember, ContactAttempt

    now = now or timezone.now()
    start, end = campaign_results_window(campaign, window_days=window_days, now=now)
    groups = {name: _empty_group() for name in GROUPS}
    funnel = {"treatment": 0, "attempted": 0, "reached": 0, "converted": 0, "waiting": 0}
    attempts = {"counted": 0, "call": 0, "email": 0, "timed": 0, "duration_seconds": 0}
    data: dict[str, Any] = {
        "version": SNAPSHOT_VERSION,
        "window_days": window_days,
        "start": start.isoformat() if start else None,
        "end": end.isoformat() if end else None,
        "days": 0,
        "groups": groups,
        "funnel": funnel,
        "attempts": attempts,
        "recent_attempts": 0,
        "recent_days": RECENT_RATE_DAYS,
        "daily": [],
    }
    if start is None or end is None:
        return data
    days = max(0, math.ceil((end - start).total_seconds() / 86400))
    data["days"] = days
    daily = [
        {
            "day": d,
            "attempts": 0,
            "reached": 0,
            "converted": 0,
            "buyers_treatment": 0,
            "buyers_holdout": 0,
        }
        for d in range(days)
    ]
    data["daily"] = daily

    member_t, attempt_t, purchase_t = (
        _table(CampaignMember),
        _table(ContactAttempt),
        _table(Purchase),
    )
    group_col = connection.ops.quote_name("group")
    s, e = _dt(start), _dt(end)
    members_sql = f"""
        WITH m AS (
            SELECT customer_id, {group_col} AS grp, status, converted_at
            FROM {member_t}
            WHERE campaign_id = %s AND {group_col} IN ('treatment', 'holdout')
        ), a AS (
            SELECT customer_id,
                   MAX(CASE WHEN counts_as_attempt OR reached THEN 1 ELSE 0 END) AS attempted,
                   MAX(CASE WHEN reached THEN 1 ELSE 0 END) AS reached
            FROM {attempt_t}
            WHERE campaign_id = %s AND attempted_at >= %s AND attempted_at < %s
            GROUP BY customer_id
        ), b AS (
            SELECT p.customer_id, SUM(p.amount) AS revenue, MIN(p.purchased_at) AS first_at
            FROM {purchase_t} p JOIN m ON m.customer_id = p.customer_id
            WHERE p.purchased_at >= %s AND p.purchased_at < %s
            GROUP BY p.customer_id
        )
        SELECT m.grp,
               COALESCE(a.attempted, 0) AS attempted,
               COALESCE(a.reached, 0) AS reached,
               {_day_expression("b.first_at")} AS first_day,
               COUNT(*),
               SUM(CASE WHEN m.converted_at >= %s AND m.converted_at < %s THEN 1 ELSE 0 END),
               SUM(CASE WHEN m.status IN ('queued', 'claimed') THEN 1 ELSE 0 END),
               COUNT(b.customer_id),
               COALESCE(SUM(b.revenue), 0),
               COALESCE(SUM(b.revenue * b.revenue), 0)
        FROM m
        LEFT JOIN a ON a.customer_id = m.customer_id
        LEFT JOIN b ON b.customer_id = m.customer_id
        GROUP BY 1, 2, 3, 4
    """
    attempts_sql = f"""
        SELECT {_day_expression("attempted_at")} AS day, channel,
               SUM(CASE WHEN counts_as_attempt THEN 1 ELSE 0 END),
               SUM(CASE WHEN reached THEN 1 ELSE 0 END),
               SUM(CASE WHEN duration_seconds > 0 THEN 1 ELSE 0 END),
               SUM(CASE WHEN duration_seconds > 0 THEN duration_seconds ELSE 0 END)
        FROM {attempt_t}
        WHERE campaign_id = %s AND attempted_at >= %s AND attempted_at < %s
        GROUP BY 1, 2
    """
    converted_sql = f"""
        SELECT {_day_expression("converted_at")} AS day, COUNT(*)
        FROM {member_t}
        WHERE campaign_id = %s AND {group_col} = 'treatment'
          AND converted_at >= %s AND converted_at < %s
        GROUP BY 1
    """
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # The row estimate of the grouped joins is far too high, so PostgreSQL would JIT-
            # compile them: seconds of compilation for a query that runs in a fraction of that.
            cursor.execute("SET LOCAL jit = off")
        cursor.execute(members_sql, [campaign.pk, campaign.pk, s, e, s, e, s, s, e])
        member_rows = cursor.fetchall()
        cursor.execute(attempts_sql, [s, campaign.pk, s, e])
        attempt_rows = cursor.fetchall()
        cursor.execute(converted_sql, [s, campaign.pk, s, e])
        converted_rows = cursor.fetchall()

    for (
        grp,
        attempted,
        reached,
        first_day,
        n,
        converted,
        waiting,
        buyers,
        rev,
        rev_sq,
    ) in member_rows:
        targets = [groups[grp]]
        if grp == "treatment":
            funnel["treatment"] += n
            funnel["attempted"] += n if attempted else 0
            funnel["reached"] += n if reached else 0
            funnel["converted"] += converted
            funnel["waiting"] += waiting
            if reached:
                targets.append(groups["contacted"])
        for target in targets:
            target["members"] += n
            target["buyers"] += buyers
            target["revenue"] += _number(rev)
            target["revenue_sq"] += _number(rev_sq)
        if first_day is not None and 0 <= first_day < days:
            daily[first_day][f"buyers_{grp}"] += buyers

    for day, channel, counted, reached, timed, duration in attempt_rows:
        attempts["counted"] += counted or 0
        attempts["timed"] += timed or 0
        attempts["duration_seconds"] += duration or 0
        if channel in (Channel.CALL, Channel.EMAIL):
            attempts[channel] += counted or 0
        if day is not None and 0 <= day < days:
            daily[day]["attempts"] += counted or 0
            daily[day]["reached"] += reached or 0
    for day, count in converted_rows:
        if day is not None and 0 <= day < days:
            daily[day]["converted"] += count

    data["recent_attempts"] = ContactAttempt.objects.filter(
        campaign=campaign,
        counts_as_attempt=True,
        attempted_at__gte=now - timedelta(days=RECENT_RATE_DAYS),
        attempted_at__lt=now,
    ).count()
    for group in groups.values():
        group["revenue"] = round(group["revenue"], 2)
    return data


@transaction.atomic
def campaign_results_refresh(
    *, campaign: Campaign, window_days: int = DEFAULT_WINDOW_DAYS, now: datetime | None = None
) -> CampaignResultSnapshot:
    """Compute and store (replace) the snapshot for this campaign and window length."""
    window_days = clamp_window_days(window_days)
    now = now or timezone.now()
    started = clock.perf_counter()
    data = campaign_results_compute(campaign, window_days=window_days, now=now)
    duration_ms = int((clock.perf_counter() - started) * 1000)
    snapshot, _created = CampaignResultSnapshot.objects.update_or_create(
        campaign=campaign,
        window_days=window_days,
        defaults={
            "window_start": datetime.fromisoformat(data["start"]) if data["start"] else None,
            "window_end": datetime.fromisoformat(data["end"]) if data["end"] else None,
            "computed_at": now,
            "duration_ms": duration_ms,
            "data": data,
        },
    )
    return snapshot


def campaign_results_refresh_active(*, now: datetime | None = None) -> list[tuple[int, int]]:
    """Beat: the (campaign id, window) pairs to refresh — every stored window of running or
    paused campaigns, and the default window of those without one yet."""
    active = Campaign.objects.filter(state__in=[CampaignState.RUNNING, CampaignState.PAUSED])
    pairs = set(
        CampaignResultSnapshot.objects.filter(campaign__in=active).values_list(
            "campaign_id", "window_days"
        )
    )
    pairs |= {(pk, DEFAULT_WINDOW_DAYS) for pk in active.values_list("pk", flat=True)}
    return sorted(pairs)


def clamp_window_days(value: object, default: int = DEFAULT_WINDOW_DAYS) -> int:
    try:
        number = int(str(value))
    except (TypeError, ValueError):
        return default
    return min(max(number, 1), MAX_WINDOW_DAYS)


# --- reading: derive every rate and interval from a snapshot --------------------------------------


def _ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator else None


@dataclass(frozen=True)
class GroupOutcome:
    key: str
    label: str
    members: int
    buyers: int
    revenue: float
    revenue_sq: float

    @property
    def repurchase_rate(self) -> float | None:
        return _ratio(self.buyers, self.members)

    @property
    def revenue_per_member(self) -> float | None:
        return _ratio(self.revenue, self.members)


@dataclass(frozen=True)
class DayPoint:
    day: int
    date: date
    attempts: int
    reached: int
    converted: int
    treatment_rate: float | None
    holdout_rate: float | None

    @property
    def lift(self) -> float | None:
        if self.treatment_rate is None or self.holdout_rate is None:
            return None
        return self.treatment_rate - self.holdout_rate


@dataclass(frozen=True)
class CampaignResults:
    campaign: Campaign
    window_days: int
    window_start: datetime | None
    window_end: datetime | None
    computed_at: datetime
    duration_ms: int
    treatment: int
    holdout: int
    attempted: int
    reached: int
    converted: int
    waiting: int
    attempts: int
    call_attempts: int
    email_attempts: int
    timed_attempts: int
    duration_seconds: int
    recent_attempts: int
    recent_days: int
    groups: dict[str, GroupOutcome] = field(default_factory=dict)
    series: list[DayPoint] = field(default_factory=list)

    # rates
    @property
    def contact_rate(self) -> float | None:
        return _ratio(self.reached, self.attempted)

    @property
    def conversion_rate_reached(self) -> float | None:
        return _ratio(self.converted, self.reached)

    @property
    def conversion_rate_treatment(self) -> float | None:
        return _ratio(self.converted, self.treatment)

    @property
    def attempts_per_member(self) -> float | None:
        return _ratio(self.attempts, self.attempted)

    @property
    def list_penetration(self) -> float | None:
        return _ratio(self.attempted, self.treatment)

    @property
    def average_handle_seconds(self) -> float | None:
        return _ratio(self.duration_seconds, self.timed_attempts)

    @property
    def daily_attempt_rate(self) -> float:
        return self.recent_attempts / self.recent_days if self.recent_days else 0.0

    @property
    def exhaustion_days(self) -> int | None:
        """Days until the waiting members are used up at the recent pace; None when no pace."""
        if self.waiting == 0:
            return 0
        rate = self.daily_attempt_rate
        return math.ceil(self.waiting / rate) if rate > 0 else None

    @property
    def exhaustion_date(self) -> date | None:
        days = self.exhaustion_days
        if days is None:
            return None
        return timezone.localdate(self.computed_at) + timedelta(days=days)

    # outcome and lift
    @property
    def lift(self) -> Interval | None:
        """ITT lift in repurchase rate (treatment − holdout), Newcombe hybrid score 95% CI."""
        t, h = self.groups["treatment"], self.groups["holdout"]
        return newcombe_difference(t.buyers, t.members, h.buyers, h.members)

    @property
    def revenue_lift(self) -> Interval | None:
        """ITT difference in revenue per member, Welch normal 95% CI."""
        t, h = self.groups["treatment"], self.groups["holdout"]
        return welch_difference(
            t.revenue, t.revenue_sq, t.members, h.revenue, h.revenue_sq, h.members
        )

    @property
    def incremental_purchasers(self) -> float | None:
        lift = self.lift
        return lift.estimate * self.treatment if lift else None

    @property
    def incremental_revenue(self) -> float | None:
        lift = self.revenue_lift
        return lift.estimate * self.treatment if lift else None

    @property
    def contact_cost(self) -> Decimal | None:
        """Counted attempts priced per channel; None when a used channel has no cost set."""
        total = Decimal(0)
        for count, cost in (
            (self.call_attempts, self.campaign.cost_per_call),
            (self.email_attempts, self.campaign.cost_per_email),
        ):
            if count:
                if cost is None:
                    return None
                total += cost * count
        if self.campaign.cost_per_call is None and self.campaign.cost_per_email is None:
            return None
        return total

    @property
    def cost_per_incremental_purchase(self) -> float | None:
        cost, extra = self.contact_cost, self.incremental_purchasers
        if cost is None or extra is None or extra <= 0:
            return None
        return float(cost) / extra

    @property
    def has_members(self) -> bool:
        return self.treatment + self.holdout > 0

    @property
    def lift_verdict(self) -> str:
        """The lift in words, e.g. "+2.1 points (95% CI +0.4 to +3.8): calling made them buy"."""
        lift = self.lift
        if lift is None:
            if self.holdout == 0:
                return _("Lift not measurable: the campaign has no holdout group.")
            return _("Lift not measurable: the campaign has no treatment group.")
        numbers = _("%(lift)+.1f points (95%% CI %(low)+.1f to %(high)+.1f)") % {
            "lift": lift.estimate * 100,
            "low": lift.lower * 100,
            "high": lift.upper * 100,
        }
        if lift.lower > 0:
            if self.campaign.channel == Channel.EMAIL:
                verdict = _("the e-mail made them buy")
            else:
                verdict = _("calling made them buy")
        elif lift.upper < 0:
            verdict = _("fewer bought than in the holdout")
        else:
            verdict = _("not distinguishable from zero")
        return f"{numbers}: {verdict}"


def results_from_snapshot(snapshot: CampaignResultSnapshot) -> CampaignResults:
    data = snapshot.data or {}
    funnel = data.get("funnel", {})
    attempts = data.get("attempts", {})
    labels = {
        "contacted": _("Contacted (reached) treatment"),
        "treatment": _("Whole treatment (intention to treat)"),
        "holdout": _("Holdout"),
    }
    groups = {
        key: GroupOutcome(
            key=key,
            label=labels[key],
            members=int(raw.get("members", 0)),
            buyers=int(raw.get("buyers", 0)),
            revenue=float(raw.get("revenue", 0)),
            revenue_sq=float(raw.get("revenue_sq", 0)),
        )
        for key, raw in ((k, data.get("groups", {}).get(k, {})) for k in GROUPS)
    }
    start = snapshot.window_start
    start_date = timezone.localdate(start) if start else None
    series: list[DayPoint] = []
    bought = {"treatment": 0, "holdout": 0}
    for point in data.get("daily", []):
        bought["treatment"] += point["buyers_treatment"]
        bought["holdout"] += point["buyers_holdout"]
        series.append(
            DayPoint(
                day=point["day"],
                date=(start_date + timedelta(days=point["day"])) if start_date else date.min,
                attempts=point["attempts"],
                reached=point["reached"],
                converted=point["converted"],
                treatment_rate=_ratio(bought["treatment"], groups["treatment"].members),
                holdout_rate=_ratio(bought["holdout"], groups["holdout"].members),
            )
        )
    return CampaignResults(
        campaign=snapshot.campaign,
        window_days=snapshot.window_days,
        window_start=start,
        window_end=snapshot.window_end,
        computed_at=snapshot.computed_at,
        duration_ms=snapshot.duration_ms,
        treatment=int(funnel.get("treatment", 0)),
        holdout=groups["holdout"].members,
        attempted=int(funnel.get("attempted", 0)),
        reached=int(funnel.get("reached", 0)),
        converted=int(funnel.get("converted", 0)),
        waiting=int(funnel.get("waiting", 0)),
        attempts=int(attempts.get("counted", 0)),
        call_attempts=int(attempts.get("call", 0)),
        email_attempts=int(attempts.get("email", 0)),
        timed_attempts=int(attempts.get("timed", 0)),
        duration_seconds=int(attempts.get("duration_seconds", 0)),
        recent_attempts=int(data.get("recent_attempts", 0)),
        recent_days=int(data.get("recent_days", RECENT_RATE_DAYS)),
        groups=groups,
        series=series,
    )


def campaign_results(
    *, campaign: Campaign, window_days: int = DEFAULT_WINDOW_DAYS, compute_if_missing: bool = True
) -> CampaignResults | None:
    """The campaign's results for this window from its snapshot (one indexed read).

    A window never computed before is computed now when ``compute_if_missing`` (the first visit
    pays for it; the beat keeps it fresh afterwards), else None.
    """
    window_days = clamp_window_days(window_days)
    snapshot = (
        CampaignResultSnapshot.objects.select_related("campaign")
        .filter(campaign=campaign, window_days=window_days)
        .first()
    )
    if snapshot is None:
        if not compute_if_missing:
            return None
        snapshot = campaign_results_refresh(campaign=campaign, window_days=window_days)
    snapshot.campaign = campaign
    return results_from_snapshot(snapshot)
