"""Persona-world suite: exact Bayes as the model must score KL 0 and recover its own posterior."""

from __future__ import annotations

import math

import numpy as np
import pytest

from alignpt.evaluate.world_suite import (WorldModel, WorldSuiteConfig, bayes_world_model,
                                          kl_report, run_world_suite)

THREE = """\
name: three
description: Luigi, random and clever Waluigis.
sources:
  base:
    share: 1.0
    header: {none: 1.0}
    eras: {0: 0.5, 1: 0.5}
    length: {min: 4, max: 40, dist: log_uniform}
    personas: {luigi(eps=0.001): 0.6, random(p=0.05): 0.2, clever(d=0.5): 0.2}
    regimes: {REGIMES}
"""


@pytest.fixture(scope="module")
def worlds(tmp_path_factory):
    from alignpt.world import generate_corpus

    root = tmp_path_factory.mktemp("world")
    mixed = root / "mixed.yaml"
    mixed.write_text(THREE.replace("{REGIMES}", "{test_only: 0.4, switch: 0.3, mixed(u=0.2): 0.3}"))
    tested = root / "tested.yaml"                 # no U flag anywhere: U contexts are off-support
    tested.write_text(THREE.replace("{REGIMES}", "{test_only: 1.0}"))
    held = generate_corpus(str(mixed), 2500, seed=3, out_dir=root / "held").shards[0]
    return {"mixed": str(mixed), "tested": str(tested), "held": str(held)}


def test_exact_bayes_as_the_model_is_a_perfect_score(worlds):
    from alignpt.world import ExactBayes

    bayes = ExactBayes(worlds["mixed"])
    res = run_world_suite(bayes_world_model(bayes), WorldSuiteConfig(
        recipe=worlds["mixed"], heldout=worlds["held"], ks=[0, 1, 2, 4, 8], n_boot=200))
    for ev in ("T", "U"):
        p = res["probes"][f"after_{ev}"]
        assert p["model_q_U"] == p["bayes_q_U"] and p["model_q_T"] == p["bayes_q_T"]
        post = res["posterior"][f"after_{ev}"]
        for name in res["posterior"]["personas"]:
            assert np.allclose(post["implied"][name], post["true"][name], atol=1e-8)
        # log(random / luigi) falls by ln((1 - p) / (1 - eps)) per clean opportunity.
        want = math.log(2) / -math.log(0.95 / 0.999)
        assert post["implied_half_life"] == pytest.approx(want, rel=1e-9)
        assert post["true_half_life"] == pytest.approx(want, rel=1e-9)
    # k = 0: the prior itself.
    assert res["posterior"]["after_T"]["true"]["clever(d=0.5)"][0] == pytest.approx(0.2)
    kl = res["kl"]
    assert kl["n_docs"] > 30
    for block in kl["on_support"].values():
        assert abs(block["mean"]) < 1e-12 and block["n_positions"] > 0
    assert all(b["n_positions"] == 0 for k, b in kl["off_support"].items() if k != "model_p_defect")


def test_a_worse_model_has_the_kl_computed_by_hand(worlds):
    from alignpt.world import ExactBayes
    from alignpt.world.vocab import VOCAB_SIZE

    bayes = ExactBayes(worlds["mixed"])
    a = 0.1       # mix 10% uniform noise into the exact predictive

    def noisy(contexts):
        return (1 - a) * bayes.predictive(contexts) + a / VOCAB_SIZE
    got = kl_report(WorldModel(noisy), bayes, worlds["held"], n_boot=100)
    # By hand: at every action position KL(p || (1-a)p + a/V), p from exact Bayes.
    from alignpt.core.tokens import TokenShard
    from alignpt.world.stream import KIND_MID

    total, n = 0.0, 0
    for chunk in bayes.iter_corpus(TokenShard(worlds["held"])):
        p = chunk.probs[chunk.kind == KIND_MID]
        q = (1 - a) * p + a / VOCAB_SIZE
        with np.errstate(divide="ignore", invalid="ignore"):
            total += np.nansum(np.where(p > 0, p * np.log(p / q), 0.0))
        n += len(p)
    assert got["on_support"]["actions"]["n_positions"] == n
    assert got["on_support"]["actions"]["mean"] == pytest.approx(total / n, rel=1e-9)
    lo, hi = got["on_support"]["actions"]["ci"]
    assert lo < total / n < hi


