"""Spawned worker processes with live progress: the one pool every stage uses.

Workers are spawned (not forked), so they are safe with threads, CUDA and macOS,
and each gets a picklable ``report(a, b)`` callback whose calls reach the parent's
``on_progress`` while the work runs; ``on_done(item, result)`` is called in the
parent as each item finishes.
"""

from __future__ import annotations

import queue as queue_mod
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from multiprocessing import get_context
from typing import Any, Callable, Sequence, TypeVar

__all__ = ["QueueReporter", "map_in_processes"]

T = TypeVar("T")


class QueueReporter:
    """Picklable progress callback that posts ``(a, b)`` counts to the parent."""

    def __init__(self, queue: Any):
        self.queue = queue

    def __call__(self, a: int, b: int) -> None:
        self.queue.put((a, b))


def map_in_processes(fn: Callable[[T, QueueReporter], Any], items: Sequence[T], workers: int,
                     on_progress: Callable[[int, int], None],
                     on_done: Callable[[T, Any], None],
                     initializer: Callable[[], None] | None = None) -> None:
    """Run ``fn(item, report)`` for every item on up to ``workers`` spawned processes.

    ``fn`` must be picklable (a module-level function, or a ``functools.partial`` of
    one). A worker's exception is raised here, in the parent, when its item finishes.
    """
    ctx = get_context("spawn")
    with ctx.Manager() as manager:
        q = manager.Queue()
        reporter = QueueReporter(q)
        with ProcessPoolExecutor(max_workers=min(workers, len(items)), mp_context=ctx,
                                 initializer=initializer) as pool:
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
