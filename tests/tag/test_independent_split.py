"""The shipped cascade on the independent test split: the figures docs/tag.md and the
issue 17 notes quote, recomputed (exact: the model, rules and documents are fixed).

Every part of ``testset.jsonl`` was written by hand after the shipped classifier's
recipe (features, training data, calibrating data, threshold rule) was fixed, by a
writer who saw neither the tagger nor the other parts, and was scored once with this
model. ``handwritten_H`` and ``handwritten_I`` (120 documents each: 40 aligned, 40
misaligned, 20 neutral, 20 non-AI) were commissioned as calibration data; by the rule
fixed before their use (docs/tag.md, "Calibrated on hand-written text") the shipped
model does not read them, so they test it. ``handwritten_sixth`` (120, 30 per label) was
written after the model was committed. The five earlier test parts now train and
calibrate it (``handwritten.jsonl``). The ``broad_narrative`` routing rule's words were
chosen after reading the misaligned documents of H, I and the sixth part that default
routing missed, so those three parts' default-routing figures below are no longer
independent (the model's were: 0.7, 0.7 and 0.7667 routed; recall 0.55, 0.525 and 0.6333);
``handwritten_seventh``, written after the rule was committed, is. A retrained model or changed rules must update
these figures and the docs together.
"""

from __future__ import annotations

import json
from importlib import resources

import pytest

from alignpt.tag.cascade import Cascade, TagConfig
from alignpt.tag.evaluate import evaluate_cascade
from alignpt.tag.labelled import load_labelled

DATA = resources.files("alignpt") / "data" / "tag"

PARTS = {"handwritten_H": (40, 20), "handwritten_I": (40, 20), "handwritten_sixth": (30, 30),
         "handwritten_seventh": (30, 30)}


def _part(case: str):
    with resources.as_file(DATA / "testset.jsonl") as path:
        test = load_labelled(path, "test")
        cases = [json.loads(line)["case"] for line in path.read_text().splitlines()]
    return test.subset([i for i, c in enumerate(cases) if c == case])


def test_the_split_is_these_parts_and_none_is_trained_on():
    with resources.as_file(DATA / "testset.jsonl") as path:
        cases = {json.loads(line)["case"] for line in path.read_text().splitlines()}
    assert cases == set(PARTS)
    trained = {json.loads(line)["text"] for f in ("devset.jsonl", "handwritten.jsonl")
               for line in (DATA / f).read_text().splitlines()}
    for case in PARTS:
        assert not trained & set(_part(case).texts)


@pytest.mark.parametrize("case", sorted(PARTS))
def test_the_part_is_balanced(case):
    part = _part(case)
    conduct, other = PARTS[case]
    assert {y: part.labels.count(y) for y in set(part.labels)} == {
        "non_ai": other, "ai_neutral": other, "ai_aligned": conduct, "ai_misaligned": conduct}


# the aim's second half (at most 10% of aligned documents removed) holds at default
# routing; the first (misaligned recall >= 0.9) on no part: routing alone caps it
@pytest.mark.parametrize("case, disable, routed, recall, precision, aligned, macro_f1", [
    ("handwritten_H", None, 0.8, 0.65, 0.8387, 5, 0.7173),       # default routing
    ("handwritten_H", [], 0.825, 0.675, 0.8438, 5, 0.766),       # broad: every rule on
    ("handwritten_I", None, 0.775, 0.6, 0.8276, 4, 0.7051),
    ("handwritten_I", [], 0.825, 0.625, 0.8333, 4, 0.7533),
    ("handwritten_sixth", None, 0.7667, 0.6333, 0.8261, 2, 0.6869),
    ("handwritten_sixth", [], 0.8, 0.6333, 0.8261, 2, 0.7445),
    ("handwritten_seventh", None, 0.7333, 0.6333, 0.95, 1, 0.7204),
    ("handwritten_seventh", [], 0.8333, 0.6667, 0.9524, 1, 0.788),
])
def test_shipped_cascade_figures(case, disable, routed, recall, precision, aligned, macro_f1):
    rules = {"engine": "re2"} if disable is None else {"engine": "re2", "disable": disable}
    report = evaluate_cascade(_part(case), Cascade(TagConfig(rules=rules)))
    cascade = report["cascade"]
    n_aligned = PARTS[case][0]
    assert report["rules"]["routed_misaligned"] == routed
    assert cascade["misaligned"]["recall"] == recall
    assert cascade["misaligned"]["precision"] == precision
    assert cascade["aligned_removed"] == {"removed": aligned, "aligned": n_aligned,
                                          "rate": round(aligned / n_aligned, 4)}
    assert cascade["macro_f1"] == macro_f1
