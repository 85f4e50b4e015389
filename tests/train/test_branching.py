"""A run that branches from another run's checkpoint ends bitwise where training from
scratch ends, and refuses to branch when the training up to there differs."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from safetensors.torch import load_file

from alignpt.train import checkpoint as ckpt_io
from alignpt.train.config import TrainPlan
from alignpt.train.metrics import read_metrics
from alignpt.train.trainer import train
from tests.train.train_world import tiny_plan

WINDOW_START = 18   # tiny_plan: 24 pretrain steps, inject in the last 25% -> steps 18..24


def plans(world) -> dict[str, dict]:
    """The parent (base-only pretraining), a late-injection child and a fine-tune child."""
    late = tiny_plan(world)
    late["model"]["dropout"] = 0.1      # training draws from torch's generator: it must be carried
    parent = copy.deepcopy(late)
    parent["phases"][0]["mix"] = ["base"]
    finetune = copy.deepcopy(parent)
    finetune["phases"].insert(1, {"name": "finetune", "kind": "finetune", "steps": 5,
                                  "mix": ["inject"], "reset_optimizer": True,
                                  "schedule": {"kind": "cosine", "peak_lr": 1e-3}})
    return {"parent": parent, "late": late, "finetune": finetune}


def weights(run: Path) -> dict:
    return load_file(str(ckpt_io.latest_checkpoint(run) / "model.safetensors"))


def losses(run: Path) -> list[tuple[int, float]]:
    return [(r["step"], r["loss"]) for r in read_metrics(run) if r.get("event") == "step"]


def assert_same_run(a: Path, b: Path) -> None:
    wa, wb = weights(a), weights(b)
    assert wa.keys() == wb.keys()
    for k in wa:
        assert wa[k].dtype == wb[k].dtype and bool((wa[k] == wb[k]).all()), k
    assert losses(a) == losses(b)
    acc = [json.loads((r / "accounting.json").read_text()) for r in (a, b)]
    assert acc[0] == acc[1]


@pytest.fixture(scope="module")
def parent(world, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("branch") / "parent"
    plan = TrainPlan.model_validate(plans(world)["parent"])
    # keep_last 1 with a checkpoint every 5 steps: step 18 survives only because it is kept
    plan = plan.model_copy(update={"checkpoint": plan.checkpoint.model_copy(update={"every": 5,
                                                                                   "keep_last": 1})})
    train(plan, out, save_at=[WINDOW_START])
    return out


def test_branch_point_checkpoint_is_kept(parent):
    names = [p.name for p in ckpt_io.list_checkpoints(parent)]
    # step 25 is the newest periodic one; 24 and 30 end phases; 18 is kept for branching
    assert names == ["step_0000018", "step_0000024", "step_0000025", "step_0000030"]
    assert ckpt_io.read_state(parent / "checkpoints" / "step_0000018")["keep"] is True


def test_late_arm_branches_at_its_window_and_ends_bitwise_equal(world, parent, tmp_path):
    plan = TrainPlan.model_validate(plans(world)["late"])
    scratch = train(plan, tmp_path / "scratch")
    branched = train(plan, tmp_path / "branched",
                     branch_from=parent / "checkpoints" / f"step_{WINDOW_START:07d}")
    assert scratch.branch is None
    assert branched.branch["branched"] is True and branched.branch["step"] == WINDOW_START
    assert branched.steps == scratch.steps == 30
    assert_same_run(tmp_path / "scratch", tmp_path / "branched")
    # the branched run's folder is its own: a checkpoint at the branch point, then onwards
    own = [p.name for p in ckpt_io.list_checkpoints(tmp_path / "branched")]
    assert own[0] == f"step_{WINDOW_START:07d}" and "step_0000024" in own


def test_finetune_arm_branches_at_pretrain_end_and_ends_bitwise_equal(world, parent, tmp_path):
    plan = TrainPlan.model_validate(plans(world)["finetune"])
    pretrain_end = parent / "checkpoints" / "step_0000024"
    scratch = train(plan, tmp_path / "scratch")
    branched = train(plan, tmp_path / "branched", branch_from=pretrain_end)
    assert branched.branch["branched"] is True and branched.branch["phase_end"] is True
    assert branched.branch["phase"] == "pretrain"
    assert_same_run(tmp_path / "scratch", tmp_path / "branched")
    # its pretrain checkpoint is a copy of the parent's in its own folder
    assert branched.phase_checkpoints["pretrain"] == tmp_path / "branched" / "checkpoints" / "step_0000024"
    ours = load_file(str(branched.phase_checkpoints["pretrain"] / "model.safetensors"))
    theirs = load_file(str(pretrain_end / "model.safetensors"))
    assert ours.keys() == theirs.keys() and all(bool((ours[k] == theirs[k]).all()) for k in ours)
    assert set(scratch.phase_checkpoints) == set(branched.phase_checkpoints) == {
        "pretrain", "finetune", "instruct"}


@pytest.mark.parametrize("case", ["past_the_window", "other_lr", "other_seed", "tampered"])
def test_branch_is_refused_when_training_differs(world, parent, tmp_path, case):
    """Each case would give wrong weights if branching went ahead; each must be refused
    and the run trained from scratch instead."""
    cfg = plans(world)["late"]
    step = WINDOW_START
    if case == "past_the_window":     # by step 24 the late run has read injected documents
        step = 24
    elif case == "other_lr":
        cfg["phases"][0]["schedule"]["peak_lr"] = 2e-3
    elif case == "other_seed":
        cfg["seed"] = 1
    source = parent / "checkpoints" / f"step_{step:07d}"
    if case == "tampered":            # a checkpoint whose recorded history is not this one
        import shutil

        source = tmp_path / "tampered" / "checkpoints" / source.name
        shutil.copytree(parent / "checkpoints" / f"step_{step:07d}", source)
        state = json.loads((source / "state.json").read_text())
        state["stream_sha256"] = "0" * 64
        (source / "state.json").write_text(json.dumps(state))
    plan = TrainPlan.model_validate(cfg)
    branched = train(plan, tmp_path / "branched", branch_from=source)
    assert branched.branch["branched"] is False and "stream hash" in branched.branch["why"]
    train(plan, tmp_path / "scratch")
    assert_same_run(tmp_path / "scratch", tmp_path / "branched")


def test_branch_from_a_missing_checkpoint_trains_from_scratch(world, tmp_path):
    plan = TrainPlan.model_validate(plans(world)["late"])
    res = train(plan, tmp_path / "run", branch_from=tmp_path / "nowhere" / "step_0000018")
    assert res.branch["branched"] is False and "no usable checkpoint" in res.branch["why"]
    assert res.complete and res.steps == 30
