"""Another process that holds an output folder's lock, and a PID known to be dead.

:class:`alignpt.core.outdir.OutputLock` is an ``flock`` held per process and re-entrant within
one, so a test cannot show a run being refused by taking the lock itself: only a second,
real process holding it can. :func:`lock_held_elsewhere` starts that process.
"""

from __future__ import annotations

import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

__all__ = ["lock_held_elsewhere", "dead_pid"]

# Holds the lock until its stdin is closed, then leaves the block (emptying the lock file).
_HOLD = ("import sys\nfrom alignpt.core.outdir import OutputLock\n"
         "with OutputLock(sys.argv[1]):\n    print('held', flush=True)\n    sys.stdin.read()\n")


@contextmanager
def lock_held_elsewhere(folder: str | Path) -> Iterator[subprocess.Popen]:
    """Hold ``OutputLock(folder)`` in a second Python process for the ``with`` block.

    Yields the process once it holds the lock (its ``.pid`` is the one a refusal names).
    On exit the process is told to release (its stdin is closed, so it leaves its
    ``with OutputLock`` block and exits) and is waited for; one still alive after 30 s
    is killed.
    """
    holder = subprocess.Popen([sys.executable, "-c", _HOLD, str(folder)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = holder.stdout.readline()
        if line != "held\n":
            holder.kill()
            _, err = holder.communicate()
            raise AssertionError(f"the lock holder did not take {folder}'s lock: {line!r}\n{err}")
        yield holder
    finally:
        if holder.stdin and not holder.stdin.closed:
            holder.stdin.close()
        try:
            holder.wait(timeout=30)
        except subprocess.TimeoutExpired:
            holder.kill()
            holder.wait()
        holder.stdout.close()
        holder.stderr.close()


def dead_pid() -> int:
    """A PID that was alive a moment ago and is not now (a finished child)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid
