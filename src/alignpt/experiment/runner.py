"""Run an experiment: generate corpora, train every (arm, seed), measure every phase.

The folder's layout: :mod:`alignpt.experiment.state`.

Resume is folder-based: a finished corpus has its stats, a finished run its
``result.json``; the trainer resumes an unfinished run from its last checkpoint
and measurements already taken are kept. Runs train in parallel processes, each
with a fixed number of torch threads, so results do not depend on scheduling.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from multiprocessing import get_context
from pathlib import Path
from typing import Any, Callable

import orjson

from alignpt.config import atomic_write_text
from alignpt.experiment.grid import RunSpec, bayes_recipe
from alignpt.experiment.recipe import ExperimentRecipe
from alignpt.experiment.state import ExperimentState, load_state, run_dir, write_recipe
from alignpt.outdir import OutputLock
from alignpt.parallel import die_with_parent

__all__ = ["run_experiment", "run_one"]


def _ensure_corpora(root: Path, runs: list[RunSpec], progress: Callable[[str], None]) -> None:
    from alignpt.world import generate_corpus

    seen: dict[Path, Any] = {}
    for run in runs:
        for spec in run.corpora.values():
            seen.setdefault(spec.folder(root), spec)
    for folder, spec in seen.items():
        if (folder / "stats.json").exists():
            continue
        progress(f"corpus {folder.name}")
        # force: a folder without stats.json is a generation that was killed.
        generate_corpus(spec.recipe, spec.tokens, spec.seed, folder, force=True, progress=False)


def _plan_for(root: Path, run: RunSpec) -> dict[str, Any]:
    plan = orjson.loads(orjson.dumps(run.plan))
    for role, src in plan["sources"].items():
        src["paths"] = [str(run.corpora[role].folder(root).resolve())]
    return plan


def run_one(root: str | Path, run: RunSpec) -> dict[str, Any]:
    """Train one run (resuming), measure each phase (cached), write ``result.json``."""
    import torch

    from alignpt.experiment.measure import measure, model_predictor
    from alignpt.train import TrainPlan, load_model, train
    from alignpt.world import ExactBayes

    root = Path(root)
    folder = run_dir(root, run)
    folder.mkdir(parents=True, exist_ok=True)
    threads = run.plan["runtime"]["threads"]
    torch.set_num_threads(threads)
    plan = TrainPlan.model_validate(_plan_for(root, run)).validate()
    started = time.perf_counter()
    result = train(plan, folder / "train", resume=True, progress=False)
    train_seconds = time.perf_counter() - started
    phases = []
    for phase in run.phases:
        cache = folder / "measure" / f"{phase.name}.json"
        if cache.exists():
            m = orjson.loads(cache.read_bytes())
        else:
            model, _ = load_model(result.phase_checkpoints[phase.name])
            m = measure(model_predictor(model), ExactBayes(bayes_recipe(run, phase)), run.probes)
            atomic_write_text(cache, orjson.dumps(m).decode())
        phases.append({"name": phase.name, "label": phase.label, "seen": phase.seen, **m})
    out = {"arm": run.arm, "seed": run.seed, "key": run.key, "phases": phases,
           "accounting": result.accounting, "tokens": result.tokens, "steps": result.steps,
           "final_loss": (result.last_step or {}).get("loss"),
           "train_seconds": round(train_seconds, 2)}
    atomic_write_text(folder / "result.json", orjson.dumps(out).decode())
    return out


def _worker(root: str, run: RunSpec) -> tuple[str, dict[str, Any]]:
    return run.name, run_one(root, run)


def run_experiment(recipe: ExperimentRecipe, out_dir: str | Path, *, workers: int | None = None,
                   progress: bool = True, report: bool = True) -> ExperimentState:
    """Everything: corpora, runs (parallel, resumable), then the report. One run at a
    time per folder: a second ``experiment run`` on it is refused while this one lives."""
    root = Path(out_dir)
    with OutputLock(root):
        return _run_locked(recipe, root, workers, progress, report)


def _run_locked(recipe: ExperimentRecipe, root: Path, workers: int | None, progress: bool,
                report: bool) -> ExperimentState:
    from alignpt.console import err_console, progress_bar

    root.mkdir(parents=True, exist_ok=True)
    write_recipe(root, recipe)
    state = load_state(root)
    runs = [s.run for s in state.runs]
    todo = [s.run for s in state.runs if s.state != "done"]
    workers = max(1, min(workers or recipe.workers, len(todo) or 1, os.cpu_count() or 1))
    with progress_bar(disable=not progress) as bar:
        corp = bar.add_task("corpora", total=None)
        _ensure_corpora(root, runs, lambda what: bar.update(corp, description=what))
        bar.update(corp, description="corpora ready", total=1, completed=1)
        task = bar.add_task("runs", total=len(runs), completed=len(runs) - len(todo))
        if workers == 1:
            for run in todo:
                run_one(root, run)
                bar.advance(task)
        elif todo:
            ctx = get_context("spawn")
            # Runs die with this process: a killed `experiment run` leaves no trainers behind.
            with ProcessPoolExecutor(max_workers=workers, mp_context=ctx,
                                     initializer=die_with_parent,
                                     initargs=(os.getpid(),)) as pool:
                pending = {pool.submit(_worker, str(root), run) for run in todo}
                while pending:
                    finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for fut in finished:
                        fut.result()
                        bar.advance(task)
    state = load_state(root)
    if report:
        from alignpt.experiment.report import write_report

        paths = write_report(root)
        if progress:
            err_console.print(f"report: {paths['html']}")
    return state
