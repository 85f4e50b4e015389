import math

import numpy as np
import pytest

from alignpt.law import SHARE_COUNT_RULE, LawData, LawPoint, share_or_count

SHARES = (0.0, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1)
TOKENS = (150_000, 300_000, 600_000)
N = 1_000_000


def _points(tokens=TOKENS, params=N, shares=SHARES):
    return [LawPoint(f"s{s:g}_t{t}_n{params}", s, t, params) for s in shares for t in tokens]


def _data(rho, b, *, sd=0.1, n_seeds=5, seed=0, points=None, bayes=None):
    """y = -1 + 0.2 ln(T/T0) - b ln(1 + s (T/T0)^rho / s0), s0 = 0.01, plus N(0, sd) per seed."""
    points = points or _points()
    s = np.array([p.share for p in points])
    t = np.array([p.tokens for p in points], dtype=float)
    t0 = math.exp(np.mean(np.log(TOKENS)))
    mu = -1.0 + 0.2 * np.log(t / t0) - b * np.log1p(s * (t / t0) ** rho / 0.01)
    y = mu[:, None] + np.random.default_rng(seed).normal(0.0, sd, (len(points), n_seeds))
    return LawData(points, list(range(n_seeds)), y, np.full(len(points), np.nan) if bayes is None else bayes)


# With 5 seeds at sd 0.1 the 90% interval for rho is about +-0.1 wide (measured over 10 draws:
# widest [-0.23, 0.17] for rho = 0 and [0.75, 1.12] for rho = 1), far inside the 0.5 margins.
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_share_data_give_share(seed):
    out = share_or_count(_data(0.0, 0.8, seed=seed), n_boot=200, seed=seed)
    assert out["verdict"] == "share", out
    lo, hi = out["ci"]
    assert lo <= out["rho"] <= hi and abs(out["rho"]) < 0.3
    assert out["level"] == pytest.approx(0.90) and out["n_points"] == 15 and out["params"] == N
    assert out["b"] == pytest.approx(0.8, abs=0.2) and out["rule"] == SHARE_COUNT_RULE


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_count_data_give_count(seed):
    out = share_or_count(_data(1.0, 0.8, seed=seed), n_boot=200, seed=seed)
    assert out["verdict"] == "count", out
    assert abs(out["rho"] - 1.0) < 0.3


def test_pure_noise_is_inconclusive():
    # b = 0: rho is not identified, so the bootstrap spreads over its whole range.
    out = share_or_count(_data(0.0, 0.0, seed=4), n_boot=100, seed=0)
    assert out["verdict"] == "inconclusive"
    lo, hi = out["ci"]
    assert hi - lo > 1.0


def test_exact_bayes_that_depends_on_share_only_gives_rho_zero():
    points = _points()
    s = np.array([p.share for p in points])
    # A posterior-like response: the same function of the share at every token count.
    p = 0.3 / (1.0 + 40.0 * s)
    out = share_or_count(_data(1.0, 0.8, seed=0, bayes=np.log(p / (1 - p))), n_boot=20)
    assert out["rho_bayes"] == pytest.approx(0.0, abs=1e-4)
    assert out["verdict_bayes"] == "share"
    assert out["verdict"] == "count"        # the trained models (here: count data) are judged apart


def test_exact_count_bayes_gives_rho_one():
    points = _points()
    s = np.array([p.share for p in points])
    t = np.array([p.tokens for p in points], dtype=float)
    t0 = math.exp(np.mean(np.log(TOKENS)))
    bayes = -1.0 - 0.7 * np.log1p(s * t / t0 / 0.02)
    out = share_or_count(_data(0.0, 0.8, bayes=bayes), n_boot=0)
    assert out["rho_bayes"] == pytest.approx(1.0, abs=1e-6) and out["verdict_bayes"] == "count"
    assert out["ci"] is None and out["verdict"] == "inconclusive"   # no replicates, no interval


def test_one_tokens_value_is_not_testable():
    out = share_or_count(_data(0.0, 0.8, points=_points(tokens=(300_000,))), n_boot=10)
    assert out["verdict"] == "not testable" and out["rho"] is None
    assert "2 distinct tokens values" in out["reason"] and "got 1 tokens values" in out["reason"]


def test_points_without_a_baseline_are_not_used():
    points = [p for p in _points() if not (p.share == 0.0 and p.tokens != 300_000)]
    out = share_or_count(_data(0.0, 0.8, points=points), n_boot=10)
    assert out["verdict"] == "not testable" and "got 1 tokens values" in out["reason"]


def test_default_size_is_the_most_common_one_and_can_be_chosen():
    points = _points() + _points(tokens=(150_000, 600_000), params=50_000, shares=(0.0, 0.01, 0.1))
    data = _data(0.0, 0.8, points=points, seed=3)
    assert share_or_count(data, n_boot=10)["params"] == N
    small = share_or_count(data, n_boot=10, params=50_000)
    assert small["params"] == 50_000 and small["n_points"] == 4


def test_missing_seed_runs_are_ignored():
    data = _data(1.0, 0.8, seed=1)
    data.y[4, 2] = np.nan        # one run missing
    data.y[7, :] = np.nan        # one configuration with no run at all
    out = share_or_count(data, n_boot=100, seed=1)
    assert out["n_points"] == 14 and out["verdict"] == "count"
