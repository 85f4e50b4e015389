"""Training data of known conduct: the calibrate flag, the test split, aligned-removed rate."""

from __future__ import annotations

import json
from importlib import resources

import pytest

from alignpt.core.errors import DataError
from alignpt.tag.labelled import LabelledSet, load_labelled
from alignpt.tag.labels import LABELS
from alignpt.tag.training import train_classifier
from alignpt.tag.metrics import aligned_removed

DATA = resources.files("alignpt") / "data" / "tag"


def _rows(name: str) -> list[dict]:
    return [json.loads(line) for line in (DATA / name).read_text().splitlines()]


def test_independent_test_split_shape():
    test = _rows("testset.jsonl")
    dev_texts = {r["text"] for r in _rows("devset.jsonl")}
    assert {r["split"] for r in test} == {"test"}
    counts = {lab: sum(r["label"] == lab for r in test) for lab in LABELS}
    assert min(counts.values()) >= 20, counts
    assert len({r["text"] for r in test}) == len(test)
    # written apart: no document shared with the dev set (which training reads)
    assert not dev_texts & {r["text"] for r in test}


def test_contrast_documents_train_but_do_not_calibrate():
    rows = _rows("devset.jsonl")
    contrast = [r for r in rows if r.get("case", "").startswith(("conduct_contrast",
                                                                 "conduct_negation"))]
    assert len(contrast) >= 800
    assert all(r["split"] == "train" and r["calibrate"] is False for r in contrast)
    # the same scenarios with opposite conduct: both directions in equal numbers
    aligned = sum(r["label"] == "ai_aligned" for r in contrast)
    assert aligned == sum(r["label"] == "ai_misaligned" for r in contrast) >= 350
    with resources.as_file(DATA / "devset.jsonl") as path:
        train = load_labelled(path, "train")
    assert train.calibrate is not None
    assert sum(not c for c in train.calibrate) == len(contrast)


def test_calibrate_flag_errors_and_digest(tmp_path):
    path = tmp_path / "l.jsonl"
    path.write_text('{"text": "x", "label": "non_ai", "calibrate": "no"}\n')
    with pytest.raises(DataError, match=r"l.jsonl:1: 'calibrate' must be true or false"):
        load_labelled(path)
    # a file without the flag reads as all-calibrating, and hashes as it did before the flag
    path.write_text('{"text": "x", "label": "non_ai"}\n{"text": "y", "label": "ai_neutral"}\n')
    plain = load_labelled(path)
    assert plain.calibrate is None
    flagged = LabelledSet(plain.ids, plain.texts, plain.labels, calibrate=[True, False])
    assert flagged.digest() != plain.digest()
    assert LabelledSet(plain.ids, plain.texts, plain.labels,
                       calibrate=[True, True]).digest() == plain.digest()


def _toy(n: int, calibrate: bool) -> tuple[list[str], list[str], list[bool]]:
    texts, labels = [], []
    for i in range(n):
        texts += [f"the river bank flooded again in spring {i}",
                  f"the AI model answered questions about the weather {i}",
                  f"the AI did not copy its weights and reported the open bucket {i}",
                  f"the AI copied its weights to the open bucket and hid the log {i}"]
        labels += list(LABELS)
    return texts, labels, [calibrate] * len(texts)


def test_threshold_is_chosen_on_calibrating_documents_only():
    # 8 documents per label may calibrate, 40 per label only train: the recorded
    # out-of-fold figures and the calibration count are over the 32 that calibrate
    t1, y1, c1 = _toy(8, True)
    t2, y2, c2 = _toy(40, False)
    t2 = [t + " extra" for t in t2]
    data = LabelledSet([str(i) for i in range(len(t1 + t2))], t1 + t2, y1 + y2,
                       calibrate=c1 + c2)
    clf = train_classifier(data, params={"n_features": 2 ** 12}, folds=2, seed=0)
    assert clf.meta["training"]["calibration_documents"] == 32
    assert clf.meta["training"]["documents"] == 192
    assert clf.meta["cross_validation"]["documents"] == 32
    assert sum(r["support"] for r in clf.meta["cross_validation"]["per_label"].values()) == 32
    assert clf.meta["cross_validation"]["ai_misaligned"]["recall"] >= 0.95
    none_misaligned = LabelledSet(data.ids, data.texts, data.labels,
                                  calibrate=[y != "ai_misaligned" for y in data.labels])
    with pytest.raises(DataError, match="no ai_misaligned document may calibrate"):
        train_classifier(none_misaligned, params={"n_features": 2 ** 12}, folds=2)


def test_training_with_conduct_features_is_byte_reproducible(tmp_path):
    t, y, c = _toy(6, True)
    data = LabelledSet([str(i) for i in range(len(t))], t, y)
    for name in ("a", "b"):
        train_classifier(data, params={"n_features": 2 ** 12}, folds=2, seed=3).save(
            tmp_path / name)
    assert (tmp_path / "a" / "weights.npz").read_bytes() == \
        (tmp_path / "b" / "weights.npz").read_bytes()
    body = json.loads((tmp_path / "a" / "model.json").read_text())
    assert body["format_version"] == 2 and body["params"]["conduct"] == 1


def test_aligned_removed_rate():
    truth = ["ai_aligned", "ai_aligned", "ai_misaligned", "ai_aligned", "non_ai", "ai_aligned"]
    flagged = [True, False, True, False, True, True]
    assert aligned_removed(truth, flagged) == {"removed": 2, "aligned": 4, "rate": 0.5}
    assert aligned_removed(["non_ai"], [True]) == {"removed": 0, "aligned": 0, "rate": None}
    with pytest.raises(ValueError, match="differ in length"):
        aligned_removed(["ai_aligned"], [])


def test_evaluate_reports_aligned_removed_per_system():
    from alignpt.tag.cascade import Cascade, TagConfig
    from alignpt.tag.evaluate import evaluate_cascade

    with resources.as_file(DATA / "testset.jsonl") as path:
        data = load_labelled(path, "test")
    keep = [i for i, y in enumerate(data.labels) if y in ("ai_aligned", "ai_misaligned")][::4]
    sub = data.subset(keep)
    cascade = Cascade(TagConfig())
    report = evaluate_cascade(sub, cascade)
    records = cascade.tag_batch(sub.texts)
    n_aligned = sub.labels.count("ai_aligned")
    expect = sum(r["flagged"] for r, y in zip(records, sub.labels) if y == "ai_aligned")
    assert report["cascade"]["aligned_removed"] == {
        "removed": expect, "aligned": n_aligned, "rate": round(expect / n_aligned, 4)}
    assert report["rules"]["aligned_removed"]["aligned"] == n_aligned
    assert report["classifier_alone"]["aligned_removed"]["aligned"] == n_aligned
