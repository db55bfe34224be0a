from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from config.decorators import supervisor_required
from customers import selectors
from customers.apis import errors_csv_response
from customers.filters import CustomerFilter
from customers.forms import ImportMappingForm, ImportTemplateForm, ImportUploadForm
from customers.importing.columns import fields_for
from customers.models import Customer, ImportJob
from customers.services import imports as import_services


def _error_text(error: ValidationError) -> str:
    return " ".join(error.messages)


@supervisor_required
def import_list(request):
    form = ImportUploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            job = import_services.import_job_create(created_by=request.user, **form.cleaned_data)
        except ValidationError as error:
            form.add_error("file", _error_text(error))
        else:
            messages.success(
                request, _("File read. Check the column mapping, then run a dry run or import.")
            )
            return redirect("customers:import-detail", job_id=job.pk)
    jobs = Paginator(selectors.import_job_list(filters=request.GET), 25).get_page(
        request.GET.get("page")
    )
    return render(request, "customers/import_list.html", {"form": form, "jobs": jobs})


@supervisor_required
def import_detail(request, job_id: int):
    job = get_object_or_404(ImportJob, pk=job_id)
    form = ImportMappingForm(request.POST or None, job=job)
    if request.method == "POST" and form.is_valid():
        action = request.POST.get("action", "dry_run")
        try:
            job = import_services.import_job_configure(
                job=job,
                mapping=form.mapping(),
                match_by=form.cleaned_data.get("match_by"),
                source=form.cleaned_data["source"],
            )
            if action == "save_template":
                template_form = ImportTemplateForm(request.POST)
                if not template_form.is_valid():
                    raise ValidationError(_("Give the template a name."))
                import_services.import_template_save(
                    job=job, name=template_form.cleaned_data["name"], created_by=request.user
                )
                messages.success(request, _("Mapping saved as a template."))
            elif action in ("dry_run", "import"):
                import_services.import_job_start(job=job, dry_run=action == "dry_run")
                messages.success(
                    request, _("Dry run started.") if action == "dry_run" else _("Import started.")
                )
        except ValidationError as error:
            messages.error(request, _error_text(error))
        return redirect("customers:import-detail", job_id=job.pk)
    errors = selectors.import_row_error_list(job=job)[:100]
    return render(
        request,
        "customers/import_detail.html",
        {
            "job": job,
            "form": form,
            "template_form": ImportTemplateForm(use_required_attribute=False),
            "errors": errors,
            "preview_columns": _preview_columns(job),
        },
    )


PREVIEW_LABELS = {"attributes": gettext_lazy("Attributes"), "base_key": None}


def _preview_columns(job: ImportJob) -> list[tuple[str, str]]:
    """Columns of the preview that hold a value in at least one row, with readable labels."""
    if not job.preview:
        return []
    specs = fields_for(job.kind)
    columns = []
    for key in job.preview[0]:
        if key == "row_no" or PREVIEW_LABELS.get(key, "") is None:
            continue
        if not any(row.get(key) not in (None, "", [], {}) for row in job.preview):
            continue
        label = specs[key].label if key in specs else PREVIEW_LABELS.get(key, key)
        columns.append((key, str(label)))
    return columns


@supervisor_required
def import_progress(request, job_id: int):
    job = get_object_or_404(ImportJob, pk=job_id)
    response = render(request, "customers/_import_progress.html", {"job": job})
    if request.GET.get("poll") and not job.is_active:
        # The run just ended: reload the whole page so the preview and error list appear.
        response["HX-Refresh"] = "true"
    return response


@supervisor_required
def import_errors_csv(request, job_id: int):
    return errors_csv_response(get_object_or_404(ImportJob, pk=job_id))


@supervisor_required
@require_POST
def import_start(request, job_id: int):
    job = get_object_or_404(ImportJob, pk=job_id)
    try:
        import_services.import_job_start(job=job, dry_run=request.POST.get("dry_run") == "1")
    except ValidationError as error:
        messages.error(request, _error_text(error))
    return redirect("customers:import-detail", job_id=job.pk)


@supervisor_required
def customer_list(request):
    customer_filter = CustomerFilter(request.GET or None, queryset=selectors.customer_list())
    customers = Paginator(customer_filter.qs, 50).get_page(request.GET.get("page"))
    return render(
        request, "customers/customer_list.html", {"filter": customer_filter, "customers": customers}
    )


@supervisor_required
def customer_detail(request, customer_id: int):
    customer = get_object_or_404(Customer, pk=customer_id)
    purchases = selectors.customer_purchase_list(customer=customer)[:100]
    return render(
        request, "customers/customer_detail.html", {"customer": customer, "purchases": purchases}
    )
