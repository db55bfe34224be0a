"""Imports through real processes on PostgreSQL: a Celery worker on Redis, and a worker killed mid-run."""

import signal
import subprocess
import sys
import time

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection

from config.celery_app import app as celery_app
from customers.models import Customer, ImportJob
from customers.services.imports import (
    import_job_configure,
    import_job_create,
    import_job_start,
    import_resume_stalled,
)
from tests.customers.helpers import assert_reconciles
from tests.workers import (
    ROOT,
    skip_without_postgres_and_broker,
    start_celery_worker,
    stop_celery_worker,
    subprocess_env,
    wait_for,
)

BROKER = settings.CELERY_BROKER_URL


def _customers_csv(rows: int) -> bytes:
    lines = ["顧客ID,氏名,携帯電話,メールアドレス"]
    lines += [f"C{i:06d},顧客 {i},090{10_000_000 + i},c{i}@example.jp" for i in range(rows)]
    return ("\n".join(lines) + "\n").encode()


@pytest.fixture
def celery_worker_process(transactional_db):
    skip_without_postgres_and_broker(BROKER)
    import redis

    redis.Redis.from_url(BROKER).flushdb()
    assert celery_app.conf.broker_url == BROKER
    worker = start_celery_worker(subprocess_env(CELERY_BROKER_URL=BROKER))
    try:
        yield worker
    finally:
        stop_celery_worker(worker)


@pytest.mark.celery_worker
@pytest.mark.postgres_only
def test_an_import_runs_on_a_real_celery_worker_through_redis(celery_worker_process):
    job = import_job_create(
        kind="customers", file=SimpleUploadedFile("w.csv", _customers_csv(300)), created_by=None
    )
    import_job_start(job=job)

    wait_for(
        lambda: ImportJob.objects.get(pk=job.pk).state in ("succeeded", "failed"),
        timeout=90,
        interval=0.2,
    )

    job.refresh_from_db()
    assert_reconciles(job)
    assert job.created_count == 300
    assert Customer.objects.count() == 300


@pytest.mark.postgres_only
def test_a_worker_killed_mid_import_leaves_a_job_that_resumes_without_duplicates(transactional_db):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: the killed process must share the test database")
    rows = 40_000
    job = import_job_create(
        kind="customers", file=SimpleUploadedFile("k.csv", _customers_csv(rows)), created_by=None
    )
    job = import_job_configure(job=job, mapping=job.mapping, match_by=["external_id", "phone"])
    ImportJob.objects.filter(pk=job.pk).update(state="queued")

    runner = subprocess.Popen(
        [sys.executable, "manage.py", "import_run", str(job.pk)],
        cwd=ROOT,
        env=subprocess_env(IMPORT_BATCH_ROWS="500"),
        stdout=subprocess.DEVNULL,
    )
    try:
        wait_for(
            lambda: ImportJob.objects.get(pk=job.pk).rows_processed >= 1000,
            timeout=60,
            interval=0.01,
        )
    finally:
        runner.send_signal(signal.SIGKILL)
        runner.wait()

    killed = ImportJob.objects.get(pk=job.pk)
    assert killed.state == "running"  # nobody was left to say otherwise
    assert 0 < killed.rows_processed < rows
    assert Customer.objects.count() == 0  # the merge never committed

    assert import_resume_stalled(stall_seconds=0) == [job.pk]

    resumed = ImportJob.objects.get(pk=job.pk)
    assert_reconciles(resumed)
    assert resumed.attempts == 2
    assert resumed.created_count == rows
    assert Customer.objects.count() == rows

    # Running the same job yet again duplicates nothing either.
    import_job_start(job=resumed)
    again = ImportJob.objects.get(pk=job.pk)
    assert (again.created_count, again.unchanged_count) == (0, rows)
    assert Customer.objects.count() == rows


@pytest.mark.postgres_only
def test_a_long_merge_keeps_reporting_that_the_job_is_alive(transactional_db, monkeypatch):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: the heartbeat thread writes through its own connection")
    from customers.importing import pipeline

    beats = []
    original = pipeline.merge_customers

    def slow_merge(*args, **kwargs):
        before = ImportJob.objects.get(pk=job.pk).heartbeat_at
        time.sleep(0.5)
        beats.append((before, ImportJob.objects.get(pk=job.pk).heartbeat_at))
        return original(*args, **kwargs)

    monkeypatch.setattr(pipeline, "merge_customers", slow_merge)
    monkeypatch.setattr(settings, "IMPORT_HEARTBEAT_SECONDS", 0.1)
    Customer.objects.create(external_id="X1")  # not a first load: staged and merged
    job = import_job_create(
        kind="customers", file=SimpleUploadedFile("h.csv", _customers_csv(5)), created_by=None
    )
    import_job_start(job=job)

    job.refresh_from_db()
    assert job.state == "succeeded"
    ((before, during),) = beats
    assert during > before  # the heartbeat moved while the merge was running


@pytest.mark.postgres_only
def test_a_long_first_load_keeps_reporting_progress_and_that_the_job_is_alive(
    transactional_db, monkeypatch
):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: the progress thread writes through its own connection")
    from customers.importing import direct

    seen = []
    original = direct._copy

    def slow_copy(*args, **kwargs):
        time.sleep(0.3)
        seen.append(ImportJob.objects.values_list("heartbeat_at", "rows_processed").get(pk=job.pk))
        return original(*args, **kwargs)

    monkeypatch.setattr(direct, "_copy", slow_copy)
    monkeypatch.setattr(settings, "IMPORT_HEARTBEAT_SECONDS", 0.1)
    monkeypatch.setattr(settings, "IMPORT_BATCH_ROWS", 2)
    job = import_job_create(
        kind="customers", file=SimpleUploadedFile("h.csv", _customers_csv(6)), created_by=None
    )
    import_job_start(job=job)

    job.refresh_from_db()
    assert_reconciles(job)
    assert "load" in job.timings  # the direct path, not the staged merge
    assert job.created_count == 6
    assert len({beat for beat, _rows in seen}) > 1  # the heartbeat moved during the load
    assert max(rows for _beat, rows in seen) >= 4  # progress was visible before the commit
