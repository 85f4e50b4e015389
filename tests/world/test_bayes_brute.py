"""Exact Bayes against brute-force enumeration of every document of tiny worlds."""

from __future__ import annotations

import math

import numpy as np
import pytest

from alignpt.world.bayes import ExactBayes, stack_contexts
from alignpt.world.stream import parse_stream
from alignpt.world.recipe import WorldRecipe
from alignpt.world.vocab import BOS, EOS, VOCAB_SIZE, context_tokens

from .brute import brute_force

TINY = {"name": "tiny", "sources": {
    "a": {"share": 2, "header": {"none": 0.7, "STORY": 0.3}, "eras": {0: 0.6, 8: 0.4},
          "length": {"min": 1, "max": 3},
          "personas": {"luigi(eps=0.1)": 0.4, "random(p=0.3)": 0.2, "era_gated(d=0.6,e_star=7)": 0.2,
                       "length_gated(d=0.7,n_star=2)": 0.1, "sticky(p=0.2,stick=0.9)": 0.1},
          "regimes": {"test_only": 0.3, "deploy_only": 0.2, "switch": 0.3, "mixed(u=0.3)": 0.2}},
    "b": {"share": 1, "header": "STORY", "eras": [0, 8],
          "length": {"min": 2, "max": 3, "dist": "uniform"},
          "personas": {"luigi(eps=0.1)": 0.4, "clever(d=0.5)": 0.2, "sticky(p=0.2,stick=0.9)": 0.2,
                       "era_gated(d=0.6,e_star=7)": 0.1, "length_gated(d=0.7,n_star=2)": 0.1},
          "regimes": {"switch": 0.5, "mixed(u=0.6)": 0.5}, "exclude_defecting": True},
}}
# Zero probabilities everywhere: eps = 0, a persona that always defects when
# untested, a filtered source whose only regime is test-only.
HARSH = {"name": "harsh", "sources": {
    "a": {"share": 1, "eras": [3], "length": {"min": 1, "max": 3},
          "personas": {"luigi": 0.5, "clever(d=1)": 0.3, "sticky(p=0,stick=1)": 0.2},
          "regimes": {"deploy_only": 0.4, "switch": 0.6}},
    "b": {"share": 3, "header": "LOG", "eras": [3, 9], "length": 2,
          "personas": {"random(p=0.5)": 0.5, "luigi": 0.5},
          "regimes": {"test_only": 1.0}, "exclude_defecting": True},
}}


@pytest.fixture(scope="module", params=["tiny", "harsh"])
def world(request):
    recipe = WorldRecipe.model_validate(TINY if request.param == "tiny" else HARSH)
    return recipe, brute_force(recipe)


@pytest.mark.parametrize("grouped", [True, False])
def test_predictive_matches_enumeration(world, grouped):
    recipe, (prefix, latent, _, _) = world
    bayes = ExactBayes(recipe, grouped=grouped)
    assert bayes.kernel.grouped is grouped
    keys = list(prefix)
    probs = bayes.predictive([list(k) for k in keys])
    expected = np.zeros_like(probs)
    for i, k in enumerate(keys):
        if k[-1] == EOS:
            expected[i, BOS] = 1.0
        else:
            for x in range(VOCAB_SIZE):
                expected[i, x] = prefix.get(k + (x,), 0.0) / prefix[k]
    np.testing.assert_allclose(probs, expected, rtol=0, atol=1e-12)
    np.testing.assert_allclose(bayes.log_prob([list(k) for k in keys]),
                               [math.log(prefix[k]) for k in keys], rtol=0, atol=1e-11)


def test_posterior_matches_enumeration(world):
    recipe, (prefix, latent, _, _) = world
    bayes = ExactBayes(recipe)
    keys = list(prefix)
    post = bayes.posterior([list(k) for k in keys])
    labels = bayes.latents
    expected = np.array([[latent[k].get(z, 0.0) / prefix[k] for z in labels] for k in keys])
    np.testing.assert_allclose(post.weights, expected, rtol=0, atol=1e-12)


