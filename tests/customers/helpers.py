"""Small helpers shared by the customer tests: for imports, build a file and run it through the
real services; for segment rules, write a rule and check what it selects."""

from __future__ import annotations

import io
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import TestCase

from customers.models import CustomerRfm, ImportJob
from customers.segmentation.conditions import ConditionError, validate_conditions
from customers.services.imports import import_job_configure, import_job_create, import_job_start

TOKYO = ZoneInfo("Asia/Tokyo")


def csv_upload(text: str, *, name: str = "list.csv", encoding: str = "utf-8") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, text.encode(encoding), content_type="text/csv")


def run_import(
    kind: str,
    text: str | bytes,
    *,
    user=None,
    source: str = "default",
    match_by: list[str] | None = None,
    mapping: dict[str, str] | None = None,
    dry_run: bool = False,
    name: str = "list.csv",
    encoding: str = "utf-8",
) -> ImportJob:
    """Upload, (re)map, start and — Celery being eager in tests — finish an import."""
    data = text if isinstance(text, bytes) else text.encode(encoding)
    upload = SimpleUploadedFile(name, data)
    job = import_job_create(kind=kind, file=upload, created_by=user, source=source)
    if mapping is not None or match_by is not None:
        job = import_job_configure(job=job, mapping=mapping or job.mapping, match_by=match_by)
    if connection.in_atomic_block:
        # Inside a test transaction on_commit never fires on its own; run the queued task now.
        with TestCase.captureOnCommitCallbacks(execute=True):
            import_job_start(job=job, dry_run=dry_run)
    else:
        import_job_start(job=job, dry_run=dry_run)
    job.refresh_from_db()
    return job


def xlsx_bytes(rows: list[list[object]]) -> bytes:
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def assert_reconciles(job: ImportJob) -> None:
    assert job.state == "succeeded", job.failure
    total = job.created_count + job.updated_count + job.unchanged_count + job.error_count
    assert total == job.rows_total, (
        f"created {job.created_count} + updated {job.updated_count} + unchanged {job.unchanged_count}"
        f" + errors {job.error_count} != rows {job.rows_total}"
    )


def at(day: date, hour: int = 15, minute: int = 0, second: int = 0, micro: int = 0) -> datetime:
    """A moment on a Tokyo calendar day."""
    return datetime(day.year, day.month, day.day, hour, minute, second, micro, tzinfo=TOKYO)


def leaf(field: str, op: str, value=None, **extra) -> dict:
    """One segment condition."""
    node = {"field": field, "op": op, **extra}
    if value is not None:
        node["value"] = value
    return node


def everyone() -> set[str]:
    """The names of every scored customer."""
    return set(CustomerRfm.objects.values_list("customer__name", flat=True))


def error_of(conditions) -> ConditionError:
    """The error validating ``conditions`` raises (the test fails when it raises none)."""
    with pytest.raises(ConditionError) as caught:
        validate_conditions(conditions)
    return caught.value
