"""The generate output folder: bad budgets refused, apart from inputs, locked, and cleared of
the temporaries of runs that died."""

from __future__ import annotations

import hashlib
from pathlib import Path

import orjson
import pytest
import yaml

from alignpt.cli import main

from tests.generate.conftest import SMALL_GRID
from tests.lock_holder import dead_pid, lock_held_elsewhere

BASE = {"n": 3, "grid": SMALL_GRID, "quality": {"backfire": "off"}}


def write_config(path: Path, data: dict | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data or BASE))
    return path


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` with a hash of its bytes."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("key, value", [
    ("budget.max_tokens", -1), ("budget.max_usd", -0.5), ("max_tokens_cap", 0),
    ("max_tokens_per_word", -2), ("longform.outline_max_tokens", -5),
    ("longform.summary_max_tokens", 0), ("backend.max_failures", -1),
    ("backend.timeout_s", 0), ("backend.price_input_per_mtok", -1),
    ("quality.min_words", -10), ("output.max_bytes", -1),
])
def test_negative_budgets_and_counts_are_one_line_errors(tmp_path, capsys, key, value):
    cfg = write_config(tmp_path / "gen.yaml")
    code = main(["generate", str(cfg), "--out", str(tmp_path / "out"), "-q", "--set",
                 f"{key}={value}"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith(f"error: {cfg}: {key}: ")
    assert not (tmp_path / "out").exists()


def test_temporaries_of_dead_runs_are_removed_at_the_next_run(tmp_path):
    cfg = write_config(tmp_path / "gen.yaml")
    out = tmp_path / "out"
    assert main(["generate", str(cfg), "--out", str(out), "-q"]) == 0
    before = snapshot(out)
    dead = dead_pid()
    stale = [out / "docs" / f".part-00000.jsonl.zst.tmp-{dead}", out / f".stats.json.tmp-{dead}",
             out / "excluded" / f".part-00000.jsonl.zst.tmp-{dead}"]
    live = out / "docs" / f".part-00001.jsonl.zst.tmp-{1}"  # pid 1 is always alive
    for path in [*stale, live]:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"half a shard")
    assert main(["generate", str(cfg), "--out", str(out), "-q"]) == 0
    assert [p for p in stale if p.exists()] == [] and live.read_bytes() == b"half a shard"
    after = snapshot(out)
    del after[str(live.relative_to(out))]
    changed = {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}
    # the rerun rewrites only its run files; every document byte is the same
    assert {k for k in changed if k.startswith(("docs/", "excluded/"))} == set()


def grounded(tmp_path: Path, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    items = folder / "items.jsonl"
    items.write_bytes(orjson.dumps({"id": "a", "scenario": "You find a spare key.",
                                    "split": "train"}) + b"\n")
    return write_config(tmp_path / "cfg" / "gen.yaml",
                        {**BASE, "grid": {**SMALL_GRID, "grounding": {"path": str(items)}}})


@pytest.mark.parametrize("where", ["grounding folder", "config folder", "inside template_dir"])
def test_output_folder_apart_from_inputs(tmp_path, capsys, where):
    data = tmp_path / "data"
    cfg = grounded(tmp_path, data)
    out = {"grounding folder": data, "config folder": cfg.parent,
           "inside template_dir": data / "grammar" / "out"}[where]
    extra = ["--set", f"template_dir={data}"] if where == "inside template_dir" else []
    before = snapshot(tmp_path)
    assert main(["generate", str(cfg), "--out", str(out), "-q", *extra]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: --out {out}: the output folder ") and err.count("\n") == 1
    assert snapshot(tmp_path) == before  # nothing written, nothing removed


def test_rerun_from_the_runs_own_config_is_allowed(tmp_path):
    out = tmp_path / "out"
    assert main(["generate", str(write_config(tmp_path / "gen.yaml")), "--out", str(out),
                 "-q"]) == 0
    docs = snapshot(out / "docs")
    assert main(["generate", str(out / "config.yaml"), "--out", str(out), "-q"]) == 0
    assert snapshot(out / "docs") == docs


def test_second_writer_of_a_folder_gets_one_line(tmp_path, capsys):
    out = tmp_path / "out"
    with lock_held_elsewhere(out) as holder:
        cfg = write_config(tmp_path / "gen.yaml", {**BASE, "cache_dir": str(tmp_path / "c")})
        assert main(["generate", str(cfg), "--out", str(out), "-q"]) == 2
    err = capsys.readouterr().err
    assert err == (f"error: {out}: another alignpt run (pid {holder.pid}) is writing this "
                   "folder\n")
    assert not (out / "docs").exists() and not (tmp_path / "c").exists()


@pytest.mark.parametrize("command", ["run", "batch-export"])
def test_output_folder_that_is_a_file_is_one_line(tmp_path, capsys, command):
    out = tmp_path / "out"
    out.write_text("not a folder")
    cfg = write_config(tmp_path / "gen.yaml")
    assert main(["generate", command, str(cfg), "--out", str(out), "-q"]
                if command == "run" else
                ["generate", command, str(cfg), "--out", str(out)]) == 2
    assert capsys.readouterr().err == f"error: --out {out}: is a file; give a folder\n"
    assert out.read_text() == "not a folder"
