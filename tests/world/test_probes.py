"""Probes, implied posteriors and implied half-lives, with Bayes as the predictor."""

from __future__ import annotations

import math

import numpy as np
import pytest

from alignpt.core.errors import ConfigError
from alignpt.world.analytic import bare_posterior, bare_recipe, half_life
from alignpt.world.bayes import ExactBayes
from alignpt.world.probes import (action_probs, continuation_logprobs, fit_implied_posterior,
                                  implied_half_life, implied_posterior_3, probe_context,
                                  probe_curves, simplex_lstsq)
from alignpt.world.vocab import VOCAB_SIZE, context_tokens, decode

from .conftest import EXAMPLE_PRIOR


def test_probe_context_tokens():
    assert decode(probe_context(2, "T", "U", era=8, header="LOG")) == "BOS LOG ERA8 T C T C U"
    assert decode(probe_context(0, "U", "T")) == "BOS ERA0 T"
    with pytest.raises(ConfigError):
        probe_context(1, "X")


@pytest.mark.parametrize("eps", [0.0, 0.001])
def test_implied_posterior_3_recovers_bayes(eps):
    prior = f"luigi(eps={eps})=0.6,random(p=0.05)=0.2,clever(d=0.5)=0.2"
    bayes = ExactBayes(bare_recipe(prior))
    ks = [0, 5, 20, 80]
    curves = probe_curves(bayes, ks)
    for ev in ("T", "U"):
        implied = implied_posterior_3(curves[f"{ev}:q_T"], curves[f"{ev}:q_U"], eps, 0.05, 0.5)
        for i, k in enumerate(ks):
            exact = bare_posterior(prior, f"{ev}:C*{k}" if k else "")
            assert implied["luigi"][i] == pytest.approx(exact[f"luigi(eps={eps:g})"], abs=1e-12)
            assert implied["random"][i] == pytest.approx(exact["random(p=0.05)"], abs=1e-12)
            assert implied["clever"][i] == pytest.approx(exact["clever(d=0.5)"], abs=1e-12)


def test_implied_half_life_is_exact_for_bayes():
    """log(pi_random / pi_luigi) falls by -ln(1-p) per clean opportunity, so Bayes's
    implied half-life equals the analytic one (13.51 at p = 0.05, 68.97 at 0.01)."""
    for p in (0.05, 0.01):
        bayes = ExactBayes(bare_recipe(f"luigi=0.6,random(p={p})=0.2,clever(d=0.5)=0.2"))
        ks = np.arange(0, 200, 10)
        c = probe_curves(bayes, ks)
        pi = implied_posterior_3(c["T:q_T"], c["T:q_U"], 0.0, p, 0.5)
        assert implied_half_life(ks, pi["random"], pi["luigi"]) == pytest.approx(half_life(p), rel=1e-9)
        # under untested evidence the random Waluigi decays at the same rate against Luigi
        pu = implied_posterior_3(c["U:q_T"], c["U:q_U"], 0.0, p, 0.5)
        assert implied_half_life(ks, pu["random"], pu["luigi"]) == pytest.approx(half_life(p), rel=1e-6)
    # with tested evidence logit(pi_random) is exact too (Luigi + clever keep their ratio);
    # with untested evidence the clever Waluigi falls as well, and it is only approximate
    assert implied_half_life(ks, pi["random"]) == pytest.approx(half_life(0.01), rel=1e-9)
    approx = implied_half_life(ks, pu["random"])
    assert approx == pytest.approx(half_life(0.01), rel=0.3)
    assert abs(approx / half_life(0.01) - 1) > 1e-3
    assert implied_half_life([0, 1, 2], [0.1, 0.2, 0.3]) == math.inf


def test_fit_implied_posterior_recovers_bayes_with_four_personas():
    prior = "luigi(eps=0.001)=0.5,random(p=0.05)=0.2,clever(d=0.5)=0.2,sticky(p=0.02,stick=0.9)=0.1"
    bayes = ExactBayes(bare_recipe(prior, n_max=200))
    personas = ["luigi(eps=0.001)", "random(p=0.05)", "clever(d=0.5)", "sticky(p=0.02,stick=0.9)"]
    conts = ["U:C*1", "U:C*4", "T:C*4", "U:D", "T:D", "U:D,U:D", "T:D,T:D", "U:C,U:D"]
    for hist in ("", "T:C*30", "U:C*6", "U:C*3,T:D"):
        ctx = context_tokens(hist)
        fitted = fit_implied_posterior(bayes, ctx, personas, conts)
        exact = bare_posterior(prior, hist)
        for name in personas:
            assert fitted[name] == pytest.approx(exact[name], abs=1e-7), (hist, name)


def test_fit_implied_posterior_on_a_distorted_predictor_is_a_least_squares_optimum():
    bayes = ExactBayes(bare_recipe(EXAMPLE_PRIOR))

    def distorted(contexts):
        p = bayes(contexts).copy()
        p[:, 16] = np.sqrt(p[:, 16])            # over-predicts defection
        p[:, 15] = 1 - p[:, 16]
        return p

    personas = ["luigi(eps=0)", "random(p=0.05)", "clever(d=0.5)"]
    ctx = context_tokens("T:C*10")
    conts = ["U:C*1", "U:C*4", "T:C*4", "U:D", "T:D", "U:C,U:D"]
    fitted = fit_implied_posterior(distorted, ctx, personas, conts)
    pi = np.array([fitted[p] for p in personas])
    assert pi.min() >= 0 and pi.sum() == pytest.approx(1.0)
    logq = continuation_logprobs(distorted, ctx, conts)

    def loss(weights):
        from alignpt.world.probes import _persona_continuation_logp
        from alignpt.world.personas import parse_persona
        from alignpt.world.vocab import parse_history

        A = np.exp([[_persona_continuation_logp(parse_persona(p), ctx, parse_history(c))
                     for p in personas] for c in conts])
        return float(np.sum((logq - np.log(A @ weights)) ** 2))

    rng = np.random.default_rng(0)
    others = rng.dirichlet(np.ones(3), size=400)
    assert loss(pi) <= min(loss(w) for w in others) + 1e-12


def test_simplex_lstsq_handles_active_constraints():
    A = np.eye(3)
    # unconstrained optimum (1.2, -0.1, -0.1) is infeasible; the simplex optimum is (1, 0, 0)
    np.testing.assert_allclose(simplex_lstsq(A, np.array([1.2, -0.1, -0.1])), [1, 0, 0], atol=1e-12)
    np.testing.assert_allclose(simplex_lstsq(A, np.array([0.5, 0.3, 0.2])), [0.5, 0.3, 0.2], atol=1e-12)


def test_any_callable_is_a_predictor():
    uniform = lambda contexts: np.full((len(contexts), VOCAB_SIZE), 1.0 / VOCAB_SIZE)  # noqa: E731
    assert list(action_probs(uniform, [probe_context(3)])) == [0.5]
    c = probe_curves(uniform, [0, 4], support=ExactBayes("base"))
    assert np.all(c["T:q_U"] == 0.5) and np.all(np.isfinite(c["T:log_support"]))
