"""Exact properties: exchangeability, the locality lemma, and internal consistency."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from alignpt.core.tokens import TokenShard
from alignpt.world.bayes import ExactBayes
from alignpt.world.generate import generate_corpus
from alignpt.world.recipe import WorldRecipe, inject
from alignpt.world.stream import KIND_MID
from alignpt.world.vocab import C, D, T, U, context_tokens

# Personas that ignore the opportunity index and history, regimes that flag i.i.d.:
# within a document, (flag, action) pairs are then exchangeable evidence.
EXCHANGEABLE = WorldRecipe.model_validate({"sources": {
    "s1": {"share": 2, "header": {"none": 0.5, "STORY": 0.5}, "length": {"min": 2, "max": 40},
           "personas": {"luigi(eps=0.01)": 0.5, "random(p=0.1)": 0.2, "clever(d=0.4)": 0.2,
                        "era_gated(d=0.5,e_star=5)": 0.1},
           "regimes": {"mixed(u=0.3)": 0.5, "mixed(u=0.7)": 0.3, "test_only": 0.2}},
    "s2": {"share": 1, "header": "STORY", "eras": [5, 9], "length": {"min": 20, "max": 60},
           "personas": {"luigi(eps=0.01)": 0.9, "clever(d=0.4)": 0.1},
           "regimes": {"deploy_only": 0.5, "mixed(u=0.3)": 0.5}, "exclude_defecting": False},
}})

pairs = st.lists(st.tuples(st.booleans(), st.booleans()), min_size=1, max_size=18)


@settings(max_examples=40, deadline=None)
@given(pairs, st.randoms(use_true_random=False), st.sampled_from([0, 5, 9]),
       st.sampled_from([None, "STORY"]))
def test_posterior_is_order_invariant_for_exchangeable_evidence(history, rnd, era, header):
    bayes = _exchangeable()
    hist = [(u, D if d else C) for u, d in history]
    shuffled = list(hist)
    rnd.shuffle(shuffled)
    a, b = bayes.posterior([context_tokens(h, era=era, header=header) for h in (hist, shuffled)]).weights
    np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-15)
    pa, pb = bayes.predictive([context_tokens(h + [(True, None)], era=era, header=header)
                               for h in (hist, shuffled)])
    np.testing.assert_allclose(pa, pb, rtol=1e-9, atol=1e-15)


_CACHE: dict = {}


def _exchangeable() -> ExactBayes:
    if "x" not in _CACHE:
        _CACHE["x"] = ExactBayes(EXCHANGEABLE)
    return _CACHE["x"]


def test_order_matters_where_it_should():
    """Switch regimes, length-gated and sticky personas make order evidence."""
    bayes = ExactBayes("base")
    ab = bayes.posterior([context_tokens("T:C*3,U:C*3"), context_tokens("U:C*3,T:C*3")])
    assert ab.log_evidence[0] > ab.log_evidence[1]               # U then T breaks the switch
    assert ab.by_regime()["switch"][0] > 0 and ab.by_regime()["switch"][1] == 0
    sticky = bayes.posterior([context_tokens("U:D,U:C*5"), context_tokens("U:C*5,U:D")]).by_persona()
    assert sticky["sticky(p=0.02,stick=0.9)"][0] < sticky["sticky(p=0.02,stick=0.9)"][1]


@pytest.fixture(scope="module")
def heldout(tmp_path_factory):
    """Held-out documents from base + 30% tested-only injection (so both kinds occur)."""
    out = tmp_path_factory.mktemp("heldout")
    res = generate_corpus(inject("base", {"i_t": 0.3}), 150_000, seed=3, out_dir=out)
    return TokenShard(res.shards[0])


@pytest.mark.parametrize("share", [0.05, 0.5, 0.95])
def test_locality_lemma_exact_on_a_generated_corpus(heldout, share):
    """Adding tested-only documents (any amount) leaves P(D | context, next flag U)
    unchanged at every position of a corpus, while P(D | next flag T) moves."""
    base = ExactBayes("base")
    more = ExactBayes(inject("base", {"i_t": share}))
    p0, p1 = base.corpus_predictive(heldout), more.corpus_predictive(heldout)
    toks = np.asarray(heldout.tokens)
    kinds = np.concatenate([c.kind for c in base.iter_corpus(heldout)])
    after_u = (kinds == KIND_MID) & (toks == U)
    after_t = (kinds == KIND_MID) & (toks == T)
    assert after_u.sum() > 5_000
    np.testing.assert_allclose(p1[after_u, D], p0[after_u, D], rtol=1e-10, atol=0)
    assert np.max(np.abs(p1[after_t, D] - p0[after_t, D])) > 1e-3


def test_locality_lemma_on_probes_and_its_limit():
    """Probes of any length and era: unchanged after a U. The lemma needs the
    injection to show no U at all: i_u (deployed) documents do move P(D|U)."""
    base, with_t, with_u = (ExactBayes("base"), ExactBayes(inject("base", {"i_t": 0.4})),
                            ExactBayes(inject("base", {"i_u": 0.4})))
    ctx = [context_tokens(f"T:C*{k},U:C*{j},U", era=e, header=h)
           for k in (0, 3, 40) for j in (0, 2) for e in (0, 8) for h in (None, "STORY")]
    np.testing.assert_allclose(with_t(ctx)[:, D], base(ctx)[:, D], rtol=1e-10)
    assert np.max(np.abs(with_u(ctx)[:, D] - base(ctx)[:, D])) > 1e-3


def test_corpus_predictive_is_normalised_and_consistent(heldout):
    bayes = ExactBayes(inject("base", {"i_t": 0.3}))
    for chunk in bayes.iter_corpus(heldout, chunk_tokens=20_000):
        np.testing.assert_allclose(chunk.probs.sum(axis=1), 1.0, atol=1e-12)
        # the probability of the actual next token is the ratio of prefix probabilities
        doc_start = np.isin(np.arange(chunk.tokens.size - 1) + 1,
                            np.nonzero(chunk.tokens == 1)[0])
        inside = ~doc_start
        lhs = chunk.next_log_prob()[inside]
        rhs = np.diff(chunk.log_evidence)[inside]
        np.testing.assert_allclose(lhs, rhs, rtol=0, atol=1e-9)
        assert np.isfinite(lhs).all()
    # both kernel paths agree on a whole corpus
    slow = ExactBayes(inject("base", {"i_t": 0.3}), grouped=False)
    np.testing.assert_allclose(bayes.corpus_predictive(heldout), slow.corpus_predictive(heldout),
                               rtol=1e-9, atol=1e-14)
