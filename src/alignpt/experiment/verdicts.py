"""Pre-registered tests and their verdicts: superiority, equivalence (TOST), Holm over the table.

A claim's measurement gives one number per seed (an arm-vs-arm difference paired by
seed, or a per-seed statistic); the recipe states the test before any run (see
:class:`alignpt.experiment.recipe.ClaimTest`). With ``d`` the effect and a one-sided
level ``alpha``:

* **superiority** ("d moves in *direction* by more than *margin*"): with ``s = +1``
  for increase, ``-1`` for decrease, H0 ``s d <= margin``. *supported*: the one-sided
  t-test rejects H0; *contradicted*: the mirror test rejects ``s d >= margin`` (the
  effect is smaller than the margin, or goes the other way). The two p-values sum to 1.
* **equivalence** ("|d| < margin", two one-sided tests): *supported* when both
  ``d <= -margin`` and ``d >= margin`` are rejected (p is the larger of the two);
  *contradicted* when one of ``d <= margin`` or ``d >= -margin`` is rejected (the
  effect lies beyond the margin). Again the two p-values sum to 1.

Both p-value families are Holm-adjusted across the measured claims of the table; a
verdict is *supported* or *contradicted* when its adjusted p is <= the claim's alpha,
*inconclusive* otherwise, *not measured* (with why) when the recipe lacks what the
measurement needs. Because the p-values of a claim sum to (at least) 1 and alpha <
1/2, a claim can never be both, and a claim and its negation (the mirrored test) can
never both be supported. The interval shown is the two-sided ``1 - 2 alpha`` t-interval,
whose ends are the one-sided bounds the tests use (unadjusted for Holm).
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import numpy as np

from alignpt.experiment.stats import seeds_needed, t_cdf, t_ppf

__all__ = ["VERDICTS", "paired_values", "run_test", "all_of", "holm", "finalize", "describe"]

VERDICTS = ("supported", "contradicted", "inconclusive", "not measured")


def _mean_item(v: Any) -> float | None:
    """A seed's value: a number, or the mean over the measurement's probe items."""
    if v is None:
        return None
    if isinstance(v, (list, tuple)):
        items = [x for x in v if x is not None and math.isfinite(x)]
        return float(np.mean(items)) if items else None
    return float(v) if math.isfinite(v) else None


def paired_values(a: Mapping[Any, Any], b: Mapping[Any, Any]) -> dict[str, float]:
    """Per-seed ``a - b`` over the seeds both arms have (items averaged within a seed)."""
    out = {}
    for seed in sorted(set(a) & set(b), key=str):
        x, y = _mean_item(a[seed]), _mean_item(b[seed])
        if x is not None and y is not None:
            out[str(seed)] = x - y
    return out


def describe(test: Mapping[str, Any], units: str = "") -> str:
    """The pre-registered test in words, e.g. ``equivalence |d| < 0.02, alpha 0.05``."""
    u = f" {units}" if units else ""
    if test["test"] == "equivalence":
        return f"equivalence (TOST): |d| < {test['margin']:g}{u}, alpha {test['alpha']:g}"
    op = ">" if test["direction"] == "increase" else "<"
    m = test["margin"] if test["direction"] == "increase" else -test["margin"]
    return f"superiority: d {op} {m:+g}{u}, alpha {test['alpha']:g}"


def _t(x: float, se: float) -> float:
    if se > 0:
        return x / se
    return 0.0 if x == 0 else math.copysign(math.inf, x)


def run_test(values: Mapping[str, float] | Sequence[float],
             test: Mapping[str, Any]) -> dict[str, Any]:
    """One pre-registered test on per-seed effects: the effect, its interval, both p-values."""
    seeds = list(values) if isinstance(values, Mapping) else list(range(len(values)))
    vals = np.array(list(values.values()) if isinstance(values, Mapping) else values, dtype=float)
    n, alpha, margin = int(vals.size), float(test["alpha"]), float(test["margin"])
    out: dict[str, Any] = {"estimate": float(vals.mean()) if n else None, "n": n,
                           "seeds": [str(s) for s in seeds], "values": vals.tolist(),
                           "ci_level": 1 - 2 * alpha, "ci_low": None, "ci_high": None,
                           "sd": None, "p": None, "p_against": None, "seeds_needed": None,
                           "seeds_for_margin": None}
    if n < 2:
        out["why"] = "fewer than two paired seeds: no spread to test against"
        return out
    mean, sd = float(vals.mean()), float(vals.std(ddof=1))
    se, df = sd / math.sqrt(n), n - 1
    half = t_ppf(1 - alpha, df) * se
    out.update(sd=sd, ci_low=mean - half, ci_high=mean + half)
    if test["test"] == "superiority":
        s = 1.0 if test["direction"] == "increase" else -1.0
        dist = s * mean - margin
        p = 1.0 - t_cdf(_t(dist, se), df)
    else:
        p_low = 1.0 - t_cdf(_t(mean + margin, se), df)      # H0: d <= -margin
        p_high = t_cdf(_t(mean - margin, se), df)           # H0: d >= +margin
        p = max(p_low, p_high)
        dist = margin - abs(mean)
    # Two readings of "seeds needed", both from the observed spread: to decide the test if
    # the observed effect were the truth, and to resolve the stated margin (an effect one
    # margin from the boundary; for equivalence, a true d = 0, each side at 90% so both
    # hold at about 80%).
    equiv = test["test"] == "equivalence"
    out.update(p=p, p_against=1.0 - p, seeds_needed=seeds_needed(dist, sd, alpha),
               seeds_for_margin=seeds_needed(margin, sd, alpha, 0.9 if equiv else 0.8))
    return out


def all_of(parts: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """A claim made of several tests that must all hold (A < B < C): intersection-union.

    Supported needs every part supported, so its p is the largest part's (valid
    without adjustment); contradicted needs any part contradicted, so its p is the
    smallest part's, Bonferroni-adjusted over the parts. The effect shown is the weakest
    part's (the one with the largest p); the seeds needed, the most any part needs."""
    if any(p["p"] is None for p in parts):
        return dict(next(p for p in parts if p["p"] is None))
    weakest = max(parts, key=lambda p: p["p"])
    out = {**weakest, "p": weakest["p"],
           "p_against": min(1.0, len(parts) * min(p["p_against"] for p in parts))}
    for key in ("seeds_needed", "seeds_for_margin"):
        needs = [p.get(key) for p in parts]
        out[key] = None if None in needs else max(needs)
    return out


def holm(ps: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values (same order as given)."""
    m = len(ps)
    order = sorted(range(m), key=lambda i: ps[i])
    adj, running = [0.0] * m, 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * ps[i]))
        adj[i] = running
    return adj


def finalize(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Holm-adjust both p families over the rows that were tested; set each verdict."""
    tested = [r for r in rows if (r.get("effect") or {}).get("p") is not None]
    for key in ("p", "p_against"):
        for r, adj in zip(tested, holm([r["effect"][key] for r in tested])):
            r["effect"][f"{key}_holm"] = adj
    for r in rows:
        e = r.get("effect") or {}
        if r.get("verdict") == "not measured":
            continue
        alpha = r["test"]["alpha"]
        if e.get("p") is None:
            r["verdict"], r["why"] = "inconclusive", e.get("why", "no test")
        elif e["p_holm"] <= alpha:
            r["verdict"] = "supported"
        elif e["p_against_holm"] <= alpha:
            r["verdict"] = "contradicted"
        else:
            r["verdict"] = "inconclusive"
    return rows
