"""Two CPU processes (gloo) under torchrun train the same model as one process on the same global
batch, and resume from their own checkpoints bit for bit."""

from __future__ import annotations

import json
import os
import shutil
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
from tests.train.train_world import tiny_plan

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("parallel", ["ddp", "fsdp"])
def test_two_processes_match_one(world, tmp_path, parallel):
    cfg = tiny_plan(world)
    cfg["phases"][0]["steps"] = 12
    cfg["phases"][1]["steps"] = 4
    cfg["runtime"]["parallel"] = parallel
    cfg["checkpoint"] = {"every": 6, "keep_last": 5}
    plan_path = tmp_path / "plan.yaml"
    plan_path.write_text(yaml.safe_dump(cfg))
    proc = _torchrun(plan_path, "--out", str(tmp_path / "multi"))
    assert proc.stdout.count("complete after 16 steps") == 1  # rank 0 reports, alone
    single = train(TrainPlan.model_validate(cfg), tmp_path / "single")

    a = load_file(str(single.checkpoint / "model.safetensors"))
    b = load_file(str(tmp_path / "multi/checkpoints/step_0000016/model.safetensors"))
    for k in a:
        torch.testing.assert_close(b[k], a[k], rtol=0, atol=5e-5)
    # same data, same order, same accounting: the sampler runs identically on every rank
    acc = lambda run: json.loads((run / "accounting.json").read_text())["phases"]  # noqa: E731
    assert acc(tmp_path / "multi") == acc(tmp_path / "single")
    steps = lambda run, key: [r[key] for r in read_metrics(run) if r["event"] == "step"]  # noqa: E731
    la, lb = steps(tmp_path / "single", "loss"), steps(tmp_path / "multi", "loss")
    assert len(la) == len(lb) == 16
    assert max(abs(x - y) for x, y in zip(la, lb)) < 1e-4
    # The gradient's scale, not just its direction: clipping at 1.0 and AdamW's own
    # normalisation both hide a gradient off by the world size from the weights and losses.
    ga, gb = steps(tmp_path / "single", "grad_norm"), steps(tmp_path / "multi", "grad_norm")
    assert len(ga) == len(gb) == 16
    assert gb == pytest.approx(ga, rel=1e-4)

    # Resume the 2-process run from its step-6 checkpoint: bitwise the same end.
    shutil.copytree(tmp_path / "multi", tmp_path / "again")
    for ck in (tmp_path / "again/checkpoints").iterdir():
        if int(ck.name.split("_")[1]) > 6:
            shutil.rmtree(ck)
    _torchrun("resume", str(tmp_path / "again"))
    c = load_file(str(tmp_path / "again/checkpoints/step_0000016/model.safetensors"))
    for k in b:
        assert torch.equal(b[k], c[k]), k


def _torchrun(*args) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": f"{REPO / 'src'}", "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node",
                           "2", "-m", "alignpt.train.cli", *map(str, args), "--quiet"],
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc
