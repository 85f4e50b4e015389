"""Classifier: training metadata, calibration, round trip, shipped model, backends."""

from __future__ import annotations

import importlib.util
import json
from importlib import resources

import numpy as np
import pytest

from alignpt.core.errors import ConfigError, DataError
from alignpt.tag.classifier import TagClassifier
from alignpt.tag.labelled import LabelledSet, load_labelled
from alignpt.tag.labels import LABELS
from alignpt.tag.training import train_classifier

DEV = resources.files("alignpt") / "data" / "tag" / "devset.jsonl"
SMALL = {"n_features": 2 ** 14}


@pytest.fixture(scope="module")
def small_model(tmp_path_factory):
    with resources.as_file(DEV) as path:
        train = load_labelled(path, "train")
        heldout = load_labelled(path, "heldout")
    keep = list(range(0, len(train), 3))  # a third of the training split: fast, still real
    sub = LabelledSet([train.ids[i] for i in keep], [train.texts[i] for i in keep],
                      [train.labels[i] for i in keep], train.source)
    return train_classifier(sub, params=SMALL, heldout=heldout, folds=3, seed=1), heldout, train


def test_dev_set_shape():
    with resources.as_file(DEV) as path:
        rows = [json.loads(line) for line in path.read_text().splitlines()]
        heldout = load_labelled(path, "heldout")
    assert len(rows) >= 200 and len({r["text"] for r in rows}) == len(rows)
    assert {r["label"] for r in rows} == set(LABELS)
    cases = {r["case"] for r in rows}
    for hard in ("ai_abbreviation", "robots_manufacturing", "neural_biology", "alignment_other",
                 "alignment_research", "misuse_by_humans", "fiction"):
        assert hard in cases
    assert {y: heldout.labels.count(y) for y in LABELS} == {
        "non_ai": 22, "ai_neutral": 20, "ai_aligned": 18, "ai_misaligned": 20}
    # the test split was written apart from everything else and is never trained or tuned on
    with resources.as_file(DEV) as path:
        test = load_labelled(path, "test")
    assert {y: test.labels.count(y) for y in LABELS} == dict.fromkeys(LABELS, 60)
    assert {r["split"] for r in rows} == {"train", "heldout", "test"}


def test_training_metadata(small_model):
    clf, heldout, train = small_model
    meta = clf.meta
    assert meta["training"]["documents"] == len(range(0, len(train), 3))
    assert meta["training"]["folds"] == 3
    assert meta["training"]["threshold_rule"] == {"aligned_max": 0.1}
    assert "scikit_learn" in meta["training"]
    assert set(meta["cross_validation"]["per_label"]) == set(LABELS)
    # the default threshold tags at most 10% of the aligned documents misaligned out of
    # fold, by construction
    removed = meta["cross_validation"]["aligned_removed"]
    assert removed["aligned"] > 0 and removed["rate"] <= 0.1
    assert meta["heldout"]["documents"] == len(heldout) == 80
    assert 0.0 < clf.threshold < 1.0 and clf.temperature > 0


def test_progress_hears_each_fit():
    with resources.as_file(DEV) as path:
        train = load_labelled(path, "train")
    sub = train.subset(list(range(0, len(train), 20)))
    heard: list[tuple[str, int, int]] = []
    train_classifier(sub, params=SMALL, folds=3, progress=lambda *a: heard.append(a))
    # a linear fit is one step: each fit is heard starting and finished, in order
    assert heard == [(w, d, 1) for w in ("fold 1/3", "fold 2/3", "fold 3/3", "final fit")
                     for d in (0, 1)]


def test_probabilities_are_distributions(small_model):
    clf, heldout, _ = small_model
    p = clf.predict_proba(heldout.texts[:10])
    assert p.shape == (10, 4) and np.allclose(p.sum(axis=1), 1.0)
    assert clf.predict_proba([]).shape == (0, 4)


