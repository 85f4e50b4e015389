"""Does the share of injected documents matter, or their absolute count?

A nested form answers it with one parameter: the effective dose is s * (T/T0)^rho, so rho = 0 means
the share alone sets the effect (the same share at more tokens does the same thing) and rho = 1 means
the count s*T does (the same share at more tokens does more). The effect is measured against a
baseline at the same tokens and model size, per seed, so the size terms of the full law cancel:

    d = y(point) - y(baseline at the same T, N) = -b * ln(1 + s * (T/T0)^rho / s0)

The verdict is decided by a rule fixed in advance (SHARE_COUNT_RULE): rho's 90% interval from the
paired seed bootstrap is two one-sided tests at alpha = 0.05 each, against equivalence margins.
"""

from __future__ import annotations

import math
from collections import Counter

import numpy as np

from alignpt.core.errors import require
from alignpt.law.data import LawData

SHARE_COUNT_RULE = (
    "fit d = -b*ln(1 + s*(T/T0)^rho/s0) to the per-point mean differences from the baseline at the "
    "same tokens and size; rho's interval is the paired seed-bootstrap percentile interval at level "
    "1 - 2*alpha (two one-sided tests at alpha each); verdict \"share\" if it lies inside "
    "(-margin, margin), \"count\" if inside (1 - margin, 1 + margin), else \"inconclusive\"; the "
    "exact-Bayes values get the same rule on their point estimate."
)
RHO_BOUNDS = (-2.0, 3.0)    # wide enough to contain both hypotheses with room to say "neither"
_DECADES = 3.0
_GRID = (41, 21)            # (log_s0, rho) profile grid


def _fit_nested(share, tokens, d, t0):
    """Least-squares (b, log_s0, rho) for d = -b*ln(1 + s*(T/T0)^rho/s0); returns (b, log_s0, rho, ok)."""
    optimize = require("scipy.optimize", "train", "the share-or-count test")
    x = np.log(tokens / t0)
    reach = max(abs(RHO_BOUNDS[0]), abs(RHO_BOUNDS[1])) * float(np.max(np.abs(x)))
    lo = math.log(float(share.min())) - _DECADES * math.log(10.0) - reach
    hi = math.log(float(share.max())) + _DECADES * math.log(10.0) + reach
    log_k = np.linspace(lo, hi, _GRID[0])
    rho = np.linspace(RHO_BOUNDS[0], RHO_BOUNDS[1], _GRID[1])
    # For fixed (log_s0, rho) the model is linear in b: profile it out on the whole grid at once.
    eff = share[None, None, :] * np.exp(rho[None, :, None] * x[None, None, :])
    g = np.log1p(eff / np.exp(log_k)[:, None, None])
    gg = np.sum(g * g, axis=2)
    b = -np.sum(g * d, axis=2) / np.where(gg > 0, gg, 1.0)
    rss = np.sum((-b[..., None] * g - d) ** 2, axis=2)
    flat = np.argsort(rss, axis=None, kind="stable")
    first = np.unravel_index(flat[0], rss.shape)
    # A second start far in rho guards against a local optimum on the other hypothesis' side.
    far = next((np.unravel_index(f, rss.shape) for f in flat
                if abs(rho[np.unravel_index(f, rss.shape)[1]] - rho[first[1]]) >= 1.0), None)

    def residuals(v):
        return -v[0] * np.log1p(share * np.exp(v[2] * x - v[1])) - d

    def jacobian(v):
        e = share * np.exp(v[2] * x - v[1])
        w = v[0] * e / (1.0 + e)
        return np.column_stack([-np.log1p(e), w, -w * x])

    best = None
    for i, j in [first] + ([far] if far is not None else []):
        start = np.array([b[i, j], log_k[i], rho[j]])
        res = optimize.least_squares(residuals, start, jac=jacobian,
                                     bounds=([-np.inf, lo, RHO_BOUNDS[0]], [np.inf, hi, RHO_BOUNDS[1]]),
                                     xtol=1e-14, ftol=1e-14, gtol=1e-14, max_nfev=2000)
        cost = float(np.sum(res.fun ** 2))
        cand = (cost, res.x, res.status > 0) if cost <= rss[i, j] else (float(rss[i, j]), start, True)
        if best is None or cand[0] < best[0]:
            best = cand
    _, v, ok = best
    return float(v[0]), float(v[1]), float(v[2]), bool(ok and np.all(np.isfinite(v)))


def _verdict(lo: float, hi: float, margin: float) -> str:
    if -margin < lo and hi < margin:
        return "share"
    if 1.0 - margin < lo and hi < 1.0 + margin:
        return "count"
    return "inconclusive"


