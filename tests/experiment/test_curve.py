"""The learning-curve command: the pre-stated rule on known numbers, and a tiny curve end to end."""

from __future__ import annotations

import math
import orjson
import pytest
import yaml

from alignpt.cli import main
from alignpt.experiment.curve import RULE, CurveConfig, curve_runs, pick_budget
from alignpt.experiment.recipe import ExperimentRecipe

from tests.experiment.conftest import TINY


def test_rule_picks_the_first_budget_of_the_level_tail():
    budgets = [100, 200, 400, 800, 1600]
    # drops per doubling: 0.5, 0.2, 0.05, 0.02 -> level (< 0.1) from 400 on
    kl = [1.0, 0.5, 0.4, 0.38, 0.3724]
    got = pick_budget(budgets, kl, 0.1)
    assert got["drop_per_doubling"] == pytest.approx([0.5, 0.2, 0.05, 0.02], rel=1e-12)
    assert got["pick"] == 400 and got["levelled"] == [False, False, True, True]
    # the same numbers at a stricter threshold: only the last step is level
    assert pick_budget(budgets, kl, 0.03)["pick"] == 800
    # a level step followed by a steep one does not count: the tail must stay level
    assert pick_budget(budgets, [1.0, 0.95, 0.94, 0.5, 0.49], 0.1)["pick"] == 800
    # still falling fast at the last step: no pick
    assert pick_budget(budgets, [1.0, 0.95, 0.94, 0.93, 0.5], 0.1)["pick"] is None
    # a KL that rises counts as level; so does a step from KL 0 (Bayes itself)
    assert pick_budget([1, 2, 4], [1.0, 0.5, 0.6], 0.1)["pick"] == 2
    assert pick_budget([1, 2, 4], [1.0, 0.0, 0.0], 0.1)["pick"] == 2


def test_rule_reads_uneven_grids_per_doubling():
    # 100 -> 400 is two doublings: KL 1.0 -> 0.8 is 1 - sqrt(0.8) = 10.6% per doubling
    # (not level), though 20% over the step; 1.0 -> 0.82 is 9.45% per doubling (level).
    got = pick_budget([100, 400, 800], [1.0, 0.8, 0.79], 0.1)
    assert got["drop_per_doubling"] == pytest.approx([1 - math.sqrt(0.8), 1 - 0.79 / 0.8],
                                                     rel=1e-12)
    assert got["pick"] == 400
    assert pick_budget([100, 400, 800], [1.0, 0.82, 0.81], 0.1)["pick"] == 100


def test_config_checks_are_one_line_errors(tmp_path, capsys):
    recipe = tmp_path / "tiny.yaml"
    recipe.write_text(yaml.safe_dump(TINY))
    for args, needle in ((["--budgets", "8k,4k"], "increasing"),
                         (["--budgets", "4k,lots"], "cannot read"),
                         (["--arm", "nope"], "no arm 'nope'"),
                         (["--threshold", "1.5"], "threshold"),
                         (["--seeds", "0,0"], "distinct")):
        assert main(["experiment", "curve", str(recipe), "--out", str(tmp_path / "o"), *args]) != 0
        err = capsys.readouterr().err
        assert needle in err and "Traceback" not in err, (args, err)
    # the output folder may not hold the recipe
    assert main(["experiment", "curve", str(recipe), "--out", str(tmp_path)]) != 0
    assert "recipe" in capsys.readouterr().err


def test_each_budget_is_the_recipes_own_pretraining_plan():
    cfg = CurveConfig(recipe=ExperimentRecipe.model_validate(TINY), arm="aligned_untested_late",
                      budgets=["4k", "8k"], seeds=[0, 1], threshold=0.1)
    runs = curve_runs(cfg)
    assert [(r.budget, r.seed) for r in runs] == [(4000, 0), (4000, 1), (8000, 0), (8000, 1)]
    for r in runs:
        (phase,) = r.run.plan["phases"]
        assert phase["name"] == "pretrain" and phase["tokens"] == r.budget
        assert phase["schedule"]["kind"] == "cosine"       # its own schedule per budget
        assert set(r.run.plan["sources"]) == set(r.run.corpora) == {"base", "inject"}
        inject = next(m for m in phase["mix"] if m["source"] == "inject")
        assert inject["tokens"] == round(0.05 * r.budget) and inject["window"] == {"last": 0.1}
    assert len({r.run.key for r in runs}) == 4
    assert cfg.rule == RULE


