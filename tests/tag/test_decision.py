"""The direction rule (tag/decision.py): flags, the grid choice, persistence, training, CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from alignpt.cli import app
from alignpt.core.errors import ConfigError, DataError
from alignpt.tag.cascade import Cascade, TagConfig
from alignpt.tag.classifier import TagClassifier
from alignpt.tag.decision import CONDUCT_GRID, SHARE_GRID, Direction, direction_for_aligned

from .helpers import dev_rows, write_jsonl


def test_flags_ask_conduct_and_direction_apart():
    rule = Direction(conduct_min=0.3, share_min=0.6)
    p_mis = np.array([0.30, 0.18, 0.25, 0.0, 0.20])
    p_ali = np.array([0.10, 0.12, 0.25, 0.0, 0.05])
    # conduct 0.40, 0.30, 0.50, 0 and 0.25; share 0.75, 0.6, 0.5, (0) and 0.8
    assert rule.flags(p_mis, p_ali).tolist() == [True, True, False, False, False]


def test_the_grid_is_the_pre_registered_one():
    assert CONDUCT_GRID[0] == 0.05 and CONDUCT_GRID[-1] == 0.95 and len(CONDUCT_GRID) == 19
    assert SHARE_GRID[0] == 0.3 and SHARE_GRID[-1] == 0.95 and len(SHARE_GRID) == 27


def test_choice_is_the_most_recall_the_aligned_bound_allows():
    # ten aligned documents, one of which may be flagged (max_share 0.1); the misaligned
    # documents' shares sit above the aligned ones' except for one aligned outlier at 0.9
    p_ali = np.array([0.5] * 9 + [0.05] + [0.1, 0.1, 0.1, 0.35])
    p_mis = np.array([0.2] * 9 + [0.45] + [0.5, 0.5, 0.5, 0.3])
    is_mis = np.array([False] * 10 + [True] * 4)
    is_ali = ~is_mis
    rule = direction_for_aligned(p_mis, p_ali, is_mis, is_ali, 0.1)
    # shares: aligned 0.2857 (x9) and 0.9; misaligned 0.8333 (x3) and 0.4615. Allowing
    # the 0.9 aligned one keeps every share >= 0.4615 open, but 0.4615 > 0.2857 only
    # while share_min > 0.2857: every misaligned document is found at share_min in
    # (0.2857, 0.4615]; the largest such grid point is 0.45, the largest conduct_min that
    # keeps all four (conduct 0.6, 0.6, 0.6, 0.65) is 0.6, which also leaves out the
    # outlier (conduct 0.5)
    assert rule == Direction(conduct_min=0.6, share_min=0.45)
    assert rule.flags(p_mis, p_ali)[is_mis].all() and not rule.flags(p_mis, p_ali)[is_ali].any()
    # with no aligned document allowed, the same point is chosen: it already flags none
    assert direction_for_aligned(p_mis, p_ali, is_mis, is_ali, 0.0) == rule


def test_no_rule_on_the_grid_or_no_aligned_document_is_a_data_error():
    high = np.array([0.96, 0.96])
    none = np.array([0.0, 0.0])
    with pytest.raises(DataError, match="flags at most 0"):
        direction_for_aligned(high, none, np.array([True, False]), np.array([False, True]), 0.0)
    with pytest.raises(DataError, match="needs misaligned and aligned"):
        direction_for_aligned(high, none, np.array([True, True]), np.array([False, False]), 0.1)


@pytest.mark.parametrize("body, problem", [
    ({"rule": "threshold", "conduct_min": 0.1, "share_min": 0.5}, "decision must be"),
    ({"rule": "direction", "conduct_min": 1.5, "share_min": 0.5}, "decision.conduct_min"),
    ({"rule": "direction", "conduct_min": 0.1, "share_min": True}, "decision.share_min"),
    ({"rule": "direction", "conduct_min": 0.1}, "decision.share_min"),
])
def test_a_bad_decision_in_model_json_names_the_file(tmp_path, body, problem):
    clf = TagClassifier.default()
    clf.save(tmp_path / "m")
    meta = json.loads((tmp_path / "m" / "model.json").read_text())
    meta.update(format_version=3, decision=body)
    (tmp_path / "m" / "model.json").write_text(json.dumps(meta))
    with pytest.raises(ConfigError, match=problem) as err:
        TagClassifier.load(tmp_path / "m")
    assert str(err.value).startswith(f"{tmp_path / 'm'}/model.json: ")


def test_a_direction_model_round_trips_and_decides_by_its_rule(tmp_path):
    base = TagClassifier.default()
    clf = TagClassifier(base.backend, base.labels, base.temperature, base.threshold, base.meta,
                        Direction(0.1, 0.5))
    clf.save(tmp_path / "m")
    body = json.loads((tmp_path / "m" / "model.json").read_text())
    assert body["format_version"] == 3
    assert body["decision"] == {"rule": "direction", "conduct_min": 0.1, "share_min": 0.5}
    back = TagClassifier.load(tmp_path / "m")
    assert back.decision == Direction(0.1, 0.5) and back.threshold == base.threshold
    # columns: non_ai, ai_neutral, ai_aligned, ai_misaligned
    probs = np.array([[0.1, 0.1, 0.35, 0.45],     # share 0.5625: direction flags, 0.47 does not
                      [0.0, 0.0, 0.0, 1.0],       # both flag
                      [0.0, 0.1, 0.45, 0.45],     # share 0.5: direction flags
                      [0.9, 0.05, 0.03, 0.02]])   # conduct 0.05: neither
    assert back.decide(probs) == ["ai_misaligned", "ai_misaligned", "ai_misaligned", "non_ai"]
    # an explicit threshold replaces the rule
    assert back.decide(probs, 0.46) == ["ai_aligned", "ai_misaligned", "ai_aligned", "non_ai"]
    # the cascade reports the rule it used, and a configured threshold replaces it
    cascade = Cascade(TagConfig(classifier={"path": str(tmp_path / "m")}))
    assert cascade.decision() == {"rule": "direction", "conduct_min": 0.1, "share_min": 0.5}
    forced = Cascade(TagConfig(classifier={"path": str(tmp_path / "m"), "threshold": 0.46}))
    assert forced.decision() == {"rule": "threshold", "value": 0.46, "source": "config"}
    assert Cascade().decision() == {"rule": "threshold", "value": round(base.threshold, 4),
                                    "source": "model"}


def _small_training_files(tmp_path):
    return write_jsonl(tmp_path / "cal.jsonl", dev_rows(plain_train=True)[:1200:4])  # 300


def test_training_chooses_the_rule_on_out_of_fold_probabilities(tmp_path):
    cal = _small_training_files(tmp_path)
    args = ["--all-docs", "--param", "n_features=16384", "--folds", "2", "-q",
            "--heldout-split", ""]
    runner = CliRunner()
    res = runner.invoke(app, ["tag", "train", "--labels", str(cal), "--out",
                              str(tmp_path / "d"), "--decision", "direction", *args])
    assert res.exit_code == 0, res.output
    assert "(direction rule: conduct >=" in " ".join(res.output.split())
    meta = json.loads((tmp_path / "d" / "model.json").read_text())
    assert meta["format_version"] == 3 and meta["training"]["decision"] == "direction"
    rule = Direction.from_json(meta["decision"], "model.json")
    assert rule.conduct_min in CONDUCT_GRID and rule.share_min in SHARE_GRID
    # the bound holds out of fold on the calibrating documents, as the rule was chosen
    assert meta["cross_validation"]["aligned_removed"]["rate"] <= 0.1
    # the same data with the default rule: a threshold model, metadata as before
    res = runner.invoke(app, ["tag", "train", "--labels", str(cal), "--out",
                              str(tmp_path / "t"), *args])
    assert res.exit_code == 0, res.output
    meta_t = json.loads((tmp_path / "t" / "model.json").read_text())
    assert "decision" not in meta_t and "decision" not in meta_t["training"]
    assert meta_t["format_version"] == 2 and meta_t["threshold"] == meta["threshold"]
    # the direction rule finds at least as many out of fold at the same bound here
    assert meta["cross_validation"]["ai_misaligned"]["recall"] >= \
        meta_t["cross_validation"]["ai_misaligned"]["recall"]


@pytest.mark.parametrize("extra, message", [
    (["--decision", "vote"], "unknown decision rule 'vote' (threshold, direction)"),
    (["--decision", "direction", "--recall-target", "0.9"], "not a recall target"),
])
def test_bad_decision_options_are_one_line_errors(tmp_path, extra, message):
    cal = _small_training_files(tmp_path)
    res = CliRunner().invoke(app, ["tag", "train", "--labels", str(cal), "--out",
                                   str(tmp_path / "m"), "--all-docs", "-q", "--heldout-split", "",
                                   *extra])
    assert isinstance(res.exception, ConfigError) and message in str(res.exception)
    assert not (tmp_path / "m" / "model.json").exists()
