"""Helpers for tests that start a real Celery worker process on the test Redis broker."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def wait_for(predicate: Callable[[], Any], timeout: float, interval: float = 0.05) -> Any:
    """Poll ``predicate`` until it returns something truthy (returned), or fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("timed out")


def broker_reachable(url: str) -> bool:
    """True when a Redis broker answers at ``url``."""
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


def skip_without_postgres_and_broker(url: str) -> None:
    """Skip the test unless a worker process can share its database (PostgreSQL) and a Redis
    broker answers at ``url``."""
    import pytest
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: the worker process must see the test database")
    if not broker_reachable(url):
        pytest.skip(f"no Redis broker at {url}")


def worker_database_url() -> str:
    """The ``DATABASE_URL`` under which another process sees this run's test database."""
    from django.conf import settings

    db = settings.DATABASES["default"]
    return f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def subprocess_env(settings_module: str = "config.settings.test", **extra: str) -> dict[str, str]:
    """The environment for a process (a worker, a management command) on the test database."""
    from django.conf import settings

    return dict(
        os.environ,
        DJANGO_SETTINGS_MODULE=settings_module,
        DATABASE_URL=worker_database_url(),
        DJANGO_MEDIA_ROOT=str(settings.MEDIA_ROOT),
        **extra,
    )


def start_celery_worker(env: dict[str, str], queue: str | None = None) -> subprocess.Popen:
    """Start a real solo-pool Celery worker (on ``queue`` when given) and let this process's
    tasks go to the broker instead of running eagerly."""
    from config.celery_app import app as celery_app

    celery_app.conf.task_always_eager = False
    command = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "config",
        "worker",
        "--pool=solo",
        "--loglevel=WARNING",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
    ]
    if queue is not None:
        celery_app.conf.task_default_queue = queue
        command += ["-Q", queue]
    return subprocess.Popen(command, cwd=ROOT, env=env)


def stop_celery_worker(worker: subprocess.Popen) -> None:
    """Stop a worker from :func:`start_celery_worker` and run tasks eagerly again."""
    from config.celery_app import app as celery_app

    worker.send_signal(signal.SIGTERM)
    try:
        worker.wait(timeout=20)
    except subprocess.TimeoutExpired:
        worker.kill()
    celery_app.conf.task_always_eager = True
    celery_app.conf.task_default_queue = "celery"