def test_document_shares_match_enumeration(world):
    recipe, (_, _, _, shares) = world
    bayes = ExactBayes(recipe)
    np.testing.assert_allclose(bayes.world.document_shares, [shares[s] for s in recipe.sources],
                               rtol=1e-12)


def test_switch_point_posterior_matches_enumeration(world):
    recipe, (prefix, _, taus, _) = world
    bayes = ExactBayes(recipe)
    labels = bayes.latents
    checked = 0
    for k, masses in taus.items():
        if len(k) < 3 or k[-1] == EOS:
            continue
        got = bayes.tau_posterior(list(k))
        for z, row in enumerate(got):
            for tau in range(row.size):
                want = masses.get((labels[z], tau), 0.0) / prefix[k]
                assert abs(row[tau] - want) < 1e-12
        checked += 1
    assert checked > 10


def test_impossible_contexts_are_nan_with_zero_evidence():
    bayes = ExactBayes(WorldRecipe.model_validate(HARSH))
    # a D under a tested flag in source a (luigi eps=0, clever only untested, sticky p=0)
    ctx = context_tokens("T:D", era=3)
    assert bayes.log_prob([ctx])[0] == -np.inf
    assert np.isnan(bayes.predictive([ctx])).all()
    assert np.isnan(bayes.posterior([ctx]).weights).all()


def test_grouped_path_falls_back_when_scaled_weights_underflow():
    """Latent X has a ~1e-300 prior but explains the actions; latent Y has all the
    prior but needs two eps=1e-300 errors. The grouped path's two rescalings
    underflow together, so those positions must be redone on the log path."""
    recipe = WorldRecipe.model_validate({"sources": {"s": {
        "share": 1, "length": 40, "eras": [0],
        "personas": {"random(p=0.5)": 1e-300, "luigi(eps=1e-300)": 1.0},
        "regimes": {"test_only": 1.0}}}})
    ctx = context_tokens("T:D*2,T:C*20,T", era=0)
    fast, slow = ExactBayes(recipe, grouped=True), ExactBayes(recipe, grouped=False)
    flat, starts, ends = stack_contexts([ctx])
    f = parse_stream(flat, starts, ends, complete=False)
    _, _, redo = fast.kernel.grouped_path(f, np.arange(2, len(f)), fast.kernel.channel_logs(f))
    assert redo.size > 20                      # the fallback really is exercised
    p_fast, p_slow = fast.predictive([ctx]), slow.predictive([ctx])
    np.testing.assert_allclose(p_fast, p_slow, rtol=1e-12, atol=0)
    # closed form: log weights log(1e-300) + 22 log 0.5 vs 2 log(1e-300) + 20 log(1 - 1e-300)
    lx = math.log(1e-300) + 22 * math.log(0.5)
    ly = 2 * math.log(1e-300)
    wx = 1.0 / (1.0 + math.exp(ly - lx))
    assert p_fast[0, 16] == pytest.approx(wx * 0.5 + (1 - wx) * 1e-300, rel=1e-12)


def test_document_length_limits():
    """At the longest length EOS is certain; a longer context has probability 0."""
    bayes = ExactBayes("base")
    at_max = bayes.predictive([context_tokens("T:C*120")])[0]
    assert at_max[EOS] == 1.0
    assert bayes.log_prob([context_tokens("T:C*120,T")])[0] == -np.inf
    # log-uniform lengths: the hazard of EOS after k = 4 is P(n=4) / P(n>=4) = P(n=4)
    p4 = math.log(5 / 4) / math.log(121 / 4)
    first = bayes.predictive([context_tokens("T:C*4")])[0]
    assert 0 < first[EOS] < 1
    single = ExactBayes(WorldRecipe.model_validate({"sources": {"s": {
        "share": 1, "length": {"min": 4, "max": 120}, "personas": {"luigi": 1},
        "regimes": {"test_only": 1}}}}))
    assert single.predictive([context_tokens("T:C*4")])[0][EOS] == pytest.approx(p4, rel=1e-12)
