"""Commands that write a folder outside the executor hold its lock too: a second run is
refused with one line while the first lives, and goes ahead once it is gone."""

from __future__ import annotations

from alignpt.cli import main
from tests.lock_holder import lock_held_elsewhere


def test_world_generate_refuses_a_locked_folder_then_runs(tmp_path, capsys):
    out = tmp_path / "out"
    args = ["world", "generate", "base", "--tokens", "2000", "--seed", "1", "--out", str(out),
            "--quiet"]
    with lock_held_elsewhere(out) as holder:
        assert main(args) == 2
        err = capsys.readouterr().err
        assert f"(pid {holder.pid})" in err and "another alignpt run" in err
        assert not list(out.glob("part-*"))        # nothing written by the refused run
    assert main(args) == 0                          # the holder is gone: the run goes ahead
    assert list(out.glob("part-*.bin")) or list(out.glob("part-*"))


def test_experiment_run_refuses_a_locked_folder(tmp_path, capsys):
    out = tmp_path / "out"
    with lock_held_elsewhere(out) as holder:
        assert main(["experiment", "run", "persona-world", "--quick", "--out", str(out),
                     "-q"]) == 2
        err = capsys.readouterr().err
        assert f"(pid {holder.pid})" in err
        assert sorted(p.name for p in out.iterdir()) == [".alignpt"]   # only the lock's folder
