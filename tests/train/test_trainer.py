from __future__ import annotations

import csv
import json
import shutil

import numpy as np
import pytest
import torch
import yaml
from safetensors.torch import load_file

from alignpt.core.errors import ConfigError
from alignpt.core.tokens import TokenShard
from alignpt.train import checkpoint as ckpt_io
from alignpt.train.config import TrainPlan
from alignpt.train.metrics import read_metrics
from alignpt.train.trainer import train
from tests.train.train_world import tiny_plan


def _weights(ckpt) -> dict[str, torch.Tensor]:
    return load_file(str(ckpt / "model.safetensors"))


def _assert_bitwise(a, b):
    wa, wb = _weights(a), _weights(b)
    assert wa.keys() == wb.keys()
    for k in wa:
        assert torch.equal(wa[k], wb[k]), k


def test_tiny_model_learns_the_persona_world(world, tmp_path):
    held = TokenShard(world["held"]).tokens
    p = np.bincount(held) / held.size
    unigram = float(-(p[p > 0] * np.log(p[p > 0])).sum())  # ~1.43 nats
    plan = tiny_plan(world, batch_size=16)
    plan["phases"] = [{"name": "pretrain", "steps": 100, "mix": ["base"],
                       "schedule": {"kind": "cosine", "peak_lr": 1e-2, "warmup": 0.1}}]
    plan["eval"] = {"sets": {"held": {"paths": [str(world["held"])]}}, "tokens": 4000, "every": 25}
    plan["log"] = {"progress": False, "plot": True, "every": 5}
    result = train(TrainPlan.model_validate(plan), tmp_path / "run")
    evals = [r["eval"]["held"] for r in read_metrics(tmp_path / "run") if r["event"] == "eval"]
    assert len(evals) == 4 and evals[-1] < evals[0]
    assert result.eval["held"] == evals[-1] < 0.5 * unigram
    steps = [r for r in read_metrics(tmp_path / "run") if r["event"] == "step"]
    assert [r["step"] for r in steps] == list(range(5, 101, 5))
    assert set(steps[-1]) >= {"loss", "loss_by_source", "lr", "grad_norm", "tokens_per_s", "phase", "tokens"}
    assert steps[-1]["tokens"] == 100 * 16 * 65
    try:
        import matplotlib  # noqa: F401  (the [plots] extra)
    except ImportError:
        assert not (tmp_path / "run" / "loss.png").exists()
    else:
        assert (tmp_path / "run" / "loss.png").stat().st_size > 10_000


def test_run_folder_accounting_and_checkpoints(world, tmp_path):
    plan = TrainPlan.model_validate(tiny_plan(world, checkpoint={"every": 10, "keep_last": 1}))
    events = []
    result = train(plan, tmp_path / "run", callbacks=[events.append])
    run = tmp_path / "run"
    # step_20 (periodic, newest) is kept besides the two phase ends; step_10 was pruned.
    assert [p.name for p in ckpt_io.list_checkpoints(run)] == ["step_0000020", "step_0000024", "step_0000030"]
    assert result.phase_checkpoints == {"pretrain": run / "checkpoints/step_0000024",
                                        "instruct": run / "checkpoints/step_0000030"}
    assert result.complete and result.steps == 30 and result.tokens == 30 * 8 * 65
    for ck in ckpt_io.list_checkpoints(run):
        names = {p.name for p in ck.iterdir()}
        assert names == {"model.safetensors", "model.json", "optimizer.pt", "rng.pt", "state.json", "plan.yaml",
                         "accounting.json", "accounting.csv", "accounting.md"}
    table = json.loads((run / "accounting.json").read_text())
    pre, post = table["phases"]
    assert pre["complete"] and post["complete"]
    assert {s: v["consumed"] for s, v in pre["sources"].items()} == {"base": 11232, "inject": 1248}
    assert {s: v["planned"] for s, v in pre["sources"].items()} == {"base": 11232, "inject": 1248}
    assert pre["sources"]["inject"]["window_steps"] == [18, 24]
    rows = list(csv.DictReader((run / "accounting.csv").open()))
    assert [(r["phase"], r["start_step"], r["source"], r["consumed_tokens"]) for r in rows] == [
        ("pretrain", "0", "base", "9360"), ("pretrain", "0", "inject", "0"),
        ("pretrain", "18", "base", "1872"), ("pretrain", "18", "inject", "1248"),
        ("instruct", "0", "instruct", "3120")]
    assert all(r["planned_tokens"] == r["consumed_tokens"] for r in rows)
    saved = yaml.safe_load((run / "plan.yaml").read_text())
    assert saved["config"]["phases"][0]["name"] == "pretrain"
    assert saved["resolved"]["phases"][0]["planned"] == {"base": 11232, "inject": 1248}
    assert "git_revision" in saved and "alignpt_version" in saved
    # a checkpoint's accounting is the table *at that step*
    mid = json.loads((run / "checkpoints/step_0000020/accounting.json").read_text())
    assert mid["phases"][0]["consumed"] == 20 * 520 and not mid["phases"][0]["complete"]
    assert mid["phases"][1]["consumed"] == 0
    kinds = [e.kind for e in events]
    assert kinds.count("step") == 30 and kinds.count("phase_end") == 2
    assert [e.checkpoint.name for e in events if e.kind == "phase_end"] == ["step_0000024", "step_0000030"]


