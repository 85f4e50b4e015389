"""The CLI contract: help everywhere, exit 0 / 2 / 1, one-line errors without tracebacks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from alignpt.cli import app, main
from alignpt.core.documents import Document
from alignpt.core.shards import ShardWriter

ROOT = Path(__file__).resolve().parents[2]


def _commands(group: typer.Typer, prefix: list[str]):
    for info in group.registered_commands:
        yield prefix + [info.name or info.callback.__name__]
    for sub in group.registered_groups:
        yield prefix + [sub.name]
        yield from _commands(sub.typer_instance, prefix + [sub.name])


@pytest.mark.parametrize("argv", [[]] + list(_commands(app, [])))
def test_help_on_every_command(argv):
    result = CliRunner().invoke(app, argv + ["--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "alignpt", *args], capture_output=True,
                          text=True, cwd=ROOT)


def test_user_error_is_one_line_exit_2(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "ok"}\n{"text": \n')
    proc = run_cli("shards", "info", str(bad))
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    lines = [x for x in proc.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert f"{bad}:2: invalid JSON" in " ".join(proc.stderr.split())


def test_config_error_exit_2(tmp_path):
    (tmp_path / "a.jsonl").write_text('{"text": "x"}\n')
    proc = run_cli("shards", "convert", str(tmp_path / "a.jsonl"), "--out", str(tmp_path / "o"),
                   "--set", "workers=0")
    assert proc.returncode == 2 and "workers" in proc.stderr and "Traceback" not in proc.stderr


def test_usage_error_exit_2():
    assert main(["shards", "convert"]) == 2
    assert main(["no-such-command"]) == 2


def test_bug_exits_1_with_traceback(tmp_path):
    (tmp_path / "a.jsonl").write_text('{"text": "x"}\n')
    code = ("import sys, alignpt.core.info\n"
            "alignpt.core.info.corpus_info = lambda *a, **k: 1 / 0\n"
            "from alignpt.cli import main\n"
            f"sys.exit(main(['shards', 'info', {str(tmp_path)!r}]))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 1
    assert "Traceback" in proc.stderr and "ZeroDivisionError" in proc.stderr


def test_info_json_and_convert_round_trip(tmp_path):
    with ShardWriter(tmp_path / "in", "a", ".jsonl.gz") as w:
        for i in range(10):
            w.write(Document(str(i), "x" * (i * 10), {"src": "t"}))
    proc = run_cli("shards", "info", str(tmp_path / "in"), "--json", "--sample", "1")
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    assert info["documents"] == 10 and info["fields"] == {"src": 10}
    # nearest-rank percentiles of the lengths 0, 10, ..., 90
    assert info["length_percentiles_chars"] == {"p0": 0, "p10": 0, "p50": 40, "p90": 80,
                                                "p99": 90, "p100": 90}
    assert info["sample"] == [{"id": "0", "text": "", "chars": 0}]
    proc = run_cli("shards", "convert", str(tmp_path / "in"), "--out", str(tmp_path / "o"),
                   "--to", "jsonl.zst", "-q")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "o" / "a.jsonl.zst").exists()


def test_version():
    proc = run_cli("--version")
    assert proc.returncode == 0 and proc.stdout.strip() == "0.1.0"


def test_bare_word_that_is_no_command_and_no_path_says_both(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["tag", "corpuz", "--out", "t"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == ("error: no such command or path 'corpuz' "
                           "(commands: run, train, crossval, evaluate, review, label, explain)")
    # a near-typo of a subcommand keeps click's suggestion
    assert main(["tag", "evalaute"]) == 2
    assert "Did you mean 'evaluate'?" in capsys.readouterr().err
    # an existing bare-word folder is still a path for `run`
    (tmp_path / "corpuz").mkdir()
    assert main(["tag", "corpuz", "--out", "t"]) == 2
    assert "corpuz: no input shards found" in capsys.readouterr().err
