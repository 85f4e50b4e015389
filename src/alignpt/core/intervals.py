"""Intervals for proportions, shared by the tag evaluation and the experiment reports.

A count k of n (documents found, aligned documents removed, runs that adopted a
persona) is reported with its Wilson score interval, which stays inside [0, 1]
and behaves at k = 0 and k = n, where the normal approximation collapses.
"""

from __future__ import annotations

import math
from statistics import NormalDist

__all__ = ["wilson_interval"]


def wilson_interval(k: int, n: int, level: float = 0.95) -> tuple[float, float] | None:
    """Wilson score interval of a proportion k / n (inside [0, 1] by construction)."""
    if n <= 0:
        return None
    z = NormalDist().inv_cdf(0.5 + level / 2)
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    # At k = 0 (k = n) the bound is 0 (1) exactly; rounding would leave ~1e-17 off it.
    lo = 0.0 if k == 0 else max(0.0, centre - half)
    hi = 1.0 if k == n else min(1.0, centre + half)
    return lo, hi
