"""Synthetic designs shared by the law tests: known parameters, seeded noise."""

import numpy as np

from alignpt.law import FORMS, LawData, LawPoint
from alignpt.law.forms import geometric_scales

SHARES = (0.0, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1)
TOKENS = (150_000, 300_000, 600_000)
BASE_PARAMS = 1_000_000
EXTRA_PARAMS = (300_000, 3_000_000)   # two more sizes, all shares, at the middle token count

TRUTH = {
    "share_saturating": {"a": -1.0, "alpha": 0.2, "beta": -0.3, "b": 0.8, "log_s0": float(np.log(0.01))},
    "count_saturating": {"a": -1.0, "alpha": 0.2, "beta": -0.3, "b": 0.8, "log_n0": float(np.log(3000.0))},
    "share_linear": {"a": -1.0, "alpha": 0.2, "beta": -0.3, "b": 15.0},
}


def design_points() -> list[LawPoint]:
    """6 shares x 3 token counts at one size, plus 6 shares x 2 more sizes at 300k tokens (30 points)."""
    rows = [(s, t, BASE_PARAMS) for s in SHARES for t in TOKENS]
    rows += [(s, TOKENS[1], n) for s in SHARES for n in EXTRA_PARAMS]
    return [LawPoint(f"s{s:g}_t{t}_n{n}", s, t, n) for s, t, n in rows]


def design_arrays(points):
    share = np.array([p.share for p in points], dtype=float)
    tokens = np.array([p.tokens for p in points], dtype=float)
    params = np.array([p.params for p in points], dtype=float)
    return share, tokens, params


def truth_mean(form: str, points, theta=None) -> np.ndarray:
    share, tokens, params = design_arrays(points)
    return FORMS[form].predict(theta or TRUTH[form], share, tokens, params, geometric_scales(tokens, params))


def synthetic(form: str, *, sd: float = 0.1, n_seeds: int = 5, seed: int = 0, points=None) -> LawData:
    """Per-seed responses = the form's prediction + N(0, sd) noise per seed (logit scale)."""
    points = points or design_points()
    mu = truth_mean(form, points)
    y = mu[:, None] + np.random.default_rng(seed).normal(0.0, sd, (len(points), n_seeds))
    return LawData(points, list(range(n_seeds)), y, np.full(len(points), np.nan))
