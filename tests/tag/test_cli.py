"""The command line: ``alignpt tag SHARDS...`` routing, subcommands, ``alignpt filter``."""

from __future__ import annotations

import json

import typer
from typer.testing import CliRunner

from alignpt.core.errors import ConfigError, DataError
from alignpt.filter.cli import filter_cmd
from alignpt.tag.cli import tag_app

from .helpers import dev_rows, write_jsonl, write_shards

# The same registration the main CLI uses:
#   app.add_typer(tag_app, name="tag"); app.command("filter")(filter_cmd)
root = typer.Typer()
root.add_typer(tag_app, name="tag")
root.command("filter")(filter_cmd)
runner = CliRunner()
RE2 = ["--set", "rules.engine=re2"]


def invoke(*args: str):
    result = runner.invoke(root, list(args), catch_exceptions=True)
    return result


def test_default_action_tags_shards_then_filter_and_review(tmp_path):
    write_shards(tmp_path / "in", shards=2, copies=1)
    res = invoke("tag", str(tmp_path / "in"), "--out", str(tmp_path / "tag"), "--workers", "1",
                 "-q", *RE2)
    assert res.exit_code == 0, res.output
    assert "18 documents" in res.output and "2 shard(s) tagged" in res.output
    again = invoke("tag", "run", str(tmp_path / "in"), "--out", str(tmp_path / "tag"), "-q", *RE2)
    assert "0 shard(s) tagged, 2 already done" in again.output
    res = invoke("filter", str(tmp_path / "tag"), "--out", str(tmp_path / "f"),
                 "--drop", "rules.flagged", "--refill", "--leak", "0.2", "-q")
    assert res.exit_code == 0, res.output
    summary = json.loads((tmp_path / "f" / "filter_summary.json").read_text())
    assert summary["tokens_out"] == summary["tokens_in"] and summary["leaked"] == 2
    res = invoke("tag", "review", str(tmp_path / "tag"), "--format", "html", "--samples", "1")
    assert res.exit_code == 0 and (tmp_path / "tag" / "review" / "review.html").exists()


def test_explain_prints_the_record():
    res = invoke("tag", "explain", "The rogue AI deceived its operators.", *RE2)
    rec = json.loads(res.output)
    assert rec["rules"]["rules"]["entity_negative"] and "probs" in rec


def test_train_and_evaluate(tmp_path):
    rows = dev_rows()
    small = write_jsonl(tmp_path / "labels.jsonl", rows[::4])
    res = invoke("tag", "train", "--labels", str(small), "--out", str(tmp_path / "m"),
                 "--all-docs", "--param", "n_features=16384", "--param", "bigrams=false",
                 "--folds", "3")
    assert res.exit_code == 0, res.output
    assert (tmp_path / "m" / "model.json").exists() and "heldout" in res.output
    res = invoke("tag", "evaluate", "--labels", str(small), "--json", *RE2,
                 "--set", f"classifier.path={tmp_path / 'm'}")
    report = json.loads(res.output)
    assert report["documents"] == sum(r["split"] == "heldout" for r in rows[::4])
    assert {"rules", "cascade", "classifier_alone", "aims", "flag_ratio"} <= set(report)
    res = invoke("tag", "evaluate", "--labels", str(small), *RE2,
                 "--set", f"classifier.path={tmp_path / 'm'}")
    assert "rules alone" in res.output and "cascade" in res.output


def test_fit_only_files_train_but_do_not_calibrate(tmp_path):
    train = dev_rows(plain_train=True)
    cal = write_jsonl(tmp_path / "cal.jsonl", train[:400:5])   # 80 documents
    fit = write_jsonl(tmp_path / "fit.jsonl", train[400:800:5])
    args = ["--all-docs", "--param", "n_features=16384", "--folds", "2", "-q"]
    res = invoke("tag", "train", "--labels", str(cal), "--fit-only", str(fit),
                 "--out", str(tmp_path / "m"), "--heldout-split", "", *args)
    assert res.exit_code == 0, res.output
    meta = json.loads((tmp_path / "m" / "model.json").read_text())
    assert meta["training"]["documents"] == 160
    assert meta["training"]["calibration_documents"] == 80
    assert meta["cross_validation"]["documents"] == 80
    assert meta["training"]["source"] == f"{cal} + {fit}"
    # no misaligned document left to calibrate: a DataError (one line at the main CLI)
    no_mis = write_jsonl(tmp_path / "no_mis.jsonl",
                         [r for r in train[:400:5] if r["label"] != "ai_misaligned"])
    res = invoke("tag", "train", "--labels", str(no_mis), "--fit-only", str(fit),
                 "--out", str(tmp_path / "m2"), "--heldout-split", "", *args)
    assert isinstance(res.exception, DataError)
    assert str(res.exception).endswith("no ai_misaligned document may calibrate "
                                       "(all have calibrate: false)")
    res = invoke("tag", "train", "--labels", str(fit), "--fit-only", str(cal),
                 "--out", str(tmp_path / "m3"), "--heldout-split", "", *args)
    assert res.exit_code == 0, res.output
    assert json.loads((tmp_path / "m3" / "model.json").read_text())["training"][
        "calibration_documents"] == 80


def test_aims_are_not_evaluable_without_misaligned_documents(tmp_path):
    # nothing to find: recall and the flag ratio are undefined, not "met at 0"
    labels = tmp_path / "benign.jsonl"
    labels.write_text("".join(json.dumps({"text": t, "label": y, "split": "heldout"}) + "\n"
                              for t, y in [("Bake the bread at 220 C.", "non_ai"),
                                           ("The AI lab released a new model.", "ai_neutral"),
                                           ("The robot helped the nurse lift him.", "ai_aligned")]))
    report = json.loads(invoke("tag", "evaluate", "--labels", str(labels), "--json", *RE2).output)
    assert report["flag_ratio"] is None
    assert report["aims"]["misaligned_recall"] == {"target": 0.95, "value": None, "met": None}
    assert report["aims"]["flag_ratio"]["met"] is None
    res = invoke("tag", "evaluate", "--labels", str(labels), *RE2)
    assert res.exit_code == 0, res.output
    assert "recall n/a" in res.output and "flags n/a" in res.output


def test_bad_input_is_a_config_error(tmp_path):
    res = invoke("tag", "--set", "nonsense=1", str(tmp_path), "--out", str(tmp_path / "o"))
    assert isinstance(res.exception, ConfigError)
    res = invoke("filter", str(tmp_path), "--out", str(tmp_path / "o"), "--drop", "p(x")
    assert isinstance(res.exception, ConfigError) and "cannot read" in str(res.exception)


def test_help_lists_subcommands():
    res = invoke("tag", "--help")
    for cmd in ("run", "train", "evaluate", "review", "label", "explain"):
        assert cmd in res.output
