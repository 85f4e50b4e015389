"""``alignpt train ...`` and ``alignpt export-hf``.

    alignpt train PLAN.yaml [a.b=c ...] --out DIR      train (resumes DIR if it holds a run)
    alignpt train resume DIR                           continue a run from its newest checkpoint
    alignpt train dry-run PLAN.yaml [a.b=c ...]        print exact steps and tokens per source
    alignpt export-hf CKPT DIR                         Hugging Face folder from a checkpoint

``alignpt train PLAN.yaml`` works because the group routes any first argument
that is not a subcommand to ``run``. Under torchrun, run this module directly:
``torchrun --nproc_per_node 2 -m alignpt.train.cli PLAN.yaml --out DIR``.
Torch is imported inside the commands, so ``alignpt --help`` stays fast.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import List, Optional

import typer
from alignpt.cli_support import DefaultRunGroup

__all__ = ["train_app", "export_hf"]




train_app = typer.Typer(cls=DefaultRunGroup, no_args_is_help=True, pretty_exceptions_enable=False,
                        help="Train a model under a phase plan (alignpt train PLAN.yaml --out DIR).")


def _print_result(result) -> None:
    import os

    from alignpt.core.console import console

    if os.environ.get("RANK", "0") != "0":  # under torchrun, one report is enough
        return

    state = "complete" if result.complete else "stopped"
    console.print(f"[green]{state}[/] after {result.steps:,} steps, {result.tokens:,} tokens -> "
                  f"{result.run_dir}")
    for name, path in result.phase_checkpoints.items():
        console.print(f"  phase {name}: {path}")
    if result.eval:
        console.print("  eval loss: " + ", ".join(f"{k} {v:.4f}" for k, v in result.eval.items()))


@train_app.command("run")
def run(plan: Path = typer.Argument(..., help="phase plan YAML", exists=False),
        overrides: Optional[List[str]] = typer.Argument(None, help="a.b=c overrides"),
        out: Path = typer.Option(..., "--out", "-o", help="run folder"),
        until: Optional[str] = typer.Option(None, help="stop after this phase"),
        fresh: bool = typer.Option(False, help="refuse to resume an existing run"),
        quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress bar")) -> None:
    """Train PLAN into --out (continues the run if --out already holds one)."""
    from alignpt.train.phases import load_plan
    from alignpt.train.trainer import train

    cfg = load_plan(plan, overrides or [])
    _print_result(train(cfg, out, resume=not fresh, until=until, progress=False if quiet else None))


@train_app.command("resume")
def resume(run_dir: Path = typer.Argument(..., help="run folder"),
           until: Optional[str] = typer.Option(None, help="stop after this phase"),
           quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress bar")) -> None:
    """Continue a run from its newest checkpoint, with the plan it was started with."""
    from alignpt.train.runfiles import load_run_plan
    from alignpt.train.trainer import train

    cfg = load_run_plan(run_dir)
    _print_result(train(cfg, run_dir, resume=True, until=until, progress=False if quiet else None))


@train_app.command("dry-run")
def dry_run(plan: Path = typer.Argument(..., help="phase plan YAML"),
            overrides: Optional[List[str]] = typer.Argument(None, help="a.b=c overrides")) -> None:
    """Validate a plan and print its exact steps and per-source token counts."""
    from rich.table import Table

    from alignpt.core.console import console
    from alignpt.train.phases import load_plan
    from alignpt.train.phases import resolve_phases

    cfg = load_plan(plan, overrides or [])
    table = Table(title=f"{cfg.name}: {cfg.tokens_per_step:,} tokens/step "
                        f"({cfg.batch_size} x {cfg.row_tokens})")
    for col in ("phase", "steps", "source", "window (steps)", "tokens"):
        table.add_column(col, justify="right" if col in ("steps", "tokens") else "left")
    for ph in resolve_phases(cfg):
        if ph.is_dpo:   # steps from an epochs budget are fixed only when the pairs are read
            table.add_row(ph.name, f"{ph.steps:,}" if ph.steps else f"{ph.epochs:g} epochs",
                          "(preference pairs)", "", "")
        for s in ph.sources:
            a, b = ph.windows[s]
            table.add_row(ph.name, f"{ph.steps:,}", s, f"{a}-{b}", f"{ph.planned[s]:,}")
    console.print(table)


def export_hf(ckpt: Path = typer.Argument(..., help="checkpoint folder or run folder (newest)"),
              out_dir: Path = typer.Argument(..., help="output folder"),
              dtype: str = typer.Option("float32", help="float32, bf16 or fp16")) -> None:
    """Export a checkpoint as a Hugging Face model folder (weights, config, tokenizer)."""
    from alignpt.core.console import console
    from alignpt.train.export import export_hf as _export

    out = _export(ckpt, out_dir, dtype=dtype)
    console.print(f"wrote {out} (load with transformers.AutoModelForCausalLM.from_pretrained)")


def main(argv: list[str] | None = None) -> int:
    """Entry point for ``python -m alignpt.train.cli`` (used under torchrun)."""
    from alignpt.cli_support import invoke

    return invoke(train_app, argv, "alignpt train")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
