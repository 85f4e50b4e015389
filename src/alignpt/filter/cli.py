"""``alignpt filter TAG_DIR --out DIR``: drop tagged documents, refill, leak (see :mod:`alignpt.filter`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer

__all__ = ["filter_cmd"]


def filter_cmd(
    tag_dir: Path = typer.Argument(..., help="Output folder of `alignpt tag`."),
    out: Path = typer.Option(..., "--out", "-o", help="Folder for kept, excluded and refill shards."),
    drop: List[str] = typer.Option([], "--drop", help="Drop condition (repeatable; any match "
                                   "drops), e.g. 'p(ai_misaligned)>=0.5', 'label=ai_misaligned', "
                                   "'flagged' (the default), 'rules.flagged'."),
    refill: bool = typer.Option(False, "--refill", help="Resample kept documents back to the "
                                "original token count, exactly."),
    tokenizer: Optional[Path] = typer.Option(None, help="tokenizer.json for counting tokens "
                                             "(default: whitespace-separated words)."),
    leak: float = typer.Option(0.0, "--leak", help="Fraction of matching documents to keep "
                               "anyway (exact count, chosen by seed), to study leakage."),
    seed: int = typer.Option(0, help="Seed for leak and refill choices."),
    to: Optional[str] = typer.Option(None, "--to", help="Output format (default: as input)."),
    workers: Optional[int] = typer.Option(None, help="Worker processes."),
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="FilterConfig YAML."),
    overrides: List[str] = typer.Option([], "--set", help="Config override key=value."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Drop documents whose tag record matches a condition; write kept and excluded shards."""
    from alignpt.core.config import build_config, load_yaml
    from alignpt.core.console import console
    from alignpt.filter import FilterConfig, run_filter

    data = load_yaml(config) if config else {}
    cli = {"drop": list(drop) or None, "refill": refill or None,
           "tokenizer": str(tokenizer) if tokenizer else None, "leak_fraction": leak or None,
           "seed": seed or None, "format": to, "workers": workers}
    data.update({k: v for k, v in cli.items() if v is not None})
    cfg = build_config(FilterConfig, data, overrides, source=str(config) if config else None)
    s = run_filter(tag_dir, out, cfg, progress=not quiet)
    dropped = sum(s["dropped"].values())
    msg = (f"{s['documents_in']:,} documents: kept {s['documents_kept']:,}, dropped {dropped:,} "
           f"({s['tokens_dropped']:,} of {s['tokens_in']:,} {s['token_counter']} tokens)")
    if s["leaked"]:
        msg += f"; leaked {s['leaked']:,} of {s['matched']:,} matching"
    if s["refill"]:
        msg += (f"; refilled {s['refill']['tokens']:,} tokens in {s['refill']['documents']:,} "
                f"copies -> {s['tokens_out']:,} tokens")
    console.print(msg + f" -> {out}", highlight=False)
    if s["dropped"]:
        console.print("reasons: " + json.dumps(s["dropped"]), highlight=False)
        console.print("removed, by predicted label: " + json.dumps(s["dropped_by_label"])
                      + "; by most probable label: "
                      + json.dumps(s["dropped_by_most_probable_label"])
                      + "; by rule category: " + json.dumps(s["dropped_by_category"]),
                      highlight=False)
