import math

import numpy as np
import pytest

from alignpt.law import FORMS, fit_form
from alignpt.law.forms import active_params, geometric_scales
from tests.law import TRUTH, design_arrays, design_points, truth_mean

# Noisy recovery tolerances: the data are point means of 5 seeds with per-seed sd 0.1 (sd 0.045 per
# mean). Over 300 Monte-Carlo draws of this design the estimates' sd was about a 0.015, alpha 0.02,
# beta 0.012, b 0.03 (saturating) / 0.23 (linear, b=15), log_s0/log_n0 0.10. The tolerances are
# ~4 of those sds, so a correct fit fails one of the 5 fixed seeds below with probability < 1e-3,
# while a wrong scale (e.g. a ln 10 shift in log_s0 or b off by a quarter) fails.
TOLERANCE = {"a": 0.06, "alpha": 0.08, "beta": 0.05, "b": 0.13, "log_s0": 0.4, "log_n0": 0.4}
TOLERANCE_LINEAR_B = 0.9


@pytest.mark.parametrize("form", list(FORMS))
def test_noise_free_data_recover_parameters_exactly(form):
    points = design_points()
    share, tokens, params = design_arrays(points)
    fit = fit_form(form, share, tokens, params, truth_mean(form, points))
    assert fit.converged and fit.n == 30 and fit.active == FORMS[form].params
    for name, value in TRUTH[form].items():
        assert fit.theta[name] == pytest.approx(value, abs=1e-6), name
    assert fit.rss < 1e-20


@pytest.mark.parametrize("form", list(FORMS))
@pytest.mark.parametrize("seed", range(5))
def test_noisy_means_recover_parameters_within_tolerance(form, seed):
    points = design_points()
    share, tokens, params = design_arrays(points)
    y = truth_mean(form, points) + np.random.default_rng([seed, 3]).normal(0, 0.1 / math.sqrt(5), len(points))
    fit = fit_form(form, share, tokens, params, y)
    for name, value in TRUTH[form].items():
        tol = TOLERANCE_LINEAR_B if (form, name) == ("share_linear", "b") else TOLERANCE[name]
        assert abs(fit.theta[name] - value) < tol, (name, fit.theta[name], value)


def test_predict_matches_the_formula_by_hand():
    scales = {"T0": 1000.0, "N0": 50.0}
    th = {"a": 0.5, "alpha": 0.1, "beta": -0.2, "b": 2.0, "log_s0": math.log(0.02)}
    got = FORMS["share_saturating"].predict(th, 0.02, 2000, 25, scales)
    assert got == pytest.approx(0.5 + 0.1 * math.log(2) - 0.2 * math.log(0.5) - 2.0 * math.log(2), abs=1e-14)
    thc = {"a": 0.5, "alpha": 0.0, "beta": 0.0, "b": 1.0, "log_n0": math.log(10.0)}
    assert FORMS["count_saturating"].predict(thc, 0.01, 3000, 50, scales) == pytest.approx(
        0.5 - math.log(4.0), abs=1e-14)   # count = 30 = 3 * n0, so -ln(1 + 3)
    thl = [0.5, 0.0, 0.0, 3.0]          # a sequence in params order works too
    assert FORMS["share_linear"].predict(thl, 0.1, 1000, 50, scales) == pytest.approx(0.2, abs=1e-14)


@pytest.mark.parametrize("form", list(FORMS))
def test_baselines_predict_the_intercept_plus_size_terms(form):
    scales = {"T0": 100.0, "N0": 10.0}
    th = dict(TRUTH[form])
    got = FORMS[form].predict(th, 0.0, 100.0 * math.e, 10.0, scales)
    assert got == pytest.approx(th["a"] + th["alpha"], abs=1e-14)


def test_scales_are_geometric_means_and_constant_terms_are_dropped():
    assert geometric_scales([10, 1000], [4, 4]) == {"T0": pytest.approx(100.0), "N0": pytest.approx(4.0)}
    points = [p for p in design_points() if p.params == 1_000_000 and p.tokens == 300_000]
    share, tokens, params = design_arrays(points)
    assert active_params(FORMS["share_saturating"], tokens, params) == ("a", "b", "log_s0")
    fit = fit_form("share_saturating", share, tokens, params, truth_mean("share_saturating", points))
    assert fit.theta["alpha"] == 0.0 and fit.theta["beta"] == 0.0 and fit.n_params == 3
    # With T and N fixed at their own scales, the fitted curve is the true dose response exactly.
    assert fit.theta["b"] == pytest.approx(0.8, abs=1e-6)
    assert fit.theta["log_s0"] == pytest.approx(math.log(0.01), abs=1e-6)


def test_too_few_points_names_what_is_missing():
    with pytest.raises(ValueError, match=r"share_saturating has 3 free parameters .* needs at least 4 points"):
        fit_form("share_saturating", [0, 0.01, 0.1], [1, 1, 1], [1, 1, 1], [0.0, -1.0, -2.0])


def test_saturating_form_needs_two_positive_doses():
    with pytest.raises(ValueError, match="at least 2 distinct positive share"):
        fit_form("share_saturating", [0, 0, 0.1, 0.1, 0.1], [1] * 5, [1] * 5, [0, 0.1, -1, -1.1, -0.9])


def test_non_finite_means_are_rejected():
    with pytest.raises(ValueError, match="non-finite"):
        fit_form("share_linear", [0, 0.1, 0.2], [1] * 3, [1] * 3, [0.0, np.nan, 1.0])
