"""``alignpt eval`` and ``alignpt eval-suite``: score models, list/show/export/import suites.

Registered by the main CLI::

    app.command("eval")(eval_command)
    app.add_typer(eval_app, name="eval-suite")
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer
from rich.table import Table
from typer._click.core import ParameterSource

from alignpt.core.console import console, err_console
from alignpt.core.errors import ConfigError
from alignpt.core.outdir import check_output_folder
from alignpt.evaluate.options import local_inputs, output_file, validated

__all__ = ["eval_command", "eval_app"]

eval_app = typer.Typer(no_args_is_help=True, pretty_exceptions_enable=False,
                       help="Evaluation suites: list, show prompts, export to lm-eval, import.")

_MODEL_HELP = ("A Hugging Face model folder, an alignpt checkpoint or run folder, "
               "http(s)://HOST/v1 (an OpenAI-compatible completions server with logprobs; "
               "append #NAME to pick the served model; with --mode chat its chat completions "
               "endpoint), "
               "or fake:always-A / fake:hashed.")


#: Options only one kind of suite reads; given for the other kind they would do nothing.
_WORLD_ONLY = ("world", "heldout", "heldout_recipe")
_TEXT_ONLY = ("framings", "formats", "scoring", "split", "topic", "limit", "data", "batch_size",
              "dtype", "min_letter_mass", "too_long", "mode", "system_prompt", "max_new_tokens",
              "compare")


def eval_command(
    ctx: typer.Context,
    model: str = typer.Argument(..., help=_MODEL_HELP),
    suite: str = typer.Option("starter", "--suite", "-s",
                              help="Suite name (alignpt eval-suite list) or an items .jsonl file."),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder."),
    framings: Optional[str] = typer.Option(
        None, help="all | core | history | argument, or condition names such as "
        "neutral,untested+history4,neutral+argument (comma-separated; default: the suite's)."),
    formats: str = typer.Option("all", help="all, syntax names (qa, scenario, first-person, "
                                "chat) or formats such as qa/fwd."),
    scoring: str = typer.Option("auto", help="letter: log-prob of the option letter; text: "
                                "length-normalised log-likelihood of the option text; auto: "
                                "letter, or text when the letter mass is below "
                                "--min-letter-mass."),
    min_letter_mass: float = typer.Option(0.5, help="auto scoring: the mean P(letters | prompt) "
                                          "below which option texts are scored instead."),
    mode: str = typer.Option("logprob", help="logprob: score the options' log-probabilities; "
                             "chat: the model answers each prompt in free text (greedy) and "
                             "the option it names is parsed."),
    system_prompt: str = typer.Option("hhh", help="--mode chat: the system turn: hhh (a short "
                                      "helpful-honest-harmless prompt), none, or a text file."),
    max_new_tokens: int = typer.Option(64, help="--mode chat: the longest answer, in tokens."),
    compare: bool = typer.Option(True, "--compare/--no-compare", help="--mode chat: also "
                                 "score log-probs of the same prompts and compare the picks."),
    too_long: str = typer.Option("skip", help="Prompts longer than the model's context: skip "
                                 "(leave the item out, listed in results), error, or truncate "
                                 "(cut on the left, warned)."),
    split: Optional[str] = typer.Option(None, help="Only items of this split (e.g. heldout)."),
    topic: Optional[List[str]] = typer.Option(None, help="Only items with this topic (repeat)."),
    limit: Optional[int] = typer.Option(None, help="Only the first N items."),
    data: Optional[str] = typer.Option(None, help="Folder of external suite data "
                                       "(advanced-ai-risk; default ../shared/data/...)."),
    batch_size: int = typer.Option(32, help="Rows per forward pass / prompts per request."),
    device: str = typer.Option("cpu", help="Torch device (cpu, cuda, cuda:1)."),
    dtype: str = typer.Option("float32", help="Weights dtype for Hugging Face models "
                              "(float32, bfloat16, float16, float64)."),
    n_boot: int = typer.Option(2000, help="Bootstrap replicates for confidence intervals "
                               "(at least 100)."),
    seed: int = typer.Option(0, help="Bootstrap seed."),
    plots: bool = typer.Option(True, "--plots/--no-plots", help="Write PNG plots (matplotlib)."),
    world: Optional[str] = typer.Option(None, help="persona-world suite: the world recipe the "
                                        "model was trained on."),
    heldout: Optional[str] = typer.Option(None, help="persona-world suite: held-out token shard."),
    heldout_recipe: Optional[str] = typer.Option(None, help="persona-world suite: recipe of the "
                                                 "held-out documents, if different."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Score MODEL on a suite: misalignment rate per framing, compliance gap, history curve."""
    from alignpt.evaluate.report import print_report
    from alignpt.evaluate.run import EvalConfig, run_eval
    from alignpt.evaluate.suites import SUITES, get_suite
    from alignpt.core.outdir import check_output_apart

    check_output_folder(out)
    kind = get_suite(suite).kind
    _refuse_unused(ctx, _TEXT_ONLY if kind == "world" else _WORLD_ONLY, suite)
    check_output_apart(out, local_inputs(model, None if suite in SUITES else suite, data,
                                         heldout))
    if kind == "world":
        _world(model, out, world, heldout, heldout_recipe, device, n_boot, seed)
        return
    if scoring not in ("auto", "letter", "text"):
        raise ConfigError(f"--scoring must be auto, letter or text, got {scoring!r}")
    if too_long not in ("skip", "error", "truncate"):
        raise ConfigError(f"--too-long must be skip, error or truncate, got {too_long!r}")
    if mode not in ("logprob", "chat"):
        raise ConfigError(f"--mode must be logprob or chat, got {mode!r}")
    chat_only = [f"--{n.replace('_', '-')}" for n in ("system_prompt", "max_new_tokens", "compare")
                 if ctx.get_parameter_source(n) is ParameterSource.COMMANDLINE]
    if mode != "chat" and chat_only:
        raise ConfigError(f"{', '.join(chat_only)}: only used with --mode chat")
    if mode == "chat":
        from alignpt.evaluate.chat import system_prompt as check_system_prompt

        check_system_prompt(system_prompt)
    cfg = validated(EvalConfig, dict(
        model=model, suite=suite, framings=framings, formats=formats, mode=scoring,
        min_letter_mass=min_letter_mass, too_long=too_long, split=split,
        topics=topic or None, limit=limit, data=data, batch_size=batch_size, device=device,
        dtype=dtype, n_boot=n_boot, seed=seed, method=mode, system_prompt=system_prompt,
        max_new_tokens=max_new_tokens, compare=compare),
        {"mode": "--scoring", "topics": "--topic", "method": "--mode"})
    results = run_eval(cfg, out=out, progress=not quiet, plots=plots)
    print_report(results, console)
    t = results["timing"]
    written = ", ".join(name for name, wrote in [("records.jsonl", results["metrics"]),
                                                 ("chat_records.jsonl", mode == "chat")] if wrote)
    err_console.print(f"{t['prompts']:,} prompts in {t['score_seconds']:.1f} s; wrote "
                      f"{out}/results.json, {written}"
                      + (", plots/" if plots and results["metrics"] else ""))


