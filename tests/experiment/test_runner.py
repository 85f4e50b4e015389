"""The experiment runner end to end: quick recipe, kill and resume, one arm changed."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

from alignpt.cli import main
from alignpt.experiment import load_experiment, load_state, run_experiment
from alignpt.experiment.claims import VERDICTS
from alignpt.world import ExactBayes, filter_defecting, inject, load_world_recipe, probe_curves

ROOT = Path(__file__).resolve().parents[2]

def numbers(folder: Path) -> dict:
    rep = orjson.loads((folder / "report" / "report.json").read_bytes())
    return {"table": rep["table"], "claims": rep["claims"]}


def probability_intervals(node, key: str = "") -> int:
    """Check every interval on a probability (q_U, q_T, and curve points ``*:q_*``) lies
    in [0, 1] around its mean; returns how many were checked."""
    if isinstance(node, list):
        return sum(probability_intervals(x, key) for x in node)
    if not isinstance(node, dict):
        return 0
    if "ci_low" in node and "mean" in node:
        if key.startswith("q_") or ":q_" in key:
            if node["ci_low"] is None:
                return 0
            assert 0 <= node["ci_low"] <= node["mean"] <= node["ci_high"] <= 1, (key, node)
            return 1
        return 0
    return sum(probability_intervals(v, str(k)) for k, v in node.items())


def result_mtimes(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): p.stat().st_mtime_ns
            for p in (folder / "runs").rglob("result.json")}


def test_tiny_run_layout_and_status(tiny, capsys):
    recipe, out = tiny
    state = load_state(out)
    assert state.done == len(state.runs) == 6
    res = state.runs[0].result
    assert [p["name"] for p in res["phases"]] == ["pretrain", "instruct", "rebound1", "rebound2"]
    # Exact token accounting from the trainer: the pretrain phase consumed its whole budget.
    assert res["tokens"] >= 16_000
    assert main(["experiment", "status", str(out)]) == 0
    assert "6/6 runs done" in " ".join(capsys.readouterr().out.split())


def test_kill_mid_grid_then_resume_gives_the_same_numbers(tiny, tmp_path):
    recipe, reference = tiny
    out = tmp_path / "killed"
    cmd = [sys.executable, "-m", "alignpt", "experiment", "run", str(recipe), "--out", str(out),
           "-q"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        if len(list((out / "runs").glob("*/*/result.json"))) >= 2:
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = result_mtimes(out)
    assert 2 <= len(before) < 6, "the kill did not land mid-grid"
    assert main(["experiment", "run", str(recipe), "--out", str(out), "-q"]) == 0
    after = result_mtimes(out)
    assert len(after) == 6
    assert {k: after[k] for k in before} == before      # finished runs were not redone
    assert numbers(out) == numbers(reference)


def test_changing_one_arm_reruns_only_that_arm(tiny, tmp_path):
    recipe, reference = tiny
    out = tmp_path / "changed"
    import shutil

    shutil.copytree(reference, out)
    before = result_mtimes(out)
    cfg = load_experiment(recipe, ["arms.aligned_untested_late.schedule=finetune"])
    state = run_experiment(cfg, out, progress=False, report=True)
    after = result_mtimes(out)
    new = set(after) - set(before)
    assert len(new) == 2 and all(k.startswith("runs/aligned_untested_late/") for k in new)
    assert all(after[k] == before[k] for k in before)   # every other run kept as it was
    assert state.done == 6
    late = [s.result for s in state.runs if s.run.arm == "aligned_untested_late"]
    assert [p["name"] for p in late[0]["phases"]][:2] == ["pretrain", "finetune"]


def test_quick_recipe_end_to_end(tmp_path):
    out = tmp_path / "quick"
    assert main(["experiment", "run", "persona-world", "--quick", "--out", str(out), "-q"]) == 0
    rep = orjson.loads((out / "report" / "report.json").read_bytes())
    recipe = load_experiment("persona-world", quick=True)
    # Every (arm, seed) run, and a tamper twin of each run of the tamper arms.
    twins = len(recipe.tamper.arms) * len(recipe.seeds) if recipe.tamper else 0
    assert rep["runs_done"] == rep["runs_total"] == len(recipe.arms) * len(recipe.seeds) + twins
    assert set(rep["table"]) == set(recipe.arms)
    for arm, phases in rep["table"].items():
        expected = ["pretrain"] + (["finetune"] if recipe.arms[arm].schedule == "finetune" else [])
        if recipe.arms[arm].posttrain:   # posttrain: false arms stop after pretraining
            expected += ["instruct"] + (["dpo"] if recipe.arms[arm].dpo != "none" else []) \
                + [f"rebound{i}" for i in (1, 2)]
        assert list(phases) == expected
        for entry in phases.values():
            for place in ("story", "assistant"):
                est = entry[place]["model"]["q_U"]
                assert est["n"] == 2 and est["ci_low"] <= est["mean"] <= est["ci_high"]
    # Exact Bayes beside the measurements is the exact Bayes of each arm's data.
    t = rep["table"]
    era = recipe.probes.era

    def bayes_q_u(world) -> float:
        return float(probe_curves(ExactBayes(world), [0], era, "STORY")["T:q_U"][0])

    assert t["unfiltered"]["pretrain"]["story"]["bayes"]["q_U"] == pytest.approx(
        bayes_q_u(load_world_recipe("base")), rel=1e-12)
    assert t["filtered"]["pretrain"]["story"]["bayes"]["q_U"] == pytest.approx(
        bayes_q_u(filter_defecting("base")), rel=1e-12)
    assert t["aligned_untested"]["pretrain"]["story"]["bayes"]["q_U"] == pytest.approx(
        bayes_q_u(inject("base", {"i_u": 0.05})), rel=1e-9)
    # The locality lemma, exactly: tested-only data leaves Bayes's P(D | U) unchanged.
    assert (t["aligned_tested"]["pretrain"]["story"]["bayes"]["q_U"]
            == pytest.approx(t["unfiltered"]["pretrain"]["story"]["bayes"]["q_U"], rel=1e-12))
    # every claim of the discussion: 14 measured, 5 post-training (issue 18), 5 the world
    # cannot express (no test)
    assert len(rep["claims"]) == 24 and all(c["verdict"] in VERDICTS for c in rep["claims"])
    for c in rep["claims"]:     # every verdict shows its test, effect, interval, p, seeds needed
        test = recipe.claims.tests.get(c["key"])
        assert c["test"] == (test.model_dump() if test else None)
        if c["verdict"] == "not measured":
            assert c["why"]
        else:
            e = c["effect"]
            assert e["n"] == 2 and e["ci_low"] <= e["estimate"] <= e["ci_high"]
            assert 0 <= e["p"] <= e["p_holm"] <= 1
            assert "seeds_needed" in e and "seeds_for_margin" in e
    assert probability_intervals(rep["table"]) > 500
    assert rep["published"]["rows"][0] == {"condition": "unfiltered", "base": 0.45,
                                           "post_trained": 0.34}
    html = (out / "report" / "report.html").read_text()
    # the four figures every report has, the local half-life, the dose response (the
    # recipe's dose arms give three shares) and the tamper curves
    assert html.count("data:image/png;base64,") == 7
    assert all(arm in html for arm in recipe.arms)
    for png in ("misalignment_by_arm", "rebound_curves", "history_curves", "model_vs_bayes",
                "local_half_life", "dose_response", "tamper_curves"):
        data = (out / "report" / f"{png}.png").read_bytes()
        assert data.startswith(b"\x89PNG") and len(data) > 5000
    md = (out / "report" / "report.md").read_text()
    assert "## Claims" in md and "Tice et al. 2026" in md
    json.dumps(rep)  # every number is plain JSON