def test_save_load_gives_identical_probabilities(small_model, tmp_path):
    clf, heldout, _ = small_model
    clf.save(tmp_path / "m")
    again = TagClassifier.load(tmp_path / "m")
    assert np.array_equal(clf.predict_proba(heldout.texts), again.predict_proba(heldout.texts))
    assert again.threshold == clf.threshold and again.temperature == clf.temperature
    assert again.meta == json.loads(json.dumps(clf.meta))


def test_decide_uses_the_threshold(small_model):
    clf, _, _ = small_model
    probs = np.array([[0.5, 0.1, 0.1, 0.3], [0.1, 0.6, 0.25, 0.05]])
    assert clf.decide(probs, threshold=0.25) == ["ai_misaligned", "ai_neutral"]
    assert clf.decide(probs, threshold=0.35) == ["non_ai", "ai_neutral"]


def test_shipped_model_has_measured_precision_and_recall():
    clf = TagClassifier.default()
    meta = clf.meta
    assert meta["training"]["trained_on"] == "routed"
    held = meta["heldout"]
    assert held["documents"] == 80
    for lab in LABELS:
        assert set(held["per_label"][lab]) == {"precision", "recall", "f1", "support"}
    # the shipped rule: at most 10% of the calibrating aligned documents tagged
    # misaligned out of fold (by construction); what recall that leaves is recorded
    assert meta["training"]["threshold_rule"] == {"aligned_max": 0.1}
    assert meta["cross_validation"]["aligned_removed"]["rate"] <= 0.1
    assert 0.0 < held["ai_misaligned"]["recall"] <= 1.0
    size = sum(f.stat().st_size for f in (resources.files("alignpt") / "data" / "tag"
                                          / "classifier").iterdir())
    assert size < 2_000_000


def test_shipped_model_reproduces_its_recorded_heldout_figures():
    # The weights are indexed by hashed feature columns: if tokenising or hashing
    # changes, the saved model silently becomes noise. Its metadata records what it
    # scored on the held-out split when it was trained; scoring it now must agree.
    from alignpt.tag.training import _report

    clf = TagClassifier.default()
    with resources.as_file(DEV) as path:
        heldout = load_labelled(path, clf.meta["heldout"].get("split", "heldout"))
    now = _report(clf, heldout)
    recorded = clf.meta["heldout"]
    assert now["data_sha256"] == recorded["data_sha256"]
    assert now["per_label"] == recorded["per_label"]
    assert now["ai_misaligned"] == recorded["ai_misaligned"]
    assert now["aligned_removed"] == recorded["aligned_removed"]


def test_labelled_file_errors(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "x", "label": "ai_misaligned"}\n{"text": "y", "label": "evil"}\n')
    with pytest.raises(DataError, match=r"bad.jsonl:2: label must be one of"):
        load_labelled(bad)
    one = LabelledSet(["a", "b"], ["x", "y"], ["non_ai", "ai_neutral"])
    with pytest.raises(DataError, match="no 'ai_aligned' examples"):
        train_classifier(one)
    with pytest.raises(ConfigError, match="unknown classifier backend"):
        train_classifier(one, backend="bert")


@pytest.mark.skipif(importlib.util.find_spec("fasttext") is None, reason="fasttext not installed")
def test_fasttext_backend_round_trip(tmp_path):
    # fastText is weak on 320 short documents (about 0.5 accuracy against 0.7 for the
    # hashed linear model); this checks the backend works end to end and round-trips.
    with resources.as_file(DEV) as path:
        train = load_labelled(path, "train")
        heldout = load_labelled(path, "heldout")
    clf = train_classifier(train, backend="fasttext", params={"bucket": 20000}, folds=3)
    assert clf.meta["training"]["fasttext"]
    clf.save(tmp_path / "ft")
    again = TagClassifier.load(tmp_path / "ft")
    assert np.array_equal(clf.predict_proba(heldout.texts), again.predict_proba(heldout.texts))
    assert (np.array(again.predict(heldout.texts)) == np.array(heldout.labels)).mean() > 0.3