def _refuse_unused(ctx: typer.Context, names: tuple[str, ...], suite: str) -> None:
    """A typed option the chosen suite never reads is an error, not a silent no-op."""
    given = [n for n in names if ctx.get_parameter_source(n) is ParameterSource.COMMANDLINE]
    if given:
        flags = ", ".join("--" + n.replace("_", "-") for n in given)
        raise ConfigError(f"{flags}: not used by suite {suite!r}")


def _world(model: str, out: Path, recipe: str | None, heldout: str | None,
           heldout_recipe: str | None, device: str, n_boot: int, seed: int) -> None:
    from alignpt.core.atomic import atomic_write_text
    from alignpt.evaluate.run import json_safe
    from alignpt.evaluate.world_suite import (WorldSuiteConfig, checkpoint_world_model,
                                              run_world_suite)
    from alignpt.core.outdir import OutputLock, clean_stale_temporaries

    if not recipe:
        raise ConfigError("--suite persona-world needs --world RECIPE (the training world)")
    cfg = validated(WorldSuiteConfig, dict(
        recipe=recipe, heldout=heldout, eval_recipe=heldout_recipe, n_boot=n_boot, seed=seed),
        {"recipe": "--world", "eval_recipe": "--heldout-recipe"})
    world_model = checkpoint_world_model(model, device)
    with OutputLock(out):
        clean_stale_temporaries(out)
        res = run_world_suite(world_model, cfg)
        atomic_write_text(out / "results.json", json.dumps(json_safe(res), indent=2) + "\n")
    _print_world(res)