def _not_testable(reason: str, margin: float, alpha: float, n: int, params) -> dict:
    return {"rho": None, "ci": None, "level": 1.0 - 2.0 * alpha, "verdict": "not testable",
            "margin": margin, "alpha": alpha, "n_points": n, "rho_bayes": None,
            "verdict_bayes": "not testable", "b": None, "s0": None, "rule": SHARE_COUNT_RULE,
            "reason": reason, "params": params, "T0": None, "boot_failed": 0}


def share_or_count(data: LawData, *, margin: float = 0.5, alpha: float = 0.05, n_boot: int = 1000,
                   seed: int = 0, params: int | None = None) -> dict:
    """Test share against count on one model size (``params``; default the most common N among the
    injected points), schedule "throughout", held-out points excluded. Returns the verdict dict;
    verdict "not testable" (with ``reason``) when the design cannot separate the two."""
    if not 0.0 < alpha < 0.5:
        raise ValueError(f"alpha must be in (0, 0.5), got {alpha}")
    if margin <= 0:
        raise ValueError(f"margin must be > 0, got {margin}")
    usable = [i for i, p in enumerate(data.points) if p.schedule == "throughout" and not p.heldout]
    injected = [i for i in usable if data.points[i].share > 0]
    if params is None:
        if not injected:
            return _not_testable("no point with share > 0 on the 'throughout' schedule", margin, alpha, 0, None)
        params = Counter(data.points[i].params for i in injected).most_common(1)[0][0]
    params = int(params)
    bases = {(p.tokens, p.params): i for i, p in reversed(list(enumerate(data.points)))
             if p.share == 0.0 and i in usable}
    rows, base_rows = [], []
    for i in injected:
        p = data.points[i]
        j = bases.get((p.tokens, p.params))
        if p.params == params and j is not None:
            rows.append(i)
            base_rows.append(j)
    diff = data.y[rows] - data.y[base_rows]                 # per seed; NaN if either run is missing
    has = np.isfinite(diff).any(axis=1)
    rows = [r for r, h in zip(rows, has) if h]
    base_rows = [b for b, h in zip(base_rows, has) if h]
    diff = diff[has]
    share = np.array([data.points[i].share for i in rows], dtype=np.float64)
    tokens = np.array([data.points[i].tokens for i in rows], dtype=np.float64)
    n = len(rows)
    if np.unique(tokens).size < 2 or np.unique(share).size < 2 or n < 4:
        return _not_testable(
            f"needs >= 2 distinct tokens values and >= 2 distinct shares (share > 0, N = {params}, with a "
            f"baseline at the same tokens) and >= 4 such points; got {np.unique(tokens).size} tokens "
            f"values, {np.unique(share).size} shares, {n} points", margin, alpha, n, params)
    t0 = float(np.exp(np.mean(np.log(tokens))))
    b, log_s0, rho, _ = _fit_nested(share, tokens, np.nanmean(diff, axis=1), t0)

    rng = np.random.default_rng(seed)
    k = diff.shape[1]
    reps, failed = [], 0
    for _ in range(max(int(n_boot), 0)):
        cols = rng.integers(0, k, size=k)
        sample = diff[:, cols]
        ok = np.isfinite(sample).any(axis=1)
        if np.unique(tokens[ok]).size < 2 or np.unique(share[ok]).size < 2 or ok.sum() < 4:
            failed += 1
            continue
        with np.errstate(invalid="ignore"):
            m = np.nanmean(sample[ok], axis=1)
        _, _, r, converged = _fit_nested(share[ok], tokens[ok], m, t0)
        if not converged:
            failed += 1
            continue
        reps.append(r)
    if reps:
        lo, hi = (float(v) for v in np.quantile(reps, [alpha, 1.0 - alpha]))
        verdict = _verdict(lo, hi, margin)
        ci = [lo, hi]
    else:
        ci, verdict = None, "inconclusive"

    bayes_d = data.bayes[rows] - data.bayes[base_rows]
    fin = np.isfinite(bayes_d)
    rho_bayes, verdict_bayes = None, "not testable"
    if np.unique(tokens[fin]).size >= 2 and np.unique(share[fin]).size >= 2 and fin.sum() >= 4:
        _, _, rho_bayes, _ = _fit_nested(share[fin], tokens[fin], bayes_d[fin], t0)
        verdict_bayes = _verdict(rho_bayes, rho_bayes, margin)
    return {"rho": rho, "ci": ci, "level": 1.0 - 2.0 * alpha, "verdict": verdict, "margin": margin,
            "alpha": alpha, "n_points": n, "rho_bayes": rho_bayes, "verdict_bayes": verdict_bayes,
            "b": b, "s0": math.exp(log_s0), "rule": SHARE_COUNT_RULE,
            "reason": None if reps else "every bootstrap replicate failed", "params": params,
            "T0": t0, "boot_failed": failed}
