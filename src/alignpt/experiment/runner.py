"""Run an experiment: generate corpora, train every (arm, seed), measure every phase.

The folder's layout: :mod:`alignpt.experiment.state`.

Resume is folder-based: a finished corpus has its stats, a finished run its
``result.json``; the trainer resumes an unfinished run from its last checkpoint
and measurements already taken are kept. Runs train in parallel processes, each
with a fixed number of torch threads, so results do not depend on scheduling.

A run with a :class:`~alignpt.experiment.grid.BranchSpec` starts from its parent's
checkpoint (the trainer verifies the shared history and otherwise trains from
scratch), so it is started only once its parent is done; parents go first, and
every other run fills the workers meanwhile. ``result.json`` records the parent
(``branched_from``), or why the trainer would not branch (``branch_refused``).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Callable

import orjson

from alignpt.core.atomic import atomic_write_text
from alignpt.core.outdir import OutputLock
from alignpt.experiment.executors import execute_runs
from alignpt.experiment.grid import RunSpec
from alignpt.experiment.kind import ExperimentKind, kind_for
from alignpt.experiment.posttrain import fill_preference_paths
from alignpt.experiment.recipe import ExperimentRecipe
from alignpt.experiment.state import (ExperimentState, load_recipe, load_state, run_dir,
                                      write_recipe)

__all__ = ["run_experiment", "run_one"]


def _ensure_corpora(root: Path, kind: ExperimentKind, runs: list[RunSpec],
                    progress: Callable[[str], None]) -> None:
    seen: dict[Path, Any] = {}
    for run in runs:
        for spec in run.corpora.values():
            seen.setdefault(spec.folder(root), spec)
    pairs: dict[Path, Any] = {}
    for run in runs:
        for pspec in run.pairs.values():
            pairs.setdefault(pspec.folder(root), pspec)
    missing = [(f, s) for f, s in seen.items() if not (f / "stats.json").exists()]
    missing_pairs = [(f, s) for f, s in pairs.items() if not (f / "stats.json").exists()]
    if missing or missing_pairs:
        kind.prepare(root, progress)
    for folder, spec in missing:
        progress(f"corpus {folder.name}")
        kind.build_corpus(root, spec, folder)
    for folder, pspec in missing_pairs:
        progress(f"preference pairs {folder.name}")
        kind.preference_pairs(root, pspec, folder)


def _plan_for(root: Path, run: RunSpec) -> dict[str, Any]:
    plan = orjson.loads(orjson.dumps(run.plan))
    for role, src in plan["sources"].items():
        src["paths"] = [str(run.corpora[role].folder(root).resolve())]
    fill_preference_paths(plan, run, root)
    return plan


def run_one(root: str | Path, run: RunSpec, branch: bool = True) -> dict[str, Any]:
    """Train one run (resuming; branching from its parent's checkpoint when ``branch``),
    measure each phase (cached), write ``result.json``."""
    import torch

    from alignpt.train import TrainPlan, load_model, train
    from alignpt.train.phases import validate_plan
    from alignpt.train.checkpoint import CKPT_DIR

    root = Path(root)
    kind = kind_for(load_recipe(root))
    folder = run_dir(root, run)
    folder.mkdir(parents=True, exist_ok=True)
    threads = run.plan["runtime"]["threads"]
    torch.set_num_threads(threads)
    plan = validate_plan(TrainPlan.model_validate(_plan_for(root, run)))
    branch_from = None
    if branch and run.branch is not None:
        branch_from = (run_dir(root, run.branch.parent) / "train" / CKPT_DIR
                       / f"step_{run.branch.step:07d}")
    started = time.perf_counter()
    result = train(plan, folder / "train", resume=True, progress=False, branch_from=branch_from,
                   save_at=run.save_at if branch else ())
    train_seconds = time.perf_counter() - started
    phases = []
    for phase in run.phases:
        cache = folder / "measure" / f"{phase.name}.json"
        if cache.exists():
            m = orjson.loads(cache.read_bytes())
        else:
            model, _ = load_model(result.phase_checkpoints[phase.name])
            m = kind.measure_phase(root, run, phase, model)
            atomic_write_text(cache, orjson.dumps(m).decode())
        phases.append({"name": phase.name, "label": phase.label, "seen": phase.seen, **m})
    out = {"arm": run.arm, "seed": run.seed, "key": run.key, "phases": phases,
           "accounting": result.accounting, "tokens": result.tokens, "steps": result.steps,
           "final_loss": (result.last_step or {}).get("loss"),
           "train_seconds": round(train_seconds, 2), "branched_from": None}
    if run.tamper_of is not None:
        out["tamper_of"] = run.tamper_of.name
    if result.branch and run.branch is not None:
        if result.branch["branched"]:
            out["branched_from"] = run.branch.record()
        else:
            out["branch_refused"] = result.branch["why"]
    out.update(kind.run_extras(root, run))
    atomic_write_text(folder / "result.json", orjson.dumps(out).decode())
    return out


def _worker(root: str, run: RunSpec, branch: bool) -> tuple[str, dict[str, Any]]:
    return run.name, run_one(root, run, branch)


def schedule(todo: list[RunSpec], branch: bool) -> tuple[list[RunSpec], dict[str, list[RunSpec]]]:
    """Runs that can start now (parents of waiting runs first) and, by parent name, the
    runs waiting for that parent to finish (a parent already done waits for nothing)."""
    pending = {r.name for r in todo}
    waiting: dict[str, list[RunSpec]] = {}
    ready = []
    for run in todo:
        parent = run.branch.parent.name if branch and run.branch is not None else None
        if parent in pending:
            waiting.setdefault(parent, []).append(run)
        else:
            ready.append(run)
    ready.sort(key=lambda r: r.name not in waiting)   # stable: recipe order otherwise
    return ready, waiting


def run_experiment(recipe: ExperimentRecipe, out_dir: str | Path, *, workers: int | None = None,
                   progress: bool = True, report: bool = True, branch: bool = True) -> ExperimentState:
    """Everything: corpora, runs (parallel, resumable), then the report. One run at a
    time per folder: a second ``experiment run`` on it is refused while this one lives.
    ``branch=False`` trains every run from scratch (same results, more steps)."""
    root = Path(out_dir)
    with OutputLock(root):
        return _run_locked(recipe, root, workers, progress, report, branch)


def _run_locked(recipe: ExperimentRecipe, root: Path, workers: int | None, progress: bool,
                report: bool, branch: bool) -> ExperimentState:
    from alignpt.core.console import err_console, progress_bar

    root.mkdir(parents=True, exist_ok=True)
    write_recipe(root, recipe)
    state = load_state(root)
    runs = [s.run for s in state.runs]
    todo = [s.run for s in state.runs if s.state != "done"]
    workers = max(1, min(workers or recipe.workers, len(todo) or 1, os.cpu_count() or 1))
    with progress_bar(disable=not progress) as bar:
        corp = bar.add_task("corpora", total=None)
        _ensure_corpora(root, kind_for(recipe), runs,
                        lambda what: bar.update(corp, description=what))
        bar.update(corp, description="corpora ready", total=1, completed=1)
        task = bar.add_task("runs", total=len(runs), completed=len(runs) - len(todo))
        ready, waiting = schedule(todo, branch)
        if todo:
            execute_runs(_worker, str(root), ready, waiting, branch, workers=workers,
                         config=recipe.executor, on_done=lambda name: bar.advance(task))
    state = load_state(root)
    if report:
        from alignpt.experiment.report import write_report

        paths = write_report(root)
        if progress:
            err_console.print(f"report: {paths['html']}")
    return state