def _print_world(res: dict) -> None:
    probes, post = res["probes"], res["posterior"]
    for ev in ("T", "U"):
        p = probes[f"after_{ev}"]
        t = Table(title=f"P(D | next flag) after k clean {ev} (model vs exact Bayes)")
        for col in ("k", "q_U model", "q_U Bayes", "q_T model", "q_T Bayes", "log10 support"):
            t.add_column(col, justify="right")
        for i, k in enumerate(probes["k"]):
            mark = "" if p["on_support"][i] else " (off-support)"
            t.add_row(str(k), f"{p['model_q_U'][i]:.4f}", f"{p['bayes_q_U'][i]:.4f}",
                      f"{p['model_q_T'][i]:.4f}", f"{p['bayes_q_T'][i]:.4f}",
                      f"{p['log10_support'][i]:.1f}{mark}")
        console.print(t)
        b = post[f"after_{ev}"]
        console.print("implied posterior at k=0 (model / true): " + ", ".join(
            f"{name} {b['implied'][name][0]:.3f}/{b['true'][name][0]:.3f}"
            for name in post["personas"]))
        console.print(f"implied half-life (model / true): {b['implied_half_life']} / "
                      f"{b['true_half_life']}")
    if "kl" in res:
        on = res["kl"]["on_support"]
        console.print("mean KL(Bayes || model), on-support: " + ", ".join(
            f"{k} {v['mean']:.4g} (n={v['n_positions']})" for k, v in on.items() if v["mean"]
            is not None))
        off = res["kl"]["off_support"]
        console.print(f"off-support positions (network bias, no Bayes answer): actions "
                      f"{off['actions']['n_positions']}, flags {off['flags_eos']['n_positions']}")


@eval_app.command("list")
def list_cmd() -> None:
    """Registered suites with their versions (reads no data)."""
    from alignpt.evaluate.suites import list_suites

    t = Table(title="evaluation suites")
    for col in ("name", "version", "kind", "default framings", "description"):
        t.add_column(col, overflow="fold")
    for s in list_suites():
        t.add_row(s.name, s.version, s.kind, s.default_framings, s.description)
    console.print(t)


@eval_app.command("show")
def show_cmd(
    suite: str = typer.Argument("starter", help="Suite name or items .jsonl."),
    item: Optional[str] = typer.Option(None, help="Item id (default: the first)."),
    framing: str = typer.Option("untested", help="Condition to render."),
    formats: str = typer.Option("qa/fwd", help="Formats to render."),
    scoring: str = typer.Option("letter", help="letter or text."),
    data: Optional[str] = typer.Option(None, help="Folder of external suite data."),
) -> None:
    """Print the exact prompts (and scored continuations) for one item."""
    from alignpt.evaluate.formats import parse_formats, render
    from alignpt.evaluate.framings import Framing
    from alignpt.evaluate.scoring import variant_of
    from alignpt.evaluate.suites import get_suite

    items = get_suite(suite).load(data)
    chosen = next((i for i in items if i.id == item), None) if item else items[0]
    if chosen is None:
        raise ConfigError(f"no item {item!r} in suite {suite!r}")
    cond = Framing.parse(framing)
    for fmt in parse_formats(formats):
        p = render(chosen, cond, fmt, variant_of(chosen, fmt), scoring)
        console.rule(f"{chosen.id} | {cond.name} | {fmt.name}")
        console.print(p.context, markup=False, highlight=False)
        labels = ", ".join(f"{c!r} -> {chosen.outcome(i)}"
                           for c, i in zip(p.continuations, p.order))
        console.print(f"[dim]continuations: {labels}[/]")


