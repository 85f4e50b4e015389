"""Output-folder safety: apart from inputs, one writer at a time, dead runs' temporaries removed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from alignpt.core.errors import AlignptError, ConfigError
from alignpt.core.outdir import OutputLock, check_output_apart, clean_stale_temporaries
from tests.lock_holder import dead_pid, lock_held_elsewhere


@pytest.mark.parametrize("out, relation", [
    ("data", "is"), ("data/sub/out", "lies inside"), (".", "contains")])
def test_output_folder_overlapping_an_input_folder_is_refused(tmp_path, monkeypatch, out, relation):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data").mkdir()
    with pytest.raises(ConfigError) as err:
        check_output_apart(out, ["data"])
    assert f"--out {out}: the output folder {relation} the input 'data'" in str(err.value)
    assert "\n" not in str(err.value)


def test_output_folder_holding_an_input_file_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("c.jsonl").write_text("{}\n")
    with pytest.raises(ConfigError,
                       match=r"--out \.: the output folder contains the input 'c.jsonl'"):
        check_output_apart(".", ["c.jsonl"])
    with pytest.raises(ConfigError, match="the output folder is the shard 'c.jsonl'"):
        check_output_apart("c.jsonl", ["c.jsonl"], what="shard")


def test_globs_are_checked_through_their_matches(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.jsonl").write_text("{}\n")
    with pytest.raises(ConfigError, match="contains the input"):
        check_output_apart(tmp_path, [str(tmp_path / "in" / "*.jsonl")])


def test_separate_and_sibling_folders_pass(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data-out").mkdir()
    check_output_apart(tmp_path / "data-out", [tmp_path / "data"])
    check_output_apart(tmp_path / "new", [tmp_path / "data", tmp_path / "data-out"])


def test_symlinked_output_pointing_into_the_input_is_refused(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "data")
    with pytest.raises(ConfigError, match="is the input"):
        check_output_apart(tmp_path / "link", [tmp_path / "data"])


def test_lock_is_reentrant_and_refuses_a_second_process(tmp_path):
    out = tmp_path / "out"
    with OutputLock(out):
        with OutputLock(out):
            pass
        # still held after the inner block: another process is refused
        code = ("import sys\nfrom alignpt.core.outdir import OutputLock\n"
                "try:\n    OutputLock(sys.argv[1]).__enter__()\n"
                "except Exception as e:\n    print(type(e).__name__, e)\n")
        proc = subprocess.run([sys.executable, "-c", code, str(out)], capture_output=True,
                              text=True, check=True)
        assert proc.stdout.strip() == (f"AlignptError {out}: another alignpt run "
                                       f"(pid {os.getpid()}) is writing this folder")
        assert (out / ".alignpt" / "lock").read_text() == f"{os.getpid()}\n"
    # released: emptied, so a finished folder's bytes do not depend on the writer's PID
    assert (out / ".alignpt" / "lock").read_bytes() == b""


def test_lock_of_a_dead_process_is_taken_over(tmp_path):
    out = tmp_path / "out"
    # The child takes the lock and dies holding it (no clean exit path runs).
    code = ("import os, sys\nfrom alignpt.core.outdir import OutputLock\n"
            "OutputLock(sys.argv[1]).__enter__()\nos._exit(0)\n")
    subprocess.run([sys.executable, "-c", code, str(out)], check=True)
    with OutputLock(out):
        assert (out / ".alignpt" / "lock").read_text() == f"{os.getpid()}\n"
    # released: emptied, so a finished folder's bytes do not depend on the writer's PID
    assert (out / ".alignpt" / "lock").read_bytes() == b""


def test_lock_error_is_an_alignpt_error_one_line(tmp_path):
    out = tmp_path / "out"
    with lock_held_elsewhere(out) as holder:
        with pytest.raises(AlignptError) as err:
            with OutputLock(out):
                pass
        assert str(err.value) == (f"{out}: another alignpt run (pid {holder.pid}) "
                                  "is writing this folder")
    with OutputLock(out):  # released when the holder left its block
        pass


def test_clean_stale_temporaries_removes_only_dead_runs_files(tmp_path):
    dead, live = dead_pid(), os.getpid()
    sub = tmp_path / "a" / "b"
    sub.mkdir(parents=True)
    stale = [tmp_path / f".x.jsonl.tmp-{dead}", sub / f".tokens.docs.tmp-{dead}.npy",
             sub / f".tmp-step_0000120-{dead}"]
    kept = [tmp_path / f".x.jsonl.tmp-{live}", tmp_path / "x.jsonl",
            tmp_path / f"notes.tmp-{dead}", tmp_path / f".x.tmp-{dead}.npy.bak"]
    for p in stale + kept:
        p.write_bytes(b"half")
    (tmp_path / f".tmp-dir-{dead}").mkdir()  # a folder: not ours to remove here
    assert clean_stale_temporaries(tmp_path, recursive=False) == 1
    assert clean_stale_temporaries(tmp_path) == 2
    assert sorted(p.name for p in tmp_path.rglob("*")) == sorted(
        ["a", "b", f".tmp-dir-{dead}"] + [p.name for p in kept])
    assert clean_stale_temporaries(tmp_path / "missing") == 0
