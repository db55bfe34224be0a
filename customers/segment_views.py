"""Pages for segments: list with trend, detail with members and the rule editor, migration matrix,
and the RFM / segment section of a customer's page (supervisors only)."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from config.decorators import supervisor_required
from customers.kpi_views import movement_context
from customers.models import Customer, Segment
from customers.segment_apis import explain_data
from customers.segment_forms import ConditionsField, MemberFilterForm, RunPairForm, SegmentForm
from customers.segmentation import selectors as segment_selectors
from customers.segmentation.conditions import FIELDS, OPS, describe_conditions
from customers.segmentation.selectors import (
    default_matrix_runs,
    full_run_list,
    segment_preview,
    segmentation_run_list,
)
from customers.services.segments import segment_save, segmentation_start, unique_segment_key

SPARK_WIDTH, SPARK_HEIGHT = 96, 24


def sparkline(values: list[int]) -> str:
    """SVG polyline points for ``values`` scaled to the box (the highest value at the top)."""
    if not values:
        return ""
    if len(values) == 1:
        values = values * 2  # one run: a flat line
    top = max(values) or 1
    step = SPARK_WIDTH / (len(values) - 1)
    usable = SPARK_HEIGHT - 4
    return " ".join(
        f"{i * step:.1f},{SPARK_HEIGHT - 2 - value / top * usable:.1f}"
        for i, value in enumerate(values)
    )


@supervisor_required
def segment_list(request):
    items = segment_selectors.segment_list(trend_runs=8)
    for item in items:
        values = [point["members"] for point in item["trend"]]
        item["spark"] = sparkline(values)
    return render(
        request,
        "customers/segments/segment_list.html",
        {
            "segments": items,
            "total": sum(item["members"] for item in items),
            "runs": segmentation_run_list()[:10],
            "spark_width": SPARK_WIDTH,
            "spark_height": SPARK_HEIGHT,
        },
    )


@supervisor_required
@require_POST
def segment_resegment(request):
    segmentation_start()
    messages.success(request, _("Re-segmentation started."))
    return redirect("customers:segment-list")


def _save_segment(request, form: SegmentForm, segment: Segment | None):
    """Save through the service; return the saved segment, or None with the errors on the form."""
    if not form.is_valid():
        return None
    fields = form.segment_fields()
    if segment is None and not fields.get("key"):
        fields["key"] = unique_segment_key(fields["name"])
    # The service changes the instance it is given before validating it: give it a copy.
    target = Segment.objects.get(pk=segment.pk) if segment is not None else None
    try:
        saved = segment_save(segment=target, **fields)
    except ValidationError as error:
        form.add_save_error(error)
        return None
    # segment_save queues a re-segmentation with the new rules once the change is committed.
    messages.success(request, _("Segment saved; customers are re-segmented with the new rules."))
    return saved


def field_catalogue() -> list[dict]:
    """The fields a rule can test, for the editor's reference box."""
    return [
        {
            "name": spec.name,
            "label": spec.label,
            "ops": [name for name in spec.ops if name in OPS],
            "allowed": spec.kind.allowed,
            "extras": [extra.name for extra in spec.extras],
        }
        for spec in FIELDS.values()
    ]


def _editor_context(segment: Segment | None, form: SegmentForm) -> dict:
    return {"segment": segment, "form": form, "fields": field_catalogue()}


@supervisor_required
def segment_create(request):
    form = SegmentForm(request.POST or None)
    if request.method == "POST":
        saved = _save_segment(request, form, None)
        if saved is not None:
            return redirect("customers:segment-detail", segment_id=saved.pk)
    return render(request, "customers/segments/segment_detail.html", _editor_context(None, form))


