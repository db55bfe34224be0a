"""Writes for imports: upload a file, confirm its mapping, start, run, resume, save templates."""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from customers.importing.columns import MappingError, suggest_mapping, validate_mapping
from customers.importing.pipeline import claim_job, run_job
from customers.importing.readers import ImportFileError, open_tabular
from customers.models import DEFAULT_SOURCE, ImportJob, ImportKind, ImportState, ImportTemplate

logger = logging.getLogger(__name__)

STARTABLE_STATES = (
    ImportState.UPLOADED,
    ImportState.FAILED,
    ImportState.CANCELLED,
    ImportState.SUCCEEDED,
)
DEFAULT_MATCH_BY = ["external_id"]


def _open(path: Path):
    return open_tabular(
        path,
        max_bytes=settings.IMPORT_MAX_FILE_BYTES,
        max_rows=settings.IMPORT_MAX_ROWS,
        xlsx_max_uncompressed=settings.IMPORT_XLSX_MAX_UNCOMPRESSED_BYTES,
        xlsx_max_ratio=settings.IMPORT_XLSX_MAX_RATIO,
    )


@transaction.atomic
def import_job_create(
    *,
    kind: str,
    file: UploadedFile,
    created_by: AbstractBaseUser | None,
    source: str = DEFAULT_SOURCE,
    template: ImportTemplate | None = None,
) -> ImportJob:
    """Store an uploaded file as a new job and read its header.

    The mapping is suggested from the headers (or taken from ``template``); nothing is imported
    until ``import_job_start``. A file that is not a readable table is refused here with the reason.
    """
    if kind not in ImportKind.values:
        raise ValidationError({"kind": _("Unknown import kind.")})
    if file.size is not None and file.size > settings.IMPORT_MAX_FILE_BYTES:
        raise ValidationError(
            {
                "file": _("The file is %(size)s MB; the limit is %(limit)s MB.")
                % {"size": file.size // 2**20, "limit": settings.IMPORT_MAX_FILE_BYTES // 2**20}
            }
        )
    job = ImportJob(
        kind=kind,
        original_name=Path(file.name or "upload").name[:255],
        file_size=file.size or 0,
        source=(source or DEFAULT_SOURCE).strip()[:64],
        created_by=created_by if created_by and created_by.is_authenticated else None,
        template=template,
    )
    job.file.save(job.original_name, file, save=False)
    try:
        tabular = _open(Path(job.file.path))
    except ImportFileError as error:
        job.file.delete(save=False)
        raise ValidationError({"file": error.message}) from error
    job.file_format = tabular.format
    job.encoding = tabular.encoding or ""
    job.delimiter = tabular.delimiter or ""
    job.headers = tabular.headers
    if template is not None:
        if template.kind != kind:
            raise ValidationError({"template": _("That template is for another kind of import.")})
        job.mapping = template_mapping_for(template, tabular.headers)
        job.match_by = template.match_by or list(DEFAULT_MATCH_BY)
    else:
        job.mapping = suggest_mapping(kind, tabular.headers)
        job.match_by = list(DEFAULT_MATCH_BY)
    job.save()
    return job


def template_mapping_for(template: ImportTemplate, headers: list[str]) -> dict[str, str]:
    """The template's mapping for the headers it knows; suggestions for the ones it does not."""
    suggested = suggest_mapping(template.kind, headers)
    return {header: template.mapping.get(header, suggested[header]) for header in headers}


@transaction.atomic
def import_job_configure(
    *,
    job: ImportJob,
    mapping: dict[str, str],
    match_by: list[str] | None = None,
    source: str | None = None,
) -> ImportJob:
    """Set the column mapping (and match keys, source) of a job that is not running."""
    job = ImportJob.objects.select_for_update().get(pk=job.pk)
    if job.is_active:
        raise ValidationError(_("The import is running; its mapping cannot change now."))
    full_mapping = {
        header: mapping.get(header, job.mapping.get(header, "")) for header in job.headers
    }
    match = list(match_by) if match_by is not None else job.match_by
    try:
        validate_mapping(job.kind, job.headers, full_mapping, match)
    except MappingError as error:
        raise ValidationError({"mapping": str(error)}) from error
    job.mapping = full_mapping
    job.match_by = match
    if source is not None:
        job.source = source.strip()[:64] or DEFAULT_SOURCE
    job.save(update_fields=["mapping", "match_by", "source"])
    return job


@transaction.atomic
def import_template_save(
    *, job: ImportJob, name: str, created_by: AbstractBaseUser | None
) -> ImportTemplate:
    """Save (or overwrite) a named mapping template from a job's current mapping."""
    name = name.strip()
    if not name:
        raise ValidationError({"name": _("Give the template a name.")})
    template, _created = ImportTemplate.objects.update_or_create(
        kind=job.kind,
        name=name[:120],
        defaults={"mapping": job.mapping, "match_by": job.match_by, "created_by": created_by},
    )
    return template


@transaction.atomic
def import_job_start(*, job: ImportJob, dry_run: bool = False) -> ImportJob:
    """Queue a job for a run (or a dry run that counts and reports but writes nothing)."""
    job = ImportJob.objects.select_for_update().get(pk=job.pk)
    if job.state not in STARTABLE_STATES:
        raise ValidationError(_("This import is already queued or running."))
    try:
        validate_mapping(job.kind, job.headers, job.mapping, job.match_by)
    except MappingError as error:
        raise ValidationError({"mapping": str(error)}) from error
    job.state = ImportState.QUEUED
    job.dry_run = dry_run
    job.queued_at = timezone.now()
    job.heartbeat_at = job.queued_at
    job.failure = ""
    job.save(update_fields=["state", "dry_run", "queued_at", "heartbeat_at", "failure"])
    _enqueue(job.pk)
    return job


def _enqueue(job_id: int) -> None:
    """Send the run task once the current transaction (if any) has committed."""
    from customers.tasks import import_job_run_task

    transaction.on_commit(lambda: import_job_run_task.delay(job_id))


def import_job_run(*, job_id: int, stalled_before=None) -> ImportJob | None:
    """Run a queued job in this process. Returns None if another worker has it.

    Failures are recorded on the job with a readable reason; the file is kept so the job can be
    corrected and started again.
    """
    job = claim_job(job_id, stalled_before=stalled_before)
    if job is None:
        return None
    try:
        run_job(job)
    except ImportFileError as error:
        _fail(job, error.message)
    except Exception as error:
        logger.exception("import %s failed", job_id)
        _fail(job, _("The import stopped with an internal error: %(error)s") % {"error": error})
        raise
    job.refresh_from_db()
    if (
        job.state == ImportState.SUCCEEDED
        and not job.dry_run
        and (job.created_count or job.updated_count)
    ):
        _enqueue_segmentation()
        if job.kind == ImportKind.PURCHASES:
            _enqueue_affinity_rebuild()
    return job


def _enqueue_segmentation() -> None:
    """New customers or purchases change scores: re-segment once the import is committed."""
    from customers.models import SegmentationRun
    from customers.tasks import segmentation_run_task

    transaction.on_commit(lambda: segmentation_run_task.delay(SegmentationRun.Cause.IMPORT))


def _enqueue_affinity_rebuild() -> None:
    """New purchases change which categories are bought together: rebuild the cross-sell table."""
    from customers.tasks import category_affinity_rebuild_task

    transaction.on_commit(category_affinity_rebuild_task.delay)


def _fail(job: ImportJob, reason: str) -> None:
    ImportJob.objects.filter(pk=job.pk).update(
        state=ImportState.FAILED, phase="", failure=str(reason), finished_at=timezone.now()
    )


def import_resume_stalled(*, stall_seconds: int | None = None, max_attempts: int = 3) -> list[int]:
    """Queue again the jobs whose worker stopped reporting (killed, lost) — they restart cleanly.

    Jobs that stalled ``max_attempts`` times are marked failed instead.
    """
    seconds = settings.IMPORT_STALL_SECONDS if stall_seconds is None else stall_seconds
    cutoff = timezone.now() - timedelta(seconds=seconds)
    stalled = ImportJob.objects.filter(
        state__in=[ImportState.RUNNING, ImportState.QUEUED], heartbeat_at__lt=cutoff
    )
    requeued: list[int] = []
    for job in stalled:
        if job.attempts >= max_attempts:
            _fail(job, _("The import stopped %(n)s times without finishing.") % {"n": job.attempts})
            continue
        updated = ImportJob.objects.filter(pk=job.pk, heartbeat_at=job.heartbeat_at).update(
            state=ImportState.QUEUED, heartbeat_at=timezone.now(), phase=""
        )
        if updated:
            requeued.append(job.pk)
            _enqueue(job.pk)
    return requeued
