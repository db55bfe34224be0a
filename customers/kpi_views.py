"""Supervisor pages for retention KPIs (dashboard with one SVG line chart per KPI, recompute)
and the segment movement trend (its own page for export; the chart is also on the matrix page).

Numbers come from ``KpiSnapshot`` (see ``customers.kpis`` for the definitions); the page says
when they were computed. Every table downloads as CSV or XLSX with ``?export=csv|xlsx``.
"""

from __future__ import annotations

from django.contrib import messages
from django.db import transaction
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from config.charts import Series, format_date, line_chart
from config.decorators import supervisor_required
from config.exports import export_format, table_response
from customers.kpis import (
    KpiSnapshotFilter,
    kpi_freshness,
    kpi_snapshot_list,
    segment_movement_trend,
)
from customers.models import KpiSnapshot


def kpi_table(rows: list[KpiSnapshot]) -> tuple[list[str], list[list]]:
    """Header and rows of the KPI table as exported (rates in percent, empty without a base)."""
    header = [
        _("Period"),
        _("Segment"),
        _("Complete"),
        _("Active customers at start"),
        _("Bought again"),
        _("Retention rate (%)"),
        _("Lost"),
        _("Churn rate (%)"),
        _("Dormant at start"),
        _("Reactivated"),
        _("Reactivation rate (%)"),
        _("Dormant at end"),
        _("NPS answers"),
        _("Promoters (9–10)"),
        _("Detractors (0–6)"),
        _("NPS"),
        _("Customers in LTV"),
        _("LTV: order value × frequency × years"),
        _("LTV: annual revenue × margin × years"),
        _("LTV: revenue − costs"),
        _("Computed at"),
    ]
    table = [
        [
            row.period_start.isoformat(),
            row.segment.display_name() if row.segment else _("All customers"),
            row.is_complete,
            row.customers_at_start,
            row.retained,
            row.retention_rate,
            row.lost,
            row.churn_rate,
            row.dormant_at_start,
            row.reactivated,
            row.reactivation_rate,
            row.dormant_at_end,
            row.nps_responses,
            row.promoters,
            row.detractors,
            row.nps,
            row.ltv_customers,
            row.ltv_order_value,
            row.ltv_margin,
            row.ltv_net,
            row.computed_at,
        ]
        for row in rows
    ]
    return header, table


def _percent_axis(value: object) -> str:
    return f"{value:.0f}%" if isinstance(value, int | float) else str(value)


def kpi_charts(rows: list[KpiSnapshot]) -> list:
    """One line chart per KPI over the periods (gaps where there is no base)."""

    def points(attribute: str) -> list:
        return [
            (row.period_start, None if (v := getattr(row, attribute)) is None else float(v))
            for row in rows
        ]

    period = _("Period start")
    return [
        line_chart(
            title=_("Retention rate"),
            chart_id="kpi-retention",
            description=_("Active customers at the start who bought again within the period."),
            series=[Series(_("Retention rate"), points("retention_rate"), key="retention")],
            x_format=format_date,
            y_format=_percent_axis,
            x_axis_label=period,
            y_min=0,
        ),
        line_chart(
            title=_("Churn rate"),
            chart_id="kpi-churn",
            description=_(
                "Active customers at the start lost by the end (365 days without buying)."
            ),
            series=[Series(_("Churn rate"), points("churn_rate"), key="churn")],
            x_format=format_date,
            y_format=_percent_axis,
            x_axis_label=period,
            y_min=0,
        ),
        line_chart(
            title=_("NPS"),
            chart_id="kpi-nps",
            description=_("% promoters (9–10) − % detractors (0–6); watch the trend."),
            series=[Series(_("NPS"), points("nps"), key="nps")],
            x_format=format_date,
            x_axis_label=period,
        ),
        line_chart(
            title=_("Dormant customers and reactivation"),
            chart_id="kpi-dormant",
            description=_("Reactivation rate: dormant at the start who bought within the period."),
            series=[
                Series(_("Reactivation rate (%)"), points("reactivation_rate"), key="reactivation"),
            ],
            x_format=format_date,
            y_format=_percent_axis,
            x_axis_label=period,
            y_min=0,
        ),
        line_chart(
            title=_("Dormant at period end"),
            chart_id="kpi-dormant-count",
            series=[Series(_("Dormant at end"), points("dormant_at_end"), key="dormant")],
            x_format=format_date,
            x_axis_label=period,
            y_min=0,
        ),
        line_chart(
            title=_("Average LTV"),
            chart_id="kpi-ltv",
            description=_("Average over the customers with a purchase before the period end."),
            series=[
                Series(_("Order value × frequency × years"), points("ltv_order_value"), key="ltv1"),
                Series(_("Annual revenue × margin × years"), points("ltv_margin"), key="ltv2"),
                Series(_("Revenue − costs"), points("ltv_net"), key="ltv3"),
            ],
            x_format=format_date,
            x_axis_label=period,
        ),
    ]


