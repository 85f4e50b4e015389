"""A dpo phase on two CPU processes (gloo, torchrun) equals one process on the same pairs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file

from alignpt.train.config import TrainPlan
from alignpt.train.metrics import read_metrics
from alignpt.train.trainer import train
from tests.train.test_dpo_helpers import dpo_plan, write_pairs

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("parallel", ["ddp", "fsdp"])
def test_two_processes_match_one_through_a_dpo_phase(world, tmp_path, parallel):
    cfg = dpo_plan(world, write_pairs(tmp_path / "pairs.jsonl", 10), loss="robust", label_smoothing=0.1)
    cfg["runtime"]["parallel"] = parallel
    cfg["checkpoint"] = {"every": 4, "keep_last": 5}
    plan_path = tmp_path / "plan.yaml"
    plan_path.write_text(yaml.safe_dump(cfg))
    env = {**os.environ, "PYTHONPATH": f"{REPO / 'src'}", "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node",
                           "2", "-m", "alignpt.train.cli", str(plan_path), "--out", str(tmp_path / "multi"),
                           "--quiet"], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    single = train(TrainPlan.model_validate(cfg), tmp_path / "single", progress=False)

    a = load_file(str(single.checkpoint / "model.safetensors"))
    b = load_file(str(tmp_path / "multi/checkpoints/step_0000015/model.safetensors"))
    for k in a:   # stated tolerance: float32 sums taken in another order (pairs split over ranks)
        torch.testing.assert_close(b[k], a[k], rtol=0, atol=5e-5)
    dpo = lambda run, key: [r[key] for r in read_metrics(run) if r.get("phase") == "dpo"]  # noqa: E731
    for key in ("loss", "reward_accuracy", "reward_margin", "chosen_reward", "grad_norm"):
        x, y = dpo(tmp_path / "single", key), dpo(tmp_path / "multi", key)
        assert len(x) == len(y) == 6
        assert y == pytest.approx(x, rel=1e-4, abs=1e-6), key
    assert dpo(tmp_path / "single", "pairs") == dpo(tmp_path / "multi", "pairs") == [4, 8, 12, 16, 20, 24]
    acc = lambda run: json.loads((run / "accounting.json").read_text())["phases"]  # noqa: E731
    assert acc(tmp_path / "multi") == acc(tmp_path / "single")
    ref = lambda run: json.loads((run / "dpo/dpo/reference.json").read_text())  # noqa: E731
    assert ref(tmp_path / "multi")["computed"] == 10
    assert ref(tmp_path / "multi")["pairs_sha256"] == ref(tmp_path / "single")["pairs_sha256"]
