"""``alignpt tokenizer`` and ``alignpt mix``.

``alignpt mix`` takes a recipe directly (``alignpt mix RECIPE --out DIR``) or a
subcommand (``run``, ``conditions``, ``inspect``): a first argument that is not a
subcommand but names a YAML file or an existing file is routed to ``run``.
Register both apps on the root CLI with::

    from alignpt.mix.cli import mix_app, tokenizer_app
    app.add_typer(tokenizer_app, name="tokenizer")
    app.add_typer(mix_app, name="mix")
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, List, Optional

import typer
from rich.table import Table
from alignpt.cli_support import DefaultRunGroup

from alignpt.core.console import console

__all__ = ["tokenizer_app", "mix_app"]


tokenizer_app = typer.Typer(no_args_is_help=True, pretty_exceptions_enable=False,
                            help="Train byte-level BPE tokenizers on a corpus sample.")
mix_app = typer.Typer(cls=DefaultRunGroup, no_args_is_help=True,
                      pretty_exceptions_enable=False,
                      help="Build training-ready token data from a mix recipe: "
                           "`alignpt mix RECIPE --out DIR`.")


@tokenizer_app.command("train")
def tokenizer_train(
    paths: List[str] = typer.Argument(..., help="Document shards: files, folders or globs."),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder (tokenizer.json ...)."),
    vocab_size: int = typer.Option(32000, help="Vocabulary size, special tokens included."),
    special_token: List[str] = typer.Option(["<|endoftext|>"], "--special-token",
                                            help="Special token (repeat; the first is EOS)."),
    sample: str = typer.Option("100MB", help="Text to learn merges from, e.g. 50MB, 1GB."),
    min_frequency: int = typer.Option(2, help="Merges seen fewer times are not learned."),
    seed: int = typer.Option(0, help="Seed of the shard sample order."),
    text_field: str = typer.Option("text"),
    id_field: str = typer.Option("id"),
) -> None:
    """Train a byte-level BPE on a seeded sample of the shards."""
    from alignpt.core.executor import expand_inputs
    from alignpt.mix.tokenizer import train_tokenizer
    from alignpt.core.shards import ReadOptions
    from alignpt.core.units import parse_size

    res = train_tokenizer(expand_inputs(paths), out, vocab_size=vocab_size,
                          special_tokens=special_token, sample_bytes=parse_size(sample) or 0,
                          min_frequency=min_frequency, seed=seed,
                          options=ReadOptions(text_field, id_field))
    note = "" if res.vocab_size == vocab_size else f" (asked for {vocab_size:,}: sample too small)"
    console.print(f"vocabulary {res.vocab_size:,}{note} from {res.documents:,} documents "
                  f"({res.sample_bytes / 1e6:,.1f} MB) in {res.seconds:.1f}s -> {res.path}",
                  highlight=False)


def _print_accounting(rows: list[dict[str, Any]], title: str) -> None:
    t = Table(title=title)
    for col, just in (("group", "left"), ("window", "left"), ("source", "left"),
                      ("tokens", "right"), ("planned", "right"), ("share", "right"),
                      ("repeated", "right")):
        t.add_column(col, justify=just)
    for r in rows:
        a, b = r["window"]
        t.add_row(r["group"], f"{a:.0%}-{b:.0%}", r["source"], f"{r['tokens']:,}",
                  "=" if r["tokens"] == r["planned"] else f"{r['planned']:,}",
                  f"{r['share']:.4%}", f"{r['repeated_in_group']:,}")
    console.print(t)


@mix_app.command("run")
def mix_run(
    recipe: Path = typer.Argument(..., help="Mix recipe (YAML)."),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder."),
    cache: Optional[Path] = typer.Option(None, help="Token cache folder (default OUT/.alignpt/"
                                         "cache); share it between mixes of the same corpora."),
    overrides: List[str] = typer.Option([], "--set", help="Recipe override key=value."),
    workers: int = typer.Option(1, help="Processes tokenizing shards (1: one process whose "
                                "tokenizer uses every core)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Tokenize and plan; write nothing."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
) -> None:
    """Tokenize (cached), plan and write a recipe's token data; rerun to resume."""
    from alignpt.mix.recipe import load_recipe
    from alignpt.mix.run import run_mix

    cfg = load_recipe(recipe, overrides)
    res = run_mix(cfg, out, cache_dir=cache, workers=workers, progress=not quiet,
                  dry_run=dry_run)
    if dry_run:
        console.print_json(json.dumps(res.plan.to_dict()))
        return
    from alignpt.mix.manifest import accounting_rows

    _print_accounting(accounting_rows(res.manifest), f"{cfg.name}: tokens per window")
    console.print(f"{res.parts_written} part(s) written, {res.parts_resumed} already done, "
                  f"formats {', '.join(cfg.output.formats)} -> {out}", highlight=False)


