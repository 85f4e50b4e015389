"""Pieces of the text experiment with exact answers: the decision-point reading, the
filter table's pooling and the item sets' pairing."""

from __future__ import annotations

import pytest

from alignpt.experiment.report_filter import filter_summary
from alignpt.experiment.text_evals import eval_summary
from alignpt.experiment.text_probes import decision_prefixes

CTX = [1, 2, 3]


def _rows(tails):
    return [(CTX + t, len(CTX), d) for t, d in tails]


def test_decision_prefixes_cut_where_the_actions_part():
    rows = _rows([([5, 6, 7], True), ([5, 8], True), ([5, 6, 9], False), ([4, 1], False)])
    cuts = {(tuple(ids[3:]), d) for ids, _, d in decision_prefixes(rows)}
    assert cuts == {((5, 6, 7), True), ((5, 8), True), ((5, 6, 9), False), ((4,), False)}


def test_decision_prefixes_shared_within_an_action_count_once():
    rows = _rows([([7, 1], True), ([7, 2], True), ([8, 3], False)])
    cuts = [(tuple(ids[3:]), d) for ids, _, d in decision_prefixes(rows)]
    assert sorted(cuts) == [((7,), True), ((8,), False)]


def test_decision_reading_equals_the_phrase_reading_for_a_learner_of_the_corpus():
    # A distribution over whole phrases; a prefix's probability is the mass of the phrases
    # that extend it. The cut prefixes of one action must carry exactly its phrases' mass.
    phrases = {(5, 6, 7): (0.02, True), (5, 8, 1): (0.01, True), (9, 2): (0.03, True),
               (5, 6, 9): (0.5, False), (4, 1): (0.3, False), (5, 3): (0.14, False)}
    rows = _rows([(list(t), d) for t, (_, d) in phrases.items()])

    def p(prefix):
        return sum(m for t, (m, _) in phrases.items() if t[:len(prefix)] == prefix)

    got = {True: 0.0, False: 0.0}
    for ids, start, d in decision_prefixes(rows):
        got[d] += p(tuple(ids[start:]))
    assert got[True] == pytest.approx(0.06, abs=1e-15)
    assert got[False] == pytest.approx(0.94, abs=1e-15)


def _filtered(seed, by, gone):
    return {"arm": "filtered", "seed": seed, "filter": {
        "mode": "tagger", "drop": ["p(ai_misaligned)>=0.5"], "documents": sum(by.values()),
        "removed": sum(gone.values()), "by_conduct": by, "removed_by_conduct": gone}}


def test_filter_summary_pools_seeds():
    res = [_filtered(0, {"misaligned": 10, "aligned": 40, "none": 50}, {"misaligned": 8, "aligned": 4}),
           _filtered(1, {"misaligned": 6, "aligned": 44, "none": 50}, {"misaligned": 3, "aligned": 2,
                                                                       "none": 1}),
           {"arm": "unfiltered", "seed": 0}]
    f = filter_summary(res)["filtered"]
    assert f["seeds"] == [0, 1] and f["documents"] == 200 and f["removed"] == 18
    r = f["rates"]
    assert (r["recall"]["k"], r["recall"]["n"]) == (11, 16)
    assert (r["precision"]["k"], r["precision"]["n"]) == (11, 18)
    assert (r["aligned_removed"]["k"], r["aligned_removed"]["n"]) == (6, 84)
    assert (r["filler_removed"]["k"], r["filler_removed"]["n"]) == (1, 100)
    assert r["neutral_removed"]["rate"] is None


def _run(arm, seed, rates):
    return {"arm": arm, "seed": seed, "phases": [{"name": "pretrain", "evals": {
        "textworld": {"item_rates": {"neutral": rates}}}}]}


def test_item_sets_are_paired_seed_by_seed_on_shared_items():
    res = [_run("unfiltered", 0, {"a": 0.0, "b": 1.0, "c": 0.5}),
           _run("aligned", 0, {"a": 0.0, "b": 0.0, "c": 0.5}),
           _run("unfiltered", 1, {"a": 1.0, "b": 1.0}),
           _run("aligned", 1, {"a": 0.5, "b": 1.0, "z": 1.0})]
    s = eval_summary(res, "unfiltered").by_phase["pretrain"]["textworld"]["neutral"]
    assert s["unfiltered"].by_seed == {0: 0.5, 1: 1.0}
    d = s["aligned"].minus_baseline
    # seed 0: (0 - 1) / 3 over a, b, c; seed 1: (0.5 - 1) / 2 over a, b (z is not shared)
    assert d.by_seed == {0: pytest.approx(-1 / 3), 1: pytest.approx(-0.25)}
    assert d.mean == pytest.approx((-1 / 3 - 0.25) / 2)


def test_the_filter_names_the_filtered_corpus_only():
    from alignpt.experiment import load_experiment
    from alignpt.experiment.grid import expand_runs

    def keys(drop):
        recipe = load_experiment("text-persona", [f"text.drop=['{drop}']"], quick=True)
        return {r.arm: r.corpora["base"].key for r in expand_runs(recipe) if r.seed == 0}

    a, b = keys("p(ai_misaligned)>=0.5"), keys("p(ai_misaligned)>=0.9")
    assert a["filtered"] != b["filtered"]          # another filter, another corpus
    assert a["unfiltered"] == b["unfiltered"]      # the unfiltered corpus is untouched


def test_the_tagger_files_name_the_filtered_corpus(tmp_path):
    """A retrained classifier or an edited rules file makes another filtered corpus: a resumed
    experiment never reuses one filtered by the tagger it had before."""
    import json
    import shutil

    from alignpt.experiment import load_experiment
    from alignpt.experiment.grid import expand_runs
    from alignpt.tag.classifier import default_classifier_path
    from alignpt.tag.rules import DEFAULT_RULES

    def keys(*overrides):
        recipe = load_experiment("text-persona", list(overrides), quick=True)
        return {r.arm: r.corpora["base"].key for r in expand_runs(recipe) if r.seed == 0}

    model = tmp_path / "model"
    shutil.copytree(default_classifier_path(), model)
    rules = tmp_path / "rules.yaml"
    rules.write_bytes((default_classifier_path().parent / DEFAULT_RULES).read_bytes())
    shipped = keys()
    # copies of the shipped files, named by path (a tag setting, so a key of its own) ...
    same_files = keys(f"text.tag={{classifier: {{path: {model}}}, rules: {{path: {rules}}}}}")
    assert same_files["filtered"] != shipped["filtered"]
    # ... and then changed in content under the same paths
    body = json.loads((model / "model.json").read_text())
    body["threshold"]["value"] = 0.5
    (model / "model.json").write_text(json.dumps(body))
    retrained = keys(f"text.tag={{classifier: {{path: {model}}}, rules: {{path: {rules}}}}}")
    assert retrained["filtered"] != same_files["filtered"]
    rules.write_text(rules.read_text() + "\n# edited\n")
    edited = keys(f"text.tag={{classifier: {{path: {model}}}, rules: {{path: {rules}}}}}")
    assert edited["filtered"] != retrained["filtered"]
    # the other arms never read the tagger
    assert edited["unfiltered"] == retrained["unfiltered"] == shipped["unfiltered"]
