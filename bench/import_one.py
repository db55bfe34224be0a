"""Run one import through the real services in this process and print its job as JSON.

Used by bench/run.py in a child process so that the parent can read the child's peak memory.
"""

import argparse
import json
import sys
import time
from pathlib import Path

# Not the bench folder itself on the import path: a script there named like a standard module
# (a bench script named like a stdlib module) would shadow it. Import the helper as part of the project instead.
_BENCH = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _BENCH]
sys.path.insert(0, str(_BENCH.parent))

from bench import _django  # noqa: E402

_django.setup()

from django.core.files import File  # noqa: E402

from customers.services import imports  # noqa: E402
from customers.services.imports import (  # noqa: E402
    import_job_configure,
    import_job_create,
    import_job_run,
)

# An import queues follow-up tasks when it commits (re-segmentation, …); a worker runs them as
# tasks of their own, so they are no part of the import's time or memory. Eager Celery would
# run them in this process.
for _name in dir(imports):
    if _name.startswith("_enqueue_"):
        setattr(imports, _name, lambda *args, **kwargs: None)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--kind", required=True)
    parser.add_argument("--file", required=True, type=Path)
    parser.add_argument("--source", default="bench")
    parser.add_argument("--match-by", default="external_id")
    args = parser.parse_args()

    started = time.perf_counter()
    with args.file.open("rb") as handle:
        job = import_job_create(
            kind=args.kind,
            file=File(handle, name=args.file.name),
            created_by=None,
            source=args.source,
        )
    job = import_job_configure(job=job, mapping=job.mapping, match_by=args.match_by.split(","))
    job.state = "queued"
    job.save(update_fields=["state"])
    job = import_job_run(job_id=job.pk)
    elapsed = time.perf_counter() - started
    job.file.delete(save=False)  # the upload copy; the generated file stays
    print(
        json.dumps(
            {
                "job": job.pk,
                "state": job.state,
                "failure": job.failure,
                "rows_total": job.rows_total,
                "created": job.created_count,
                "updated": job.updated_count,
                "unchanged": job.unchanged_count,
                "errors": job.error_count,
                "timings": job.timings,
                "wall_seconds": round(elapsed, 3),
            }
        )
    )


if __name__ == "__main__":
    main()