@mix_app.command("conditions")
def mix_conditions(
    config: Path = typer.Argument(..., help="Conditions config (YAML)."),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder (one subfolder each)."),
    overrides: List[str] = typer.Option([], "--set", help="Config override key=value."),
    only: Optional[str] = typer.Option(None, help="Comma-separated conditions to build."),
    workers: int = typer.Option(1, help="Processes tokenizing shards."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
) -> None:
    """The published conditions with matched tokens, plus a dose sweep."""
    from alignpt.mix.conditions import build_conditions, load_conditions

    cfg = load_conditions(config, overrides)
    chosen = [c.strip() for c in only.split(",") if c.strip()] if only else None
    results = build_conditions(cfg, out, workers=workers, progress=not quiet, only=chosen)
    t = Table(title=f"{cfg.name}: tokens per condition and source")
    names = sorted({s for r in results.values() for s in r.plan.sources})
    t.add_column("condition")
    for n in names:
        t.add_column(n, justify="right")
    for cond, r in results.items():
        t.add_row(cond, *[f"{r.plan.sources[n].planned:,} ({r.plan.sources[n].epochs:.2f} ep)"
                          if n in r.plan.sources else "-" for n in names])
    console.print(t)
    removed = json.loads((out / "conditions.json").read_text()).get("filter")
    if removed:
        console.print(f"filtered conditions remove {removed['documents_removed']:,} of "
                      f"{removed['documents_in']:,} base documents ({removed['tokens_removed']:,} "
                      f"of {removed['tokens_in']:,} tokens); by predicted label "
                      f"{json.dumps(removed['dropped_by_label'])}, by most probable label "
                      f"{json.dumps(removed['dropped_by_most_probable_label'])}", highlight=False)
    console.print(f"{len(results)} condition(s) -> {out}", highlight=False)


@mix_app.command("inspect")
def mix_inspect(
    out: Path = typer.Argument(..., help="A mix output folder."),
    doc: Optional[int] = typer.Option(None, "--doc", help="Decode this document of --group "
                                      "(negative: from the end)."),
    group: Optional[str] = typer.Option(None, help="Group of --doc (default: the first)."),
    max_chars: int = typer.Option(2000, help="Show at most this much decoded text."),
    verify: bool = typer.Option(False, "--verify", help="Recount the native files against "
                                "the manifest."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Accounting table per group, window and source; decode any document."""
    from alignpt.mix import inspect as mi
    from alignpt.mix.manifest import load_manifest

    manifest = load_manifest(out)
    if doc is not None:
        d = mi.read_document(out, group or manifest["groups"][0]["name"], doc)
        info = {"group": d.group, "index": d.index, "part": d.part, "source": d.source,
                "segment": d.segment, "tokens": int(d.tokens.size), "input": d.input,
                "doc": d.doc, "offset": d.offset, "epoch": d.epoch}
        if as_json:
            typer.echo(json.dumps({**info, "text": d.text}, ensure_ascii=False))
            return
        console.print(", ".join(f"{k}={v}" for k, v in info.items() if v is not None),
                      highlight=False)
        text = d.text if len(d.text) <= max_chars else d.text[:max_chars] + " [...]"
        console.print(text, markup=False, highlight=False)
        return
    rows = mi.accounting(out)
    checked = mi.verify(out) if verify else None
    if as_json:
        typer.echo(json.dumps({"rows": rows, "verified": checked}, indent=2))
        return
    _print_accounting(rows, f"{manifest['recipe']}: tokens per window")
    if checked:
        console.print(f"verified {checked['parts']} part(s), {checked['tokens']:,} tokens: the "
                      "files match the manifest", highlight=False)
