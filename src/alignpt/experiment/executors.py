"""Where an experiment's runs execute: a local process pool (default) or a Ray cluster.

The runner hands an executor the runs that can start now and, by parent name, the
runs that wait for a parent (branching, :func:`alignpt.experiment.runner.schedule`);
the executor starts each waiting run once its parent is done. A run's result is a
function of its spec alone (fixed torch threads, seeded), so the executor never
changes a number: only where and when runs happen.
"""

from __future__ import annotations

from concurrent.futures import FIRST_COMPLETED, wait
from typing import Any, Callable, Literal

from pydantic import Field, model_validator

from alignpt.core.config import StrictModel
from alignpt.core.parallel import spawn_pool

__all__ = ["ExecutorConfig", "execute_runs", "RunFn"]

#: ``fn(root, run, branch) -> (run name, result)``: a picklable top-level function.
RunFn = Callable[[str, Any, bool], "tuple[str, dict[str, Any]]"]


class ExecutorConfig(StrictModel):
    """Where runs execute. ``local``: a process pool of ``workers`` on this machine.
    ``ray``: tasks on a Ray cluster (``address``: an existing cluster, e.g.
    ``ray://head:10001`` or ``auto``; none starts a local one), each reserving the run's
    torch threads as CPUs, and one GPU when the run trains on CUDA
    (:mod:`alignpt.experiment.ray_executor`, docs/experiment-ray.md). ``executor: ray`` is
    short for ``executor: {kind: ray}``."""

    kind: Literal["local", "ray"] = "local"
    address: str | None = Field(None, description="Ray cluster address (kind: ray); none "
                                "starts a local cluster sized to `workers`")

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        # `executor: ray` (and `--set executor=ray`) for `executor: {kind: ray}`.
        return {"kind": value} if isinstance(value, str) else value

    @model_validator(mode="after")
    def _address_is_for_ray(self) -> "ExecutorConfig":
        if self.address is not None and self.kind != "ray":
            raise ValueError("`address` is a Ray cluster's: set `kind: ray` too")
        return self


def execute_runs(fn: RunFn, root: str, ready: list[Any], waiting: dict[str, list[Any]],
                 branch: bool, *, workers: int, config: ExecutorConfig | None = None,
                 on_done: Callable[[str], None] = lambda name: None) -> None:
    """Run ``ready`` now and each of ``waiting[name]`` once run ``name`` is done."""
    config = config or ExecutorConfig()
    if config.kind == "ray":
        from alignpt.experiment.ray_executor import execute_on_ray

        execute_on_ray(fn, root, ready, waiting, branch, workers=workers,
                       address=config.address, on_done=on_done)
    elif workers == 1:
        _in_process(fn, root, ready, waiting, branch, on_done)
    else:
        _process_pool(fn, root, ready, waiting, branch, workers, on_done)


def _in_process(fn: RunFn, root: str, ready: list[Any], waiting: dict[str, list[Any]],
                branch: bool, on_done: Callable[[str], None]) -> None:
    ready = list(ready)
    while ready:
        run = ready.pop(0)
        name, _ = fn(root, run, branch)
        ready += waiting.pop(name, [])
        on_done(name)


def _process_pool(fn: RunFn, root: str, ready: list[Any], waiting: dict[str, list[Any]],
                  branch: bool, workers: int, on_done: Callable[[str], None]) -> None:
    if not ready:
        return
    # Runs die with this process: a killed `experiment run` leaves no trainers behind.
    with spawn_pool(workers) as pool:
        pending = {pool.submit(fn, root, run, branch) for run in ready}
        while pending:
            finished, pending = wait(pending, return_when=FIRST_COMPLETED)
            for fut in finished:
                name, _ = fut.result()
                pending |= {pool.submit(fn, root, child, branch)
                            for child in waiting.pop(name, [])}
                on_done(name)
