from django.core.management.base import BaseCommand, CommandError

from customers.models import ImportJob, ImportState
from customers.services.imports import import_job_run


class Command(BaseCommand):
    help = (
        "Run a queued import job in this process (what a Celery worker does), e.g. for operations."
    )

    def add_arguments(self, parser):
        parser.add_argument("job_id", type=int)

    def handle(self, *args, job_id: int, **options):
        if not ImportJob.objects.filter(pk=job_id).exists():
            raise CommandError(f"No import job {job_id}.")
        ImportJob.objects.filter(
            pk=job_id, state__in=[ImportState.UPLOADED, ImportState.FAILED]
        ).update(state=ImportState.QUEUED)
        job = import_job_run(job_id=job_id)
        if job is None:
            raise CommandError(f"Import job {job_id} is not queued (another worker may have it).")
        self.stdout.write(
            f"{job.state}: rows {job.rows_total}, created {job.created_count}, updated {job.updated_count}, "
            f"unchanged {job.unchanged_count}, errors {job.error_count}"
        )
