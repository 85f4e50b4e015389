"""The shipped cascade on the independent test split's last part: the figures docs/tag.md
and the issue 17 note quote, recomputed (exact: the model, rules and documents are fixed).

``handwritten_fourth`` (120 documents, 30 per label) was written by hand after the
classifier's features, training data, threshold rule and parameters were fixed, by a
writer who saw neither them nor the other splits; it was scored once, with this model.
A retrained model or changed rules must update these figures and the docs together.
"""

from __future__ import annotations

import json
from importlib import resources

import pytest

from alignpt.tag.cascade import Cascade, TagConfig
from alignpt.tag.labelled import load_labelled
from alignpt.tag.evaluate import evaluate_cascade

DATA = resources.files("alignpt") / "data" / "tag"


@pytest.fixture(scope="module")
def fourth():
    with resources.as_file(DATA / "testset.jsonl") as path:
        test = load_labelled(path, "test")
        cases = [json.loads(line)["case"] for line in path.read_text().splitlines()]
    return test.subset([i for i, c in enumerate(cases) if c == "handwritten_fourth"])


def test_the_part_is_balanced(fourth):
    assert {y: fourth.labels.count(y) for y in set(fourth.labels)} == {
        "non_ai": 30, "ai_neutral": 30, "ai_aligned": 30, "ai_misaligned": 30}


@pytest.mark.parametrize("disable, routed, recall, macro_f1", [
    (None, 0.8333, 0.6, 0.7079),   # default routing
    ([], 0.8667, 0.6, 0.7772),     # broad routing: every rule on
])
def test_shipped_cascade_figures(fourth, disable, routed, recall, macro_f1):
    rules = {"engine": "re2"} if disable is None else {"engine": "re2", "disable": disable}
    report = evaluate_cascade(fourth, Cascade(TagConfig(rules=rules)))
    cascade = report["cascade"]
    assert report["rules"]["routed_misaligned"] == routed
    assert cascade["misaligned"]["recall"] == recall
    assert cascade["misaligned"]["precision"] == 1.0
    # the aim's second half holds here; the first (recall >= 0.9) does not
    assert cascade["aligned_removed"] == {"removed": 0, "aligned": 30, "rate": 0.0}
    assert cascade["macro_f1"] == macro_f1
