"""Commands that write a folder outside the executor hold its lock too: a second run is
refused with one line while the first lives, and goes ahead once it is gone."""

from __future__ import annotations

import subprocess
import sys

import pytest

from alignpt.cli import main

HOLD = ("import sys; from alignpt.outdir import OutputLock; "
        "lock = OutputLock(sys.argv[1]).__enter__(); print('held', flush=True); sys.stdin.read()")


@pytest.fixture
def held(tmp_path):
    """A real second process holding the lock of tmp_path/'out' until the test ends."""
    out = tmp_path / "out"
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(out)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    yield out, holder
    holder.stdin.close()
    holder.wait(timeout=30)


def _release(holder):
    holder.stdin.close()
    holder.wait(timeout=30)


def test_world_generate_refuses_a_locked_folder_then_runs(held, capsys):
    out, holder = held
    args = ["world", "generate", "base", "--tokens", "2000", "--seed", "1", "--out", str(out),
            "--quiet"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert f"(pid {holder.pid})" in err and "another alignpt run" in err
    assert not list(out.glob("part-*"))            # nothing written by the refused run
    _release(holder)
    assert main(args) == 0                          # the dead holder's lock is taken over
    assert list(out.glob("part-*.bin")) or list(out.glob("part-*"))


def test_experiment_run_refuses_a_locked_folder(held, capsys):
    out, holder = held
    assert main(["experiment", "run", "persona-world", "--quick", "--out", str(out), "-q"]) == 2
    err = capsys.readouterr().err
    assert f"(pid {holder.pid})" in err
    assert sorted(p.name for p in out.iterdir()) == [".alignpt"]   # only the lock's folder
