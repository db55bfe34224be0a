"""Benchmark: full RFM rescoring + segmentation, and re-segmentation of touched customers.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/retention_bench .venv/bin/python bench/segmentation.py

Run after bench/run.py has imported customers and purchases into that database. Compares, in the
same run, the product's full run (aggregate, edges, scores, segments, transitions) with a
hand-written SQL aggregate + NTILE over the same tables, then times a partial run over 10,000
customers who get a new purchase. Prints a table and writes bench/results/segmentation-*.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import time
from datetime import datetime
from pathlib import Path

import _django

_django.setup()

from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402

from customers.models import Customer, Purchase  # noqa: E402
from customers.services.segments import segmentation_run  # noqa: E402

HERE = Path(__file__).resolve().parent

HAND_WRITTEN = """
CREATE UNLOGGED TABLE bench_ntile AS
SELECT customer_id, recency_days, frequency, monetary,
       NTILE(5) OVER (ORDER BY recency_days DESC) AS r,
       NTILE(5) OVER (ORDER BY frequency) AS f,
       NTILE(5) OVER (ORDER BY monetary) AS m
FROM (
    SELECT customer_id,
           CURRENT_DATE - MAX(purchased_at)::date AS recency_days,
           COUNT(DISTINCT CASE WHEN order_id <> '' THEN order_id ELSE line_key END) AS frequency,
           SUM(amount) AS monetary
    FROM customers_purchase GROUP BY customer_id
) a
"""


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--touched", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        raise SystemExit("Set DATABASE_URL to the PostgreSQL benchmark database.")
    customers = Customer.objects.count()
    purchases = Purchase.objects.count()
    if not customers:
        raise SystemExit("No customers: run bench/run.py first.")

    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_ntile")
        started = time.perf_counter()
        cursor.execute(HAND_WRITTEN)
        baseline = time.perf_counter() - started
        cursor.execute("DROP TABLE bench_ntile")

    full = segmentation_run(cause="manual")
    full_seconds = full.timings["total"]
    again = segmentation_run(cause="manual")

    rng = random.Random(args.seed)
    ids = list(Customer.objects.values_list("id", flat=True)[: args.touched * 20])
    touched = sorted(rng.sample(ids, min(args.touched, len(ids))))
    now = timezone.now()
    Purchase.objects.bulk_create(
        Purchase(
            customer_id=cid,
            source="bench-touch",
            line_key=f"T{cid}-{now.timestamp()}",
            purchased_at=now - dt.timedelta(minutes=1),
            amount=5000,
        )
        for cid in touched
    )
    partial = segmentation_run(cause="touched", customer_ids=touched)

    rows = [
        ("hand-written SQL aggregate + NTILE", baseline, ""),
        (
            "full rescoring + segmentation",
            full_seconds,
            f"{full_seconds / baseline:.2f}× baseline (target ≤ 3×); moved {full.customers_moved:,}",
        ),
        (
            "full run again (nothing changed)",
            again.timings["total"],
            f"moved {again.customers_moved:,}",
        ),
        (
            f"re-segment {len(touched):,} touched customers",
            partial.timings["total"],
            f"target < 2 s; moved {partial.customers_moved:,}",
        ),
    ]
    width = max(len(r[0]) for r in rows)
    print(
        f"\ncustomers {customers:,}, purchases {purchases:,}\n{'scenario'.ljust(width)}  {'seconds':>9}  notes"
    )
    for name, seconds, note in rows:
        print(f"{name.ljust(width)}  {seconds:9.2f}  {note}")
    result = {
        "customers": customers,
        "purchases": purchases,
        "baseline_seconds": round(baseline, 3),
        "full": {
            "seconds": full_seconds,
            "timings": full.timings,
            "moved": full.customers_moved,
            "ratio": round(full_seconds / baseline, 2),
        },
        "full_again": {"seconds": again.timings["total"], "moved": again.customers_moved},
        "touched": {
            "customers": len(touched),
            "seconds": partial.timings["total"],
            "timings": partial.timings,
            "moved": partial.customers_moved,
        },
    }
    out = HERE / "results" / f"segmentation-{datetime.now():%Y%m%d-%H%M%S}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2, ensure_ascii=False))
    print(f"\nwritten {out}")


if __name__ == "__main__":
    main()