@supervisor_required
def segment_detail(request, segment_id: int):
    segment = get_object_or_404(Segment, pk=segment_id)
    form = SegmentForm(request.POST or None, segment=segment)
    if request.method == "POST":
        saved = _save_segment(request, form, segment)
        if saved is not None:
            return redirect("customers:segment-detail", segment_id=saved.pk)
    filter_form = MemberFilterForm(request.GET or None)
    members = segment_selectors.segment_member_list(segment=segment, filters=filter_form.filters())
    page = Paginator(members, 50).get_page(request.GET.get("page"))
    return render(
        request,
        "customers/segments/segment_detail.html",
        {
            **_editor_context(segment, form),
            "filter_form": filter_form,
            "members": page,
            "rule": describe_conditions(segment.conditions),
        },
    )


@supervisor_required
@require_POST
def segment_preview_partial(request):
    """htmx: how many customers the rule in the editor would take, alone and in its position."""
    segment = None
    if (request.POST.get("segment_id") or "").isdigit():
        segment = Segment.objects.filter(pk=int(request.POST["segment_id"])).first()
    position_text = (request.POST.get("position") or "").strip()
    position = int(position_text) if position_text.isdigit() else None
    context: dict = {"position": position}
    try:
        conditions = ConditionsField(required=False).clean(request.POST.get("conditions", ""))
        context["preview"] = segment_preview(
            conditions=conditions, position=position, segment=segment
        )
    except ValidationError as error:
        context["errors"] = error.messages
    return render(request, "customers/segments/_segment_preview.html", context)


def _heat_rows(matrix: dict) -> tuple[list[dict], list[int]]:
    """Matrix rows with a share of the row and a background strength per cell."""
    rows = []
    for row in matrix["rows"]:
        cells = []
        for segment, n in zip(matrix["segments"], row["cells"], strict=True):
            share = n / row["total"] if row["total"] else 0.0
            alpha = 0.1 + 0.8 * share if n else 0.0
            cells.append(
                {
                    "n": n,
                    "percent": f"{share * 100:.1f}",
                    "alpha": f"{alpha:.2f}",
                    "hot": alpha > 0.55,
                    "stayed": row["from"] is not None and row["from"] == segment,
                }
            )
        rows.append({"from": row["from"], "cells": cells, "total": row["total"]})
    columns = [
        sum(row["cells"][i] for row in matrix["rows"]) for i in range(len(matrix["segments"]))
    ]
    return rows, columns


@supervisor_required
def segment_matrix(request):
    runs = full_run_list()
    default_from, default_to = default_matrix_runs()
    form = RunPairForm(
        request.GET or None,
        runs=runs,
        initial={"from_run": default_from, "to_run": default_to},
    )
    from_run, to_run = default_from, default_to
    if form.is_bound and form.is_valid():
        from_run = form.cleaned_data["from_run"] or default_from
        to_run = form.cleaned_data["to_run"] or default_to
    context: dict = {"form": form, "from_run": from_run, "to_run": to_run, "matrix": None}
    context.update(movement_context(request))
    if from_run is not None and to_run is not None:
        matrix = segment_selectors.migration_matrix(from_run=from_run, to_run=to_run)
        rows, column_totals = _heat_rows(matrix)
        context.update(
            matrix=matrix,
            rows=rows,
            column_totals=column_totals,
            total=sum(column_totals),
        )
    return render(request, "customers/segments/segment_matrix.html", context)


@supervisor_required
def customer_rfm(request, customer_id: int):
    """The RFM & segment section of a customer's page (loaded by htmx; a page of its own without
    JavaScript)."""
    customer = get_object_or_404(Customer, pk=customer_id)
    explain = segment_selectors.customer_explain(customer=customer)
    context = {
        "customer": customer,
        "explain": explain_data(explain) if explain else None,
        "transitions": segment_selectors.customer_transition_list(customer=customer)[:50],
    }
    template = (
        "customers/segments/_customer_rfm.html"
        if request.headers.get("HX-Request")
        else "customers/segments/customer_rfm.html"
    )
    return render(request, template, context)
