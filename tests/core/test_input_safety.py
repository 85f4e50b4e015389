"""Stages never touch what they did not write: inputs, other files, a folder another run holds."""

from __future__ import annotations

import os
from pathlib import Path

import orjson
import pytest

from alignpt.cli import main
from alignpt.convert import ConvertConfig, convert_shards
from alignpt.core.documents import Document
from alignpt.core.errors import AlignptError, ConfigError, DataError
from alignpt.core.executor import MARKER_DIR, PENDING_DIR, OutputSpec, run_stage
from alignpt.core.shards import ShardWriter, read_documents
from tests.lock_holder import dead_pid

from .stages import DropShort, start_blocked_run

LINE = b'{"id":"a","text":"hi"}\n'


def all_bytes(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


def one_error_line(capsys) -> str:
    lines = [x for x in capsys.readouterr().err.splitlines() if x.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    return lines[0]


def test_convert_into_the_folder_holding_its_input_deletes_nothing(tmp_path, monkeypatch, capsys):
    # issue 14, item 1: this used to delete c.jsonl and then report it missing
    monkeypatch.chdir(tmp_path)
    Path("c.jsonl").write_bytes(LINE)
    assert main(["shards", "convert", "c.jsonl", "--out", ".", "--to", "parquet", "-q"]) == 2
    assert "--out .: the output folder contains the input 'c.jsonl'" in one_error_line(capsys)
    assert all_bytes(tmp_path) == {"c.jsonl": LINE}


@pytest.mark.parametrize("out", ["in", "in/sub/out"])
def test_output_folder_equal_to_or_inside_the_input_is_refused(tmp_path, monkeypatch, capsys, out):
    monkeypatch.chdir(tmp_path)
    Path("in").mkdir()
    Path("in/a.jsonl").write_bytes(LINE)
    Path("in/b.jsonl").write_bytes(LINE.replace(b'"a"', b'"b"'))
    before = all_bytes(tmp_path)
    assert main(["shards", "convert", "in", "--out", out, "-q"]) == 2
    relation = "is" if out == "in" else "lies inside"
    assert f"the output folder {relation} the input 'in'" in one_error_line(capsys)
    assert all_bytes(tmp_path) == before


def test_cleanup_removes_only_what_the_markers_name(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.jsonl").write_bytes(LINE)
    out = tmp_path / "out"
    out.mkdir()
    # A file of the user's that merely looks like a part of task 'a' (the old clean-up
    # deleted every a.<ext> and a-NNNNN.<ext> it found).
    (out / "a-00007.parquet").write_bytes(b"mine")
    (out / "quarantine").mkdir()
    (out / "quarantine" / "a.jsonl").write_bytes(b"also mine")
    convert_shards([tmp_path / "in"], out, ConvertConfig(), progress=False)
    assert (out / "a-00007.parquet").read_bytes() == b"mine"
    assert (out / "quarantine" / "a.jsonl").read_bytes() == b"also mine"
    assert (out / "a.jsonl").read_bytes() == b'{"id":"a","text":"hi"}\n'


def test_kill_between_publish_and_marker_is_undone_by_the_pending_list(tmp_path):
    (tmp_path / "in").mkdir()
    with ShardWriter(tmp_path / "in", "a", ".jsonl") as w:
        for i in range(40):
            w.write(Document(str(i), "x" * 40))
    out, ref = tmp_path / "out", tmp_path / "ref"
    convert_shards([tmp_path / "in"], ref, ConvertConfig(max_bytes="1KB"), progress=False)
    convert_shards([tmp_path / "in"], out, ConvertConfig(max_bytes="300B"), progress=False)
    parts = sorted(p.name for p in out.glob("a-*.jsonl"))
    assert len(parts) == 8
    # As if killed after the renames, before the done marker: only the pending list names them.
    done = out / MARKER_DIR / "a.json"
    assert (out / PENDING_DIR).is_dir()
    (out / PENDING_DIR / "a.json").write_bytes(orjson.dumps(
        {"outputs": orjson.loads(done.read_bytes())["outputs"]}))
    done.unlink()
    convert_shards([tmp_path / "in"], out, ConvertConfig(max_bytes="1KB"), progress=False)
    assert sorted(p.name for p in out.glob("a-*.jsonl")) == sorted(p.name for p in ref.glob("a-*"))
    assert [p.read_bytes() for p in sorted(out.glob("a-*"))] == [
        p.read_bytes() for p in sorted(ref.glob("a-*"))]
    assert not list((out / PENDING_DIR).iterdir())


def test_stale_temporaries_of_dead_runs_are_removed_and_counted(tmp_path):
    dead = dead_pid()
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.jsonl").write_bytes(LINE)
    out = tmp_path / "out"
    (out / "sub").mkdir(parents=True)
    # names no task of this run would have cleaned up
    stale = [out / f".old.jsonl.tmp-{dead}", out / "sub" / f".x.parquet.tmp-{dead}"]
    live = out / f".keep.jsonl.tmp-{os.getpid()}"
    for p in [*stale, live]:
        p.write_bytes(b"half")
    res = run_stage(DropShort(0), [tmp_path / "in"], OutputSpec(str(out)), progress=False)
    assert res.stats["stale_temporaries_removed"] == 2
    assert orjson.loads((out / "stats.json").read_bytes())["stale_temporaries_removed"] == 2
    assert not any(p.exists() for p in stale) and live.exists()


def test_two_runs_on_one_folder_one_gets_a_lock_error(tmp_path, capsys):
    (tmp_path / "in").mkdir()
    for name in "ab":
        (tmp_path / "in" / f"{name}.jsonl").write_bytes(LINE.replace(b'"a"', f'"{name}"'.encode()))
    out = tmp_path / "out"
    proc, release = start_blocked_run(tmp_path, out)
    try:
        before = all_bytes(out)
        with pytest.raises(AlignptError) as err:
            run_stage(DropShort(5), [tmp_path / "in"], OutputSpec(str(out)), progress=False)
        assert str(err.value) == (f"{out}: another alignpt run (pid {proc.pid}) "
                                  "is writing this folder")
        assert main(["shards", "convert", str(tmp_path / "in"), "--out", str(out), "-q"]) == 2
        assert f"another alignpt run (pid {proc.pid})" in one_error_line(capsys)
        assert all_bytes(out) == before
    finally:
        release.touch()
        assert proc.wait(timeout=120) == 0
    docs = [d.id for p in sorted(out.glob("*.jsonl")) for d in read_documents(p)]
    assert docs == ["a", "b"]


def test_compression_level_out_of_range_is_one_line(tmp_path, capsys):
    (tmp_path / "c.jsonl").write_bytes(LINE)
    for to, name, valid in (("jsonl.zst", "zstd", "1..22"), ("jsonl.gz", "gzip", "0..9")):
        rc = main(["shards", "convert", str(tmp_path / "c.jsonl"), "--out", str(tmp_path / to),
                   "--to", to, "--level", "99", "-q"])
        assert rc == 2
        assert one_error_line(capsys).endswith(f"--level 99: {name} compression levels are {valid}")
        assert not (tmp_path / to).exists()


def test_output_path_that_is_a_file_is_one_line(tmp_path, capsys):
    (tmp_path / "c.jsonl").write_bytes(LINE)
    (tmp_path / "f").write_bytes(b"not a folder")
    assert main(["shards", "convert", str(tmp_path / "c.jsonl"), "--out", str(tmp_path / "f"),
                 "-q"]) == 2
    assert f"--out {tmp_path / 'f'}: exists and is not a folder" in one_error_line(capsys)
    assert (tmp_path / "f").read_bytes() == b"not a folder"


def test_negative_workers_are_refused(tmp_path, capsys):
    # `shards info --workers -1` used to read with one process and say nothing
    (tmp_path / "c.jsonl").write_bytes(LINE)
    assert main(["shards", "info", str(tmp_path / "c.jsonl"), "--workers", "-1"]) == 2
    assert one_error_line(capsys) == "error: --workers must be >= 1, got -1"
    assert main(["shards", "convert", str(tmp_path / "c.jsonl"), "--out", str(tmp_path / "o"),
                 "--workers", "-1"]) == 2
    assert "workers: must be >= 1 (got -1)" in one_error_line(capsys)
    with pytest.raises(ConfigError, match="workers must be >= 1, got -1"):
        run_stage(DropShort(0), [tmp_path / "c.jsonl"], OutputSpec(str(tmp_path / "o")),
                  workers=-1, progress=False)


def test_messages_name_the_paths_given_not_a_placeholder(tmp_path, capsys):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "notes.txt").write_text("not a shard")
    assert main(["shards", "convert", str(tmp_path / "docs"), "--out", str(tmp_path / "o")]) == 2
    line = one_error_line(capsys)
    assert line.startswith(f"error: {tmp_path / 'docs'}: no input shards found")
    assert "<input>" not in line
    (tmp_path / "docs" / "a.jsonl").write_bytes(LINE)
    (tmp_path / "docs" / "a.parquet").write_bytes(b"")
    assert main(["shards", "convert", str(tmp_path / "docs"), "--out", str(tmp_path / "o")]) == 2
    line = one_error_line(capsys)
    docs = tmp_path / "docs"
    assert f"{docs / 'a.jsonl'} and {docs / 'a.parquet'}: two inputs" in line
    # without a path the problem stands alone
    assert str(DataError("no items in common")) == "no items in common"
    assert str(DataError("bad", line=3)) == "line 3: bad"
