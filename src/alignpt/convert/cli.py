"""``alignpt shards``: look at and convert document shards."""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer
from rich.table import Table

from alignpt.core.console import console
from alignpt.core.units import format_bytes

app = typer.Typer(no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Inspect and convert document shards (JSONL, .gz, .zst, Parquet).")


@app.command("info")
def info_cmd(
    paths: List[str] = typer.Argument(..., help="Shard files, folders or globs."),
    text_field: str = typer.Option("text", help="Field holding the document text."),
    id_field: str = typer.Option("id", help="Field holding the document id."),
    skip_errors: bool = typer.Option(False, "--skip-errors",
                                     help="Skip and count bad records instead of failing."),
    sample: int = typer.Option(3, help="How many documents to show."),
    workers: int = typer.Option(1, help="Processes reading shards in parallel."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of tables."),
) -> None:
    """Documents, bytes, fields seen, text-length percentiles and a sample."""
    from alignpt.core.errors import ConfigError
    from alignpt.core.executor import expand_inputs
    from alignpt.core.info import corpus_info
    from alignpt.core.shards import ReadOptions

    if workers < 1:
        raise ConfigError(f"--workers must be >= 1, got {workers}")
    files = expand_inputs(paths)
    opts = ReadOptions(text_field, id_field, "skip" if skip_errors else "fail")
    summary = corpus_info(files, opts, sample=sample, workers=workers)
    if as_json:
        typer.echo(json.dumps(summary, indent=2, ensure_ascii=False))
        return
    t = Table(title=f"{summary['files']} file(s)", show_header=False)
    t.add_row("documents", f"{summary['documents']:,}")
    t.add_row("file bytes", format_bytes(summary["file_bytes"]))
    t.add_row("record bytes (uncompressed)", format_bytes(summary["record_bytes"]))
    t.add_row("text characters", f"{summary['text_chars']:,}")
    pct = summary["length_percentiles_chars"]
    if pct:
        exact = "" if summary["lengths_exact"] else " (sampled)"
        t.add_row("text length, chars" + exact, "  ".join(f"{k}={v:,}" for k, v in pct.items()))
    fields = ", ".join(f"{k} ({v:,})" for k, v in summary["fields"].items()) or "-"
    t.add_row("other fields (documents)", fields)
    if summary["skipped"]:
        t.add_row("skipped", ", ".join(f"{k}={v}" for k, v in summary["skipped"].items()))
    console.print(t)
    if summary["sample"]:
        s = Table(title="sample", show_lines=True)
        s.add_column("id", overflow="fold")
        s.add_column("chars", justify="right")
        s.add_column("text (first 200 chars)", overflow="fold")
        for row in summary["sample"]:
            s.add_row(str(row["id"]), f"{row['chars']:,}", row["text"].replace("\n", "⏎"))
        console.print(s)


@app.command("convert")
def convert_cmd(
    paths: List[str] = typer.Argument(..., help="Input shard files, folders or globs."),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder."),
    to: Optional[str] = typer.Option(None, help="jsonl | jsonl.gz | jsonl.zst | parquet "
                                     "(default: keep each input's format)."),
    max_size: Optional[str] = typer.Option(None, help="Roll output parts at this many "
                                           "uncompressed bytes, e.g. 256MB."),
    group_size: Optional[str] = typer.Option(None, help="Merge small inputs into one task "
                                             "until their files add up to this, e.g. 1GB."),
    level: Optional[int] = typer.Option(None, help="Compression level."),
    text_field: str = typer.Option("text"),
    id_field: str = typer.Option("id"),
    on_error: str = typer.Option("fail", help="fail | skip (skipped lines are counted and "
                                 "kept under OUT/quarantine/)."),
    workers: int = typer.Option(1, help="Worker processes (one shard each)."),
    executor: str = typer.Option("local", help="local | ray"),
    ray_address: Optional[str] = typer.Option(None, help="Existing Ray cluster address."),
    config: Optional[Path] = typer.Option(None, help="YAML config (keys of ConvertConfig)."),
    overrides: List[str] = typer.Option([], "--set", help="Config override key=value."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """JSONL <-> Parquet, recompress and reshard; resumable (rerun to finish)."""
    from alignpt.core.config import build_config, load_yaml
    from alignpt.convert import ConvertConfig, convert_shards

    data = load_yaml(config) if config else {}
    cli = {"to": to, "max_bytes": max_size, "group_bytes": group_size,
           "compression_level": level, "text_field": text_field, "id_field": id_field,
           "on_error": on_error, "workers": workers, "executor": executor,
           "ray_address": ray_address}
    defaults = ConvertConfig().model_dump()
    for key, value in cli.items():
        if value is not None and (key not in data or value != defaults.get(key)):
            data[key] = value
    cfg = build_config(ConvertConfig, data, overrides, source=str(config) if config else None)
    result = convert_shards(paths, out, cfg, progress=not quiet)
    st = result.stats
    msg = (f"{st['documents_out']:,} documents in {len(result.outputs)} file(s) -> {out} "
           f"({result.tasks_run} shard(s) converted, {result.tasks_resumed} already done)")
    if st["skipped_input"]:
        msg += "; skipped " + ", ".join(f"{k}={v}" for k, v in st["skipped_input"].items())
    console.print(msg, highlight=False)
