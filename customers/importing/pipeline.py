"""Run one import job: read the file in batches, normalise, stage, merge, count.

The run is restartable: it rebuilds the staging table from the file and clears the job's error
rows before it starts, and the merge runs in one transaction, so a run that dies at any point leaves
either nothing or everything of the file in customers/purchases, and running again is safe.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from customers.importing.merge import MergeCounts, merge_customers, merge_purchases
from customers.importing.readers import open_tabular
from customers.importing.records import normalize_batch, preview_rows
from customers.importing.staging import StageTable, append_errors
from customers.models import ImportJob, ImportKind, ImportRowError

logger = logging.getLogger(__name__)


@dataclass
class Timer:
    seconds: dict[str, float] = field(default_factory=dict)

    def add(self, name: str, started: float) -> None:
        self.seconds[name] = round(self.seconds.get(name, 0.0) + time.perf_counter() - started, 3)


def _progress(job_id: int, **fields) -> None:
    ImportJob.objects.filter(pk=job_id).update(heartbeat_at=timezone.now(), **fields)


@contextmanager
def _heartbeat(job_id: int, every: float | None = None) -> Iterator[None]:
    """Keep reporting "alive" while one long statement runs (the merge of a big file), so the
    stalled-import check does not hand a working job to a second worker."""
    if connection.vendor == "sqlite":
        # The embedded demo has one process and SQLite one writer: nothing to report to.
        yield
        return
    interval = settings.IMPORT_HEARTBEAT_SECONDS if every is None else every
    stop = threading.Event()

    def beat() -> None:
        try:
            while not stop.wait(interval):
                try:
                    _progress(job_id)
                except DatabaseError:  # a missed beat is harmless; the next one may pass
                    logger.warning("import %s: heartbeat failed", job_id, exc_info=True)
        finally:
            connection.close()  # this thread's own connection

    thread = threading.Thread(target=beat, name=f"import-{job_id}-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def run_job(job: ImportJob) -> MergeCounts:
    """Import (or dry-run) ``job``'s file. The caller has claimed the job."""
    timer = Timer()
    started = time.perf_counter()
    stage = StageTable(job.pk, job.kind)
    ImportRowError.objects.filter(job_id=job.pk).delete()

    tabular = open_tabular(
        job.file.path,
        max_bytes=settings.IMPORT_MAX_FILE_BYTES,
        max_rows=settings.IMPORT_MAX_ROWS,
        xlsx_max_uncompressed=settings.IMPORT_XLSX_MAX_UNCOMPRESSED_BYTES,
        xlsx_max_ratio=settings.IMPORT_XLSX_MAX_RATIO,
    )
    t = time.perf_counter()
    rows_total = tabular.count_rows()
    timer.add("count", t)
    _progress(job.pk, rows_total=rows_total, phase="reading")

    stage.create()
    try:
        processed = 0
        preview: list[dict] = []
        batches = iter(tabular.batches(settings.IMPORT_BATCH_ROWS))
        while True:
            t = time.perf_counter()
            batch = next(batches, None)
            timer.add("read", t)
            if batch is None:
                break
            t = time.perf_counter()
            result = normalize_batch(job.kind, batch, job.mapping)
            timer.add("normalize", t)
            t = time.perf_counter()
            stage.append(result.records)
            append_errors(job.pk, result.errors)
            timer.add("stage", t)
            if not preview:
                preview = preview_rows(result.records)
            processed += result.rows
            _progress(job.pk, rows_processed=processed)

        _progress(job.pk, phase="merging", preview=preview)
        t = time.perf_counter()
        with _heartbeat(job.pk), transaction.atomic():
            if job.kind == ImportKind.CUSTOMERS:
                counts = merge_customers(
                    stage,
                    source=job.source,
                    match_by=job.match_by,
                    default_country=settings.DEFAULT_PHONE_REGION,
                    write=not job.dry_run,
                )
            else:
                counts = merge_purchases(
                    stage, job_id=job.pk, source=job.source, write=not job.dry_run
                )
            error_rows = (
                ImportRowError.objects.filter(job_id=job.pk).values("row_number").distinct().count()
            )
            timer.add("merge", t)
            timer.seconds.update(
                {f"merge.{name}": seconds for name, seconds in counts.steps.items()}
            )
            timer.seconds["total"] = round(time.perf_counter() - started, 3)
            ImportJob.objects.filter(pk=job.pk).update(
                state="succeeded",
                phase="",
                rows_processed=processed,
                created_count=counts.created,
                updated_count=counts.updated,
                unchanged_count=counts.unchanged,
                duplicate_rows=counts.duplicates,
                error_count=error_rows,
                timings=timer.seconds,
                finished_at=timezone.now(),
                heartbeat_at=timezone.now(),
            )
        counts.errors = error_rows
        return counts
    finally:
        stage.drop()


def claim_job(job_id: int, *, stalled_before=None) -> ImportJob | None:
    """Take a queued job (or a running one whose worker stopped reporting) for this worker.

    A conditional UPDATE: of two workers handed the same job, exactly one gets it.
    """
    now = timezone.now()
    claimable = Q(state="queued")
    if stalled_before is not None:
        claimable |= Q(state="running", heartbeat_at__lt=stalled_before)
    claimed = ImportJob.objects.filter(claimable, pk=job_id).update(
        state="running",
        phase="reading",
        attempts=F("attempts") + 1,
        started_at=now,
        heartbeat_at=now,
        finished_at=None,
        failure="",
        rows_processed=0,
        created_count=0,
        updated_count=0,
        unchanged_count=0,
        duplicate_rows=0,
        error_count=0,
    )
    return ImportJob.objects.get(pk=job_id) if claimed else None