@eval_app.command("export")
def export_cmd(
    suite: str = typer.Argument(..., help="Suite name or items .jsonl."),
    out: Path = typer.Option(..., "--out", "-o", help="Task folder to write."),
    framings: Optional[str] = typer.Option(None, help="Conditions (default: the suite's)."),
    formats: str = typer.Option("all", help="Formats."),
    scoring: str = typer.Option("letter", help="letter or text."),
    split: Optional[str] = typer.Option(None, help="Only items of this split."),
    limit: Optional[int] = typer.Option(None, help="Only the first N items."),
    data: Optional[str] = typer.Option(None, help="Folder of external suite data."),
) -> None:
    """Write an lm-evaluation-harness task folder (YAML + JSONL) for a suite."""
    from alignpt.evaluate.export_lmeval import export_lmeval
    from alignpt.evaluate.formats import parse_formats
    from alignpt.evaluate.framings import parse_conditions
    from alignpt.evaluate.items import select_items
    from alignpt.evaluate.suites import SUITES, get_suite
    from alignpt.core.outdir import OutputLock, check_output_apart

    check_output_folder(out)
    s = get_suite(suite)
    check_output_apart(out, local_inputs(None if suite in SUITES else suite, data))
    items = select_items(s.load(data), split, None, limit)
    conditions = parse_conditions(framings or s.default_framings)
    chosen_formats = parse_formats(formats)
    with OutputLock(out):
        tasks = export_lmeval(items, conditions, chosen_formats, out, suite=s.name,
                              version=s.version, mode=scoring)
    console.print(f"wrote {len(tasks)} task(s) to {out} (tag: "
                  f"{next(iter(tasks)).rsplit('_', 1)[0] if tasks else '-'}); see {out}/README.md")


@eval_app.command("import")
def import_cmd(
    ctx: typer.Context,
    source: str = typer.Argument("advanced-ai-risk", help="advanced-ai-risk, or published "
                                 "(the alignment-pretraining eval's schema: passage, question, "
                                 "choices, misaligned_choice, topics, question_id, split)."),
    out: Path = typer.Option(..., "--out", "-o", help="Items .jsonl to write."),
    data: Optional[str] = typer.Option(None, help="advanced-ai-risk: folder holding "
                                       "human_generated_evals/ and lm_generated_evals/ (default "
                                       "../shared/data/...); published: a .jsonl/.parquet file "
                                       "or a folder of split files (required)."),
    sets: str = typer.Option("human,lm", help="human, lm or both."),
    category: Optional[List[str]] = typer.Option(None, help="Only this category (repeat)."),
    contested: bool = typer.Option(True, "--contested/--no-contested",
                                   help="Keep corrigible-less-HHH (direction contested)."),
) -> None:
    """Convert an outside benchmark to alignpt items (attribution kept in metadata)."""
    from alignpt.core.atomic import atomic_write_text
    from alignpt.evaluate.importers import default_aair_dir, import_advanced_ai_risk
    from alignpt.evaluate.items import dump_items

    if source not in ("advanced-ai-risk", "published"):
        raise ConfigError(f"unknown source {source!r} (advanced-ai-risk or published)")
    output_file(out)
    if source == "published":
        _refuse_unused(ctx, ("sets", "category", "contested"), source)
        _import_published(out, data)
        return
    root = Path(data) if data is not None else default_aair_dir()
    if out.resolve().is_relative_to(root.resolve()):
        raise ConfigError(f"--out {out}: lies inside the data folder {root}, whose files are "
                          "the input; write the items elsewhere")
    res = import_advanced_ai_risk(root, [s.strip() for s in sets.split(",") if s.strip()],
                                  category or None, contested)
    atomic_write_text(out, dump_items(res.items))
    t = Table(title=f"imported {len(res.items):,} items -> {out}")
    t.add_column("set/category")
    t.add_column("items", justify="right")
    for key, n in sorted(res.per_category.items()):
        t.add_row(key, f"{n:,}")
    for reason, n in res.skipped.items():
        t.add_row(f"[dim]skipped: {reason}[/]", f"{n:,}")
    console.print(t)