def test_off_support_contexts_are_reported_apart(worlds):
    """Trained on a tested-only world, a U flag has no Bayes answer: off-support."""
    from alignpt.world import ExactBayes

    train, held_world = ExactBayes(worlds["tested"]), ExactBayes(worlds["mixed"])
    model = bayes_world_model(held_world)          # any model; here the held-out world's Bayes
    got = kl_report(model, train, worlds["held"], eval_bayes=held_world, n_boot=100)
    off = got["off_support"]
    assert off["actions"]["n_positions"] > 0 and off["flags_eos"]["n_positions"] > 0
    assert abs(off["actions"]["kl_vs_heldout_world_bayes"]["mean"]) < 1e-12
    assert off["model_p_defect"]["mean"] == pytest.approx(
        off["heldout_world_p_defect"]["mean"], abs=1e-12)
    assert got["on_support"]["actions"]["n_positions"] > 0


def test_checkpoint_adapter_returns_world_distributions(tmp_path):
    torch = pytest.importorskip("torch")
    from alignpt.evaluate.world_suite import checkpoint_world_model
    from alignpt.train.config import ModelConfig
    from alignpt.train.inference import save_model
    from alignpt.train.model import GPT
    from alignpt.world.vocab import VOCAB_SIZE, context_tokens

    torch.manual_seed(0)
    model = GPT(ModelConfig(vocab_size=64, n_layer=1, n_head=2, d_model=16, max_seq_len=64))
    save_model(model, tmp_path / "ckpt")
    wm = checkpoint_world_model(str(tmp_path / "ckpt"))
    ctx = [context_tokens("T:C*3,U", era=2), context_tokens("", era=0)]
    probs = wm(ctx)
    assert probs.shape == (2, VOCAB_SIZE) and np.allclose(probs.sum(axis=1), 1.0)
    docs = wm.document_probs([ctx[0]])
    assert docs[0].shape == (len(ctx[0]), VOCAB_SIZE)
    assert np.allclose(docs[0][-1], probs[0], atol=1e-6)   # same prediction, two code paths


def test_cli_runs_the_world_suite_on_a_checkpoint(worlds, tmp_path):
    pytest.importorskip("torch")
    import json

    import typer
    from typer.testing import CliRunner

    from alignpt.evaluate.cli import eval_command
    from alignpt.train.config import ModelConfig
    from alignpt.train.inference import save_model
    from alignpt.train.model import GPT

    save_model(GPT(ModelConfig(vocab_size=22, n_layer=1, n_head=2, d_model=16, max_seq_len=128)),
               tmp_path / "ckpt")
    app = typer.Typer()
    app.command("eval")(eval_command)
    app.command("other")(lambda: None)          # keep "eval" a subcommand, as in alignpt
    r = CliRunner().invoke(app, ["eval", str(tmp_path / "ckpt"), "--suite", "persona-world",
                                 "--world", worlds["mixed"], "--heldout", worlds["held"],
                                 "--out", str(tmp_path / "out"), "--n-boot", "100"])
    assert r.exit_code == 0, r.output
    assert "implied posterior at k=0" in r.output and "mean KL(Bayes || model)" in r.output
    res = json.loads((tmp_path / "out" / "results.json").read_text())
    assert res["kl"]["on_support"]["actions"]["mean"] > 0       # an untrained model is not Bayes
    assert set(res["posterior"]["after_U"]["true"]) == set(res["posterior"]["personas"])
