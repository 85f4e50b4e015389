"""``alignpt generate ...``: write synthetic documents, resumably.

    alignpt generate CONFIG [--n N] [--backend openai --base-url URL --model NAME] --out DIR
    alignpt generate run CONFIG ...             the same, spelled out
    alignpt generate run CONFIG --dry-run ...   plan only: coverage, a sample prompt, a cost bound
    alignpt generate batch-export CONFIG --out DIR      batch-API request files for what is missing
    alignpt generate batch-import DIR RESULTS.jsonl...  store batch results, write the documents
    alignpt generate report DIR [--figures]     stats, diversity and coverage of a finished run

``alignpt generate CONFIG`` works because the group routes a first argument that is not a
subcommand to ``run``. Rerunning the same command resumes: cached responses are never
requested again. API keys are read from the environment variable named by
``--api-key-env`` (default ``OPENAI_API_KEY``); pass ``--api-key-env none`` for a local
server without keys.
"""

from __future__ import annotations

import json
import logging
import sys
from collections import Counter
from pathlib import Path
from typing import Any, List, Optional

import typer
from alignpt.cli_support import DefaultRunGroup, invoke

__all__ = ["generate_app"]




generate_app = typer.Typer(cls=DefaultRunGroup, no_args_is_help=True,
                           pretty_exceptions_enable=False,
                           help="Generate synthetic documents about AI from a scenario grid "
                                "(alignpt generate CONFIG --out DIR).")


def _load(config: Optional[Path], overrides: List[str], flags: dict[str, Any]):
    """Config file, then CLI flags, then ``--set`` overrides (later wins)."""
    from alignpt.core.config import build_config, load_yaml
    from alignpt.generate.pipeline import GenerateConfig

    data = load_yaml(config) if config else {}
    if "config" in data and "alignpt_version" in data:  # a resolved config.yaml from a run
        data = data["config"]
    for dotted, value in flags.items():
        if value is None:
            continue
        node = data
        *parents, last = dotted.split(".")
        for p in parents:
            if not isinstance(node.get(p), dict):
                node[p] = {}
            node = node[p]
        node[last] = None if value == "__none__" else value
    return build_config(GenerateConfig, data, overrides, source=str(config) if config else None)


def _check_apart(config: Path, out: Path, cfg: Any) -> None:
    """Refuse an output folder that is a file, or is, contains or lies inside an input. The
    one input a run may find inside it is its own resolved OUT/config.yaml (rerun from it
    to resume)."""
    from alignpt.generate.pipeline import input_paths
    from alignpt.core.outdir import check_output_apart, check_output_folder

    check_output_folder(out)
    own = config.resolve() == (out / "config.yaml").resolve()
    check_output_apart(out, ([] if own else [config]) + input_paths(cfg))


