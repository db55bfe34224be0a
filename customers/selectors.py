"""Reads for customers and imports; filters are applied here and shared by API and pages."""

from __future__ import annotations

from collections.abc import Iterator

from django.db.models import QuerySet
from django.utils.translation import gettext

from config.exports import csv_lines
from customers.filters import (
    CustomerFilter,
    ImportJobFilter,
    ImportRowErrorFilter,
    ImportTemplateFilter,
    PurchaseFilter,
)
from customers.models import Customer, ImportJob, ImportRowError, ImportTemplate, Purchase


def import_job_list(*, filters: dict | None = None) -> QuerySet[ImportJob]:
    queryset = ImportJob.objects.select_related("created_by").order_by("-created_at", "-id")
    return ImportJobFilter(filters or {}, queryset=queryset).qs


def import_row_error_list(
    *, job: ImportJob, filters: dict | None = None
) -> QuerySet[ImportRowError]:
    queryset = ImportRowError.objects.filter(job=job).order_by("row_number", "id")
    return ImportRowErrorFilter(filters or {}, queryset=queryset).qs


def import_row_errors_csv(*, job: ImportJob) -> Iterator[str]:
    """The job's rejected rows as CSV lines, safe to open in a spreadsheet."""
    errors = (
        ImportRowError.objects.filter(job=job)
        .order_by("row_number", "id")
        .iterator(chunk_size=5000)
    )
    rows = ((e.row_number, e.column, e.value, e.code, e.reason) for e in errors)
    header = [
        gettext("Row"),
        gettext("Column"),
        gettext("Value"),
        gettext("Code"),
        gettext("Reason"),
    ]
    return csv_lines(header, rows)


def import_template_list(*, filters: dict | None = None) -> QuerySet[ImportTemplate]:
    return ImportTemplateFilter(filters or {}, queryset=ImportTemplate.objects.all()).qs


def customer_list(*, filters: dict | None = None) -> QuerySet[Customer]:
    queryset = Customer.objects.order_by("-id")
    return CustomerFilter(filters or {}, queryset=queryset).qs


def customer_purchase_list(
    *, customer: Customer, filters: dict | None = None
) -> QuerySet[Purchase]:
    queryset = Purchase.objects.filter(customer=customer).order_by("-purchased_at", "-id")
    return PurchaseFilter(filters or {}, queryset=queryset).qs