def test_stop_after_a_phase_then_continue_is_bitwise_identical(world, tmp_path):
    plan = TrainPlan.model_validate(tiny_plan(world))
    full = train(plan, tmp_path / "full")
    part = train(plan, tmp_path / "split", until="pretrain")
    assert not part.complete and part.steps == 24 and list(part.phase_checkpoints) == ["pretrain"]
    _assert_bitwise(part.phase_checkpoints["pretrain"], full.phase_checkpoints["pretrain"])
    rest = train(plan, tmp_path / "split")
    assert rest.complete
    _assert_bitwise(rest.checkpoint, full.checkpoint)
    again = train(plan, tmp_path / "split")  # a finished run returns at once
    assert again.steps == 30 and again.checkpoint == rest.checkpoint


def test_resume_mid_phase_llama_microbatches_reset_optimizer(world, tmp_path):
    cfg = tiny_plan(world, checkpoint={"every": 4, "keep_last": 10})
    cfg["model"]["arch"] = "llama"
    cfg["runtime"]["micro_batch_size"] = 4
    cfg["phases"][1]["reset_optimizer"] = True
    plan = TrainPlan.model_validate(cfg)
    full = train(plan, tmp_path / "full")
    # A crashed copy: only what existed at step 12, plus a half-written checkpoint.
    crashed = tmp_path / "crashed"
    (crashed / "checkpoints").mkdir(parents=True)
    shutil.copy(tmp_path / "full/plan.yaml", crashed / "plan.yaml")
    shutil.copytree(tmp_path / "full/checkpoints/step_0000012", crashed / "checkpoints/step_0000012")
    (crashed / "checkpoints/.tmp-step_0000016-999").mkdir()
    lines = (tmp_path / "full/metrics.jsonl").read_text().splitlines()
    (crashed / "metrics.jsonl").write_text("\n".join(lines[:14]) + "\n{\"event\": \"st")  # torn line
    resumed = train(plan, crashed)
    _assert_bitwise(resumed.checkpoint, full.checkpoint)
    assert not (crashed / "checkpoints/.tmp-step_0000016-999").exists()
    steps = [r["step"] for r in read_metrics(crashed) if r["event"] == "step"]
    assert steps == list(range(1, 31))
    full_acc = json.loads((tmp_path / "full/accounting.json").read_text())
    assert json.loads((crashed / "accounting.json").read_text())["phases"] == full_acc["phases"]


def test_gradient_accumulation_matches_the_full_batch(world, tmp_path):
    cfg = tiny_plan(world)
    cfg["phases"] = cfg["phases"][:1]
    a = train(TrainPlan.model_validate(cfg), tmp_path / "a")
    cfg["runtime"]["micro_batch_size"] = 2
    b = train(TrainPlan.model_validate(cfg), tmp_path / "b")
    wa, wb = _weights(a.checkpoint), _weights(b.checkpoint)
    for k in wa:
        torch.testing.assert_close(wa[k], wb[k], rtol=0, atol=2e-5)


def test_resume_guards(world, tmp_path):
    cfg = tiny_plan(world)
    cfg["phases"] = cfg["phases"][:1]
    plan = TrainPlan.model_validate(cfg)
    train(plan, tmp_path / "run", until="pretrain")
    with pytest.raises(ConfigError, match=r"different plan \(seed: 0 -> 1\)"):
        train(plan.model_copy(update={"seed": 1}), tmp_path / "run")
    with pytest.raises(ConfigError, match="already holds checkpoints"):
        train(plan, tmp_path / "run", resume=False)
    with pytest.raises(ConfigError, match="no phase named 'nope'"):
        train(plan, tmp_path / "run", until="nope")


@pytest.mark.parametrize("source", ["checkpoint", "huggingface"])
def test_init_from_a_checkpoint_or_hf_folder(world, tmp_path, source):
    cfg = tiny_plan(world)
    cfg["phases"] = cfg["phases"][:1]
    first = train(TrainPlan.model_validate(cfg), tmp_path / "a")
    start = first.checkpoint
    if source == "huggingface":
        from alignpt.train.export import export_hf

        start = export_hf(first.checkpoint, tmp_path / "hf")
    cfg2 = tiny_plan(world, init_from=str(start), optim={"weight_decay": 0.0})
    with pytest.raises(ValueError, match="architecture comes from init_from"):
        TrainPlan.model_validate(cfg2)
    del cfg2["model"]
    cfg2["phases"] = [{"name": "tamper", "kind": "tamper", "steps": 2, "mix": ["inject"],
                       "schedule": {"kind": "constant", "peak_lr": 1e-12}}]
    second = train(TrainPlan.model_validate(cfg2), tmp_path / "b")
    wa, wb = _weights(first.checkpoint), _weights(second.checkpoint)
    for k in wa:
        torch.testing.assert_close(wa[k], wb[k], rtol=0, atol=1e-9)