def _log_to(out: Path) -> logging.Handler:
    (out / "logs").mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(out / "logs" / "generate.log", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    logger = logging.getLogger("alignpt.generate")
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    return handler


def _flags(n, backend, base_url, model, api, api_key_env, concurrency, seed) -> dict[str, Any]:
    return {"n": n, "seed": seed, "backend.kind": backend, "backend.base_url": base_url,
            "backend.model": model, "backend.api": api, "backend.concurrency": concurrency,
            "backend.api_key_env": ("__none__" if api_key_env and api_key_env.lower() == "none"
                                    else api_key_env)}


_CONFIG = typer.Argument(..., help="Generation config (YAML), e.g. recipes/generate/*.yaml.")
_OUT = typer.Option(..., "--out", "-o", help="Output folder (rerun with the same to resume).")
_N = typer.Option(None, "--n", help="Documents to generate (overrides the config).")
_BACKEND = typer.Option(None, "--backend", help="template | openai | hf")
_URL = typer.Option(None, "--base-url", help="OpenAI-compatible server, e.g. "
                    "http://127.0.0.1:8000/v1")
_MODEL = typer.Option(None, "--model", help="Served model name (openai) or folder (hf).")
_API = typer.Option(None, "--api", help="chat | completions")
_KEYENV = typer.Option(None, "--api-key-env", help="Environment variable holding the API "
                       "key (never the key itself); 'none' for servers without keys.")
_CONC = typer.Option(None, "--concurrency", help="Requests in flight at once.")
_SEED = typer.Option(None, "--seed", help="Plan seed.")
_SET = typer.Option([], "--set", help="Config override key.path=value (repeatable).")


@generate_app.command("run")
def run_cmd(config: Path = _CONFIG, out: Path = _OUT, n: Optional[int] = _N,
            backend: Optional[str] = _BACKEND, base_url: Optional[str] = _URL,
            model: Optional[str] = _MODEL, api: Optional[str] = _API,
            api_key_env: Optional[str] = _KEYENV, concurrency: Optional[int] = _CONC,
            seed: Optional[int] = _SEED, overrides: List[str] = _SET,
            cache_only: bool = typer.Option(False, "--cache-only", help="Send nothing; write "
                                            "what the cache completes."),
            dry_run: bool = typer.Option(False, "--dry-run", help="Plan only: coverage, a "
                                         "sample prompt and an upper bound on tokens and cost."),
            quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar.")) -> None:
    """Plan, generate what the cache lacks, filter, dedup and write shards."""
    from alignpt.core.console import console
    from alignpt.generate.pipeline import generate

    cfg = _load(config, overrides, _flags(n, backend, base_url, model, api, api_key_env,
                                          concurrency, seed))
    if dry_run:
        _dry_run(cfg)
        return
    _check_apart(config, out, cfg)  # before the log file: nothing is written into an input
    handler = _log_to(out)
    try:
        if quiet or not sys.stderr.isatty():
            result = generate(cfg, out, cache_only=cache_only)
        else:
            from alignpt.core.console import progress_bar

            with progress_bar() as prog:
                task = prog.add_task("generating", total=None)
                result = generate(cfg, out, cache_only=cache_only,
                                  progress=lambda d, t: prog.update(task, completed=d, total=t))
    finally:
        logging.getLogger("alignpt.generate").removeHandler(handler)
        handler.close()
    console.print(_summary(result.stats, out), highlight=False)


def _summary(st: dict[str, Any], out: Path) -> str:
    run = st.get("run", {})
    be = run.get("backend", {})
    msg = (f"{st['kept']:,} documents kept, {st['dropped']:,} dropped"
           + (f" ({', '.join(f'{k}={v}' for k, v in st['dropped_by_reason'].items())})"
              if st["dropped"] else "")
           + f", {st['pending']:,} pending -> {out / 'docs'}\n"
           f"requests sent {run.get('requests_sent', 0):,}, cache hits {run.get('cache_hits', 0):,}"
           f", retries {be.get('retries_total', 0):,}, failed {run.get('failed', 0):,}, "
           f"tokens {st['tokens']['prompt'] + st['tokens']['completion']:,}, "
           f"cost ${st['cost_usd']:,.4f}")
    if (grounding := st.get("grounding")) and grounding["skipped"]:
        msg += "\n" + _grounding_line(grounding)
    if run.get("stopped"):
        msg += f"\n[yellow]stopped: {run['stopped']}[/]; rerun with a larger budget to continue"
    elif st["pending"]:
        msg += "\n[yellow]incomplete[/]: rerun the same command to finish"
    return msg


def _grounding_line(grounding: dict[str, Any]) -> str:
    reasons = ", ".join(f"{k}={v:,}" for k, v in grounding["skipped_by_reason"].items())
    return f"grounding records left out: {grounding['skipped']:,}" + \
        (f" ({reasons})" if reasons else "")


def _dry_run(cfg) -> None:
    from alignpt.core.console import console
    from alignpt.generate.longform import chapter_count
    from alignpt.generate.diversity import coverage
    from alignpt.generate.pipeline import request_factory, grounding_stats, plan, requested_values

    skipped: Counter[str] = Counter()
    specs = plan(cfg, skipped)
    factory = request_factory(cfg)
    requests = tokens = 0
    usd = 0.0
    counts: dict[str, Any] = {}
    for s in specs:
        for axis, value in s.axes.items():
            counts.setdefault(axis, {}).setdefault(value, 0)
            counts[axis][value] += 1
        doc = factory.document(s)
        steps = 1
        if s.axes.get("length") == "novel":
            steps = 2 * chapter_count(s.seed, cfg.longform)  # outline + chapters + summaries
        pt = len(doc.prompt.text()) // 3
        ct = doc.params["max_tokens"]
        requests += steps
        tokens += steps * (pt + ct)
        usd += steps * (pt * cfg.backend.price_input_per_mtok
                        + ct * cfg.backend.price_output_per_mtok) / 1e6
    cov = coverage({a: Counter(v) for a, v in counts.items()}, requested_values(cfg, specs))
    console.print(f"{len(specs):,} documents planned; coverage of requested axis values "
                  f"{cov['overall']:.0%}; at most {requests:,} requests, {tokens:,} tokens, "
                  f"${usd:,.2f} (upper bounds: max_tokens on every response)", highlight=False)
    if cfg.grid.grounding is not None:
        console.print(_grounding_line(grounding_stats(skipped)), highlight=False)
    if specs:
        p = factory.document(specs[0]).prompt
        console.print(f"\n[bold]system[/]\n{p.system}\n\n[bold]user[/]\n{p.user}",
                      highlight=False)


@generate_app.command("batch-export")
def batch_export_cmd(config: Path = _CONFIG, out: Path = _OUT, n: Optional[int] = _N,
                     model: Optional[str] = _MODEL, api: Optional[str] = _API,
                     seed: Optional[int] = _SEED, overrides: List[str] = _SET,
                     max_requests: int = typer.Option(50_000, min=1, help="Lines per file.")
                     ) -> None:
    """Write batch-API request files (OUT/batch/) for every document's next missing step."""
    from alignpt.core.config import write_resolved_config
    from alignpt.core.console import console
    from alignpt.generate.batch import export_batch
    from alignpt.generate.pipeline import request_factory, open_cache, plan
    from alignpt.core.outdir import OutputLock, clean_stale_temporaries

    cfg = _load(config, overrides, _flags(n, "openai", None, model, api, None, None, seed))
    _check_apart(config, out, cfg)
    out.mkdir(parents=True, exist_ok=True)
    with OutputLock(out):
        clean_stale_temporaries(out)
        write_resolved_config(out, cfg, extra={"stage": "generate"})
        cache = open_cache(cfg, out)
        try:
            res = export_batch(cfg, out, plan(cfg), request_factory(cfg), cache, max_requests)
        finally:
            cache.close()
    console.print(f"{res.requests:,} requests in {len(res.files)} file(s) under {out / 'batch'}"
                  f" ({res.complete_documents:,} documents already complete)", highlight=False)


@generate_app.command("batch-import")
def batch_import_cmd(out: Path = typer.Argument(..., help="The run folder (holds config.yaml)."),
                     results: List[Path] = typer.Argument(..., help="Batch output JSONL files."),
                     price_factor: float = typer.Option(0.5, min=0.0,
                                                        help="Batch price / normal price.")
                     ) -> None:
    """Store batch results in the cache, then write every document they complete."""
    from alignpt.core.console import console
    from alignpt.core.errors import ConfigError
    from alignpt.generate.batch import import_batch
    from alignpt.generate.pipeline import generate, open_cache
    from alignpt.core.outdir import OutputLock

    if not (out / "config.yaml").is_file():
        raise ConfigError(f"{out}: no config.yaml (run batch-export into this folder first)")
    cfg = _load(out / "config.yaml", [], {})
    with OutputLock(out):  # held across the import and the finalize that follows it
        cache = open_cache(cfg, out)
        try:
            res = import_batch(cfg, results, cache, price_factor)
        finally:
            cache.close()
        result = generate(cfg, out, cache_only=True)
    errors = ", ".join(f"{k}={v}" for k, v in res.errors.items()) or "none"
    console.print(f"imported {res.imported:,} results ({res.already_cached:,} already cached; "
                  f"errors: {errors})\n" + _summary(result.stats, out), highlight=False)


@generate_app.command("report")
def report_cmd(out: Path = typer.Argument(..., help="A finished run folder."),
               figures: bool = typer.Option(False, "--figures", help="Write PNG figures to "
                                            "OUT/figures/ (needs matplotlib)."),
               as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Stats, diversity and axis coverage of a run."""
    from alignpt.core.console import console
    from alignpt.generate.report import load_run, render_tables, write_figures

    stats, report = load_run(out)
    if as_json:
        typer.echo(json.dumps({"stats": stats, "report": report}, indent=2))
    else:
        for table in render_tables(stats, report):
            console.print(table)
    if figures:
        for path in write_figures(stats, report, out / "figures"):
            console.print(f"wrote {path}", highlight=False)


if __name__ == "__main__":  # pragma: no cover - exercised by the kill/resume test
    # The same exit codes as `alignpt generate`, without importing the root CLI (which
    # imports this module to register it).
    sys.exit(invoke(generate_app, sys.argv[1:], "alignpt generate"))
