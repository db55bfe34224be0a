"""Confidence intervals for campaign lift. Pure functions, no Django.

Proportions (did a member buy again within the window?):
    Wilson score interval per group, and Newcombe's hybrid score interval for the difference of two
    independent proportions (Newcombe 1998, "Interval estimation for the difference between
    independent proportions", method 10). With Wilson limits (l1, u1) for p1 and (l2, u2) for p2
    and d = p1 − p2:
        lower = d − sqrt((p1 − l1)² + (u2 − p2)²)
        upper = d + sqrt((u1 − p1)² + (p2 − l2)²)
    Unlike the Wald interval it stays inside [−1, 1], has close to nominal coverage for small
    groups and rare events, and is defined when a group has 0 or all successes. It needs at least
    one member in each group; otherwise the lift is not measurable (None).

Means (revenue per member):
    Difference of means with Welch's standard error sqrt(s1²/n1 + s2²/n2) and the normal
    quantile (large samples); needs at least two members in each group.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

Z95 = 1.959963984540054  # the 97.5th percentile of the standard normal distribution


@dataclass(frozen=True)
class Interval:
    estimate: float
    lower: float
    upper: float


def wilson_interval(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for successes / n (n ≥ 1)."""
    if n <= 0:
        raise ValueError("n must be positive")
    p = successes / n
    z2 = z * z
    denominator = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def newcombe_difference(x1: int, n1: int, x2: int, n2: int, z: float = Z95) -> Interval | None:
    """p1 − p2 with Newcombe's hybrid score interval; None when a group is empty."""
    if n1 <= 0 or n2 <= 0:
        return None
    p1, p2 = x1 / n1, x2 / n2
    l1, u1 = wilson_interval(x1, n1, z)
    l2, u2 = wilson_interval(x2, n2, z)
    d = p1 - p2
    return Interval(
        estimate=d,
        lower=d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2),
        upper=d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2),
    )


def sample_variance(total: float, total_of_squares: float, n: int) -> float:
    """Unbiased variance from Σx and Σx² (n ≥ 2), clamped at 0 against rounding."""
    if n < 2:
        raise ValueError("n must be at least 2")
    return max(0.0, (total_of_squares - total * total / n) / (n - 1))


def welch_difference(
    sum1: float, sumsq1: float, n1: int, sum2: float, sumsq2: float, n2: int, z: float = Z95
) -> Interval | None:
    """mean1 − mean2 with a normal-approximation CI on Welch's standard error; None if n < 2."""
    if n1 < 2 or n2 < 2:
        return None
    d = sum1 / n1 - sum2 / n2
    se = math.sqrt(sample_variance(sum1, sumsq1, n1) / n1 + sample_variance(sum2, sumsq2, n2) / n2)
    return Interval(estimate=d, lower=d - z * se, upper=d + z * se)
