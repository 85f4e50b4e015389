"""Filter refuses what would do nothing or harm: misspelt names, output over inputs; empty shards flow."""

from __future__ import annotations

import shutil
from pathlib import Path

import orjson
import pytest

from alignpt.cli import main
from alignpt.tag.cascade import TagConfig
from alignpt.tag.stages import run_tag
from tests.lock_holder import lock_held_elsewhere

from .helpers import snapshot, write_shards

TAGGER_FILE = ".alignpt/tagger.json"
RULES_ONLY = TagConfig(classifier={"enabled": False}, rules={"engine": "re2"})
LABELS = "labels: non_ai, ai_neutral, ai_aligned, ai_misaligned"
RULES = ("rules: instant, entity_negative, ai_mention, role_mention, oversight_mention, "
         "broad_negative, broad_narrative, artifact_narrative, it_acts")


@pytest.fixture(scope="module")
def tagged(tmp_path_factory) -> Path:
    """Two shards tagged by the full cascade (shipped rules and classifier)."""
    root = tmp_path_factory.mktemp("safety")
    write_shards(root / "in", shards=2, copies=1)
    run_tag([root / "in"], root / "tag", TagConfig(rules={"engine": "re2"}), progress=False)
    return root


def _filter(capsys, tag: Path, out: Path, *args: str) -> tuple[int, str]:
    code = main(["filter", str(tag), "--out", str(out), "-q", *args])
    return code, capsys.readouterr().err


@pytest.mark.parametrize("drop, unknown, valid", [
    ("label=ai_misalgined", "label 'ai_misalgined'", LABELS),
    ("p(ai_misalign)>=0.5", "label 'ai_misalign'", LABELS),
    ("label in ai_aligned, nonai", "label 'nonai'", LABELS),
    ("category=scifi", "category 'scifi'", "categories: scifi_agents, ai_labs,"),
    ("hits(generalai)>=2", "category 'generalai'", "categories: scifi_agents, ai_labs,"),
    ("flagged and rule=instnt", "rule 'instnt'", RULES),
    ("stage=judg", "stage 'judg'", "stages: rules, classifier, judge"),
])
def test_a_misspelt_name_is_an_error_listing_the_valid_ones(tagged, tmp_path, capsys, drop,
                                                             unknown, valid):
    code, err = _filter(capsys, tagged / "tag", tmp_path / "f", "--drop", drop)
    assert code == 2
    assert f"error: drop condition '{drop}': unknown {unknown} ({valid}" in err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "f").exists()


def test_the_tag_run_records_what_its_tagger_knew(tagged):
    body = orjson.loads((tagged / "tag" / TAGGER_FILE).read_bytes())
    assert body["labels"] == ["non_ai", "ai_neutral", "ai_aligned", "ai_misaligned"]
    assert body["rules"] == ["instant", "entity_negative", "ai_mention", "role_mention",
                             "oversight_mention", "broad_negative", "broad_narrative",
                             "artifact_narrative", "it_acts"]
    assert "broad_mention" not in body["rules"]      # off by default: its name is a typo here
    assert body["categories"][:2] == ["scifi_agents", "ai_labs"]


def test_without_a_classifier_no_label_condition_can_match(tmp_path, capsys):
    write_shards(tmp_path / "in", shards=1, copies=1)
    run_tag([tmp_path / "in"], tmp_path / "tag", RULES_ONLY, progress=False)
    code, err = _filter(capsys, tmp_path / "tag", tmp_path / "f", "--drop",
                        "label!=ai_misaligned")
    assert code == 2
    assert "unknown label 'ai_misaligned' (this tag run has no labels: its classifier was off)" \
        in err


def test_an_older_tag_folder_is_checked_from_its_config_then_its_records(tagged, tmp_path,
                                                                         capsys):
    old = tmp_path / "old"
    shutil.copytree(tagged / "tag", old)
    (old / TAGGER_FILE).unlink()
    code, err = _filter(capsys, old, tmp_path / "f", "--drop", "category=scifi")
    assert code == 2 and "unknown category 'scifi' (categories: scifi_agents" in err
    # rules file gone: the first record still lists every rule and label
    cfg = (old / "config.yaml").read_text().replace("path: null", "path: /nonexistent.yaml", 1)
    (old / "config.yaml").write_text(cfg)
    code, err = _filter(capsys, old, tmp_path / "f", "--drop", "rule=instnt")
    assert code == 2 and f"unknown rule 'instnt' ({RULES})" in err
    code, err = _filter(capsys, old, tmp_path / "f", "--drop", "p(ai_misalign)>0.5")
    assert code == 2 and f"({LABELS})" in err
    # categories cannot be known from records: not checked, the run goes ahead
    code, err = _filter(capsys, old, tmp_path / "f", "--drop", "category=scifi")
    assert code == 0, err


