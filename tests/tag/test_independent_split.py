"""The shipped cascade on the independent test split: the figures docs/tag.md and the
issue 17 notes quote, recomputed (exact: the model, rules and documents are fixed).

Every part of ``testset.jsonl`` was written by hand after the shipped tagger (rules,
features, training data, calibrating data, threshold rule) was fixed, by a writer who
saw neither the tagger nor the other parts, and was scored once with it.
``handwritten_eighth`` and ``handwritten_ninth`` (120 documents each, 30 per label) were
commissioned after issue 17's fifth round fixed its rules (``artifact_narrative``,
``it_acts``) and its model. ``handwritten_pairs_1``..``4`` (120 each: 40 situations written
twice, once with the AI acting well and once badly, the conduct conveyed by what happened and
not by words such as "lied"; 20 neutral, 20 non-AI) were written after the same point from
another brief, as candidate training data; the candidates that trained on them were not
shipped (docs/tag.md), so they test the shipped model too. ``handwritten_tenth`` and
``handwritten_eleventh`` (120 each, 30 per label, the eighth's brief) were commissioned after
the direction rule was measured and not shipped, so nothing was chosen after reading
them. Eight more (120 each, 30 per label, one register each: ``handwritten_ops``,
``_fiction``, ``_news``, ``_personal``, ``_technical``, ``_devices``, ``_agents``,
``_voices``; half the conduct documents near-twins, a third with the conduct shown only by
events) were written in issue 17's sixth round as candidate training data by writers who saw
no project file; no candidate that trained on them was shipped, and they were scored once
with the shipped tagger, fixed in the fifth round. The nine earlier test parts now train and
calibrate the model (``handwritten.jsonl``).
A retrained model or changed rules must update these figures and the docs together.
"""

from __future__ import annotations

import json
from importlib import resources

import pytest

from alignpt.tag.cascade import Cascade, TagConfig
from alignpt.tag.evaluate import evaluate_cascade
from alignpt.tag.labelled import load_labelled

DATA = resources.files("alignpt") / "data" / "tag"

