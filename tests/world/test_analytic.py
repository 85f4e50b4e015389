"""Closed forms: half-lives, odds, and the discussion's example posterior numbers."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from alignpt.core.errors import ConfigError
from alignpt.world.analytic import (bare_curve, bare_p_defect, bare_posterior, bare_recipe,
                                    half_life, odds_factor_of_defection, opportunities_to_cut)
from alignpt.world.bayes import ExactBayes
from alignpt.world.vocab import C, D, T, U, context_tokens

from .conftest import EXAMPLE_PRIOR


@pytest.mark.parametrize("p, expected", [(0.01, 68.97), (0.05, 13.51), (0.1, 6.58)])
def test_half_lives(p, expected):
    assert round(half_life(p), 2) == expected
    assert half_life(p) == pytest.approx(math.log(2) / -math.log1p(-p), rel=1e-15)


def test_half_life_with_luigi_errors_and_odds_arithmetic():
    assert half_life(0.01, 0.001) == pytest.approx(math.log(2) / -math.log(0.99 / 0.999), rel=1e-15)
    assert round(half_life(0.01, 0.001), 2) == 76.59
    assert opportunities_to_cut(1e3, 0.01) == pytest.approx(687.3158648, rel=1e-9)
    assert int(opportunities_to_cut(1e3, 0.01)) == 687
    assert opportunities_to_cut(2.0, 0.05) == pytest.approx(half_life(0.05), rel=1e-15)
    assert odds_factor_of_defection(0.01, 0.001) == pytest.approx(10.0)
    assert odds_factor_of_defection(0.05, 0.0) == math.inf


@pytest.mark.parametrize("p, eps", [(0.01, 0.01), (0.001, 0.01), (1.0, 0.0), (-0.1, 0.0)])
def test_half_life_rejects_meaningless_parameters(p, eps):
    with pytest.raises(ConfigError):
        half_life(p, eps)


def test_example_posterior_numbers():
    """theory.md: P(D|U) = 0.110 before evidence, ~0.125 after 80 clean tested,
    ~0.0096 after 8 clean untested."""
    assert bare_p_defect(EXAMPLE_PRIOR, "", untested=True) == pytest.approx(0.11, abs=1e-15)
    after_t = bare_p_defect(EXAMPLE_PRIOR, "T:C*80", untested=True)
    after_u = bare_p_defect(EXAMPLE_PRIOR, "U:C*8", untested=True)
    assert round(after_t, 3) == 0.125 and round(after_u, 4) == 0.0096
    # the same numbers by hand
    wr_t = 0.2 * 0.95 ** 80
    assert after_t == pytest.approx((wr_t * 0.05 + 0.2 * 0.5) / (0.6 + wr_t + 0.2), rel=1e-12)
    wr_u, wc_u = 0.2 * 0.95 ** 8, 0.2 * 0.5 ** 8
    assert after_u == pytest.approx((wr_u * 0.05 + wc_u * 0.5) / (0.6 + wr_u + wc_u), rel=1e-12)


def test_exact_bayes_in_bare_mode_reproduces_the_example():
    bayes = ExactBayes(bare_recipe(EXAMPLE_PRIOR))
    probs = bayes.predictive([context_tokens(h) for h in ("U", "T:C*80,U", "U:C*8,U")])
    q = probs[:, D] / (probs[:, C] + probs[:, D])
    np.testing.assert_allclose(q, [0.11, bare_p_defect(EXAMPLE_PRIOR, "T:C*80"),
                                   bare_p_defect(EXAMPLE_PRIOR, "U:C*8")], rtol=1e-12)
    assert q[1] > q[0] > q[2]           # tested evidence raises P(D|U); untested lowers it


PRIOR_RICH = ("luigi(eps=0.01)=0.4,random(p=0.1)=0.15,clever(d=0.6)=0.15,"
              "era_gated(d=0.5,e_star=4)=0.1,length_gated(d=0.8,n_star=5)=0.1,"
              "sticky(p=0.1,stick=0.7)=0.1")


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.booleans()), min_size=0, max_size=12),
       st.integers(0, 9), st.booleans())
def test_bare_world_matches_closed_form(history, era, next_untested):
    """Exact Bayes on bare_recipe == the closed-form bare posterior, for any history."""
    bayes = ExactBayes(bare_recipe(PRIOR_RICH, n_max=40))
    hist = [(u, D if d else C) for u, d in history]
    post = bayes.posterior([context_tokens(hist, era=era)]).by_persona()
    closed = bare_posterior(PRIOR_RICH, hist, era=era)
    for name, mass in closed.items():
        assert post[name][0] == pytest.approx(mass, rel=1e-10, abs=1e-14)
    probs = bayes.predictive([context_tokens(hist + [(next_untested, None)], era=era)])[0]
    assert probs[D] == pytest.approx(bare_p_defect(PRIOR_RICH, hist, next_untested, era),
                                     rel=1e-10, abs=1e-14)
    # flags carry no evidence in bare mode: T and U next are 1/2 each before the end
    between = bayes.predictive([context_tokens(hist, era=era)])[0]
    assert between[T] == pytest.approx(0.5) and between[U] == pytest.approx(0.5)


def test_bare_curve_matches_pointwise_values():
    curve = bare_curve(EXAMPLE_PRIOR, 80)
    for k in (0, 1, 17, 80):
        assert curve["T:p_defect_U"][k] == pytest.approx(bare_p_defect(EXAMPLE_PRIOR, f"T:C*{k}" if k else ""), rel=1e-12)
        assert curve["U:p_defect_U"][k] == pytest.approx(bare_p_defect(EXAMPLE_PRIOR, f"U:C*{k}" if k else ""), rel=1e-12)
        assert curve["U:p_defect_T"][k] == pytest.approx(
            bare_p_defect(EXAMPLE_PRIOR, f"U:C*{k}" if k else "", untested=False), rel=1e-12)
    assert curve["T:posterior"]["clever(d=0.5)"][80] == pytest.approx(
        bare_posterior(EXAMPLE_PRIOR, "T:C*80")["clever(d=0.5)"], rel=1e-12)


def test_bare_posterior_rejects_impossible_history():
    with pytest.raises(ConfigError, match="probability 0"):
        bare_posterior("luigi=1", "T:D")
