"""``alignpt experiment``: run a recipe end to end, rebuild its report, show its progress."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer
from rich.table import Table

from alignpt.console import console

experiment_app = typer.Typer(no_args_is_help=True, pretty_exceptions_enable=False,
                             help="Experiments: arms x seeds, trained and measured against "
                                  "exact Bayes, into a report.")


@experiment_app.command("run")
def run_cmd(
    recipe: str = typer.Argument(..., help="Recipe name (recipes/experiments/) or YAML path."),
    out: Path = typer.Option(..., "--out", "-o", help="Experiment folder (rerun to resume)."),
    quick: bool = typer.Option(False, "--quick", help="The recipe's small variant (CI, smoke)."),
    workers: Optional[int] = typer.Option(None, help="Runs in parallel (default: recipe)."),
    overrides: List[str] = typer.Option([], "--set", help="Recipe override key=value."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
) -> None:
    """Generate corpora, train every arm and seed, measure each phase, write the report."""
    import time

    from alignpt.experiment import load_experiment, run_experiment

    cfg = load_experiment(recipe, overrides, quick=quick)
    started = time.perf_counter()
    state = run_experiment(cfg, out, workers=workers, progress=not quiet)
    minutes = (time.perf_counter() - started) / 60
    console.print(f"{state.done}/{len(state.runs)} runs done in {minutes:.1f} min; "
                  f"report: {out / 'report' / 'report.html'}", highlight=False)


@experiment_app.command("report")
def report_cmd(folder: Path = typer.Argument(..., help="Experiment folder.")) -> None:
    """Rebuild the report from the results on disk (finished runs only)."""
    from alignpt.experiment.report import write_report

    paths = write_report(folder)
    console.print(f"report: {paths['html']}  (also report.md, report.json)", highlight=False)


@experiment_app.command("status")
def status_cmd(folder: Path = typer.Argument(..., help="Experiment folder.")) -> None:
    """Which runs are done, partly trained or not started."""
    from alignpt.experiment import load_state

    state = load_state(folder)
    t = Table(title=f"{state.recipe.name}: {state.done}/{len(state.runs)} runs done")
    for col in ("arm", "seed", "state", "train s", "final loss"):
        t.add_column(col)
    for s in state.runs:
        res = s.result or {}
        loss = res.get("final_loss")
        t.add_row(s.run.arm, str(s.run.seed), s.state, str(res.get("train_seconds", "")),
                  f"{loss:.4f}" if loss is not None else "")
    console.print(t)
