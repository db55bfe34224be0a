"""Write demo / benchmark CSV files (customers.csv, purchases.csv) with customers.demo_data.

Run from the project root, e.g. the benchmark data set:

    .venv/bin/python bench/generate.py --customers 1000000 --purchases 10000000 --out /tmp/benchdata

Prints the paths, row counts, elapsed time and peak memory (RSS).
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from customers.demo_data import generate  # noqa: E402


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, required=True, help="distinct customers")
    parser.add_argument("--purchases", type=int, required=True, help="purchase lines (exact)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--out", type=Path, required=True, help="output folder (created)")
    parser.add_argument(
        "--encoding", default="utf-8", help="utf-8 (default), utf-8-sig (BOM) or cp932 (Shift_JIS)"
    )
    parser.add_argument(
        "--reference-date",
        type=date.fromisoformat,
        default=date(2026, 11, 1),
        help="purchases end the day before (YYYY-MM-DD, default 2026-11-01)",
    )
    parser.add_argument("--dirty", action="store_true", help="add ~1-2%% realistic mess")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Generate the files and report what was written."""
    args = _parser().parse_args(argv)
    started = time.perf_counter()
    try:
        files = generate(
            args.out,
            customers=args.customers,
            purchases=args.purchases,
            seed=args.seed,
            encoding=args.encoding,
            reference_date=args.reference_date,
            dirty=args.dirty,
        )
    except (ValueError, LookupError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    elapsed = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux
    print(f"customers: {files.customers} ({files.customers_rows:,} rows)")
    print(f"purchases: {files.purchases} ({files.purchases_rows:,} rows)")
    print(f"elapsed: {elapsed:.1f} s, peak RSS: {peak_mb:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