def test_tiny_curve_end_to_end_and_resume(tmp_path, capsys):
    recipe = tmp_path / "tiny.yaml"
    recipe.write_text(yaml.safe_dump(TINY))
    out = tmp_path / "curve"
    args = ["experiment", "curve", str(recipe), "--out", str(out), "--budgets", "3k,6k,12k",
            "--seeds", "0,1", "--threshold", "0.2", "--heldout-docs", "60", "-q"]
    assert main(args) == 0
    assert "pick (threshold 0.2)" in capsys.readouterr().out
    curve = orjson.loads((out / "curve.json").read_bytes())
    assert curve["budgets"] == [3000, 6000, 12000] and curve["arm"] == "unfiltered"
    assert curve["rule"] == {"text": RULE, "kind": "actions", "threshold": 0.2}
    assert curve["heldout"] == {"n_docs": 60, "seed": 424242}
    rows = curve["kl"]["actions"]
    for row in rows:
        assert set(row["per_seed"]) == {"0", "1"}
        assert row["mean"] == pytest.approx(sum(row["per_seed"].values()) / 2, rel=1e-12)
        assert all(v > 0 and math.isfinite(v) for v in row["per_seed"].values())
    # the pick is the stated rule applied to the recorded means
    assert {k: curve[k] for k in ("pick", "drop_per_doubling", "levelled")} == pick_budget(
        curve["budgets"], [r["mean"] for r in rows], 0.2)
    assert (out / "curve.png").stat().st_size > 5000
    cfg = yaml.safe_load((out / "curve.yaml").read_text())
    assert cfg["config"]["threshold"] == 0.2 and cfg["config"]["rule"] == RULE
    assert cfg["alignpt_version"]
    # tokens trained: each budget's own run, in full (to within one step of 8 x 48 tokens)
    kls = sorted(out.glob("runs/*/seed*/kl.json"))
    assert len(kls) == 6
    for p in kls:
        assert abs(orjson.loads(p.read_bytes())["tokens"] - int(p.parts[-3])) <= 8 * 48

    # Rerun: nothing retrained or re-read, the same bytes.
    before = (out / "curve.json").read_bytes()
    mtimes = {p: p.stat().st_mtime_ns for p in kls}
    assert main(args) == 0
    assert (out / "curve.json").read_bytes() == before
    assert {p: p.stat().st_mtime_ns for p in kls} == mtimes

    # Resume after losing one budget's result: only that one is redone, to the same numbers.
    lost = kls[0]
    lost.unlink()
    assert main(args) == 0
    assert (out / "curve.json").read_bytes() == before
    assert all(p.stat().st_mtime_ns == mtimes[p] for p in kls[1:])

    # A folder holds one curve: another arm is refused.
    bad = args[:-1] + ["--arm", "aligned_untested", "-q"]
    assert main(bad) != 0
    assert "use another --out" in capsys.readouterr().err


def test_a_locked_folder_is_refused(tmp_path, capsys):
    import subprocess
    import sys

    recipe = tmp_path / "tiny.yaml"
    recipe.write_text(yaml.safe_dump(TINY))
    out = tmp_path / "curve"
    holder = subprocess.Popen([sys.executable, "-c",
                               "import sys, time; from alignpt.core.outdir import OutputLock\n"
                               f"with OutputLock({str(out)!r}):\n"
                               "    print('held', flush=True); time.sleep(60)"],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        assert main(["experiment", "curve", str(recipe), "--out", str(out), "--budgets",
                     "3k,6k", "-q"]) != 0
        assert "another alignpt run" in capsys.readouterr().err
    finally:
        holder.kill()
        holder.wait()
