"""Benchmark suite (run by hand, against PostgreSQL): import speed against raw COPY.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/retention_bench \
        .venv/bin/python bench/run.py --customers 1000000 --purchases 10000000

Scenarios, all in one run on the same files:
- raw COPY of customers.csv into a bare table (same columns as the file, text, no indexes);
- import of customers.csv through the real pipeline (child process; its peak RSS is read);
- PostgreSQL's part of that import alone: the rows the import stored, already normalised, COPYed
  the way the import COPYs them (same bulk load, columns and defaults) and its indexes built,
  in a transaction that is then rolled back (from the second pair on, with the first import's
  rows): what the import would take if reading, normalising and encoding cost nothing
  (informative; the target compares the whole import);
- re-import of the same customers file (must change nothing);
- raw COPY of purchases.csv into a bare table plus customer-id resolution (a join to customers);
- import of purchases.csv through the real pipeline.
The raw COPY and the first import of customers.csv run ``--repeat`` times in turn (tables
emptied before each pair, a checkpoint before each of the two, so that neither pays for writing
out the other's data) and the medians are compared: a shared 2-core machine varies by a fifth
from one minute to the next, and a pair measured together sees the same conditions.
Prints a table and writes bench/results/import-<timestamp>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

# Not the bench folder itself on the import path: a script there named like a standard module
# (a bench script named like a stdlib module) would shadow it. Import the helper as part of the project instead.
_BENCH = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _BENCH]
sys.path.insert(0, str(_BENCH.parent))

from bench import _django  # noqa: E402

_django.setup()

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.utils import timezone  # noqa: E402

from customers.demo_data import generate  # noqa: E402
from customers.importing import direct, merge  # noqa: E402
from customers.models import Customer, ImportJob  # noqa: E402

HERE = Path(__file__).resolve().parent


def _run_child(args: list[str]) -> tuple[dict, float]:
    """Run bench/import_one.py; return its JSON and its peak RSS in MB."""
    process = subprocess.Popen(
        [sys.executable, str(HERE / "import_one.py"), *args],
        stdout=subprocess.PIPE,
        env=os.environ.copy(),
    )
    output = process.stdout.read()
    _pid, status, usage = os.wait4(process.pid, 0)
    if status != 0:
        raise SystemExit(f"import child failed ({status}): {output.decode(errors='replace')}")
    return json.loads(output.decode().strip().splitlines()[-1]), usage.ru_maxrss / 1024


def _copy_file(table: str, path: Path, columns: int) -> float:
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {table}")
        cursor.execute(f"CREATE TABLE {table} ({', '.join(f'c{i} text' for i in range(columns))})")
    started = time.perf_counter()
    with (
        connection.cursor() as cursor,
        path.open("rb") as handle,
        cursor.cursor.copy(f"COPY {table} FROM STDIN (FORMAT csv, HEADER true)") as copy,
    ):
        while chunk := handle.read(1 << 20):
            copy.write(chunk)
    return time.perf_counter() - started


class _StoredRows:
    """The customer rows an import stored, written out as its first load COPYs them, to time
    PostgreSQL's part of that load alone (the bench reaches into the load's own helpers so
    that the columns, the column defaults and the bulk load are exactly the import's)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        job = ImportJob.objects.latest("pk")
        rows = direct._CustomerRows(
            job.source,
            job.match_by,
            settings.DEFAULT_PHONE_REGION,
            timezone.now().isoformat(),
            set(job.mapping.values()),
        )
        self.constants = rows.constants
        self.columns = ["id", *(c for c in rows.columns if c not in rows.constants)]
        table = Customer._meta.db_table
        listed = ", ".join(self.columns)
        self.format = direct.copy_encoder(table, self.columns)[1]  # the import's COPY format
        with (
            connection.cursor() as cursor,
            path.open("wb") as handle,
            cursor.cursor.copy(
                f"COPY (SELECT {listed} FROM {table} WHERE source = %s ORDER BY id) "
                f"TO STDOUT (FORMAT {self.format})",
                [job.source],
            ) as copy,
        ):
            for data in copy:
                handle.write(data)
        self.rows = job.created_count

    def load(self) -> float:
        """Seconds to store the rows as a first load does (COPY, then the indexes), rolled back."""
        table = Customer._meta.db_table
        sql = f"COPY {table} ({', '.join(self.columns)}) FROM STDIN (FORMAT {self.format})"
        with transaction.atomic():
            started = time.perf_counter()
            with (
                merge._bulk_load(table, self.rows, unique=True),
                direct._column_defaults(table, self.constants),
                connection.cursor() as cursor,
                self.path.open("rb") as handle,
                cursor.cursor.copy(sql) as copy,
            ):
                while chunk := handle.read(1 << 20):
                    copy.write(chunk)
            seconds = time.perf_counter() - started
            transaction.set_rollback(True)
        return seconds


