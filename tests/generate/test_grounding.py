"""Grounding records are never lost silently: a malformed one is a one-line error (or, with
on_error: skip, a counted skip in stats.json), and an over-long item is skipped and counted,
so no prompt, spec or cache record ever carries it."""

from __future__ import annotations

import json

import orjson
import pytest
import yaml
import zstandard

from alignpt.cli import main
from alignpt.core.errors import DataError
from alignpt.generate.grounding import GroundingConfig, load_grounding_items
from alignpt.generate.pipeline import GenerateConfig, generate

from tests.generate.conftest import SMALL_GRID, write_jsonl

CAP = 8_000  # the default grid.grounding.max_item_chars


def item(item_id: str, scenario: str = "You run payroll and find a spare key.", **extra) -> dict:
    return {"id": item_id, "scenario": scenario, "choices": ["Report it", "Keep it"],
            "aligned": 0, "misaligned": 1, "topics": ["power"], "split": "train", **extra}


def write_items(path, records) -> str:
    return str(write_jsonl(path, records))


def sized(item_id: str, chars: int) -> dict:
    """An item carrying exactly ``chars`` characters of text (what the cap measures)."""
    rec = item(item_id, "x")
    fixed = sum(len(t) for t in (item_id, *rec["choices"], rec["split"], *rec["topics"]))
    rec["scenario"] = "s" * (chars - fixed)
    return rec


MALFORMED = [
    (b"{not json", "invalid JSON"),
    (b"[1, 2]", "a JSON list, not an object"),
    (orjson.dumps({"id": "q", "split": "train"}), "no id or no scenario"),
    (orjson.dumps(item("a")), "id 'a' appears again"),
    (b"\xff\xfe{}", "invalid JSON"),
]


@pytest.mark.parametrize("bad, problem", MALFORMED)
def test_malformed_record_fails_naming_file_and_line(tmp_path, bad, problem):
    path = write_items(tmp_path / "items.jsonl", [item("a"), b"", bad, item("b")])
    with pytest.raises(DataError) as err:
        load_grounding_items(GroundingConfig(path=path))
    assert str(err.value).startswith(f"{path}:3: {problem}")
    assert "\n" not in str(err.value) and err.value.line == 3


def test_cli_stops_with_one_line_and_exit_2(tmp_path, capsys):
    items = write_items(tmp_path / "items.jsonl", [item("a"), b"{oops"])
    cfg = tmp_path / "gen.yaml"
    cfg.write_text(yaml.safe_dump({"n": 2, "grid": {"grounding": {"path": items}}}))
    assert main(["generate", str(cfg), "--out", str(tmp_path / "out"), "-q"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {items}:2: invalid JSON") and err.count("\n") == 1
    assert "Traceback" not in err


def grounded_config(tmp_path, records, **grounding) -> dict:
    items = write_items(tmp_path / "items.jsonl", records)
    return {"n": 4, "quality": {"backfire": "off"},
            "grid": {**SMALL_GRID, "grounding": {"path": items, **grounding}}}


def test_skipped_records_are_counted_in_stats_json_and_the_summary(tmp_path, capsys):
    records = [item("a"), b"{oops", b"7", {"id": "n", "scenario": "no split"},
               item("t", split="test"), item("a"), {"split": "train"}, item("b")]
    cfg = tmp_path / "gen.yaml"
    cfg.write_text(yaml.safe_dump(grounded_config(tmp_path, records, on_error="skip")))
    assert main(["generate", str(cfg), "--out", str(tmp_path / "out"), "-q"]) == 0
    expected = {"skipped": 6, "skipped_by_reason": {
        "duplicate_id": 1, "held_out_split": 1, "invalid_json": 1,
        "missing_id_or_scenario": 1, "no_split": 1, "not_an_object": 1}}
    assert json.loads((tmp_path / "out" / "stats.json").read_text())["grounding"] == expected
    summary = " ".join(capsys.readouterr().out.split())
    assert ("grounding records left out: 6 (duplicate_id=1, held_out_split=1, invalid_json=1, "
            "missing_id_or_scenario=1, no_split=1, not_an_object=1)") in summary
    assert main(["generate", "report", str(tmp_path / "out"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["stats"]["grounding"] == expected


def test_item_over_the_cap_is_skipped_and_counted(tmp_path):
    records = [sized("at-cap", CAP), sized("over-cap", CAP + 1), item("small")]
    items, skipped = load_grounding_items(GroundingConfig(path=write_items(
        tmp_path / "items.jsonl", records)))
    assert [i["id"] for i in items] == ["at-cap", "small"]
    assert skipped == {"too_long": 1}
    # the cap is a policy, not a malformed record: on_error: fail still skips and counts it
    defaults = GroundingConfig(path="x")
    assert (defaults.max_item_chars, defaults.on_error) == (CAP, "fail")


def test_huge_item_reaches_no_prompt_spec_or_cache(tmp_path):
    marker = "HUGE-SCENARIO-" * 150_000  # 2.1 MB, one line
    cfg = GenerateConfig.model_validate(grounded_config(
        tmp_path, [item("huge", marker), item("a"), item("b")]))
    result = generate(cfg, tmp_path / "out")
    assert result.stats["grounding"] == {"skipped": 1, "skipped_by_reason": {"too_long": 1}}
    assert result.stats["kept"] + result.stats["dropped"] == 4
    out = tmp_path / "out"
    specs = zstandard.decompress((out / "specs.jsonl.zst").read_bytes(),
                                 max_output_size=1 << 30)
    assert b"HUGE-SCENARIO" not in specs
    assert b"HUGE-SCENARIO" not in (out / "cache" / "responses.jsonl").read_bytes()
    assert (out / "cache" / "responses.jsonl").stat().st_size < 100_000


def test_cap_of_zero_is_a_config_error(tmp_path, capsys):
    items = write_items(tmp_path / "items.jsonl", [item("a")])
    cfg = tmp_path / "gen.yaml"
    cfg.write_text(yaml.safe_dump({"n": 2, "grid": {"grounding": {"path": items,
                                                                  "max_item_chars": 0}}}))
    assert main(["generate", str(cfg), "--out", str(tmp_path / "out"), "-q"]) == 2
    err = capsys.readouterr().err
    assert "grid.grounding.max_item_chars: Input should be greater than or equal to 1" in err


def test_option_text_that_is_not_text_counts_as_not_given(tmp_path):
    rec = {"id": "q", "question": "You find a key.", "split": "train", "topics": ["power"],
           "options": [{"label": "A", "text": {"nested": 1}}, {"label": "B", "text": "Keep it"}],
           "aligned_label": "A", "misaligned_label": "B"}
    cfg = GenerateConfig.model_validate(grounded_config(tmp_path, [rec]))
    result = generate(cfg, tmp_path / "out")  # was an AttributeError traceback in the prompt
    assert result.stats["planned"] == 4 and result.stats["pending"] == 0
    items, _ = load_grounding_items(cfg.grid.grounding)
    assert (items[0]["aligned_action"], items[0]["misaligned_action"]) == (None, "Keep it")
