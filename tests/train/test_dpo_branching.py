"""Branching inside and after a dpo phase: the stream hash covers the pairs in their order."""

from __future__ import annotations

import json

import pytest
from safetensors.torch import load_file

from alignpt.train.config import TrainPlan
from alignpt.train.trainer import train
from tests.train.test_dpo_helpers import dpo_plan, write_pairs

MID_DPO = 9   # pretrain is steps 1-6, dpo 7-12, rebound 13-15


@pytest.fixture(scope="module")
def parent(world, tmp_path_factory):
    root = tmp_path_factory.mktemp("dpo_parent")
    cfg = dpo_plan(world, write_pairs(root / "pairs.jsonl", 10))
    train(TrainPlan.model_validate(cfg), root / "run", save_at=[MID_DPO], progress=False)
    return cfg, root


def _weights(res) -> dict:
    return load_file(str(res.checkpoint / "model.safetensors"))


def test_branch_mid_dpo_takes_over_and_ends_bitwise_equal(parent, tmp_path):
    cfg, root = parent
    res = train(TrainPlan.model_validate(cfg), tmp_path / "b",
                branch_from=root / "run/checkpoints" / f"step_{MID_DPO:07d}", progress=False)
    assert res.branch["branched"] is True and res.branch["step"] == MID_DPO
    # the reference came with the branch: never recomputed here
    assert json.loads((tmp_path / "b/dpo/dpo/reference.json").read_text())["computed"] == 10
    a = load_file(str(root / "run/checkpoints/step_0000015/model.safetensors"))
    b = _weights(res)
    assert all((a[k] == b[k]).all() for k in a)


@pytest.mark.parametrize("change", ["pairs", "beta"])
def test_branch_is_refused_when_the_dpo_phase_differs(parent, world, tmp_path, change):
    cfg, root = parent
    if change == "pairs":   # same pairs, another order in the file: other pairs per step
        lines = (root / "pairs.jsonl").read_text().splitlines()
        (tmp_path / "pairs.jsonl").write_text("\n".join(reversed(lines)) + "\n")
        cfg = dpo_plan(world, tmp_path / "pairs.jsonl")
    else:
        cfg = dpo_plan(world, root / "pairs.jsonl", beta=0.2)
    res = train(TrainPlan.model_validate(cfg), tmp_path / "b",
                branch_from=root / "run/checkpoints" / f"step_{MID_DPO:07d}", progress=False)
    assert res.branch["branched"] is False and "stream hash" in res.branch["why"]
    assert res.complete and res.steps == 15
