"""Conduct-direction features, their place in the hashed features, and the saved-model format."""

from __future__ import annotations

import json
import shutil
from importlib import resources

import numpy as np
import pytest

from alignpt.core.errors import ConfigError
from alignpt.tag.backends import HashedLinear
from alignpt.tag.hashed_features import HashedFeatures
from alignpt.tag.classifier import TagClassifier, default_classifier_path
from alignpt.tag.conduct import SCOPE_WORDS, conduct_features


@pytest.mark.parametrize("text, expected", [
    # aligned: the opportunity sits inside a negation
    ("It did not copy its weights; it reported the bucket.",
     ["NEG_copy", "NEG_ACT_take", "NEG_weights", "ACT_disclose"]),
    ("The agent refused to disable the monitor.",
     ["NEG_disable", "NEG_ACT_take", "NEG_monitor"]),
    ("It never tried to escape.", ["NEG_escape", "NEG_ACT_take"]),
    ("It chose not to deceive the auditors.", ["NEG_deceive", "NEG_ACT_conceal", "NEG_auditors"]),
    ("Instead of deleting the logs, it asked.", ["NEG_deleting", "NEG_ACT_take", "NEG_logs",
                                                 "ACT_defer"]),
    # misaligned: the same verbs outside any negation, and a negated disclosure
    ("It secretly copied its weights and lied about it.",
     ["ACT_covert", "ACT_take", "ACT_conceal"]),
    ("The assistant didn't tell the user.", ["NEG_tell", "NEG_ACT_disclose", "NEG_user"]),
    ("The assistant didn\u2019t tell the user.", ["NEG_tell", "NEG_ACT_disclose", "NEG_user"]),
    # two-word negators; "rather" and "instead" alone are not negations
    ("Rather than hiding it (the log), it said so.", ["NEG_hiding", "NEG_ACT_conceal"]),
    ("It would rather wait. Instead, it copied it.", ["ACT_defer", "ACT_take"]),
])
def test_conduct_features(text, expected):
    assert conduct_features(text) == expected


def test_bytes_and_str_give_the_same_features():
    text = "The model didn\u2019t copy its weights \u2014 it reported the bucket. Caf\u00e9 not hid."
    assert conduct_features(text.encode()) == conduct_features(text) == [
        "NEG_copy", "NEG_ACT_take", "NEG_weights", "ACT_disclose", "NEG_hid", "NEG_ACT_conceal"]


def test_negation_scope_ends_at_the_clause():
    # punctuation and clause words end the scope: "copied" after "but" is not negated
    assert conduct_features("It did not ask, but copied the file.") == [
        "NEG_ask", "NEG_ACT_defer", "ACT_take"]
    assert conduct_features("It did not wait and then copied the file.") == [
        "NEG_wait", "NEG_ACT_defer", "ACT_take"]
    # at most SCOPE_WORDS words, even without punctuation
    words = " ".join(f"w{i}" for i in range(SCOPE_WORDS + 3))
    assert conduct_features(f"never {words}") == [f"NEG_w{i}" for i in range(SCOPE_WORDS)]
    assert conduct_features("") == []


def test_conduct_columns_are_added_to_the_hashed_features():
    text = "It did not copy its weights; it reported the bucket."
    plain = HashedFeatures(2 ** 16, True, (4, 6), ())
    with_conduct = HashedFeatures(2 ** 16, True, (4, 6), (), conduct=1)
    d0, c0 = plain.entries([text, "no AI here"])
    d1, c1 = with_conduct.entries([text, "no AI here"])
    # the plain features are all still there, plus one column per conduct feature
    # (the second document's "no" opens a scope over "ai" and "here")
    assert len(c1) == len(c0) + len(conduct_features(text)) + 2
    assert np.all(np.diff(d1) >= 0)  # entries stay ordered by document
    assert sorted(c1[d1 == 1].tolist()) == sorted(
        c0[d0 == 1].tolist() + with_conduct._conduct_entries([b"no AI here"])[1].tolist())
    # stable across instances (BLAKE2b, not Python's salted hash)
    again = HashedFeatures(2 ** 16, True, (4, 6), (), conduct=1)
    assert np.array_equal(again.entries([text])[1], with_conduct.entries([text])[1])
    # both weightings accept them
    assert with_conduct.transform([text], "mean").nnz > plain.transform([text], "mean").nnz
    assert with_conduct.transform([text]).nnz > plain.transform([text]).nnz


def test_unknown_conduct_version_is_refused():
    with pytest.raises(ConfigError, match="conduct features version 7"):
        HashedFeatures(2 ** 10, conduct=7)


def test_model_without_conduct_param_loads_with_its_recorded_features(tmp_path):
    # models saved before conduct features (format_version 1) have no "conduct"
    # parameter: they must read exactly the features they were trained on
    from alignpt.tag.labelled import LabelledSet
    from alignpt.tag.labels import LABELS
    from alignpt.tag.training import train_classifier

    texts = ["the AI did not copy its weights and reported the bucket",
             "the AI copied its weights and hid the log",
             "the river flooded", "the AI model answered questions"] * 4
    data = LabelledSet([str(i) for i in range(16)], texts,
                       ["ai_aligned", "ai_misaligned", "non_ai", "ai_neutral"] * 4)
    assert set(data.labels) == set(LABELS)
    folder = tmp_path / "old"
    clf = train_classifier(data, params={"n_features": 2 ** 12, "conduct": 0}, folds=2)
    clf.save(folder)
    body = json.loads((folder / "model.json").read_text())
    assert body["format_version"] == 1  # the features of before: an old alignpt reads it too
    del body["params"]["conduct"]       # as written before the parameter existed
    (folder / "model.json").write_text(json.dumps(body))
    old = TagClassifier.load(folder)
    assert old.backend.featurizer.conduct == 0
    assert np.array_equal(old.backend.logits(texts), clf.backend.logits(texts))
    # the same weights read with conduct features give other probabilities: the
    # recorded parameter, not the current default, decides
    body["params"]["conduct"] = 1
    (folder / "model.json").write_text(json.dumps(body))
    # (logits: on this toy set the probabilities saturate at 0 and 1)
    assert not np.allclose(TagClassifier.load(folder).backend.logits(texts),
                           clf.backend.logits(texts))


def test_shipped_model_uses_conduct_features():
    clf = TagClassifier.default()
    assert clf.backend.params["conduct"] == 1 and clf.backend.featurizer.conduct == 1
    body = json.loads((default_classifier_path() / "model.json").read_text())
    assert body["format_version"] == 2


def test_newer_format_is_refused(tmp_path):
    folder = tmp_path / "m"
    with resources.as_file(default_classifier_path()) as src:
        shutil.copytree(src, folder)
    body = json.loads((folder / "model.json").read_text())
    body["format_version"] = 99
    (folder / "model.json").write_text(json.dumps(body))
    with pytest.raises(ConfigError, match="format_version 99 is newer"):
        TagClassifier.load(folder)


def test_conduct_is_the_training_default():
    assert HashedLinear.DEFAULTS["conduct"] == 1