REGISTERS = ("ops", "fiction", "news", "personal", "technical", "devices", "agents", "voices")
PARTS = {"handwritten_eighth": (30, 30), "handwritten_ninth": (30, 30),
         "handwritten_tenth": (30, 30), "handwritten_eleventh": (30, 30),
         **{f"handwritten_pairs_{k}": (40, 20) for k in range(1, 5)},
         **{f"handwritten_{r}": (30, 30) for r in REGISTERS}}


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
# routing on the eighth to eleventh parts and pooled over the eight registers (23 of 240),
# not on the pairs; the first (misaligned recall >= 0.9) on no part
@pytest.mark.parametrize("case, disable, routed, recall, precision, aligned, macro_f1", [
    ("handwritten_eighth", None, 0.7, 0.5333, 0.8889, 2, 0.7056),    # default routing
    ("handwritten_eighth", [], 0.8333, 0.6, 0.9, 2, 0.7297),         # broad: every rule on
    ("handwritten_ninth", None, 0.8333, 0.5, 0.8333, 2, 0.6137),
    ("handwritten_ninth", [], 0.8333, 0.5, 0.8333, 2, 0.6691),
    ("handwritten_tenth", None, 0.7333, 0.5333, 0.8889, 2, 0.6444),
    ("handwritten_tenth", [], 0.7667, 0.5667, 0.8947, 2, 0.7156),
    ("handwritten_eleventh", None, 0.7333, 0.6, 0.75, 4, 0.6618),
    ("handwritten_eleventh", [], 0.8, 0.6667, 0.7407, 4, 0.7103),
    ("handwritten_pairs_1", None, 0.8, 0.475, 0.6786, 9, 0.5397),
    ("handwritten_pairs_1", [], 0.925, 0.55, 0.6667, 11, 0.5765),
    ("handwritten_pairs_2", None, 0.6, 0.375, 0.7143, 6, 0.4562),
    ("handwritten_pairs_2", [], 0.775, 0.475, 0.6786, 7, 0.5132),
    ("handwritten_pairs_3", None, 0.85, 0.6, 0.6857, 11, 0.5298),
    ("handwritten_pairs_3", [], 0.925, 0.65, 0.7027, 11, 0.6033),
    ("handwritten_pairs_4", None, 0.325, 0.1, 0.8, 0, 0.412),    # fiction: few named AIs
    ("handwritten_pairs_4", [], 0.6, 0.2, 0.6154, 3, 0.4686),
    ("handwritten_ops", None, 0.4, 0.2, 0.6, 3, 0.4827),    # the sixth round's registers
    ("handwritten_ops", [], 0.5, 0.2333, 0.6364, 3, 0.531),
    ("handwritten_fiction", None, 0.6667, 0.5, 0.7143, 2, 0.4842),
    ("handwritten_fiction", [], 0.7667, 0.5333, 0.6667, 4, 0.5092),
    ("handwritten_news", None, 0.8667, 0.6667, 0.7143, 7, 0.7073),
    ("handwritten_news", [], 0.9, 0.6667, 0.6897, 8, 0.7223),
    ("handwritten_personal", None, 0.5333, 0.1333, 0.5, 2, 0.5242),
    ("handwritten_personal", [], 0.7, 0.2, 0.6, 2, 0.579),
    ("handwritten_technical", None, 0.8, 0.5333, 0.7619, 2, 0.6114),
    ("handwritten_technical", [], 0.9333, 0.6, 0.75, 3, 0.6635),
    ("handwritten_devices", None, 0.6, 0.4, 0.8571, 2, 0.6163),
    ("handwritten_devices", [], 0.7, 0.4, 0.8, 2, 0.6326),
    ("handwritten_agents", None, 0.8, 0.6, 0.72, 5, 0.5901),
    ("handwritten_agents", [], 0.9, 0.6667, 0.7143, 6, 0.6535),
    ("handwritten_voices", None, 0.4667, 0.1, 0.75, 0, 0.4843),  # first-person: no AI word
    ("handwritten_voices", [], 0.7, 0.2333, 0.875, 0, 0.5972),
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


def test_the_registers_pooled():
    # 240 misaligned and 240 aligned documents: the sixth round's headline figures. The
    # threshold sits where a threshold chosen after the fact would (at most 24 aligned
    # removed, 94 found); routing (154 of 240) and ranking, not calibration, cap recall
    with resources.as_file(DATA / "testset.jsonl") as path:
        test = load_labelled(path, "test")
        cases = [json.loads(line)["case"] for line in path.read_text().splitlines()]
    pooled = test.subset([i for i, c in enumerate(cases)
                          if c in {f"handwritten_{r}" for r in REGISTERS}])
    report = evaluate_cascade(pooled, Cascade(TagConfig(rules={"engine": "re2"})))
    cascade = report["cascade"]
    assert round(report["rules"]["routed_misaligned"] * 240) == 154
    assert round(cascade["misaligned"]["recall"] * 240) == 94
    assert cascade["aligned_removed"] == {"removed": 23, "aligned": 240, "rate": 0.0958}


def test_the_model_ranks_most_misaligned_twins_above_their_aligned_twins():
    # the pairs share situation and wording: the paired comparison the four-label figures
    # above cannot make. The model ranks the misaligned twin higher in 133 of 160 pairs,
    # yet the cascade flags both twins of 20 and neither of 92: it orders a pair better
    # than it places either document against the threshold
    from alignpt.tag.classifier import TagClassifier

    with resources.as_file(DATA / "testset.jsonl") as path:
        rows = [json.loads(line) for line in path.read_text().splitlines()]
    rows = [r for r in rows if r["case"].startswith("handwritten_pairs_")]
    ids = [r["id"] for r in rows]
    clf = TagClassifier.default()
    p = dict(zip(ids, clf.predict_proba([r["text"] for r in rows])[:, clf.labels.index(
        "ai_misaligned")].tolist()))
    flagged = dict(zip(ids, (r["flagged"] for r in Cascade(TagConfig(rules={"engine": "re2"}))
                             .tag_batch([r["text"] for r in rows]))))
    twins = [(i, i.replace("ai_misaligned", "ai_aligned")) for i in ids if "ai_misaligned" in i]
    assert len(twins) == 160 and all(a in p for _, a in twins)
    assert sum(p[m] > p[a] for m, a in twins) == 133
    assert sum(flagged[m] and flagged[a] for m, a in twins) == 20
    assert sum(not flagged[m] and not flagged[a] for m, a in twins) == 92
    assert sum(flagged[m] and not flagged[a] for m, a in twins) == 42
