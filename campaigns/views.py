"""Supervisor pages for campaigns: list, detail with state actions and launch progress, the
eligibility trace and the results dashboard. Views call services and selectors only."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from campaigns.filters import CampaignFilter
from campaigns.models import Campaign, CampaignState
from campaigns.results import DEFAULT_WINDOW_DAYS, campaign_results, clamp_window_days
from campaigns.results_pages import (
    activity_chart,
    funnel_chart,
    lift_text,
    repurchase_chart,
    results_tables,
)
from campaigns.selectors import campaign_list as campaign_list_select
from campaigns.services import TRANSITIONS, campaign_missing_for_scheduling, campaign_transition
from campaigns.tasks import campaign_results_refresh_task
from config.decorators import supervisor_required
from config.exports import export_format, table_response
from customers.models import Customer
from outreach.launch import campaign_launch_start
from outreach.models import CampaignLaunch
from outreach.selectors import campaign_queue_counts, eligibility_trace


def _error_text(error: ValidationError) -> str:
    return " ".join(error.messages)


@supervisor_required
def campaign_list(request):
    campaigns = campaign_list_select(filters=request.GET)
    state = request.GET.get("state")
    page = Paginator(campaigns, 50).get_page(request.GET.get("page"))
    return render(
        request,
        "campaigns/campaign_list.html",
        {
            "campaigns": page,
            "states": CampaignState.choices,
            "state": state,
            "filter_form": CampaignFilter(data=request.GET).form,
            "filtered": any(
                request.GET.get(k)
                for k in ("q", "kind", "channel", "starts_after", "starts_before")
            ),
        },
    )


@supervisor_required
def campaign_detail(request, campaign_id: int):
    campaign = get_object_or_404(
        Campaign.objects.prefetch_related("target_segments", "teams"), pk=campaign_id
    )
    launch = CampaignLaunch.objects.filter(campaign=campaign).first()
    context = {
        "campaign": campaign,
        "launch": launch,
        "next_states": [s for s in CampaignState if s in TRANSITIONS.get(campaign.state, ())],
        "missing": campaign_missing_for_scheduling(campaign)
        if campaign.state == CampaignState.DRAFT
        else [],
        "counts": campaign_queue_counts(campaign) if launch else None,
    }
    return render(request, "campaigns/campaign_detail.html", context)


@supervisor_required
@require_POST
def campaign_change_state(request, campaign_id: int):
    campaign = get_object_or_404(Campaign, pk=campaign_id)
    try:
        campaign_transition(campaign=campaign, to_state=request.POST.get("to", ""), by=request.user)
        messages.success(
            request, _("The campaign is now %(state)s.") % {"state": campaign.get_state_display()}
        )
    except ValidationError as error:
        messages.error(request, _error_text(error))
    return redirect("campaigns:campaign-detail", campaign_id=campaign.pk)


@supervisor_required
@require_POST
def campaign_launch(request, campaign_id: int):
    campaign = get_object_or_404(Campaign, pk=campaign_id)
    try:
        campaign_launch_start(campaign=campaign, by=request.user)
        messages.success(request, _("Launch started."))
    except ValidationError as error:
        messages.error(request, _error_text(error))
    return redirect("campaigns:campaign-detail", campaign_id=campaign.pk)


@supervisor_required
def campaign_launch_progress(request, campaign_id: int):
    launch = get_object_or_404(
        CampaignLaunch.objects.select_related("campaign"), campaign_id=campaign_id
    )
    response = render(request, "campaigns/_launch_progress.html", {"launch": launch})
    active = launch.status in (CampaignLaunch.Status.QUEUED, CampaignLaunch.Status.RUNNING)
    if request.GET.get("poll") and not active:
        response["HX-Refresh"] = "true"  # finished: show the queue counts
    return response


@supervisor_required
def campaign_eligibility(request, campaign_id: int, customer_id: int | None = None):
    campaign = get_object_or_404(Campaign, pk=campaign_id)
    lookup = (request.GET.get("customer") or "").strip()
    if customer_id is None and lookup:
        match = Customer.objects.filter(
            Q(external_id=lookup) | Q(pk=int(lookup) if lookup.isdigit() else None)
        ).first()
        if match is None:
            messages.error(
                request, _("No customer has the id or external id “%(id)s”.") % {"id": lookup}
            )
            return redirect("campaigns:campaign-detail", campaign_id=campaign.pk)
        return redirect(
            "campaigns:campaign-eligibility", campaign_id=campaign.pk, customer_id=match.pk
        )
    if customer_id is None:
        return redirect("campaigns:campaign-detail", campaign_id=campaign.pk)
    customer = get_object_or_404(Customer, pk=customer_id)
    trace = eligibility_trace(campaign=campaign, customer=customer)
    return render(request, "campaigns/eligibility.html", {"campaign": campaign, "trace": trace})


WINDOW_CHOICES = (7, 14, 30, 60, 90)


@supervisor_required
def campaign_results_view(request, campaign_id: int):
    """Results dashboard; ``?window=<days>``, and ``?export=csv|xlsx&table=<key>`` downloads."""
    campaign = get_object_or_404(Campaign, pk=campaign_id)
    window_days = clamp_window_days(request.GET.get("window"), DEFAULT_WINDOW_DAYS)
    results = campaign_results(campaign=campaign, window_days=window_days)
    tables = results_tables(results)
    fmt = export_format(request.GET.get("export"))
    if fmt:
        table = tables.get(request.GET.get("table", ""))
        if table is None:
            raise Http404
        return table_response(
            filename=f"campaign-{campaign.pk}-{table.key}-{window_days}d",
            header=table.header,
            rows=table.rows,
            fmt=fmt,
            sheet_title=table.title,
        )
    return render(
        request,
        "campaigns/campaign_results.html",
        {
            "campaign": campaign,
            "results": results,
            "window_days": window_days,
            "window_choices": sorted({*WINDOW_CHOICES, window_days}),
            "tables": tables,
            "lift": results.lift,
            "lift_text": lift_text(results),
            "funnel_chart": funnel_chart(results),
            "repurchase_chart": repurchase_chart(results),
            "activity_chart": activity_chart(results),
        },
    )


@supervisor_required
@require_POST
def campaign_results_refresh(request, campaign_id: int):
    """ "Refresh now": recompute this window's snapshot (inline without a broker, else queued)."""
    campaign = get_object_or_404(Campaign, pk=campaign_id)
    window_days = clamp_window_days(request.POST.get("window"), DEFAULT_WINDOW_DAYS)
    campaign_results_refresh_task.delay(campaign.pk, window_days)
    messages.success(
        request, _("Refresh requested; the numbers below show when they were computed.")
    )
    url = reverse("campaigns:campaign-results", kwargs={"campaign_id": campaign.pk})
    return redirect(f"{url}?window={window_days}")
