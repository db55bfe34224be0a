"""Small helpers shared by the import tests: build a file, run it through the real services."""

from __future__ import annotations

import io

from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import TestCase

from customers.models import ImportJob
from customers.services.imports import import_job_configure, import_job_create, import_job_start


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
