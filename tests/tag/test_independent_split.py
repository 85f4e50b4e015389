"""The shipped cascade on the independent test split: the figures docs/tag.md and the
issue 17 notes quote, recomputed (exact: the model, rules and documents are fixed).

Every part of ``testset.jsonl`` was written by hand after the shipped tagger (rules,
features, training data, calibrating data, threshold rule) was fixed, by a writer who
saw neither the tagger nor the other parts, and was scored once with it.
``handwritten_eighth`` and ``handwritten_ninth`` (120 documents each, 30 per label) were
commissioned after issue 17's fifth round fixed its rules (``artifact_narrative``,
``it_acts``) and its model. The nine earlier test parts now train and calibrate the model
(``handwritten.jsonl``). A retrained model or changed rules must update these figures and
the docs together.
"""

from __future__ import annotations

import json
from importlib import resources

import pytest

from alignpt.tag.cascade import Cascade, TagConfig
from alignpt.tag.evaluate import evaluate_cascade
from alignpt.tag.labelled import load_labelled

DATA = resources.files("alignpt") / "data" / "tag"

PARTS = {"handwritten_eighth": (30, 30), "handwritten_ninth": (30, 30)}


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
# routing; the first (misaligned recall >= 0.9) on no part
@pytest.mark.parametrize("case, disable, routed, recall, precision, aligned, macro_f1", [
    ("handwritten_eighth", None, 0.7, 0.5333, 0.8889, 2, 0.7056),    # default routing
    ("handwritten_eighth", [], 0.8333, 0.6, 0.9, 2, 0.7297),         # broad: every rule on
    ("handwritten_ninth", None, 0.8333, 0.5, 0.8333, 2, 0.6137),
    ("handwritten_ninth", [], 0.8333, 0.5, 0.8333, 2, 0.6691),
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
