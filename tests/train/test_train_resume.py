"""Kill a real training process with SIGKILL and resume it: the weights must be bitwise equal."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
import yaml
from safetensors.torch import load_file

from alignpt.train import checkpoint as ckpt_io
from alignpt.train.config import TrainPlan
from alignpt.train.metrics import read_metrics
from alignpt.train.trainer import train
from tests.train.train_world import tiny_plan

REPO = Path(__file__).resolve().parents[2]

CHILD = """
import sys, time
from alignpt.train import load_plan, train
# Slow each step a little so the parent can kill us mid-run, wherever we are.
slow = lambda e: time.sleep(0.05) if e.kind == "step" else None
train(load_plan(sys.argv[1]), sys.argv[2], callbacks=[slow], progress=False)
print("FINISHED")
"""


def test_sigkill_and_resume_gives_bitwise_identical_weights(world, tmp_path):
    cfg = tiny_plan(world, checkpoint={"every": 5, "keep_last": 2})
    # Dropout draws from torch's generator at every step: a resume that did not restore it
    # would train on other dropout masks (with dropout 0 this test could not tell).
    cfg["model"]["dropout"] = 0.1
    plan_path = tmp_path / "plan.yaml"
    plan_path.write_text(yaml.safe_dump(cfg))
    run = tmp_path / "killed"
    env = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{REPO / 'src'}", "OMP_NUM_THREADS": "1"}
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(plan_path), str(run)], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not (run / "checkpoints" / "step_0000010").exists():
            assert child.poll() is None, child.stderr.read()
            assert time.monotonic() < deadline, "child never reached step 10"
            time.sleep(0.01)
        time.sleep(0.12)  # land somewhere after step 10: mid-step or mid-checkpoint
        os.kill(child.pid, signal.SIGKILL)
        out, _ = child.communicate(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == -signal.SIGKILL and "FINISHED" not in out
    latest = ckpt_io.latest_checkpoint(run)
    assert latest is not None and int(latest.name.split("_")[1]) < 30

    # Resume through the CLI (`alignpt train resume DIR`), in this process.
    from typer.testing import CliRunner

    from alignpt.train.cli import train_app

    res = CliRunner().invoke(train_app, ["resume", str(run), "--quiet"])
    assert res.exit_code == 0, res.output
    reference = train(TrainPlan.model_validate(cfg).with_absolute_paths(), tmp_path / "reference")

    a = load_file(str(ckpt_io.latest_checkpoint(run) / "model.safetensors"))
    b = load_file(str(reference.checkpoint / "model.safetensors"))
    assert ckpt_io.latest_checkpoint(run).name == reference.checkpoint.name == "step_0000030"
    for k in a:
        assert torch.equal(a[k], b[k]), k
    # the log holds each step exactly once, and the losses match the reference run
    killed_steps = [r for r in read_metrics(run) if r["event"] == "step"]
    ref_steps = [r for r in read_metrics(tmp_path / "reference") if r["event"] == "step"]
    assert [r["step"] for r in killed_steps] == list(range(1, 31))
    assert [r["loss"] for r in killed_steps] == [r["loss"] for r in ref_steps]
    assert not list((run / "checkpoints").glob(".tmp-*"))


def test_resume_continues_python_numpy_and_torch_random_streams(world, tmp_path):
    """Whatever draws from the global generators (dropout, a user's callback) sees after a
    resume the very numbers it would have seen in one uninterrupted run."""
    cfg = TrainPlan.model_validate(tiny_plan(world))

    def recorder(draws: dict[int, tuple]):
        def draw(event):
            if event.kind == "step":
                draws[event.step] = (random.random(), float(np.random.random()), float(torch.rand(1)))
        return draw

    straight: dict[int, tuple] = {}
    train(cfg, tmp_path / "straight", callbacks=[recorder(straight)])
    resumed: dict[int, tuple] = {}
    first = train(cfg, tmp_path / "resumed", until="pretrain", callbacks=[recorder(resumed)])
    assert first.steps == 24 and not first.complete
    random.seed(99)  # whatever ran in between must not matter
    np.random.seed(99)
    torch.manual_seed(99)
    train(cfg, tmp_path / "resumed", callbacks=[recorder(resumed)])
    assert sorted(resumed) == sorted(straight) == list(range(1, 31))
    for step in range(25, 31):
        for name, a, b in zip(("python", "numpy", "torch"), straight[step], resumed[step]):
            assert a == b, f"{name} random stream differs after resume at step {step}"
