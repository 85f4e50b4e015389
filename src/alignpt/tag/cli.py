"""``alignpt tag ...``: tag corpora, train and evaluate the classifier, review results.

    alignpt tag SHARDS... --out DIR [--config CONFIG] [--workers N] [--set a.b=c]
    alignpt tag train --labels FILE [--out DIR]
    alignpt tag crossval --labels FILE [--fit-only FILE] [--out REPORT.json]
    alignpt tag evaluate --labels FILE [--split heldout]
    alignpt tag review DIR [--format md|html]
    alignpt tag label SHARDS... --out FILE --n 500 --base-url URL --model NAME
    alignpt tag label SHARDS... --out FILE --n 500 --local-model DIR
    alignpt tag explain "some text"

``alignpt tag SHARDS...`` works because the group routes a first argument
that is not a subcommand to ``run`` (a file named like a subcommand can be
tagged with ``alignpt tag run train``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer
from alignpt.cli_support import DefaultRunGroup
from alignpt.tag.cli_train import _console, _print_labels, crossval_cmd, train_cmd

__all__ = ["tag_app"]

tag_app = typer.Typer(cls=DefaultRunGroup, no_args_is_help=True, pretty_exceptions_enable=False,
                      help="Find AI discourse in shards: rules -> classifier -> optional judge.")


@tag_app.command("run")
def run_cmd(
    shards: List[str] = typer.Argument(..., help="Shard files, folders or globs."),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder (attributes shards)."),
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="TagConfig YAML."),
    workers: Optional[int] = typer.Option(None, help="Worker processes (one shard each)."),
    overrides: List[str] = typer.Option([], "--set", help="Config override key=value."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Tag SHARDS with the cascade (the shipped rules and classifier unless --config says)."""
    from alignpt.core.config import load_config
    from alignpt.tag.cascade import TagConfig
    from alignpt.tag.stages import run_tag

    extra = [f"workers={workers}"] if workers is not None else []
    cfg = load_config(TagConfig, config, [*overrides, *extra])
    res = run_tag(shards, out, cfg, progress=not quiet)
    c = res.stats["counters"]
    n = max(c.get("tag/documents", 0), 1)
    _console().print(
        f"{c.get('tag/documents', 0):,} documents -> {out}: rules flag "
        f"{c.get('tag/rules_flagged', 0) / n:.2%}, routed {c.get('tag/routed', 0) / n:.2%}, "
        f"cascade flags {c.get('tag/flagged', 0) / n:.2%} ({res.tasks_run} shard(s) tagged, "
        f"{res.tasks_resumed} already done)", highlight=False)


tag_app.command("train")(train_cmd)
tag_app.command("crossval")(crossval_cmd)