@supervisor_required
def kpi_dashboard(request):
    filterset = KpiSnapshotFilter(request.GET or None)
    rows = list(kpi_snapshot_list(filters=request.GET))
    fmt = export_format(request.GET.get("export"))
    if fmt:
        header, table = kpi_table(rows)
        return table_response(filename="retention-kpis", header=header, rows=table, fmt=fmt)
    computed_at = kpi_freshness()
    return render(
        request,
        "customers/kpis/dashboard.html",
        {
            "form": filterset.form,
            "rows": rows,
            "charts": kpi_charts(rows) if rows else [],
            "computed_at": computed_at,
            "age_minutes": int((timezone.now() - computed_at).total_seconds() // 60)
            if computed_at
            else None,
            "query": request.GET.urlencode(),
        },
    )


@supervisor_required
@require_POST
def kpi_recompute(request):
    """Queue a full snapshot rebuild (a few minutes on a large base); the page shows its time."""
    from customers.tasks import kpi_snapshots_rebuild_task

    transaction.on_commit(kpi_snapshots_rebuild_task.delay)
    messages.success(
        request, _("Recomputing the KPIs; reload in a few minutes to see the new numbers.")
    )
    return redirect("customers:kpis")


def movement_chart(movements: list, *, by: str):
    label = _("Run") if by == "run" else _("Week")
    return line_chart(
        title=_("Moves into and out of dormant segments"),
        chart_id="segment-movement",
        description=_("Customers per %(unit)s moving into a dormant segment and out of one.")
        % {"unit": label.lower()},
        series=[
            Series(
                _("Into dormant"),
                [(m.day, m.into_dormant) for m in movements],
                key="into-dormant",
                color="#cf222e",
            ),
            Series(
                _("Out of dormant"),
                [(m.day, m.out_of_dormant) for m in movements],
                key="out-of-dormant",
                color="#1a7f37",
            ),
        ],
        x_format=format_date,
        x_axis_label=label,
        y_min=0,
    )


def movement_context(request) -> dict:
    """The movement trend for a page: ``?movement_by=run|week`` (default week)."""
    by = "run" if request.GET.get("movement_by") == "run" else "week"
    movements = segment_movement_trend(by=by)
    return {
        "movements": movements,
        "movement_by": by,
        "movement_chart": movement_chart(movements, by=by),
    }


@supervisor_required
def segment_movement(request):
    context = movement_context(request)
    fmt = export_format(request.GET.get("export"))
    if fmt:
        header = [
            _("Run") if context["movement_by"] == "run" else _("Week"),
            _("Date"),
            _("Into dormant"),
            _("Out of dormant"),
            _("Changed segment"),
        ]
        table = [
            [str(m.key), m.day, m.into_dormant, m.out_of_dormant, m.moved]
            for m in context["movements"]
        ]
        return table_response(filename="segment-movement", header=header, rows=table, fmt=fmt)
    return render(request, "customers/kpis/segment_movement.html", context)
