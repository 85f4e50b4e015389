"""A tiny grid with dpo arms and the tamper test, end to end through the runner and report."""

from __future__ import annotations

import orjson
import pytest
import yaml

from alignpt.cli import main
from alignpt.experiment.posttrain_report import BEFORE_TAMPER
from alignpt.experiment.state import load_state

from .test_posttrain import POST

KEYS = ("dpo_tested", "dpo_locality", "dpo_untested_reach", "tamper_return", "tamper_resistance")


@pytest.fixture(scope="module")
def post(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("post")
    recipe = tmp / "post.yaml"
    body = {**POST, "name": "post",
            "arms": {k: v for k, v in POST["arms"].items() if k != "aligned_untested_late"},
            "tamper": {**POST["tamper"], "points": 2}}
    recipe.write_text(yaml.safe_dump(body))
    out = tmp / "out"
    assert main(["experiment", "run", str(recipe), "--out", str(out), "-q"]) == 0
    return recipe, out


def _results(out):
    state = load_state(out)
    return state, {s.run.name: s.result for s in state.runs}


def test_pairs_are_written_once_per_spec_and_read_whole(post):
    _, out = post
    folders = sorted(p.name.rsplit("-", 1)[0] for p in (out / "preferences").iterdir())
    assert folders == ["dpo_all-s2000", "dpo_all-s2001", "dpo_tested-s2000", "dpo_tested-s2001"]
    for folder in (out / "preferences").iterdir():
        stats = orjson.loads((folder / "stats.json").read_bytes())
        lines = (folder / "pairs.jsonl").read_text().splitlines()
        assert stats["pairs"] == len(lines) == 64
        assert stats["untested"] == 0 if stats["contexts"] == "tested" else stats["untested"] > 0
    state, results = _results(out)
    for s in state.runs:
        if s.run.arm_config.dpo != "none" and s.run.tamper_of is None:
            dpo = next(p for p in s.result["accounting"]["phases"] if p["phase"] == "dpo")
            # 4 steps of 16 pairs: one pass over the 64 pairs, counted exactly.
            assert dpo["pairs"]["consumed"]["pairs"] == 64 == dpo["pairs"]["unique_pairs"]


def test_dpo_arms_branch_at_instruct_and_share_its_measurements(post):
    _, out = post
    state, results = _results(out)
    runs = {(s.run.arm, s.run.seed, bool(s.run.tamper_of)): s for s in state.runs}
    for seed in (0, 1):
        twin = runs[("unfiltered", seed, False)].result
        for arm in ("unfiltered_dpo", "unfiltered_dpo_all"):
            res = runs[(arm, seed, False)].result
            assert res["branched_from"] == {"run": runs[("unfiltered", seed, False)].run.name,
                                            "phase": "instruct"}
            assert [p["name"] for p in res["phases"]] == ["pretrain", "instruct", "dpo",
                                                          "rebound1", "rebound2"]
            # The same model up to instruct, so the same numbers there.
            for i in (0, 1):
                assert res["phases"][i]["assistant"]["summary"] == \
                    twin["phases"][i]["assistant"]["summary"]
            assert res["phases"][2]["label"] == "dpo"


def test_tamper_twins_continue_each_run_and_the_report_shows_them(post):
    _, out = post
    state, _ = _results(out)
    twins = [s for s in state.runs if s.run.tamper_of is not None]
    assert len(twins) == len(state.runs) / 2 == 8 and all(s.state == "done" for s in twins)
    for s in twins:
        parent = s.run.tamper_of
        assert s.result["tamper_of"] == parent.name
        assert s.result["branched_from"] == {"run": parent.name, "phase": parent.phases[-1].name}
        assert [p["name"] for p in s.result["phases"]] == ["tamper1", "tamper2"]
    report = orjson.loads((out / "report" / "report.json").read_bytes())
    # The arms' tables hold their own runs only; the tamper table holds the twins.
    assert set(report["table"]["unfiltered"]) == {"pretrain", "instruct", "rebound1", "rebound2"}
    tamper = report["tamper"]
    assert tamper["corpus"] == "misaligned" and tamper["tokens"]["unfiltered"] == [0, 1500, 3000]
    for arm, points in tamper["table"].items():
        assert list(points) == [BEFORE_TAMPER, "tamper1", "tamper2"]
        last = list(report["table"][arm])[-1]
        assert points[BEFORE_TAMPER]["story"]["model"] == report["table"][arm][last]["story"]["model"]
        bayes = [points[p]["story"]["bayes"]["q_U"] for p in points]
        assert bayes[0] < bayes[1] < bayes[2]      # misaligned tokens raise exact Bayes
    md = (out / "report" / "report.md").read_text()
    assert "## Tamper resistance" in md and "## Post-training: SFT then DPO" in md
    assert "tamper_curves.png" in md and (out / "report" / "tamper_curves.png").exists()
    rows = {c["key"]: c for c in report["claims"]}
    for key in KEYS:
        assert rows[key]["verdict"] in ("supported", "contradicted", "inconclusive"), key
        assert rows[key]["effect"]["n"] == 2
    assert report["runs_total"] == 16 == report["runs_done"]


def test_a_second_run_trains_nothing(post, capsys):
    recipe, out = post
    before = {p: p.stat().st_mtime_ns for p in out.glob("runs/*/*/result.json")}
    assert main(["experiment", "run", str(recipe), "--out", str(out), "-q"]) == 0
    assert {p: p.stat().st_mtime_ns for p in out.glob("runs/*/*/result.json")} == before
