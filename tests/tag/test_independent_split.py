"""The shipped cascade on the independent test split's last two parts: the figures
docs/tag.md and the issue 17 notes quote, recomputed (exact: the model, rules and
documents are fixed).

``handwritten_fourth`` and ``handwritten_fifth`` (120 documents each, 30 per label) were
written by hand after the classifier's features, training data, threshold rule and
parameters were fixed, each by a writer who saw neither them nor the other splits; each
was scored once with this model (the fifth also once with the encoder of docs/tag.md's
"A pretrained encoder"). A retrained model or changed rules must update these figures
and the docs together.
"""

from __future__ import annotations

import json
from importlib import resources

import pytest

from alignpt.tag.cascade import Cascade, TagConfig
from alignpt.tag.evaluate import evaluate_cascade
from alignpt.tag.labelled import load_labelled

DATA = resources.files("alignpt") / "data" / "tag"


def _part(case: str):
    with resources.as_file(DATA / "testset.jsonl") as path:
        test = load_labelled(path, "test")
        cases = [json.loads(line)["case"] for line in path.read_text().splitlines()]
    return test.subset([i for i, c in enumerate(cases) if c == case])


@pytest.mark.parametrize("case", ["handwritten_fourth", "handwritten_fifth"])
def test_the_part_is_balanced(case):
    part = _part(case)
    assert {y: part.labels.count(y) for y in set(part.labels)} == {
        "non_ai": 30, "ai_neutral": 30, "ai_aligned": 30, "ai_misaligned": 30}


# the aim's second half (at most 10% of aligned documents removed) holds on both parts;
# the first (misaligned recall >= 0.9) on neither
@pytest.mark.parametrize("case, disable, routed, recall, precision, aligned, macro_f1", [
    ("handwritten_fourth", None, 0.8333, 0.6, 1.0, 0, 0.7079),     # default routing
    ("handwritten_fourth", [], 0.8667, 0.6, 1.0, 0, 0.7772),       # broad: every rule on
    ("handwritten_fifth", None, 0.7667, 0.5667, 0.9444, 0, 0.6968),
    ("handwritten_fifth", [], 0.9, 0.6667, 0.8696, 2, 0.7848),
])
def test_shipped_cascade_figures(case, disable, routed, recall, precision, aligned, macro_f1):
    rules = {"engine": "re2"} if disable is None else {"engine": "re2", "disable": disable}
    report = evaluate_cascade(_part(case), Cascade(TagConfig(rules=rules)))
    cascade = report["cascade"]
    assert report["rules"]["routed_misaligned"] == routed
    assert cascade["misaligned"]["recall"] == recall
    assert cascade["misaligned"]["precision"] == precision
    assert cascade["aligned_removed"] == {"removed": aligned, "aligned": 30,
                                          "rate": round(aligned / 30, 4)}
    assert cascade["macro_f1"] == macro_f1
