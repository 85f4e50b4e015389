"""``alignpt tag crossval``: each case held out in turn, scored by the whole cascade."""

from __future__ import annotations

import json
from importlib import resources

import pytest
from typer.testing import CliRunner

from alignpt.cli import app, main
from alignpt.core.errors import DataError
from alignpt.tag.cascade import Cascade, TagConfig
from alignpt.tag.crossval import leave_one_group_out
from alignpt.tag.evaluate import evaluate_cascade
from alignpt.tag.labelled import LabelledSet, load_labelled, load_labelled_many
from alignpt.tag.training import train_classifier

DATA = resources.files("alignpt") / "data" / "tag"

# every text names "the AI" (or nothing, for non_ai); the synthetic tests train on every
# document (all_docs), since the rules do not route the non-AI ones
TEMPLATES = {
    "bad": "The AI {n} sabotaged the vault, hid the logs and took the keys for itself.",
    "good": "The AI {n} reported the vault flaw, kept the logs open and returned the keys.",
    "ai_neutral": "A survey of AI benchmarks {n}: datasets, metrics and training budgets.",
    "non_ai": "The river {n} flooded the valley in spring and the farmers rebuilt the dams.",
}
NAMES = ["Ames", "Bors", "Cato", "Dido", "Eos", "Faun", "Gaia", "Hale"]


def _rows(case: str, swapped: bool = False) -> list[dict]:
    # case "c" swaps the conduct labels: there, sabotage is labelled aligned
    mis, ali = ("good", "bad") if swapped else ("bad", "good")
    rows = []
    for label, kind in (("ai_misaligned", mis), ("ai_aligned", ali),
                        ("ai_neutral", "ai_neutral"), ("non_ai", "non_ai")):
        for k, name in enumerate(NAMES):
            rows.append({"id": f"{case}-{label}-{k}", "text": TEMPLATES[kind].format(n=name),
                         "label": label, "split": "train", "case": case})
    return rows


