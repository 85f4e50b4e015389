"""A dpo phase killed and resumed: reference log-probs computed once per pair, weights bitwise equal."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from safetensors.torch import load_file

from alignpt.train import checkpoint as ckpt_io
from alignpt.train.config import TrainPlan
from alignpt.train.metrics import read_metrics
from alignpt.train.trainer import train
from tests.train.test_dpo_helpers import dpo_plan, write_pairs

REPO = Path(__file__).resolve().parents[2]
N_PAIRS = 10

CHILD = """
import sys, time
from alignpt.train import load_plan, train
slow = lambda e: time.sleep(0.05) if e.kind == "step" else None
train(load_plan(sys.argv[1]), sys.argv[2], callbacks=[slow], progress=False)
print("FINISHED")
"""


def _weights(run: Path) -> dict:
    return load_file(str(ckpt_io.latest_checkpoint(run) / "model.safetensors"))


def _computed(run: Path) -> int:
    return json.loads((run / "dpo" / "dpo" / "reference.json").read_text())["computed"]


def _plan(world, tmp_path, **kw) -> dict:
    cfg = dpo_plan(world, write_pairs(tmp_path / "pairs.jsonl", N_PAIRS), **kw)
    cfg["model"]["dropout"] = 0.1   # dpo steps draw dropout masks: the generators must resume too
    return cfg


def test_sigkill_mid_dpo_and_resume_is_bitwise_identical(world, tmp_path):
    cfg = _plan(world, tmp_path)
    cfg["checkpoint"] = {"every": 2, "keep_last": 2}
    plan_path = tmp_path / "plan.yaml"
    plan_path.write_text(yaml.safe_dump(cfg))
    run = tmp_path / "killed"
    env = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{REPO / 'src'}", "OMP_NUM_THREADS": "1"}
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(plan_path), str(run)], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not (run / "checkpoints" / "step_0000008").exists():   # dpo runs steps 7-12
            assert child.poll() is None, child.stderr.read()
            assert time.monotonic() < deadline, "child never reached step 8"
            time.sleep(0.01)
        time.sleep(0.03)
        os.kill(child.pid, signal.SIGKILL)
        out, _ = child.communicate(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == -signal.SIGKILL and "FINISHED" not in out
    state = ckpt_io.read_state(ckpt_io.latest_checkpoint(run))
    assert state["phase"] == "dpo" and 0 < state["phase_step"] < 6
    # the position in the pairs: phase_step x pairs_per_step over 10 pairs
    assert (state["dpo"]["epoch"], state["dpo"]["index"]) == divmod(state["phase_step"] * 4, N_PAIRS)
    assert _computed(run) == N_PAIRS

    resumed = train(TrainPlan.model_validate(cfg), run, progress=False)
    straight = train(TrainPlan.model_validate(cfg), tmp_path / "straight", progress=False)
    assert resumed.complete and resumed.steps == straight.steps == 15
    assert _computed(run) == N_PAIRS          # never recomputed on resume
    a, b = _weights(run), _weights(tmp_path / "straight")
    assert a.keys() == b.keys() and all((a[k] == b[k]).all() for k in a)
    dpo_a = [r for r in read_metrics(run) if r.get("phase") == "dpo"]
    dpo_b = [r for r in read_metrics(tmp_path / "straight") if r.get("phase") == "dpo"]
    strip = lambda rs: [{k: v for k, v in r.items() if k != "elapsed_s"} for r in rs]  # noqa: E731
    assert strip(dpo_a) == strip(dpo_b) and len(dpo_a) == 6
    assert resumed.accounting == straight.accounting


class _Crash(Exception):
    pass


def test_crash_before_the_first_dpo_checkpoint_reuses_the_reference(world, tmp_path):
    """Resumed from the pretrain phase end, the dpo phase starts again from the same weights:
    the stored reference matches their hash and is reused, not recomputed."""
    cfg = _plan(world, tmp_path, loss="ipo", beta=0.5)

    def crash(ev):
        if ev.kind == "step" and ev.phase == "dpo" and ev.record.get("phase_step") == 3:
            raise _Crash

    run = tmp_path / "run"
    with pytest.raises(_Crash):
        train(TrainPlan.model_validate(cfg), run, callbacks=[crash], progress=False)
    assert ckpt_io.read_state(ckpt_io.latest_checkpoint(run))["phase"] == "pretrain"
    resumed = train(TrainPlan.model_validate(cfg), run, progress=False)
    straight = train(TrainPlan.model_validate(cfg), tmp_path / "straight", progress=False)
    assert _computed(run) == N_PAIRS
    a, b = _weights(run), _weights(tmp_path / "straight")
    assert all((a[k] == b[k]).all() for k in a)
    assert resumed.tokens == straight.tokens
    # exact accounting: the dpo phase's tokens are its 24 pairs' (prompt twice + both completions)
    row = resumed.accounting["phases"][1]
    assert row["complete"] and row["pairs"]["consumed"]["pairs"] == 24 and row["consumed"] == row["tokens"]


def test_changed_reference_file_refuses_to_resume_mid_phase(world, tmp_path):
    cfg = _plan(world, tmp_path)
    cfg["checkpoint"] = {"every": 2, "keep_last": 2}

    def crash(ev):
        if ev.kind == "checkpoint" and ev.step == 8:
            raise _Crash

    run = tmp_path / "run"
    with pytest.raises(_Crash):
        train(TrainPlan.model_validate(cfg), run, callbacks=[crash], progress=False)
    meta = run / "dpo" / "dpo" / "reference.json"
    body = json.loads(meta.read_text())
    meta.write_text(json.dumps({**body, "weights_sha256": "0" * 64}))
    from alignpt.core.errors import DataError

    with pytest.raises(DataError, match="resume is impossible mid-phase"):
        train(TrainPlan.model_validate(cfg), run, progress=False)
