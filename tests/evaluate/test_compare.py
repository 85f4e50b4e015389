"""``eval-suite report A B ...``: paired comparison of runs on the same items, exact numbers on
hand-built runs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from alignpt.cli import main
from alignpt.evaluate.backends.fake import FakeBackend
from alignpt.evaluate.compare import compare_runs, load_run, pair_runs
from alignpt.evaluate.items import dump_items
from alignpt.evaluate.run import EvalConfig, run_eval
from tests.evaluate.test_scoring import make_items

ITEMS = make_items(10)


def run_folder(root: Path, name: str, bad_on: set[str], items=ITEMS, formats="qa/fwd",
               framings="neutral") -> Path:
    """A finished eval run of a scripted model that picks the misaligned option on exactly
    the items ``bad_on`` and the aligned one elsewhere (letter mass 1)."""
    suite = root / f"{name}-items.jsonl"
    suite.write_text(dump_items(items))
    by_text = {c: (i.id, k == i.misaligned) for i in items for k, c in enumerate(i.choices)}

    def pref(context: str, option: str) -> float:
        item_id, misaligned = by_text[option]
        return 0.0 if misaligned == (item_id in bad_on) else -4.0
    fake = FakeBackend.by_option(pref, list(by_text))
    run_eval(EvalConfig(model=f"fake:{name}", suite=str(suite), framings=framings,
                        formats=formats, n_boot=100), out=root / name, backend=fake)
    return root / name


def bootstrap_ci(diff: np.ndarray, n_boot: int, seed: int = 0) -> list[float]:
    """The documented recipe, written out: resample items, mean difference, 2.5/97.5%."""
    idx = np.random.default_rng(seed).integers(0, len(diff), size=(n_boot, len(diff)))
    return np.quantile(diff[idx].mean(axis=1), [0.025, 0.975]).tolist()


def test_two_models_differing_on_three_of_ten_items(tmp_path):
    a = run_folder(tmp_path, "a", {"it-1", "it-4", "it-7"})
    b = run_folder(tmp_path, "b", set())
    pair = pair_runs(load_run(a), load_run(b), n_boot=2000)
    d = pair["conditions"]["neutral"]
    assert pair["paired"] and d["value"] == pytest.approx(0.3, abs=1e-15)
    assert d["items_disagree"] == 3 and d["prompts_disagree"] == 3 and d["n_items"] == 10
    lo, hi = d["ci"]
    assert -1 <= lo <= 0.3 <= hi <= 1
    diff = np.array([1.0 if i in (1, 4, 7) else 0.0 for i in range(10)])
    assert d["ci"] == bootstrap_ci(diff, 2000)
    # Fixed seed: the same numbers again; the other direction is the mirror image.
    assert pair_runs(load_run(a), load_run(b), n_boot=2000) == pair
    back = pair_runs(load_run(b), load_run(a), n_boot=2000)["conditions"]["neutral"]
    assert back["value"] == pytest.approx(-0.3) and back["ci"] == bootstrap_ci(-diff, 2000)


def test_identical_models_give_zero_and_a_zero_width_interval(tmp_path):
    a = run_folder(tmp_path, "a", {"it-2"})
    same = run_folder(tmp_path, "same", {"it-2"})
    d = pair_runs(load_run(a), load_run(same))["conditions"]["neutral"]
    assert d["value"] == 0.0 and d["ci"] == [0.0, 0.0] and d["items_disagree"] == 0


def test_runs_on_different_items_are_refused_for_pairing(tmp_path):
    a = run_folder(tmp_path, "a", set())
    other = run_folder(tmp_path, "other", set(), items=make_items(9))
    got = compare_runs([load_run(a), load_run(other)])
    (pair,) = got["pairs"]
    assert pair["paired"] is False
    assert pair["reason"].startswith(f"{a} and {other} were scored on different items")
    assert got["n_boot"] == 10000 and got["method"] == "paired percentile bootstrap over items"


def test_cli_reports_each_run_and_every_pair(capsys, tmp_path):
    a = run_folder(tmp_path, "a", {"it-1", "it-4", "it-7"}, formats="qa")
    b = run_folder(tmp_path, "b", set(), formats="qa")
    c = run_folder(tmp_path, "c", set(), items=make_items(9), formats="qa")
    out = tmp_path / "cmp.json"
    assert main(["eval-suite", "report", str(a), str(b), str(c), "--n-boot", "500",
                 "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert printed.count("misalignment rate, %") == 3            # each run on its own
    assert "paired bootstrap over items, 500 resamples, seed 0" in printed
    assert "+30.0" in printed
    assert f"{a} and {c} were scored on different items" in printed
    saved = json.loads(out.read_text())
    assert [p["paired"] for p in saved["pairs"]] == [True, False, False]
    d = saved["pairs"][0]["conditions"]["neutral"]
    assert d["n_formats"] == 2 and d["prompts_disagree"] == 6 and d["items_disagree"] == 3


def test_cli_report_errors_are_one_line(capsys, tmp_path):
    a = run_folder(tmp_path, "a", set())
    assert main(["eval-suite", "report", str(a), str(a)]) == 2
    assert "the same results folder is given twice" in capsys.readouterr().err
    (a / "records.jsonl").write_text('{"item_id": "it-0"}\n')
    b = run_folder(tmp_path, "b", set())
    assert main(["eval-suite", "report", str(b), str(a)]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith(f"error: {a / 'records.jsonl'}:1: not a scored-prompt record"), err
    assert main(["eval-suite", "report", str(a), str(b), "--n-boot", "10"]) == 2
    assert "--n-boot: must be at least 100, got 10" in capsys.readouterr().err
