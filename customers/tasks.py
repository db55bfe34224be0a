from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from customers.services.imports import import_job_run, import_resume_stalled


@shared_task(name="customers.tasks.import_job_run", acks_late=True)
def import_job_run_task(job_id: int) -> str:
    """Run one import job. Safe to deliver twice: only one worker can claim the job."""
    # A message redelivered after its worker died may take over the job once it has gone quiet.
    stalled_before = timezone.now() - timedelta(seconds=settings.IMPORT_STALL_SECONDS)
    job = import_job_run(job_id=job_id, stalled_before=stalled_before)
    return job.state if job else "not-claimed"


@shared_task(name="customers.tasks.import_resume_stalled")
def import_resume_stalled_task() -> list[int]:
    """Beat: restart imports whose worker died (no progress for IMPORT_STALL_SECONDS)."""
    return import_resume_stalled()


@shared_task(name="customers.tasks.segmentation_run")
def segmentation_run_task(cause: str, customer_ids: list[int] | None = None) -> int:
    """Re-score and re-segment (all customers, or the touched ones). Safe to run twice."""
    from customers.services.segments import segmentation_run

    return segmentation_run(cause=cause, customer_ids=customer_ids).pk


@shared_task(name="customers.tasks.segmentation_nightly")
def segmentation_nightly_task() -> int:
    """Beat: time passes, customers drift towards dormant; re-segment everyone each night."""
    return segmentation_run_task("nightly")


@shared_task(name="customers.tasks.category_affinity_rebuild")
def category_affinity_rebuild_task() -> int:
    """Beat (nightly) and after a purchases import: recompute the cross-sell category affinity.

    A full, set-based rebuild; running it twice gives the same table.
    """
    from customers.services.affinity import category_affinity_rebuild

    return category_affinity_rebuild()


@shared_task(name="customers.tasks.kpi_snapshots_rebuild")
def kpi_snapshots_rebuild_task(full: bool = False) -> int:
    """Beat (nightly after segmentation; weekly in full) and "Recompute now": rebuild the retention
    KPI snapshots set-based. Without ``full`` only the current and recently ended periods (and
    missing ones) are recomputed. Idempotent."""
    from customers.kpis import kpi_snapshots_rebuild

    return kpi_snapshots_rebuild(full=full)
