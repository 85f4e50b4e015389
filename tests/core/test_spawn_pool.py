"""parallel.spawn_pool: the one process pool (experiment runs, learning curves, shard info and
map_in_processes all build theirs here)."""

from __future__ import annotations

import os

from alignpt.core.parallel import spawn_pool


def _mark_worker() -> None:
    os.environ["ALIGNPT_TEST_POOL_INIT"] = "ran"


def _probe(_: int) -> tuple[int, str | None, bool]:
    import sys
    # a spawned worker is a fresh interpreter that imports only this module; a forked one
    # would carry the parent's pytest
    return os.getppid(), os.environ.get("ALIGNPT_TEST_POOL_INIT"), "pytest" in sys.modules


def test_workers_are_spawned_children_that_ran_the_initializer():
    with spawn_pool(2, _mark_worker) as pool:
        assert pool._max_workers == 2
        got = list(pool.map(_probe, range(4)))
    assert {parent for parent, _, _ in got} == {os.getpid()}
    assert {mark for _, mark, _ in got} == {"ran"}
    assert not any(has_pytest for _, _, has_pytest in got)   # spawned, not forked


def test_without_an_initializer_workers_still_start():
    with spawn_pool(1) as pool:
        parent, mark, _ = pool.submit(_probe, 0).result()
    assert parent == os.getpid() and mark is None