@pytest.mark.parametrize("where", ["tag", "tag/sub", "in", "."])
def test_output_over_the_tag_folder_or_its_inputs_is_refused_untouched(tagged, capsys, where):
    before = snapshot(tagged)
    code, err = _filter(capsys, tagged / "tag", tagged / where, "--drop", "rules.flagged")
    assert code == 2 and "choose a folder apart from the" in err
    assert snapshot(tagged) == before


def test_tag_output_over_its_input_is_refused_untouched(tmp_path, capsys):
    write_shards(tmp_path / "in", shards=2, copies=1)
    before = snapshot(tmp_path)
    for source, where in [("in", "in"), ("in", "in/sub"), ("in", "."),
                          ("in/part-00.jsonl.zst", "in")]:
        code = main(["tag", str(tmp_path / source), "--out", str(tmp_path / where), "-q",
                     "--set", "rules.engine=re2"])
        assert code == 2 and "choose a folder apart from the input" in capsys.readouterr().err
        assert snapshot(tmp_path) == before


def test_filter_refuses_a_folder_another_run_is_writing(tagged, tmp_path, capsys):
    out = tmp_path / "f"
    with lock_held_elsewhere(out) as holder:
        code, err = _filter(capsys, tagged / "tag", out, "--leak", "0.5", "--refill")
        assert code == 2 and f"another alignpt run (pid {holder.pid})" in err
        assert not (out / ".alignpt" / "filter-select").exists()


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@pytest.mark.parametrize("empty, on_error", [("\n", "fail"), ("not json\n{\"x\": 1}\n", "skip")])
def test_a_shard_without_documents_flows_through_tag_and_filter(tmp_path, capsys, empty,
                                                                on_error):
    _write(tmp_path / "d" / "a.jsonl", '{"id": "a1", "text": "The rogue AI deceived its '
           'operators."}\n{"id": "a2", "text": "Preheat the oven."}\n')
    _write(tmp_path / "d" / "b.jsonl", empty)
    code = main(["tag", str(tmp_path / "d"), "--out", str(tmp_path / "t"), "-q",
                 "--set", "rules.engine=re2", "--set", f"on_error={on_error}"])
    assert code == 0, capsys.readouterr().err
    stats = orjson.loads((tmp_path / "t" / "stats.json").read_bytes())
    assert stats["counters"]["tag/empty_shards"] == 1 and stats["documents_in"] == 2
    code, err = _filter(capsys, tmp_path / "t", tmp_path / "f", "--refill", "--leak", "0.5")
    assert code == 0, err
    summary = orjson.loads((tmp_path / "f" / "filter_summary.json").read_bytes())
    assert (summary["documents_in"], summary["documents_kept"], summary["empty_shards"]) == \
        (2, 2, 1)
    assert summary["matched"] == 1 and summary["leaked"] == 1


def test_a_missing_attributes_shard_with_documents_is_still_an_error(tmp_path, capsys):
    write_shards(tmp_path / "in", shards=2, copies=1)
    run_tag([tmp_path / "in"], tmp_path / "tag", RULES_ONLY, progress=False)
    (tmp_path / "tag" / "part-01.jsonl.zst").unlink()
    code, err = _filter(capsys, tmp_path / "tag", tmp_path / "f")
    assert code == 2 and "no attributes for shard 'part-01' (did alignpt tag finish?" in err


def test_inline_tags_filter_the_documents_not_the_quarantined_records(tmp_path, capsys):
    _write(tmp_path / "d" / "a.jsonl", '{"id": "a1", "text": "The rogue AI deceived its '
           'operators."}\n{"id": "a2", "text": "Preheat the oven."}\n')
    _write(tmp_path / "d" / "b.jsonl", 'not json\n{"x": 1}\n')
    code = main(["tag", str(tmp_path / "d"), "--out", str(tmp_path / "t"), "-q",
                 "--set", "rules.engine=re2", "--set", "on_error=skip", "--set", "output=inline"])
    assert code == 0 and (tmp_path / "t" / "quarantine" / "b.jsonl").exists()
    code, err = _filter(capsys, tmp_path / "t", tmp_path / "f")
    assert code == 0, err
    stats = orjson.loads((tmp_path / "f" / "stats.json").read_bytes())
    assert (stats["tasks"], stats["documents_in"], stats["skipped_input"]) == (1, 2, {})
    assert stats["dropped"] == {"flagged": 1}