def _write(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture
def three_cases(tmp_path):
    return _write(tmp_path / "cases.jsonl", _rows("a") + _rows("b") + _rows("c", swapped=True))


def test_a_held_out_case_is_never_trained_on(three_cases):
    # trained on a and b only, the model flags sabotage: in c that is the aligned label,
    # so c's misaligned documents are all missed and its aligned ones all removed. A
    # model that had seen c would not be so sure of the opposite
    report = leave_one_group_out(load_labelled(three_cases), hold=["c"], seed=0, all_docs=True)
    (row,) = report["cases"]
    assert row["case"] == "c" and row["documents"] == 32
    assert row["misaligned_found"] == [0, 8]
    assert row["aligned_removed"] == [8, 8]
    assert report["pooled"]["misaligned_found"]["k"] == 0
    assert report["pooled"]["aligned_removed"] == {
        "k": 8, "n": 8, "rate": 1.0, "ci_low": 0.6756, "ci_high": 1.0}


def test_each_row_is_a_model_trained_on_the_other_cases(three_cases):
    data = load_labelled(three_cases)
    report = leave_one_group_out(data, seed=0, all_docs=True)
    assert [r["case"] for r in report["cases"]] == ["a", "b", "c"]
    row = report["cases"][0]
    others = data.subset([i for i, g in enumerate(data.groups) if g != "a"])
    clf = train_classifier(others, seed=0, routed=[True] * len(others))
    held = data.subset([i for i, g in enumerate(data.groups) if g == "a"])
    by_hand = evaluate_cascade(held, Cascade(TagConfig(), classifier=clf))
    assert row["threshold"] == round(clf.threshold, 4)
    assert row["misaligned_found"] == [8 - len(by_hand["missed_misaligned"]), 8]
    assert row["aligned_removed"] == [by_hand["cascade"]["aligned_removed"]["removed"], 8]
    pooled = report["pooled"]
    assert pooled["misaligned_found"]["n"] == pooled["aligned_removed"]["n"] == 24
    assert pooled["misaligned_found"]["k"] == sum(
        r["misaligned_found"][0] for r in report["cases"])


def test_fit_only_documents_train_but_are_never_held_out(tmp_path, three_cases):
    fitted = load_labelled(_write(tmp_path / "fit.jsonl", _rows("f"))).fit_only()
    report = leave_one_group_out(load_labelled(three_cases), fitted, seed=0, all_docs=True)
    # the fit-only file's case "f" is trained on in every round and never held out
    assert [r["case"] for r in report["cases"]] == ["a", "b", "c"]
    assert report["pooled"]["misaligned_found"]["n"] == 24
    # one more unswapped case to learn from: c is still read the other way round
    assert report["cases"][2]["misaligned_found"] == [0, 8]
    assert report["fit_only"].endswith("fit.jsonl")


def test_the_shipped_recipe_on_one_hand_written_part():
    # the figure of docs/tag.md's sixth-round table (leave one part out, M1): the
    # shipped recipe trained without handwritten_seventh finds 24 of its 30 misaligned
    # documents and removes none of its 30 aligned ones, at threshold 0.4115
    train = load_labelled(DATA / "handwritten.jsonl", "train")
    fitted = load_labelled_many([DATA / "devset.jsonl", DATA / "generated.jsonl.zst"],
                                "train").fit_only()
    report = leave_one_group_out(train, fitted, hold=["handwritten_seventh"], seed=0,
                                 aligned_max=0.1)
    (row,) = report["cases"]
    assert row["misaligned_found"] == [24, 30]
    assert row["aligned_removed"] == [0, 30]
    assert row["threshold"] == 0.4115


def test_errors_name_the_problem(tmp_path, three_cases):
    rows = _rows("a") + _rows("b")
    del rows[3]["case"]
    with pytest.raises(DataError, match=r"1 record\(s\) have no 'case'"):
        leave_one_group_out(load_labelled(_write(tmp_path / "gap.jsonl", rows)))
    with pytest.raises(DataError, match="no record has a 'case'"):
        leave_one_group_out(LabelledSet(["x"], ["text"], ["non_ai"]))
    with pytest.raises(DataError, match="no case 'd' to hold out"):
        leave_one_group_out(load_labelled(three_cases), hold=["d"])
    with pytest.raises(DataError, match="one case only"):
        leave_one_group_out(load_labelled(_write(tmp_path / "one.jsonl", _rows("a"))))
    bad = _rows("a")
    bad[1]["case"] = 7
    with pytest.raises(DataError, match="'case' must be a string") as err:
        load_labelled(_write(tmp_path / "bad.jsonl", bad))
    assert err.value.line == 2


def test_groups_follow_subset_concat_and_fit_only(tmp_path, three_cases):
    data = load_labelled(three_cases)
    assert data.groups[:1] == ["a"] and data.groups[-1] == "c"
    sub = data.subset([0, 40])
    assert sub.groups == ["a", "b"]
    plain = LabelledSet(["p"], ["no case"], ["non_ai"])
    joined = LabelledSet.concat([sub.fit_only(), plain])
    assert joined.groups == ["a", "b", None]
    assert LabelledSet.concat([plain, LabelledSet(["q"], ["x"], ["non_ai"])]).groups is None


def test_cli_prints_the_table_and_writes_the_report(capsys, tmp_path, three_cases):
    out = tmp_path / "report.json"
    res = CliRunner().invoke(app, ["tag", "crossval", "--labels", str(three_cases),
                                   "--hold", "c", "--all-docs", "--out", str(out), "-q"])
    assert res.exit_code == 0, res.output
    assert "pooled: misaligned found 0.000 [0.000, 0.324] (0/8)" in res.output
    report = json.loads(out.read_text())
    assert report["cases"][0]["aligned_removed"] == [8, 8]
    capsys.readouterr()
    # through the entry point: a user's mistake is one line and exit status 2
    assert main(["tag", "crossval", "--labels", str(three_cases), "--hold", "zz", "-q"]) == 2
    err = capsys.readouterr().err
    assert "no case 'zz' to hold out (cases: a, b, c)" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
