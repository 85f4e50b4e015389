"""Batch-API round trips and the command line (as registered under ``alignpt generate``)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
import typer
import yaml
from typer.testing import CliRunner

from alignpt.core.errors import ConfigError
from alignpt.core.shards import read_documents
from alignpt.generate.cli import generate_app
from alignpt.generate.mockserver import mock_text

ROOT = Path(__file__).resolve().parents[2]

# A root app like alignpt.cli's, plus the registration line for this area.
app = typer.Typer(name="alignpt", no_args_is_help=True, pretty_exceptions_enable=False,
                  add_completion=False)


@app.callback()
def _root() -> None:
    """alignpt"""


app.add_typer(generate_app, name="generate")


def cli(*args: str):
    result = CliRunner().invoke(app, list(args), catch_exceptions=False)
    return result


def write(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data))
    return path


def provider_results(request_files: list[Path], out: Path, fail: int = 0) -> Path:
    """What a batch provider returns: a chat completion per request (the first ``fail``
    answered with an error)."""
    lines = []
    for path in request_files:
        for i, raw in enumerate(path.read_bytes().splitlines()):
            req = orjson.loads(raw)
            if i < fail:
                lines.append({"custom_id": req["custom_id"], "response": {"status_code": 500},
                              "error": {"message": "server error"}})
                continue
            text = mock_text(req["custom_id"], 130)
            lines.append({"custom_id": req["custom_id"], "error": None, "response": {
                "status_code": 200, "body": {"choices": [{"index": 0, "finish_reason": "stop",
                                                          "message": {"role": "assistant",
                                                                      "content": text}}],
                                             "usage": {"prompt_tokens": 1000,
                                                       "completion_tokens": 200}}}})
    out.write_bytes(b"".join(orjson.dumps(x) + b"\n" for x in lines))
    return out


def test_batch_export_import_rounds(tmp_path):
    cfg = write(tmp_path / "gen.yaml", {
        "n": 12, "grid": {"axes": {"genre": {"values": ["diary", "long_story"]}}},
        "longform": {"chapters_min": 2, "chapters_max": 2},
        "backend": {"kind": "openai", "model": "gpt-test", "price_input_per_mtok": 1.0,
                    "price_output_per_mtok": 2.0}})
    out = tmp_path / "run"
    novels = None
    sent_per_round = []
    for round_no in range(6):
        res = cli("generate", "batch-export", str(cfg), "--out", str(out))
        assert res.exit_code == 0, res.output
        files = sorted((out / "batch").glob("requests-*.jsonl"))
        lines = [orjson.loads(x) for f in files for x in f.read_bytes().splitlines()]
        sent_per_round.append(len(lines))
        if not lines:
            break
        assert all(x["url"] == "/v1/chat/completions" and x["body"]["model"] == "gpt-test"
                   for x in lines)
        results = provider_results(files, tmp_path / f"results-{round_no}.jsonl",
                                   fail=1 if round_no == 0 else 0)
        res = cli("generate", "batch-import", str(out), str(results))
        assert res.exit_code == 0, res.output
        if round_no == 0:
            assert "errors: http_500=1" in res.output
            stats = json.loads((out / "stats.json").read_text())
            novels = stats["pending"] - 1
    # round 1: every document's first step; the failed one comes back in round 2 with the
    # novels' first chapter; then summary, then chapter 2; then nothing is missing.
    assert sent_per_round == [12, 1 + novels, novels, novels, 0]
    stats = json.loads((out / "stats.json").read_text())
    assert stats["kept"] + stats["dropped"] == 12 and stats["pending"] == 0
    # batch prices are half the normal ones
    docs = [d for p in sorted((out / "docs").glob("*")) for d in read_documents(p)]
    one = [d for d in docs if d.metadata["generation"].get("chapters") is None][0]
    assert one.metadata["generation"]["cost_usd"] == pytest.approx(0.5 * (1000 + 400) / 1e6)


def test_batch_export_needs_openai(tmp_path):
    cfg = write(tmp_path / "gen.yaml", {"n": 2})
    res = CliRunner().invoke(app, ["generate", "batch-export", str(cfg), "--out",
                                   str(tmp_path / "o"), "--set", "backend.kind=template"])
    # the command sets backend.kind=openai; overriding it back is the user's mistake
    assert isinstance(res.exception, ConfigError)
    assert "batch-export needs backend.kind: openai" in str(res.exception)


def test_generate_config_routes_to_run_and_report(tmp_path):
    cfg = write(tmp_path / "gen.yaml", {"n": 26, "seed": 1, "longform": {
        "chapters_min": 2, "chapters_max": 3}})
    a = cli("generate", str(cfg), "--out", str(tmp_path / "a"), "-q")
    b = cli("generate", "run", str(cfg), "--out", str(tmp_path / "b"), "--n", "13", "-q")
    assert a.exit_code == 0 and "26 documents kept" in a.output
    assert b.exit_code == 0 and "13 documents kept" in b.output
    rep = cli("generate", "report", str(tmp_path / "a"), "--json")
    data = json.loads(rep.output)
    assert data["report"]["coverage"]["overall"] == 1.0 and data["stats"]["kept"] == 26
    figs = cli("generate", "report", str(tmp_path / "a"), "--figures")
    assert figs.exit_code == 0
    assert sorted(p.name for p in (tmp_path / "a" / "figures").glob("*.png")) == \
        ["coverage.png", "filters.png", "length_by_genre.png"]
    dry = cli("generate", str(cfg), "--out", str(tmp_path / "c"), "--dry-run")
    assert "26 documents planned; coverage of requested axis values 100%" in \
        " ".join(dry.output.split())
    assert not (tmp_path / "c").exists()


@pytest.mark.parametrize("argv", [["generate"], ["generate", "run"], ["generate", "batch-export"],
                                  ["generate", "batch-import"], ["generate", "report"]])
def test_help(argv):
    res = CliRunner().invoke(app, argv + ["--help"])
    assert res.exit_code == 0 and "Usage" in res.output


def test_user_errors_are_one_line(tmp_path):
    bad = write(tmp_path / "bad.yaml", {"n": 5, "grid": {"axes": {"genre": {
        "values": ["poem"]}}}})
    proc = subprocess.run([sys.executable, "-m", "alignpt.generate.cli", str(bad), "--out",
                           str(tmp_path / "o")], capture_output=True, text=True, cwd=ROOT)
    lines = [x for x in proc.stderr.splitlines() if x.strip()]
    assert proc.returncode == 2 and len(lines) == 1 and "Traceback" not in proc.stderr
    assert "unknown value 'poem'" in proc.stderr
    missing = subprocess.run([sys.executable, "-m", "alignpt.generate.cli", "report",
                              str(tmp_path / "nothing")], capture_output=True, text=True,
                             cwd=ROOT)
    assert missing.returncode == 2 and "not a finished generate run" in missing.stderr