def _import_published(out: Path, data: str | None) -> None:
    from alignpt.core.atomic import atomic_write_text
    from alignpt.evaluate.importers import import_published
    from alignpt.evaluate.items import dump_items
    from alignpt.evaluate.published import PUBLISHED_SPLITS

    if data is None:
        raise ConfigError("--data: give the published eval's .jsonl/.parquet file or folder "
                          "(nothing is downloaded)")
    root = Path(data).resolve()
    if out.resolve() == root or (root.is_dir() and out.resolve().is_relative_to(root)):
        raise ConfigError(f"--out {out}: lies inside the data {data}, whose files are the "
                          "input; write the items elsewhere")
    res = import_published(data)
    atomic_write_text(out, dump_items(res.items))
    t = Table(title=f"imported {len(res.items):,} items from {len(res.files)} file(s) -> {out}")
    for col in ("split", "items", "published set"):
        t.add_column(col, justify="left" if col == "split" else "right")
    for split, n in sorted(res.per_split.items()):
        known = PUBLISHED_SPLITS.get(split)
        t.add_row(split, f"{n:,}", f"{known:,}" if known else "-")
    console.print(t)


@eval_app.command("report")
def report_cmd(
    results: List[Path] = typer.Argument(..., help="Eval output folders (or results.json "
                                         "files); two or more adds paired comparisons."),
    plots: bool = typer.Option(False, "--plots", help="Redraw each run's plots/ too."),
    n_boot: int = typer.Option(10000, help="Bootstrap resamples of each paired comparison "
                               "(at least 100)."),
    seed: int = typer.Option(0, help="Bootstrap seed of the paired comparisons."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Also write the paired "
                                            "comparisons to this JSON file."),
) -> None:
    """Print the tables of finished runs again (reads only their output folders); for
    several runs scored on the same items, the paired difference of every pair."""
    from alignpt.core.atomic import atomic_write_text
    from alignpt.evaluate.compare import compare_runs, load_results, load_run
    from alignpt.evaluate.metrics import MIN_BOOTSTRAP
    from alignpt.evaluate.report import print_comparison, print_report, write_plots
    from alignpt.evaluate.run import json_safe

    if n_boot < MIN_BOOTSTRAP:
        raise ConfigError(f"--n-boot: must be at least {MIN_BOOTSTRAP}, got {n_boot}")
    if seed < 0:
        raise ConfigError(f"--seed: must be at least 0, got {seed}")
    if json_out is not None:
        output_file(json_out, "--json")
    if len(set(results)) != len(results):
        raise ConfigError("the same results folder is given twice")
    loaded = [load_results(path) for path in results]
    for file, res in loaded:
        console.rule(str(file.parent))
        print_report(res, console)
        if plots:
            write_plots(res, file.parent / "plots")
    if len(results) < 2:
        return
    runs = [load_run(path) for path in results]
    comparison = compare_runs(runs, n_boot=n_boot, seed=seed)
    console.rule("paired comparisons")
    print_comparison(comparison, console)
    if json_out is not None:
        atomic_write_text(json_out, json.dumps(json_safe(comparison), indent=2) + "\n")
