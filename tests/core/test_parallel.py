"""The worker pool: workers die with their parent, bad worker counts are refused."""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path

import pytest

from alignpt.core.errors import ConfigError
from alignpt.core.parallel import map_in_processes

from .stages import start_blocked_run


def _children(pid: int) -> set[int]:
    kids = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                kids.add(int(entry.name))
    return kids


def _running(pid: int) -> bool:
    """Alive and not a zombie (an orphan's zombie waits for a reaper we do not control)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_workers_die_when_their_parent_is_killed(tmp_path):
    (tmp_path / "in").mkdir()
    for name in "ab":
        (tmp_path / "in" / f"{name}.jsonl").write_text(f'{{"id": "{name}", "text": "x"}}\n')
    proc, release = start_blocked_run(tmp_path, tmp_path / "out", workers=2)
    try:
        workers = {int(p.name) for p in (tmp_path / "started").iterdir()}
        spawned = _children(proc.pid)
        assert len(workers) == 2 and workers <= spawned
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        deadline = time.monotonic() + 60  # a bound on the wait, not a speed requirement
        while any(_running(p) for p in spawned) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [p for p in spawned if _running(p)] == []
    finally:
        release.touch()  # lets stray workers of a broken build finish instead of hanging


def _unused(item, report):  # pragma: no cover - never runs
    return item


@pytest.mark.parametrize("workers", [0, -1])
def test_pool_refuses_fewer_than_one_worker(workers):
    with pytest.raises(ConfigError, match=f"workers must be >= 1, got {workers}"):
        map_in_processes(_unused, [1, 2], workers, lambda a, b: None, lambda i, r: None)
