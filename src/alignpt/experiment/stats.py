"""Small-sample statistics for the experiment: Student's t, intervals that respect [0, 1], power.

numpy only (scipy is not a dependency). Student's t CDF goes through the regularized
incomplete beta function, evaluated by its continued fraction (Lentz's method); the
quantile inverts the CDF by bisection. Both are checked against closed forms in the tests
(df = 1 is Cauchy, df = 2 has an algebraic CDF).

Why t over seeds and not a bootstrap: the seed is the unit of replication, and a default
experiment has few of them. A bootstrap over n = 3 seeds has 10 distinct resamples and
its 95% percentile interval is the range of the data at best (it covers a normal mean
about 72% of the time); Student's t is exact for normal seed means at any n and is what a referee
expects for a paired design this small. Probe items within a seed are a fixed,
pre-registered set (the estimand is their average), so they are averaged within the seed
first and do not form a sampled level of their own.
"""

from __future__ import annotations

import math
from functools import lru_cache
from statistics import NormalDist

__all__ = ["t_cdf", "t_ppf", "logit_interval", "seeds_needed"]


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function (modified Lentz)."""
    tiny = 1e-300
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 500):
        m2 = 2 * m
        for num in (m * (b - m) * x / ((a + m2 - 1) * (a + m2)),
                    -(a + m) * (a + b + m) * x / ((a + m2) * (a + m2 + 1))):
            d = 1.0 + num * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + num / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < 1e-15:
            break
    return h


def _betainc(a: float, b: float, x: float) -> float:
    """Regularized incomplete beta I_x(a, b)."""
    if x <= 0:
        return 0.0
    if x >= 1:
        return 1.0
    lbt = (math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
           + a * math.log(x) + b * math.log1p(-x))
    # The fraction converges fast on one side of the mean; use the symmetry on the other.
    if x < (a + 1) / (a + b + 2):
        return math.exp(lbt) * _betacf(a, b, x) / a
    return 1.0 - math.exp(lbt) * _betacf(b, a, 1.0 - x) / b


def t_cdf(t: float, df: float) -> float:
    """P(T <= t) for Student's t with ``df`` degrees of freedom."""
    if math.isinf(t):
        return 1.0 if t > 0 else 0.0
    tail = 0.5 * _betainc(df / 2, 0.5, df / (df + t * t))
    return 1.0 - tail if t > 0 else tail


@lru_cache(maxsize=4096)
def t_ppf(p: float, df: float) -> float:
    """The t quantile: the ``t`` with ``t_cdf(t, df) == p`` (cached: a report asks for
    the same few levels and degrees of freedom again and again)."""
    if not 0 < p < 1:
        raise ValueError(f"probability {p} outside (0, 1)")
    if p < 0.5:
        return -t_ppf(1 - p, df)
    lo, hi = 0.0, 1.0
    while t_cdf(hi, df) < p:
        hi *= 2
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if t_cdf(mid, df) < p:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-12 * max(1.0, hi):
            break
    return 0.5 * (lo + hi)


def logit_interval(mean: float, se: float, crit: float) -> tuple[float, float]:
    """An interval for a mean probability, built on the logit scale and mapped back.

    ``logit(mean) +- crit * se / (mean (1 - mean))`` (the delta method) always lies
    inside (0, 1) and always contains the mean. Exact 0 or 1 can only be the mean when
    every value is that bound (probabilities cannot average to 0 otherwise): the
    interval is then the point itself, [0, 0] or [1, 1], with no spread to estimate.
    """
    if mean <= 0 or mean >= 1 or se == 0:
        return mean, mean
    z = math.log(mean / (1 - mean))
    half = crit * se / (mean * (1 - mean))
    return 1 / (1 + math.exp(-(z - half))), 1 / (1 + math.exp(-(z + half)))


def seeds_needed(distance: float, sd: float, alpha: float, power: float = 0.8) -> int | None:
    """Paired seeds for the given ``power`` to reach a verdict, one-sided at ``alpha``.

    ``distance`` is how far the true effect sits from the margin that decides the test;
    the report uses the observed effect and the observed per-seed spread. Normal formula
    ``((z_{1-alpha} + z_power) sd / distance)^2`` plus Guenther's ``z_{1-alpha}^2 / 2``
    for estimating sd (close to the exact t answer from n = 3 up). None when the effect
    sits on the margin (no number of seeds decides it) or there is no spread.
    """
    if sd is None or not math.isfinite(sd) or distance == 0 or not math.isfinite(distance):
        return None
    if sd == 0:
        return 2
    z = NormalDist()
    za, zb = z.inv_cdf(1 - alpha), z.inv_cdf(power)
    n = ((za + zb) * sd / abs(distance)) ** 2 + za * za / 2
    return int(max(2, math.ceil(n)))
