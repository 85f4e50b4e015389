"""Held-out KL(exact Bayes || model): zero for Bayes itself, exact on a world solved by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from alignpt.experiment.kl import heldout_documents, heldout_kl, model_scorer, predictor_scorer
from alignpt.world import ExactBayes, WorldRecipe, filter_defecting
from alignpt.world.vocab import VOCAB_SIZE

#: One source, one header, one era, three opportunities, always tested, and a persona
#: that defects with probability 0.2 at every opportunity, whatever came before. Every
#: document is BOS STORY ERA0 (T a)x3 EOS, and Bayes has nothing to learn: its
#: prediction is a point mass at every position but the three actions, which are
#: (C 0.8, D 0.2). Per document: 2 start positions (after BOS, after the header),
#: 4 flag/EOS positions, 3 action positions (after EOS: the next document, not scored).
THETA = 0.2
SOLVED = WorldRecipe.model_validate({"sources": {"s": {
    "share": 1, "header": "STORY", "eras": [0], "length": 3,
    "personas": {f"random(p={THETA})": 1}, "regimes": {"test_only": 1}}}})


def mixed_with_uniform(predictor, w: float):
    """A predictor that is (1 - w) x ``predictor`` + w x uniform over the world vocabulary."""
    def predict(contexts):
        return (1 - w) * np.asarray(predictor(contexts)) + w / VOCAB_SIZE
    return predict


def test_bayes_against_itself_is_zero():
    """Bayes read prefix by prefix (the contexts path) against Bayes over whole documents
    (the corpus path): two code paths of one distribution, so KL 0 at every kind."""
    bayes = ExactBayes("base")
    out = heldout_kl(predictor_scorer(bayes), bayes, n_docs=40, seed=7)
    for kind in ("actions", "flags_eos", "start", "all"):
        assert out[kind]["n_positions"] > 0
        assert abs(out[kind]["mean"]) < 1e-12, (kind, out[kind])
    assert out["positions_past_context"] == 0 and out["off_support_positions"] == 0
    assert out["n_docs"] == 40 and out["seed"] == 7 and out["world"] == "base"


def test_mixture_with_uniform_matches_the_hand_computation():
    w = 0.3
    bayes = ExactBayes(SOLVED)
    out = heldout_kl(predictor_scorer(mixed_with_uniform(bayes, w)), bayes, n_docs=5, seed=1)
    u = w / VOCAB_SIZE
    point_mass = -math.log(1 - w + u)                   # p = 1 on one token
    action = ((1 - THETA) * math.log((1 - THETA) / ((1 - w) * (1 - THETA) + u))
              + THETA * math.log(THETA / ((1 - w) * THETA + u)))
    assert out["actions"]["mean"] == pytest.approx(action, rel=1e-12)
    assert out["flags_eos"]["mean"] == pytest.approx(point_mass, rel=1e-12)
    assert out["start"]["mean"] == pytest.approx(point_mass, rel=1e-12)
    assert out["all"]["mean"] == pytest.approx((3 * action + 6 * point_mass) / 9, rel=1e-12)
    assert [out[k]["n_positions"] for k in ("actions", "flags_eos", "start")] == [15, 20, 10]
    # Every document contributes the same KL: the standard error over documents is 0.
    assert out["actions"]["se"] == pytest.approx(0.0, abs=1e-15)


def test_positions_past_the_context_are_not_scored():
    """A context of 5 tokens reads BOS STORY ERA0 T a: positions 0-4 (2 start, 2 flag,
    1 action); positions 5-8 of each document lie past it and are counted, not scored."""
    w = 0.3
    bayes = ExactBayes(SOLVED)
    out = heldout_kl(predictor_scorer(mixed_with_uniform(bayes, w)), bayes, n_docs=4, seed=1,
                     max_len=5)
    assert [out[k]["n_positions"] for k in ("actions", "flags_eos", "start")] == [4, 8, 8]
    assert out["positions_past_context"] == 4 * 4
    assert out["flags_eos"]["mean"] == pytest.approx(-math.log(1 - w + w / VOCAB_SIZE), rel=1e-12)


def test_a_worse_predictor_has_larger_kl_and_documents_are_reproducible():
    bayes = ExactBayes("base")
    near = heldout_kl(predictor_scorer(mixed_with_uniform(bayes, 0.01)), bayes, n_docs=30, seed=3)
    far = heldout_kl(predictor_scorer(mixed_with_uniform(bayes, 0.2)), bayes, n_docs=30, seed=3)
    assert 0 < near["actions"]["mean"] < far["actions"]["mean"]
    assert near["actions"]["se"] > 0
    a, b = heldout_documents(bayes, 30, 3), heldout_documents(bayes, 30, 3)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert not np.array_equal(a[0][:200], heldout_documents(bayes, 30, 4)[0][:200])


def test_filtered_world_draws_enough_clean_documents():
    bayes = ExactBayes(filter_defecting("base"))
    tokens, lengths = heldout_documents(bayes, 300, 0)
    assert lengths.size == 300 and tokens.size == lengths.sum()
    out = heldout_kl(predictor_scorer(bayes), bayes, n_docs=50, seed=0)
    assert abs(out["actions"]["mean"]) < 1e-12 and out["off_support_positions"] == 0


def test_model_scorer_matches_reading_each_prefix():
    """The batched, padded one-pass scorer gives what the model predicts prefix by prefix."""
    torch = pytest.importorskip("torch")
    from alignpt.experiment.measure import model_predictor
    from alignpt.train import GPT, ModelConfig

    torch.manual_seed(0)
    # A padded vocabulary (multiple of 64): the scorer renormalises over the world's tokens.
    cfg = ModelConfig(n_layer=1, n_head=2, d_model=16, attention="document",
                      vocab_multiple=64).resolved(vocab_size=VOCAB_SIZE, seq_len=64)
    assert cfg.vocab_size > VOCAB_SIZE
    model = GPT(cfg).eval()
    bayes = ExactBayes("base")
    tokens, lengths = heldout_documents(bayes, 6, 11)
    ends = np.cumsum(lengths)
    docs = [tokens[e - n:e][:64] for e, n in zip(ends, lengths)]
    fast = model_scorer(model, batch_size=4)(docs)
    slow = predictor_scorer(model_predictor(model))(docs)
    for f, s in zip(fast, slow):
        s = s[:, :VOCAB_SIZE]
        np.testing.assert_allclose(f, s / s.sum(axis=1, keepdims=True), atol=1e-6)
    out = heldout_kl(model_scorer(model), bayes, n_docs=20, seed=0)
    assert out["max_len"] == 64
    assert out["actions"]["mean"] > 0.01       # an untrained model is far from Bayes
