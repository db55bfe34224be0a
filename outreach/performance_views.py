"""Agent performance page for supervisors: per agent and per team over a date range, filterable
by team and campaign, downloadable as CSV/XLSX (``?export=csv|xlsx&table=agents|teams``)."""

from __future__ import annotations

import datetime as dt

from django import forms
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from campaigns.models import Campaign
from config.charts import Bar, bar_chart
from config.decorators import supervisor_required
from config.exports import export_format, table_response
from outreach.models import Team
from outreach.performance import agent_performance

MAX_DAYS = 366 * 2


class PerformanceFilterForm(forms.Form):
    start = forms.DateField(label=gettext_lazy("from"), required=False)
    end = forms.DateField(label=gettext_lazy("to"), required=False)
    team = forms.ModelChoiceField(
        queryset=Team.objects.order_by("name"),
        required=False,
        label=gettext_lazy("team"),
        empty_label=gettext_lazy("All teams"),
    )
    campaign = forms.ModelChoiceField(
        queryset=Campaign.objects.order_by("-id"),
        required=False,
        label=gettext_lazy("campaign"),
        empty_label=gettext_lazy("All campaigns"),
    )

    def clean(self):
        data = super().clean()
        today = timezone.localdate()
        end = data.get("end") or today
        start = data.get("start") or end - dt.timedelta(days=29)
        if start > end:
            raise forms.ValidationError(_("The start date is after the end date."))
        if (end - start).days > MAX_DAYS:
            raise forms.ValidationError(_("Choose at most two years."))
        data["start"], data["end"] = start, end
        return data


def performance_table(rows, *, team_table: bool = False) -> tuple[list[str], list[list]]:
    header = [
        _("Team") if team_table else _("Agent"),
        _("Agents") if team_table else _("Team"),
        _("Attempts"),
        _("Reached"),
        _("Contact rate (%)"),
        _("Conversions"),
        _("Conversion rate (%)"),
        _("Average handle time (s)"),
        _("Personal callbacks due"),
        _("Callbacks kept"),
        _("Callbacks kept (%)"),
    ]
    table = [
        [
            row.name or (_("No team") if team_table else ""),
            len(row.agents) if team_table else row.team,
            row.attempts,
            row.reached,
            row.contact_rate,
            row.conversions,
            row.conversion_rate,
            row.average_handle_seconds,
            row.callbacks_due,
            row.callbacks_kept,
            row.callbacks_kept_rate,
        ]
        for row in rows
    ]
    return header, table


@supervisor_required
def agent_performance_page(request):
    form = PerformanceFilterForm(request.GET)  # every field optional: the last 30 days
    result = None
    if form.is_valid():
        data = form.cleaned_data
        campaign = data.get("campaign")
        result = agent_performance(
            start=data["start"],
            end=data["end"],
            team=data.get("team"),
            campaign_id=campaign.pk if campaign else None,
        )
        fmt = export_format(request.GET.get("export"))
        if fmt:
            team_table = request.GET.get("table") == "teams"
            header, table = performance_table(
                result["teams"] if team_table else result["agents"], team_table=team_table
            )
            name = "team-performance" if team_table else "agent-performance"
            return table_response(
                filename=f"{name}-{data['start']}-{data['end']}",
                header=header,
                rows=table,
                fmt=fmt,
            )
    chart = None
    if result and result["agents"]:
        chart = bar_chart(
            title=_("Conversions per agent"),
            chart_id="agent-conversions",
            bars=[
                Bar(row.name, row.conversions, key=str(row.key), note=f"{row.attempts} ×")
                for row in result["agents"]
            ],
            value_axis_label=_("Conversions"),
        )
    query = request.GET.copy()
    query.pop("export", None)
    query.pop("table", None)
    return render(
        request,
        "outreach/performance.html",
        {"form": form, "result": result, "chart": chart, "query": query.urlencode()},
    )
