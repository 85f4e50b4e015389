"""Spawned worker processes with live progress: the one pool every stage uses.

Workers are spawned (not forked), so they are safe with threads, CUDA and macOS,
and each gets a picklable ``report(a, b)`` callback whose calls reach the parent's
``on_progress`` while the work runs; ``on_done(item, result)`` is called in the
parent as each item finishes.

Workers die with their parent: a parent killed outright (SIGKILL, OOM killer) gets
no chance to shut its pool down, and orphaned workers would go on writing into an
output folder that the next run has already taken over.
"""

from __future__ import annotations

import os
import queue as queue_mod
import signal
import sys
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from multiprocessing import get_context
from multiprocessing.managers import SyncManager
from typing import Any, Callable, Sequence, TypeVar

from alignpt.core.errors import ConfigError

__all__ = ["QueueReporter", "map_in_processes", "spawn_pool", "die_with_parent"]

T = TypeVar("T")
_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


class QueueReporter:
    """Picklable progress callback that posts ``(a, b)`` counts to the parent."""

    def __init__(self, queue: Any):
        self.queue = queue

    def __call__(self, a: int, b: int) -> None:
        self.queue.put((a, b))


def die_with_parent(parent_pid: int, initializer: Callable[[], None] | None = None) -> None:
    """Process initializer: end this process as soon as ``parent_pid`` is gone.

    Linux asks the kernel for a SIGKILL on the parent's death (``prctl``); elsewhere a
    daemon thread polls the parent PID once a second. Then runs ``initializer``.
    """
    if not _kill_on_parent_death():
        threading.Thread(target=_watch_parent, args=(parent_pid,), daemon=True,
                         name="alignpt-parent-watch").start()
    if os.getppid() != parent_pid:  # the parent died before the request took effect
        os._exit(1)
    if initializer is not None:
        initializer()


def _kill_on_parent_death() -> bool:
    if not sys.platform.startswith("linux"):
        return False
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _watch_parent(parent_pid: int) -> None:
    while os.getppid() == parent_pid:
        time.sleep(1.0)
    os._exit(1)


def spawn_pool(workers: int, initializer: Callable[[], None] | None = None) -> ProcessPoolExecutor:
    """A pool of up to ``workers`` spawned processes that die with this one, each running
    ``initializer`` first. Every process pool in alignpt is built here; callers schedule on it
    as they need (``map``, or ``submit`` with ``wait``)."""
    return ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn"),
                               initializer=die_with_parent, initargs=(os.getpid(), initializer))


def map_in_processes(fn: Callable[[T, QueueReporter], Any], items: Sequence[T], workers: int,
                     on_progress: Callable[[int, int], None],
                     on_done: Callable[[T, Any], None],
                     initializer: Callable[[], None] | None = None) -> None:
    """Run ``fn(item, report)`` for every item on up to ``workers`` spawned processes.

    ``fn`` must be picklable (a module-level function, or a ``functools.partial`` of
    one). A worker's exception is raised here, in the parent, when its item finishes.
    """
    if workers < 1:
        raise ConfigError(f"workers must be >= 1, got {workers}")
    ctx = get_context("spawn")
    me = os.getpid()
    # The queue's server is a process too: it must not outlive us either.
    manager = SyncManager(ctx=ctx)
    manager.start(die_with_parent, (me,))
    with manager:
        q = manager.Queue()
        reporter = QueueReporter(q)
        with spawn_pool(min(workers, len(items)), initializer) as pool:
            futures = {pool.submit(fn, item, reporter): item for item in items}
            pending = set(futures)
            while pending:
                finished, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
                while True:
                    try:
                        on_progress(*q.get_nowait())
                    except queue_mod.Empty:
                        break
                for fut in finished:
                    on_done(futures[fut], fut.result())
