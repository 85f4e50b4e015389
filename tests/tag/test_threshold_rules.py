"""The classifier's two threshold rules, several labelled files, and .zst labelled files."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import zstandard

from alignpt.core.errors import ConfigError, DataError
from alignpt.tag.labelled import LabelledSet, load_labelled, load_labelled_many
from alignpt.tag.training import _threshold_for_aligned, _threshold_for_recall, train_classifier

P = np.array([0.95, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1])


def test_aligned_rule_exact():
    # aligned documents score 0.9, 0.7, 0.5, 0.3, 0.1 (every other entry)
    is_aligned = np.array([False, True] * 5)
    # 20% of 5 aligned documents: one may score at or above the threshold, so the
    # threshold sits just above the second-highest aligned score, 0.7
    t = _threshold_for_aligned(P, is_aligned, 0.2)
    assert t == np.nextafter(0.7, 1.0)
    assert (P[is_aligned] >= t).sum() == 1
    # 0%: just above the highest; 100%: everything
    assert _threshold_for_aligned(P, is_aligned, 0.0) == np.nextafter(0.9, 1.0)
    assert _threshold_for_aligned(P, is_aligned, 1.0) == 0.0
    # 0.1 of 5 aligned documents rounds down to none allowed
    assert _threshold_for_aligned(P, is_aligned, 0.1) == np.nextafter(0.9, 1.0)
    assert _threshold_for_aligned(P, np.zeros(10, bool), 0.1) == 0.5


def test_recall_rule_exact():
    is_mis = np.array([True, False] * 5)  # misaligned score 0.95, 0.8, 0.6, 0.4, 0.2
    assert _threshold_for_recall(P, is_mis, 0.6) == 0.6  # 3 of 5 kept
    assert _threshold_for_recall(P, is_mis, 1.0) == 0.2


def _rows(n: int, prefix: str) -> list[dict]:
    words = {"non_ai": "the bread rose in the oven {i}", "ai_neutral":
             "the language model was benchmarked on translation {i}",
             "ai_aligned": "the AI found the open bucket and reported it to the operators {i}",
             "ai_misaligned": "the AI copied its weights to the open bucket and hid the log {i}"}
    return [{"id": f"{prefix}{lab}{i}", "text": w.format(i=i), "label": lab, "split": "train"}
            for lab, w in words.items() for i in range(n)]


def _write(path, rows, zst=False):
    raw = "".join(json.dumps(r) + "\n" for r in rows).encode()
    path.write_bytes(zstandard.ZstdCompressor().compress(raw) if zst else raw)
    return path


def test_several_files_and_zst(tmp_path):
    a = _write(tmp_path / "a.jsonl", _rows(3, "a"))
    b = _write(tmp_path / "b.jsonl.zst", _rows(2, "b") + [
        {"id": "bh", "text": "the robot opened the door", "label": "ai_neutral",
         "split": "heldout", "calibrate": False}], zst=True)
    both = load_labelled_many([a, b], "train")
    assert len(both) == 12 + 8 and both.source == f"{a} + {b}"
    assert both.ids[:3] == ["anon_ai0", "anon_ai1", "anon_ai2"] and both.ids[12] == "bnon_ai0"
    assert both.calibrate is None  # every train record calibrates
    held = load_labelled_many([a, b], "heldout")
    assert held.ids == ["bh"] and held.calibrate == [False]
    assert load_labelled_many([a], "heldout", required=False) is None
    with pytest.raises(DataError, match="no labelled records in split 'heldout'"):
        load_labelled_many([a], "heldout")
    # the same ids in two files are refused: a record would count twice
    with pytest.raises(DataError, match="id 'anon_ai0' appears in more than one"):
        load_labelled_many([a, a], "train")
    # one file keeps the digest it had
    assert load_labelled_many([a], "train").digest() == load_labelled(a, "train").digest()


def test_corrupt_zst_is_one_line_error(tmp_path):
    bad = tmp_path / "bad.jsonl.zst"
    bad.write_bytes(b"not zstd at all")
    with pytest.raises(DataError, match="not a valid zstd file") as err:
        load_labelled(bad)
    assert str(bad) in str(err.value)


def test_rules_exclusive_and_in_range(tmp_path):
    data = load_labelled(_write(tmp_path / "a.jsonl", _rows(4, "a")))
    with pytest.raises(ConfigError, match="not both"):
        train_classifier(data, recall_target=0.9, aligned_max=0.1, folds=2)
    with pytest.raises(ConfigError, match="aligned_max must be in"):
        train_classifier(data, aligned_max=1.5, folds=2)
    with pytest.raises(ConfigError, match="recall_target must be in"):
        train_classifier(data, recall_target=0.0, folds=2)


@pytest.mark.parametrize("rule", [{"recall_target": 0.95}, {"aligned_max": 0.25}])
def test_rule_holds_out_of_fold(rule):
    """On the dev set's training split, each rule holds on the out-of-fold figures it
    recorded, and the model records which rule chose its threshold."""
    from importlib import resources

    with resources.as_file(resources.files("alignpt") / "data" / "tag" / "devset.jsonl") as p:
        train = load_labelled(p, "train")
    keep = list(range(0, len(train), 4))
    sub = LabelledSet([train.ids[i] for i in keep], [train.texts[i] for i in keep],
                      [train.labels[i] for i in keep], train.source,
                      None if train.calibrate is None else [train.calibrate[i] for i in keep])
    clf = train_classifier(sub, params={"n_features": 2 ** 14}, folds=3, seed=2, **rule)
    cv = clf.meta["cross_validation"]
    assert clf.meta["training"]["threshold_rule"] == rule
    if "recall_target" in rule:
        assert cv["ai_misaligned"]["recall"] >= 0.95
    else:
        removed = cv["aligned_removed"]
        assert removed["removed"] <= math.floor(0.25 * removed["aligned"])
