"""Timing helpers shared by the bench scripts (no Django, no database)."""

from __future__ import annotations

import time


def step(label: str, started: float) -> float:
    """Print how long the step that began at ``started`` (a ``perf_counter``) took; return now."""
    now = time.perf_counter()
    print(f"  {label}: {now - started:.1f} s", flush=True)
    return now


def percentile(values: list[float], share: float) -> float:
    """The nearest-rank percentile (``share`` from 0 to 1) of ``values``."""
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(share * len(ordered) + 0.5) - 1))
    return ordered[index]