@tag_app.command("evaluate")
def evaluate_cmd(
    labels: Path = typer.Option(..., "--labels", "-l", help="Labelled JSONL."),
    split: Optional[str] = typer.Option("heldout", help="Evaluate records with this split "
                                        "('' = all)."),
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="TagConfig YAML."),
    overrides: List[str] = typer.Option([], "--set", help="Config override key=value."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Precision/recall/F1 per label and flag rates: the rules alone vs the cascade."""
    from rich.table import Table

    from alignpt.core.config import load_config
    from alignpt.tag.cascade import Cascade, TagConfig
    from alignpt.tag.labelled import load_labelled
    from alignpt.tag.evaluate import evaluate_cascade

    data = load_labelled(labels, split or None)
    report = evaluate_cascade(data, Cascade(load_config(TagConfig, config, overrides)))
    if as_json:
        typer.echo(json.dumps(report, indent=2))
        return
    t = Table(title=f"flagging ai_misaligned on {report['documents']} documents ({labels}, "
              f"split={split or 'all'})")
    for col in ("system", "flagged", "flag rate", "precision", "recall", "F1"):
        t.add_column(col, justify="left" if col == "system" else "right")
    rows = [("rules alone", report["rules"]["misaligned"])]
    if "cascade" in report:
        rows += [("classifier alone", report["classifier_alone"]["misaligned"]),
                 ("cascade", report["cascade"]["misaligned"])]
    for name, m in rows:
        t.add_row(name, str(m["flagged"]), f"{m['flag_rate']:.3f}", f"{m['precision']:.3f}",
                  f"{m['recall']:.3f}", f"{m['f1']:.3f}")
    _console().print(t)
    _console().print(f"the rules route {report['rules']['routed_misaligned']:.3f} of the "
                     "ai_misaligned documents to the classifier (the cascade's recall ceiling)",
                     highlight=False)
    if "cascade" in report:
        _print_labels("cascade, per label", report["cascade"]["per_label"])
        points = ", ".join(
            f"recall {op['recall']:.2f}: unreachable" if not op["reachable"] else
            f"recall {op['recall']:.2f}: {op['flagged']}" + (
                f" ({op['flag_ratio']:.2f}x rules)" if op["flag_ratio"] is not None else "")
            for op in report["operating_points"])
        _console().print(f"cascade flags needed, threshold chosen on these documents "
                         f"(best case): {points}", highlight=False)
        aims = report["aims"]

        def verdict(aim: dict, cmp: str) -> str:
            if aim["met"] is None:
                return f"n/a ({cmp} {aim['target']}: nothing to measure it on)"
            return f"{aim['value']:.3f} ({cmp} {aim['target']}: " \
                   f"{'met' if aim['met'] else 'not met'})"

        _console().print(f"aims: recall {verdict(aims['misaligned_recall'], '>=')}; "
                         f"cascade/rules flags {verdict(aims['flag_ratio'], '<=')}",
                         highlight=False)


@tag_app.command("review")
def review_cmd(
    tag_dir: Path = typer.Argument(..., help="Output folder of alignpt tag."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Page path (default "
                                       "DIR/review/review.FORMAT)."),
    fmt: str = typer.Option("md", "--format", help="md | html"),
    samples: int = typer.Option(5, help="Sampled documents per label."),
    seed: int = typer.Option(0),
) -> None:
    """Flag rates by rule and category, top terms, labels, and a sample page per label."""
    from alignpt.tag.review import summarize, write_review

    path = write_review(tag_dir, out, fmt, samples, seed)
    s = summarize(tag_dir)
    _console().print(f"{s['documents']:,} documents: rules flag {s['rules_flag_rate']:.2%}, "
                     f"cascade flags {s['cascade_flag_rate']:.2%}; labels "
                     + ", ".join(f"{k} {v:,}" for k, v in s["labels"].items())
                     + f"\nreview page -> {path}", highlight=False)


@tag_app.command("label")
def label_cmd(
    shards: List[str] = typer.Argument(..., help="Shards to sample from."),
    out: Path = typer.Option(..., "--out", "-o", help="Labelled JSONL to write."),
    n: int = typer.Option(500, "--n", help="Documents to label."),
    base_url: Optional[str] = typer.Option(None, help="OpenAI-compatible server, e.g. "
                                           "http://host:8000/v1"),
    model: Optional[str] = typer.Option(None, help="Model name on that server."),
    local_model: Optional[Path] = typer.Option(None, "--local-model", help="Local Hugging Face "
                                               "causal LM folder instead of a server."),
    device: str = typer.Option("auto", help="--local-model: auto | cpu | cuda | cuda:N."),
    max_tokens: int = typer.Option(200, min=1, help="Longest reply, in tokens."),
    api_key_env: str = typer.Option("OPENAI_API_KEY", help="Environment variable with the key."),
    routed_only: bool = typer.Option(True, help="Sample only documents the rules route to the "
                                     "classifier (what it will see)."),
    concurrency: int = typer.Option(4),
    seed: int = typer.Option(0),
) -> None:
    """Label a seeded sample with the LLM judge, as training data for `alignpt tag train`."""
    from alignpt.core.errors import ConfigError
    from alignpt.tag.judge import Judge, OpenAIChatCompleter
    from alignpt.tag.labelling import label_sample

    if local_model is not None:
        from alignpt.tag.hf_judge import HFCausalCompleter

        if base_url or model:
            raise ConfigError("give --local-model, or --base-url and --model, not both")
        judge = Judge(HFCausalCompleter(local_model, device=device, max_new_tokens=max_tokens))
        source = f"judge:{local_model.name}"
    elif base_url and model:
        judge = Judge(OpenAIChatCompleter(base_url, model, api_key_env=api_key_env,
                                          concurrency=concurrency, max_tokens=max_tokens))
        source = f"judge:{model}"
    else:
        raise ConfigError("the judge needs --base-url and --model, or --local-model DIR")
    stats = label_sample(shards, out, judge, n=n, seed=seed, routed_only=routed_only,
                         source=source)
    _console().print(f"{stats['labelled']:,} labelled, {stats['unparsed']:,} unparseable -> {out}; "
                     + ", ".join(f"{k} {v}" for k, v in stats["labels"].items()), highlight=False)


@tag_app.command("explain")
def explain_cmd(
    text: str = typer.Argument(..., help="Text to tag ('-' reads standard input)."),
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="TagConfig YAML."),
    overrides: List[str] = typer.Option([], "--set", help="Config override key=value."),
) -> None:
    """Show the cascade's record for one text: hits, rules fired, probabilities."""
    import sys

    from alignpt.core.config import load_config
    from alignpt.tag.cascade import Cascade, TagConfig

    body = sys.stdin.read() if text == "-" else text
    rec = Cascade(load_config(TagConfig, config, overrides)).tag_batch([body])[0]
    typer.echo(json.dumps(rec, indent=2))
