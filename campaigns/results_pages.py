"""What the results page shows: display rows, the exportable tables and the SVG charts, built from
``CampaignResults`` (no queries)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.utils import formats
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _

from campaigns.results import CampaignResults
from config.charts import (
    Bar,
    Series,
    bar_chart,
    format_number,
    format_percent,
    line_chart,
)

RESULT_TABLES = ("funnel", "rates", "outcome", "daily")


@dataclass(frozen=True)
class Table:
    key: str
    title: str
    header: list[str]
    rows: list[list[Any]]


def _pct(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value * 100:.{digits}f}%"


def _num(value: float | None, digits: int = 0) -> str:
    if value is None:
        return "—"
    return formats.number_format(round(value, digits), digits, force_grouping=True)


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def funnel_table(r: CampaignResults) -> Table:
    stages = [
        (_("Treatment members"), r.treatment),
        (_("Attempted"), r.attempted),
        (_("Reached"), r.reached),
        (_("Converted"), r.converted),
    ]
    return Table(
        "funnel",
        _("Funnel"),
        [_("Stage"), _("Members"), _("Share of treatment")],
        [[label, n, _pct(_share(n, r.treatment))] for label, n in stages],
    )


def rates_table(r: CampaignResults) -> Table:
    exhaustion = (
        _("never at the recent pace (no attempts in the last %(n)s days)") % {"n": r.recent_days}
        if r.exhaustion_days is None
        else _("%(days)s days (%(date)s)")
        % {"days": r.exhaustion_days, "date": formats.date_format(r.exhaustion_date)}
    )
    aht = r.average_handle_seconds
    rows = [
        [_("Contact rate"), _pct(r.contact_rate), _("reached ÷ attempted")],
        [
            _("Conversion rate (of reached)"),
            _pct(r.conversion_rate_reached),
            _("converted ÷ reached"),
        ],
        [
            _("Conversion rate (of treatment)"),
            _pct(r.conversion_rate_treatment),
            _("converted ÷ treatment members"),
        ],
        [
            _("Attempts per member"),
            _num(r.attempts_per_member, 2),
            _("attempts ÷ attempted members"),
        ],
        [_("List penetration"), _pct(r.list_penetration), _("attempted ÷ treatment members")],
        [
            _("Exhaustion forecast"),
            exhaustion,
            _("%(waiting)s waiting ÷ %(rate)s attempts a day (last %(n)s days)")
            % {"waiting": r.waiting, "rate": _num(r.daily_attempt_rate, 1), "n": r.recent_days},
        ],
        [
            _("Average handle time"),
            "—" if aht is None else f"{round(aht) // 60}:{round(aht) % 60:02d}",
            _("mean duration of attempts longer than 0 s"),
        ],
    ]
    return Table("rates", _("Rates"), [_("Measure"), _("Value"), _("How")], rows)


def outcome_table(r: CampaignResults) -> Table:
    rows = [
        [
            g.label,
            g.members,
            g.buyers,
            _pct(g.repurchase_rate),
            _num(g.revenue),
            _num(g.revenue_per_member),
        ]
        for g in r.groups.values()
    ]
    return Table(
        "outcome",
        _("Repurchase within the window"),
        [
            _("Group"),
            _("Members"),
            _("Bought again"),
            _("Repurchase rate"),
            _("Revenue"),
            _("Revenue per member"),
        ],
        rows,
    )


def daily_table(r: CampaignResults) -> Table:
    rows = [
        [
            p.day,
            p.date.isoformat(),
            p.attempts,
            p.reached,
            p.converted,
            _pct(p.treatment_rate, 2),
            _pct(p.holdout_rate, 2),
            "—" if p.lift is None else f"{p.lift * 100:+.2f}",
        ]
        for p in r.series
    ]
    return Table(
        "daily",
        _("By day since launch"),
        [
            _("Day"),
            _("Date"),
            _("Attempts"),
            _("Reached"),
            _("Converted"),
            _("Repurchase rate, treatment (cumulative)"),
            _("Repurchase rate, holdout (cumulative)"),
            _("Lift (points)"),
        ],
        rows,
    )


def results_tables(r: CampaignResults) -> dict[str, Table]:
    return {
        "funnel": funnel_table(r),
        "rates": rates_table(r),
        "outcome": outcome_table(r),
        "daily": daily_table(r),
    }


def lift_text(r: CampaignResults) -> dict[str, str]:
    """The revenue lift and cost in words for the lift card."""
    revenue = r.revenue_lift
    cost = r.cost_per_incremental_purchase
    extra = r.incremental_purchasers
    return {
        "revenue": (
            _("Revenue lift not measurable (needs at least two members in each group).")
            if revenue is None
            else _("%(lift)s yen per member (95%% CI %(low)s to %(high)s)")
            % {
                "lift": f"{revenue.estimate:+,.0f}",
                "low": f"{revenue.lower:+,.0f}",
                "high": f"{revenue.upper:+,.0f}",
            }
        ),
        "incremental": "—" if extra is None else f"{extra:+,.1f}",
        "cost": (
            _("set a cost per call or e-mail on the campaign")
            if r.contact_cost is None
            else (
                _("no incremental purchase to divide by")
                if cost is None
                else _("%(cost)s yen (contact cost %(total)s yen)")
                % {"cost": f"{cost:,.0f}", "total": f"{r.contact_cost:,.0f}"}
            )
        ),
    }


def funnel_chart(r: CampaignResults) -> SafeString:
    bars = [
        Bar(_("Treatment"), r.treatment, key="treatment"),
        Bar(
            _("Attempted"),
            r.attempted,
            key="attempted",
            note=_pct(_share(r.attempted, r.treatment)),
        ),
        Bar(_("Reached"), r.reached, key="reached", note=_pct(_share(r.reached, r.treatment))),
        Bar(
            _("Converted"),
            r.converted,
            key="converted",
            note=_pct(_share(r.converted, r.treatment)),
        ),
    ]
    return bar_chart(
        title=_("Funnel"),
        description=_("Treatment members attempted, reached and converted within the window."),
        bars=bars,
        chart_id="funnel-chart",
        value_axis_label=_("members"),
    )


def repurchase_chart(r: CampaignResults) -> SafeString:
    series = [
        Series(_("Treatment"), [(p.day, p.treatment_rate) for p in r.series], key="treatment"),
        Series(_("Holdout"), [(p.day, p.holdout_rate) for p in r.series], key="holdout"),
        Series(
            _("Lift (treatment − holdout)"),
            [(p.day, p.lift) for p in r.series],
            key="lift",
            dashed=True,
            color="#1a7f37",
        ),
    ]
    return line_chart(
        title=_("Cumulative repurchase rate by day since launch"),
        description=_(
            "Share of treatment and holdout members who bought again, cumulated by day, and the "
            "difference between them."
        ),
        series=series,
        chart_id="repurchase-chart",
        x_axis_label=_("days since launch"),
        y_axis_label=_("bought again"),
        y_format=lambda v: format_percent(v, 0 if abs(float(v)) >= 0.1 or v == 0 else 1),
    )


def activity_chart(r: CampaignResults) -> SafeString:
    return line_chart(
        title=_("Attempts, reached and converted per day"),
        series=[
            Series(_("Attempts"), [(p.day, p.attempts) for p in r.series], key="attempts"),
            Series(_("Reached"), [(p.day, p.reached) for p in r.series], key="reached"),
            Series(_("Converted"), [(p.day, p.converted) for p in r.series], key="converted"),
        ],
        chart_id="activity-chart",
        x_axis_label=_("days since launch"),
        y_axis_label=_("per day"),
        y_format=format_number,
        height=240,
    )
