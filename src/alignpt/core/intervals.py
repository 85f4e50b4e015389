"""Intervals for proportions, shared by the tag evaluation and the experiment reports.

A count k of n (documents found, aligned documents removed, runs that adopted a
persona) is reported with its Wilson score interval, which stays inside [0, 1]
and behaves at k = 0 and k = n, where the normal approximation collapses.
"""

from __future__ import annotations

import math
from statistics import NormalDist
from typing import Any

__all__ = ["wilson_interval", "count_rate", "format_count_rate"]


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


def count_rate(k: int, n: int, digits: int | None = None) -> dict[str, Any]:
    """A count k of n as reports record it: ``{"k", "n", "rate", "ci_low", "ci_high"}``,
    the interval Wilson's at 95%; rate and bounds are ``None`` when n is 0, and rounded
    to ``digits`` when given.

    >>> count_rate(3, 4, digits=4)
    {'k': 3, 'n': 4, 'rate': 0.75, 'ci_low': 0.3006, 'ci_high': 0.9544}
    """
    ci = wilson_interval(k, n)
    values = (k / n, *ci) if ci is not None else (None, None, None)
    if digits is not None:
        values = tuple(None if v is None else round(v, digits) for v in values)
    return {"k": k, "n": n, "rate": values[0], "ci_low": values[1], "ci_high": values[2]}


def format_count_rate(r: dict[str, Any]) -> str:
    """One table cell for a :func:`count_rate` record: ``0.750 [0.301, 0.954] (3/4)``."""
    if r["rate"] is None:
        return "n/a"
    return f"{r['rate']:.3f} [{r['ci_low']:.3f}, {r['ci_high']:.3f}] ({r['k']}/{r['n']})"
