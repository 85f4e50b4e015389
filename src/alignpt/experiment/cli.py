"""``alignpt experiment``: run a recipe end to end, rebuild its report, show its progress."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer
from rich.table import Table

from alignpt.core.console import console

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
        t.add_row(s.run.arm + (" (tamper)" if s.run.tamper_of else ""), str(s.run.seed), s.state, str(res.get("train_seconds", "")),
                  f"{loss:.4f}" if loss is not None else "")
    console.print(t)


def _list(raw: str, what: str, parse) -> list:
    from alignpt.core.errors import ConfigError

    try:
        return [parse(x) for x in raw.split(",") if x.strip()]
    except ValueError as exc:
        raise ConfigError(f"--{what} {raw!r}: {exc}") from None


@experiment_app.command("curve")
def curve_cmd(
    recipe: str = typer.Argument(..., help="Recipe name (recipes/experiments/) or YAML path."),
    out: Path = typer.Option(..., "--out", "-o", help="Curve folder (rerun to resume)."),
    budgets: str = typer.Option("150k,300k,600k,1.2M,2.4M",
                                help="Pretraining token budgets, increasing (a run each)."),
    seeds: str = typer.Option("0,1", help="Training seeds, comma-separated."),
    arm: Optional[str] = typer.Option(None, help="Arm whose pretraining is trained "
                                                 "(default: the recipe's baseline arm)."),
    threshold: float = typer.Option(0.1, help="The rule: pick the smallest budget from which "
                                              "every doubling lowers per-action KL by less "
                                              "than this (relative)."),
    heldout_docs: Optional[int] = typer.Option(None, help="Held-out documents per KL reading."),
    quick: bool = typer.Option(False, "--quick", help="The recipe's small variant (CI, smoke)."),
    workers: int = typer.Option(1, help="Runs in parallel."),
    overrides: List[str] = typer.Option([], "--set", help="Recipe override key=value."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
) -> None:
    """Learning curve: train an arm's pretraining at each budget, read held-out KL to exact
    Bayes, pick the budget where it levels off (docs/experiment-curve.md)."""
    from alignpt.core.config import build_config
    from alignpt.experiment import load_experiment
    from alignpt.experiment.curve import CurveConfig, run_curve
    from alignpt.experiment.recipe import recipe_path
    from alignpt.core.outdir import check_output_apart, check_output_folder
    from alignpt.train.config import parse_count

    check_output_folder(out)
    check_output_apart(out, [recipe_path(recipe)], what="recipe")
    cfg_recipe = load_experiment(recipe, overrides, quick=quick)
    body = {"recipe": cfg_recipe.model_dump(mode="json"),
            "arm": arm or cfg_recipe.claims.baseline,
            "budgets": _list(budgets, "budgets", parse_count),
            "seeds": _list(seeds, "seeds", int), "threshold": threshold}
    if heldout_docs is not None:
        body["heldout_docs"] = heldout_docs
    cfg = build_config(CurveConfig, body, [], source="experiment curve")
    curve = run_curve(cfg, out, workers=workers, progress=not quiet)
    t = Table(title=f"{cfg.recipe.name} arm {cfg.arm}: held-out KL(Bayes || model) per action")
    t.add_column("tokens", justify="right")
    for s in cfg.seeds:
        t.add_column(f"seed {s}", justify="right")
    t.add_column("mean", justify="right")
    t.add_column("drop / doubling", justify="right")
    drops = curve["drop_per_doubling"] + [None]
    for row, drop in zip(curve["kl"]["actions"], drops):
        t.add_row(f"{row['budget']:,}", *[f"{row['per_seed'][str(s)]:.5f}" for s in cfg.seeds],
                  f"{row['mean']:.5f}", "" if drop is None else f"{drop:+.1%}")
    console.print(t)
    pick = (f"{curve['pick']:,} tokens" if curve["pick"] is not None
            else "none (not levelled off by the largest budget)")
    console.print(f"pick (threshold {cfg.threshold:g}): {pick}; {out / 'curve.json'}",
                  highlight=False)