def _checkpoint() -> None:
    """Write out what the last load left dirty, so that the next measured load does not."""
    with connection.cursor() as cursor:
        cursor.execute("CHECKPOINT")


def _empty_and_checkpoint() -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE customers_purchase, customers_customer, customers_importrowerror, "
            "customers_importjob CASCADE"
        )
    _checkpoint()


def _header_width(path: Path) -> int:
    with path.open(encoding="utf-8-sig") as handle:
        return handle.readline().count(",") + 1


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--purchases", type=int, default=10_000_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--data-dir", type=Path, default=Path("/tmp/retention-bench"))
    parser.add_argument(
        "--repeat",
        type=int,
        default=5,
        help="raw COPY / first customer import pairs to run (medians are reported)",
    )
    parser.add_argument(
        "--customers-only",
        action="store_true",
        help="time only the raw COPY and the first import of customers.csv (for iterating on "
        "the customer path; the files are still those of --customers/--purchases)",
    )
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        raise SystemExit(
            "Set DATABASE_URL to a PostgreSQL database; the benchmark compares with COPY."
        )

    call_command("migrate", verbosity=0)
    data_dir = args.data_dir / f"c{args.customers}-p{args.purchases}-s{args.seed}"
    manifest = data_dir / "manifest.json"
    if not manifest.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        files = generate(
            data_dir, customers=args.customers, purchases=args.purchases, seed=args.seed
        )
        manifest.write_text(
            json.dumps(
                {
                    "customers": str(files.customers),
                    "purchases": str(files.purchases),
                    "seconds": time.perf_counter() - started,
                }
            )
        )
    # Freshly written files (over a gigabyte) are still being written back to disk for a minute
    # or so, which would slow whatever is measured meanwhile: wait for that first.
    os.sync()
    paths = json.loads(manifest.read_text())
    customers_csv, purchases_csv = Path(paths["customers"]), Path(paths["purchases"])

    results: dict = {"customers": args.customers, "purchases": args.purchases, "seed": args.seed}
    rows: list[tuple[str, float, str]] = []

    copies: list[float] = []
    imports: list[tuple[dict, float]] = []
    shares: list[float] = []
    stored: _StoredRows | None = None
    pairs = max(1, args.repeat)
    for pair in range(pairs):
        _empty_and_checkpoint()
        copies.append(
            _copy_file("bench_raw_customers", customers_csv, _header_width(customers_csv))
        )
        if stored is not None:  # from the second pair on: the first import's rows
            _checkpoint()
            shares.append(stored.load())
            # Rolled back, its rows are dead but still in the table's file, where the import's
            # index builds would have to read past them: start from an empty file again.
            _empty_and_checkpoint()
        else:
            # The COPY's WAL would otherwise bring on a checkpoint in the middle of the import.
            _checkpoint()
        imports.append(_run_child(["--kind", "customers", "--file", str(customers_csv)]))
        if stored is None and pair + 1 < pairs:
            stored = _StoredRows(data_dir / "customers.stored")
    if stored is not None:
        stored.path.unlink()
    copy_customers = statistics.median(copies)
    imported, rss = sorted(imports, key=lambda run: run[0]["timings"]["total"])[len(imports) // 2]
    runs = f"median of {len(copies)}" if len(copies) > 1 else "one run"
    rows.append(("raw COPY customers.csv (bare table)", copy_customers, runs))
    results["raw"] = {"copy_customers": copy_customers, "copy_customers_runs": copies}

    ratio = imported["timings"]["total"] / copy_customers
    rows.append(
        (
            "import customers",
            imported["timings"]["total"],
            f"{ratio:.2f}× COPY (target ≤ 3×), {runs}, peak RSS {rss:.0f} MB",
        )
    )
    if shares:
        share = statistics.median(shares)
        rows.append(
            (
                "  of which PostgreSQL's part alone",
                share,
                f"{share / copy_customers:.2f}× COPY: the import's rows COPYed and indexed, "
                f"no Python work (median of {len(shares)})",
            )
        )
        results["postgres_part_of_import_customers"] = {
            "seconds": share,
            "runs": shares,
            "ratio_to_copy": round(share / copy_customers, 2),
        }
    results["import_customers"] = {
        **imported,
        "peak_rss_mb": round(rss, 1),
        "ratio_to_copy": round(ratio, 2),
        "runs": [run["timings"]["total"] for run, _rss in imports],
        "ratio_per_run": [
            round(run["timings"]["total"] / copy, 2)
            for (run, _rss), copy in zip(imports, copies, strict=True)
        ],
    }

    if args.customers_only:
        _report(rows, results)
        return

    again, rss_again = _run_child(["--kind", "customers", "--file", str(customers_csv)])
    rows.append(
        (
            "re-import customers (no change)",
            again["timings"]["total"],
            f"unchanged {again['unchanged']:,}",
        )
    )
    results["reimport_customers"] = {**again, "peak_rss_mb": round(rss_again, 1)}

    copy_purchases = _copy_file("bench_raw_purchases", purchases_csv, _header_width(purchases_csv))
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_raw_purchases_resolved")
        cursor.execute(
            "CREATE TABLE bench_raw_purchases_resolved AS SELECT p.*, c.id AS customer_id FROM bench_raw_purchases p "
            "LEFT JOIN customers_customer c ON c.source = 'bench' AND c.external_id = p.c2"
        )
    resolve = time.perf_counter() - started
    baseline = copy_purchases + resolve
    rows.append(
        (
            "raw COPY purchases.csv + customer-id join",
            baseline,
            f"COPY {copy_purchases:.1f} s + join {resolve:.1f} s",
        )
    )

    _checkpoint()
    purchases, rss_p = _run_child(["--kind", "purchases", "--file", str(purchases_csv)])
    ratio_p = purchases["timings"]["total"] / baseline
    rows.append(
        (
            "import purchases",
            purchases["timings"]["total"],
            f"{ratio_p:.2f}× baseline (target ≤ 2×), peak RSS {rss_p:.0f} MB (target < 500)",
        )
    )
    results["import_purchases"] = {
        **purchases,
        "peak_rss_mb": round(rss_p, 1),
        "ratio_to_baseline": round(ratio_p, 2),
    }
    results["raw"].update(
        {
            "copy_purchases": copy_purchases,
            "resolve_customers": resolve,
        }
    )

    _report(rows, results)


def _report(rows: list[tuple[str, float, str]], results: dict) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "DROP TABLE IF EXISTS bench_raw_customers, bench_raw_purchases, bench_raw_purchases_resolved"
        )

    width = max(len(r[0]) for r in rows)
    print(f"\n{'scenario'.ljust(width)}  {'seconds':>9}  notes")
    for name, seconds, note in rows:
        print(f"{name.ljust(width)}  {seconds:9.2f}  {note}")
    for scenario, outcome in results.items():
        if isinstance(outcome, dict) and "timings" in outcome:
            steps = ", ".join(f"{k} {v:.2f}" for k, v in sorted(outcome["timings"].items()))
            print(f"  {scenario}: {steps}")
    out = HERE / "results" / f"import-{datetime.now():%Y%m%d-%H%M%S}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2, ensure_ascii=False))
    print(f"\nwritten {out}")


if __name__ == "__main__":
    main()
