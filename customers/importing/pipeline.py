"""Run one import job: read the file in batches, normalise, store, count.

A first load of a source (no row of it in the target table yet) is COPYed straight into the
target table while the file is read (``direct``), in one transaction. Everything else goes through
a staging table and the set-based merge (``merge``), which runs in one transaction too.

The run is restartable: it clears the job's error rows and rebuilds whatever it stages from the
file, and it writes customers/purchases in one transaction, so a run that dies at any point
leaves either nothing or everything of the file there, and running again is safe.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from typing import TypeVar

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone, translation

from customers.importing import direct
from customers.importing.merge import MergeCounts, merge_customers, merge_purchases
from customers.importing.readers import TabularFile, open_tabular
from customers.importing.records import BatchResult, ColumnMemos, normalize_batch, preview_rows
from customers.importing.staging import StageTable, append_errors
from customers.models import ImportJob, ImportKind, ImportRowError

logger = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass
class Timer:
    seconds: dict[str, float] = field(default_factory=dict)

    def add(self, name: str, started: float) -> None:
        self.seconds[name] = round(self.seconds.get(name, 0.0) + time.perf_counter() - started, 3)


def _progress(job_id: int, **fields) -> None:
    ImportJob.objects.filter(pk=job_id).update(heartbeat_at=timezone.now(), **fields)


class _Reporter:
    """Progress and heartbeat of a running job.

    On PostgreSQL a thread writes them through its own connection: they stay visible while the
    job's own connection is inside the one transaction of a first load (or of a merge), and
    "alive" is reported even while one long statement runs, so the stalled-import check never
    hands a working job to a second worker. Inside a caller's transaction (tests) or on SQLite
    (the embedded demo: one process, one writer) they are written inline instead.
    """

    def __init__(self, job_id: int) -> None:
        self.job_id = job_id
        self.inline = connection.vendor == "sqlite" or connection.in_atomic_block
        self.quiet = False  # inline only: the job's connection is busy streaming
        self._pending: dict = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = False
        self._thread: threading.Thread | None = None

    def __enter__(self) -> _Reporter:
        if not self.inline:
            self._thread = threading.Thread(
                target=self._run, name=f"import-{self.job_id}-progress", daemon=True
            )
            self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        if self._thread is not None:
            self._stop = True
            self._wake.set()
            self._thread.join()

    def post(self, **fields) -> None:
        if self.inline:
            if not self.quiet:
                _progress(self.job_id, **fields)
            return
        with self._lock:
            self._pending.update(fields)
        self._wake.set()

    def _run(self) -> None:
        interval = settings.IMPORT_HEARTBEAT_SECONDS
        try:
            while not self._stop:
                self._wake.wait(interval)
                self._wake.clear()
                if self._stop:
                    break  # the job's own last update has the final numbers
                with self._lock:
                    fields, self._pending = self._pending, {}
                try:
                    # Only while running: a write that waited for the job's final update
                    # must not put estimates back over its exact numbers.
                    ImportJob.objects.filter(pk=self.job_id, state="running").update(
                        heartbeat_at=timezone.now(), **fields
                    )
                except DatabaseError:  # a missed beat is harmless; the next one may pass
                    logger.warning("import %s: progress update failed", self.job_id, exc_info=True)
        finally:
            connection.close()  # this thread's own connection


@dataclass
class _Read:
    rows: int = 0
    preview: list[dict] = field(default_factory=list)


# A first load holds up to five batches at once (read ahead, being normalised, two queued, being
# stored); smaller batches keep its memory at that of the staged path. Its first and last batches
# are smaller still: PostgreSQL has nothing to store until the first is normalised, and the last
# is stored after everything else is done.
DIRECT_BATCH_ROWS = 50_000
DIRECT_EDGE_BATCH_ROWS = 10_000


def _batches(
    job: ImportJob,
    tabular: TabularFile,
    timer: Timer,
    reporter: _Reporter,
    read: _Read,
    batch_rows: int,
    edge_rows: int | None = None,
) -> Iterator[BatchResult]:
    """Normalised batches of the file; counts rows and reports progress as they pass.

    The file is read one batch ahead by a thread of its own (``_read_ahead``): reading and
    normalising are each a good part of a load's work, and in turn they would keep the
    database waiting. "read" times the wait for a batch.
    """
    memos = ColumnMemos()
    with _read_ahead(tabular.batches(batch_rows, edge_rows)) as batches:
        while True:
            t = time.perf_counter()
            batch = next(batches, None)
            timer.add("read", t)
            if batch is None:
                return
            t = time.perf_counter()
            result = normalize_batch(job.kind, batch, job.mapping, memos=memos)
            timer.add("normalize", t)
            if not read.preview:
                read.preview = preview_rows(result.records)
            read.rows += result.rows
            reporter.post(rows_processed=read.rows, rows_total=_rows_total(tabular, read.rows))
            yield result


_END = object()


@contextmanager
def _read_ahead(items: Iterator[T], depth: int = 1) -> Iterator[Iterator[T]]:
    """``items`` produced by a thread of their own, at most ``depth`` ahead of the consumer.

    The producer's exception (a malformed file) is raised to the consumer after the items
    before it. Leaving the block early stops the producer after the item it is on and closes
    ``items`` in its thread.
    """
    handoff: queue.Queue = queue.Queue(depth)
    stop = threading.Event()
    language = translation.get_language()  # for the file's error messages

    def hand(entry: tuple) -> bool:
        while not stop.is_set():
            try:
                handoff.put(entry, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            with translation.override(language):
                for item in items:
                    if not hand((item, None)):
                        return
            hand((_END, None))
        except BaseException as error:  # handed to the consumer
            hand((_END, error))
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()

    def consume() -> Iterator[T]:
        while True:
            item, error = handoff.get()
            if item is _END:
                if error is not None:
                    raise error
                return
            yield item

    thread = threading.Thread(target=produce, name="import-read", daemon=True)
    thread.start()
    try:
        yield consume()
    finally:
        stop.set()
        thread.join()


def _rows_total(tabular: TabularFile, processed: int) -> int | None:
    """The file's data rows: counted up front for a workbook, estimated from the records per
    byte read so far for CSV (a counting pass would read the whole file twice); the job's
    final update stores the exact number."""
    if tabular.format == "xlsx":
        return tabular.count_rows()
    estimate = tabular.estimated_rows()
    return max(processed, estimate) if estimate is not None else None


def _open(job: ImportJob, timer: Timer) -> TabularFile:
    tabular = open_tabular(
        job.file.path,
        max_bytes=settings.IMPORT_MAX_FILE_BYTES,
        max_rows=settings.IMPORT_MAX_ROWS,
        xlsx_max_uncompressed=settings.IMPORT_XLSX_MAX_UNCOMPRESSED_BYTES,
        xlsx_max_ratio=settings.IMPORT_XLSX_MAX_RATIO,
    )
    if tabular.format == "xlsx":  # no byte position to estimate from
        t = time.perf_counter()
        tabular.count_rows()
        timer.add("count", t)
    return tabular


def run_job(job: ImportJob) -> MergeCounts:
    """Import (or dry-run) ``job``'s file. The caller has claimed the job."""
    ImportRowError.objects.filter(job_id=job.pk).delete()
    with _Reporter(job.pk) as reporter:
        if direct.applies(kind=job.kind, dry_run=job.dry_run):
            counts = _run_direct(job, reporter)
            if counts is not None:
                return counts
        return _run_staged(job, reporter)


