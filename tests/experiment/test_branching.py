"""Fine-tune and late arms start from their seed's baseline checkpoint: the same results as
training from scratch, fewer steps trained, the parent recorded, parents scheduled first."""

from __future__ import annotations

import copy
from pathlib import Path

import orjson
import pytest
from safetensors.torch import load_file

from alignpt.experiment import load_experiment, run_experiment
from alignpt.experiment.grid import expand_runs
from alignpt.experiment.runner import schedule
from alignpt.experiment.state import load_state, run_dir
from alignpt.train import checkpoint as ckpt_io
from tests.experiment.conftest import TINY

pytest.importorskip("torch")

ARMS = {"unfiltered": {}, "aligned_untested": {"inject": "aligned_untested"},
        "aligned_untested_late": {"inject": "aligned_untested", "schedule": "late"},
        "aligned_untested_finetune": {"inject": "aligned_untested", "schedule": "finetune"}}


def recipe_file(tmp: Path, **changes) -> Path:
    import yaml

    body = copy.deepcopy(TINY)
    body.update(name="branching", seeds=[0], arms=ARMS)
    body.update(changes)
    path = tmp / "branching.yaml"
    path.write_text(yaml.safe_dump(body))
    return path


@pytest.fixture(scope="module")
def both(tmp_path_factory) -> tuple[Path, Path]:
    """The same recipe run with branching (2 workers) and without (1 worker)."""
    tmp = tmp_path_factory.mktemp("branching")
    cfg = load_experiment(recipe_file(tmp))
    run_experiment(cfg, tmp / "branched", workers=2, progress=False)
    run_experiment(cfg, tmp / "scratch", workers=1, progress=False, branch=False)
    return tmp / "branched", tmp / "scratch"


def metrics(folder: Path) -> list[dict]:
    return [orjson.loads(x) for x in (folder / "train" / "metrics.jsonl").read_bytes().splitlines()]


def final_weights(folder: Path) -> dict:
    return load_file(str(ckpt_io.latest_checkpoint(folder / "train") / "model.safetensors"))


def test_branched_runs_equal_runs_from_scratch(both):
    branched, scratch = both
    a, b = load_state(branched), load_state(scratch)
    assert a.done == b.done == 4
    for sa, sb in zip(a.runs, b.runs):
        assert sa.run.name == sb.run.name          # a run's hash does not depend on branching
        ra, rb = sa.result, sb.result
        assert ra["phases"] == rb["phases"], sa.run.arm    # every measurement, number for number
        assert ra["accounting"] == rb["accounting"] and ra["final_loss"] == rb["final_loss"]
        wa, wb = final_weights(run_dir(branched, sa.run)), final_weights(run_dir(scratch, sb.run))
        assert all(bool((wa[k] == wb[k]).all()) for k in wa), sa.run.arm
    rep = [orjson.loads((f / "report" / "report.json").read_bytes()) for f in both]
    assert rep[0]["table"] == rep[1]["table"] and rep[0]["claims"] == rep[1]["claims"]


def test_results_record_the_parent_and_fewer_steps_are_trained(both):
    branched, scratch = both
    state = load_state(branched)
    by_arm = {s.run.arm: s for s in state.runs}
    parent = by_arm["unfiltered"].run
    late, finetune = by_arm["aligned_untested_late"], by_arm["aligned_untested_finetune"]
    assert late.result["branched_from"] == {"run": parent.name, "step": late.run.branch.step}
    assert finetune.result["branched_from"] == {"run": parent.name, "phase": "pretrain"}
    assert by_arm["unfiltered"].result["branched_from"] is None
    assert by_arm["aligned_untested"].result["branched_from"] is None
    assert all(s.result["branched_from"] is None for s in load_state(scratch).runs)
    # 12k pretraining tokens are 31 steps of 8 x 49; the late window (last 10%) opens at step 27
    assert (late.run.branch.step, finetune.run.branch.step) == (27, 31)
    parent_log = metrics(run_dir(branched, parent))
    for s in (late, finetune):
        branch = orjson.loads((run_dir(branched, s.run) / "train" / "branch.json").read_bytes())
        assert branch["branched"] is True and branch["step"] == s.run.branch.step
        # Steps up to the branch point were not trained again: their log lines are the
        # parent's, timings included (a retrained step would have its own tokens_per_s).
        log = metrics(run_dir(branched, s.run))
        shared = [r for r in parent_log if r["step"] <= s.run.branch.step]
        assert log[:len(shared)] == shared and all(r["step"] > s.run.branch.step
                                                   for r in log[len(shared):])
        assert len(shared) >= 2     # logged every 10 steps
    # the parent kept its checkpoint at the late arm's branch point
    kept = run_dir(branched, parent) / "train" / "checkpoints" / f"step_{late.run.branch.step:07d}"
    assert ckpt_io.read_state(kept)["keep"] is True


def test_parents_go_first_and_children_wait_for_them(tmp_path):
    runs = expand_runs(load_experiment(recipe_file(tmp_path, seeds=[0, 1])))
    ready, waiting = schedule(runs, branch=True)
    parents = [r for r in runs if r.arm == "unfiltered"]
    assert ready[:2] == parents and [r.arm for r in ready[2:]] == ["aligned_untested"] * 2
    assert {p: sorted(r.arm for r in rs) for p, rs in waiting.items()} == {
        p.name: ["aligned_untested_finetune", "aligned_untested_late"] for p in parents}
    # a parent that is already done holds nobody back
    ready, waiting = schedule([r for r in runs if r.arm != "unfiltered"], branch=True)
    assert len(ready) == 6 and not waiting
    # without branching nothing waits and the order is the recipe's
    ready, waiting = schedule(runs, branch=False)
    assert ready == runs and not waiting


def test_no_baseline_arm_means_no_branching(tmp_path):
    arms = {k: v for k, v in ARMS.items() if k != "unfiltered"}
    arms["filtered"] = {"filtered": True}
    runs = expand_runs(load_experiment(recipe_file(tmp_path, arms=arms)))
    assert all(r.branch is None and not r.save_at for r in runs)