def _run_direct(job: ImportJob, reporter: _Reporter) -> MergeCounts | None:
    """A first load (see ``direct``); None if it does not apply, with all it did rolled back."""
    timer = Timer()
    started = time.perf_counter()
    tabular = _open(job, timer)
    read = _Read()
    reporter.post(phase="reading")
    reporter.quiet = True  # inline progress would write between this connection's COPYs
    try:
        batches = _batches(
            job,
            tabular,
            timer,
            reporter,
            read,
            min(settings.IMPORT_BATCH_ROWS, DIRECT_BATCH_ROWS),
            DIRECT_EDGE_BATCH_ROWS,
        )
        # closing(): whatever stops the load, the reader thread stops with it.
        with transaction.atomic(), closing(batches):
            t = time.perf_counter()
            counts = direct.load_first(
                job_id=job.pk,
                kind=job.kind,
                source=job.source,
                match_by=job.match_by,
                default_country=settings.DEFAULT_PHONE_REGION,
                results=batches,
                estimate_rows=lambda rows: _rows_total(tabular, rows) or rows,
                mapped=set(job.mapping.values()),
            )
            timer.add("load", t)  # reading and normalising included: they overlap the COPYs
            _succeed(job, counts, timer, read, started)
    except direct.NotFirstLoad as reason:
        logger.info("import %s: staged merge instead of a direct load (%s)", job.pk, reason)
        return None
    finally:
        reporter.quiet = False
    return counts


def _run_staged(job: ImportJob, reporter: _Reporter) -> MergeCounts:
    timer = Timer()
    started = time.perf_counter()
    tabular = _open(job, timer)
    reporter.post(phase="reading")
    stage = StageTable(job.pk, job.kind)
    stage.create()
    try:
        read = _Read()
        batches = _batches(job, tabular, timer, reporter, read, settings.IMPORT_BATCH_ROWS)
        with closing(batches):
            for result in batches:
                t = time.perf_counter()
                stage.append(result.records)
                append_errors(job.pk, result.errors)
                timer.add("stage", t)

        reporter.post(phase="merging", preview=read.preview)
        t = time.perf_counter()
        with transaction.atomic():
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
            timer.add("merge", t)
            _succeed(job, counts, timer, read, started)
        return counts
    finally:
        stage.drop()


def _succeed(
    job: ImportJob, counts: MergeCounts, timer: Timer, read: _Read, started: float
) -> None:
    """Store the outcome, inside the transaction that wrote the rows."""
    counts.errors = (
        ImportRowError.objects.filter(job_id=job.pk).values("row_number").distinct().count()
    )
    timer.seconds.update({f"merge.{name}": seconds for name, seconds in counts.steps.items()})
    timer.seconds["total"] = round(time.perf_counter() - started, 3)
    ImportJob.objects.filter(pk=job.pk).update(
        state="succeeded",
        phase="",
        rows_total=read.rows,
        rows_processed=read.rows,
        created_count=counts.created,
        updated_count=counts.updated,
        unchanged_count=counts.unchanged,
        duplicate_rows=counts.duplicates,
        error_count=counts.errors,
        preview=read.preview,
        timings=timer.seconds,
        finished_at=timezone.now(),
        heartbeat_at=timezone.now(),
    )


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
