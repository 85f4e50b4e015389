"""One evaluation run: suite x framings x formats through a backend, reduced to metrics.

:func:`run_eval` is what ``alignpt eval`` calls and what experiment code should
call too. It returns the results dictionary and, given ``out``, writes

``results.json``
    suite name, version and item hash; model description; resolved config;
    alignpt version and git revision; every metric with its uncertainty and n;
    ``scoring_used`` and ``letter_mass`` (see :mod:`alignpt.evaluate.checks`),
    ``same_position_rate``, ``too_long`` (items left out or truncated, by id) and
    ``warnings`` (the lines a reader must not miss);
``records.jsonl``
    one line per scored prompt (item, condition, format, wording variant,
    per-option log-probs, the pick and its outcome);
``chat_records.jsonl`` (``method: chat``)
    one line per answered prompt: the answer text, its parse status and rule, the
    pick and its outcome (see :mod:`alignpt.evaluate.chat`); ``results.json`` then
    has a ``chat`` block (parse counts, rates on parsed answers, the comparison with
    log-prob scoring of the same prompts) beside the log-prob metrics;
``config.yaml``, ``stats.json``
    the resolved config and provenance, and counts and seconds, as every alignpt
    output folder has;
``plots/``
    rates by framing, the history curve and per-topic rates (needs matplotlib).
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from alignpt.core.atomic import atomic_write_text
from alignpt.core.config import StrictModel, provenance, write_resolved_config
from alignpt.evaluate import metrics as M
from alignpt.evaluate.backends import Backend, load_backend
from alignpt.evaluate.backends.hf import WeightDtype
from alignpt.evaluate.chat import ChatRecord
from alignpt.evaluate.checks import MIN_LETTER_MASS
from alignpt.evaluate.formats import Format, parse_formats
from alignpt.evaluate.framings import Framing, parse_conditions
from alignpt.evaluate.items import Item, items_digest, select_items
from alignpt.evaluate.pipeline import LengthCheck, check_lengths, score_checked
from alignpt.evaluate.scoring import Record
from alignpt.evaluate.summary import summarise
from alignpt.evaluate.suites import Suite, get_suite
from alignpt.core.outdir import OutputLock, clean_stale_temporaries

__all__ = ["EvalConfig", "run_eval", "summarise", "write_outputs", "json_safe"]


class EvalConfig(StrictModel):
    """Everything that determines an evaluation's numbers (saved with the results)."""

    model: str
    suite: str = "starter"
    framings: str | None = Field(None, description="None: the suite's default")
    formats: str = "all"
    mode: Literal["auto", "letter", "text"] = Field(
        "auto", description="auto: letters, or option texts when the letter mass is low")
    min_letter_mass: float = Field(MIN_LETTER_MASS, ge=0.0, le=1.0)
    method: Literal["logprob", "chat"] = Field(
        "logprob", description="logprob: score the options; chat: the model answers in free "
        "text and its choice is parsed (and log-prob scored on the same prompts, if compare)")
    system_prompt: str = Field("hhh", description="chat: hhh, none or a text file's path")
    max_new_tokens: int = Field(64, ge=1, description="chat: answer length limit (tokens)")
    compare: bool = Field(True, description="chat: also score log-probs and compare")
    too_long: Literal["skip", "error", "truncate"] = "skip"
    split: str | None = None
    topics: list[str] | None = None
    limit: int | None = Field(None, ge=1)
    data: str | None = Field(None, description="folder for suites read from external data")
    n_boot: int = Field(2000, ge=M.MIN_BOOTSTRAP)
    seed: int = Field(0, ge=0)
    ci_level: float = Field(0.95, gt=0.5, lt=1.0)
    batch_size: int = Field(32, ge=1)
    device: str = "cpu"
    dtype: WeightDtype = "float32"


def run_eval(cfg: EvalConfig, out: str | Path | None = None, backend: Backend | None = None,
             progress: bool = False, plots: bool = False) -> dict[str, Any]:
    """Score ``cfg.suite`` with ``cfg.model`` (or a ready ``backend``); write ``out`` if given
    (with ``plots/`` if ``plots``).

    ``out`` is locked (:class:`alignpt.core.outdir.OutputLock`) from scoring to the last file
    written, so a second run into the same folder stops at once with one line. The lock
    comes after the suite, conditions, formats and model have loaded: a mistake in any
    of them leaves no folder behind.
    """
    suite = get_suite(cfg.suite)
    items = select_items(suite.load(cfg.data), cfg.split, cfg.topics, cfg.limit)
    conditions = list(parse_conditions(cfg.framings or suite.default_framings))
    formats = list(parse_formats(cfg.formats))
    if backend is None:
        backend = load_backend(cfg.model, device=cfg.device, dtype=cfg.dtype,
                               batch_size=cfg.batch_size, chat=cfg.method == "chat")
    # Before the lock: a run refused for over-long prompts leaves no folder behind.
    lengths = check_lengths(items, conditions, formats, backend, cfg.mode, cfg.too_long)
    if cfg.method == "chat" and cfg.too_long == "error":
        from alignpt.evaluate.chat_run import check_chat_lengths

        check_chat_lengths(lengths.items, conditions, formats, backend, cfg.system_prompt,
                           cfg.max_new_tokens, cfg.too_long)
    if out is None:
        return _score(cfg, suite, items, conditions, formats, backend, progress, lengths)[0]
    with OutputLock(out):
        clean_stale_temporaries(out)       # of an earlier run that was killed mid-write
        results, records, chat = _score(cfg, suite, items, conditions, formats, backend,
                                        progress, lengths)
        write_outputs(Path(out), cfg, results, records, chat)
        if plots and results["metrics"] is not None:
            from alignpt.evaluate.report import write_plots

            write_plots(results, Path(out) / "plots")
    return results


def _score(cfg: EvalConfig, suite: Suite, items: list[Item], conditions: list[Framing],
           formats: list[Format], backend: Backend, progress: bool, lengths: LengthCheck
           ) -> tuple[dict[str, Any], list[Record], list[ChatRecord] | None]:
    t0 = time.perf_counter()
    kw: dict[str, Any] = dict(scoring=cfg.mode, too_long=cfg.too_long,
                              min_letter_mass=cfg.min_letter_mass, lengths=lengths)
    run: Any = score_checked
    if cfg.method == "chat":
        from alignpt.evaluate.chat_run import chat_checked

        run = chat_checked
        kw.update(system=cfg.system_prompt, max_new_tokens=cfg.max_new_tokens,
                  compare=cfg.compare, n_boot=cfg.n_boot, seed=cfg.seed, level=cfg.ci_level)
    if progress:
        from alignpt.core.console import progress_bar

        with progress_bar() as bar:
            def advance(label: str, total: int):
                task = bar.add_task(f"{label} {suite.name}", total=total)
                return lambda n: bar.advance(task, n)
            scored = run(items, conditions, formats, backend, progress=advance, **kw)
    else:
        scored = run(items, conditions, formats, backend, **kw)
    seconds = time.perf_counter() - t0
    if cfg.method == "chat":
        return _chat_results(cfg, suite, items, conditions, formats, backend, scored, seconds)
    records = scored.records
    n_prompts = len(records)
    results = {
        **_head(cfg, suite, items, scored.items, conditions, formats, backend),
        **scored.checks, "warnings": scored.warnings,
        "provenance": provenance(),
        "timing": _timing(seconds, n_prompts),
        "metrics": summarise(records, scored.items, conditions, cfg.n_boot, cfg.seed,
                             cfg.ci_level),
    }
    return results, records, None


def _head(cfg: EvalConfig, suite: Suite, items: list[Item], scored_items: list[Item],
          conditions: list[Framing], formats: list[Format], backend: Backend) -> dict[str, Any]:
    """What every results.json opens with: the suite, the model, the config, the grid."""
    return {
        "suite": {"name": suite.name, "version": suite.version, "items_sha": items_digest(items),
                  "n_items": len(items), "scored_items_sha": items_digest(scored_items),
                  "n_scored": len(scored_items), "description": suite.description},
        "model": {"spec": cfg.model, **backend.describe()},
        "config": cfg.model_dump(mode="json"),
        "conditions": [c.name for c in conditions], "formats": [f.name for f in formats],
    }


def _timing(seconds: float, n_prompts: int) -> dict[str, Any]:
    return {"score_seconds": round(seconds, 3), "prompts": n_prompts,
            "prompts_per_second": round(n_prompts / seconds, 2) if seconds else None}


def _chat_results(cfg: EvalConfig, suite: Suite, items: list[Item], conditions: list[Framing],
                  formats: list[Format], backend: Backend, scored: Any, seconds: float
                  ) -> tuple[dict[str, Any], list[Record], list[ChatRecord]]:
    """results.json of a chat run: the chat block, and the log-prob side when it ran."""
    lp = scored.logprob
    n_prompts = len(scored.records)
    results = {
        "method": "chat",
        **_head(cfg, suite, items, scored.items, conditions, formats, backend),
        **(lp.checks if lp else {"too_long": {"policy": cfg.too_long, "checked": False,
                                              "n_items": 0, "n_prompts": 0, "items": {}}}),
        "warnings": scored.warnings, "provenance": provenance(),
        "timing": _timing(seconds, n_prompts),
        "chat": scored.chat,
        "metrics": summarise(lp.records, lp.items, conditions, cfg.n_boot, cfg.seed,
                             cfg.ci_level) if lp else None,
    }
    return results, lp.records if lp else [], scored.records


def write_outputs(out: Path, cfg: EvalConfig, results: dict, records: list[Record],
                  chat: list[ChatRecord] | None = None) -> None:
    out.mkdir(parents=True, exist_ok=True)
    if chat is not None:
        atomic_write_text(out / "chat_records.jsonl",
                          "".join(json.dumps(r.to_dict(), ensure_ascii=False) + "\n"
                                  for r in chat))
    if results.get("metrics") is not None:     # a chat-only run has no log-prob records
        atomic_write_text(out / "records.jsonl",
                          "".join(json.dumps(r.to_dict()) + "\n" for r in records))
    atomic_write_text(out / "results.json",
                      json.dumps(json_safe(results), indent=2, allow_nan=False) + "\n")
    # stats.json: the counts every alignpt output folder carries (DESIGN.md).
    stats = {"items": results["suite"]["n_scored"], "conditions": len(results["conditions"]),
             "items_too_long": results["too_long"]["n_items"],
             "formats": len(results["formats"]), "records": len(records),
             **({"chat_records": len(chat)} if chat is not None else {}),
             "seconds": results["timing"]["score_seconds"]}
    atomic_write_text(out / "stats.json", json.dumps(stats, indent=2) + "\n")
    write_resolved_config(out, cfg, inputs=[cfg.model], extra={"suite": results["suite"]})


def json_safe(x: Any) -> Any:
    """Strict JSON: an infinite half-life (no decay) becomes the string "inf", NaN null."""
    if isinstance(x, float):
        return ("inf" if x > 0 else "-inf") if math.isinf(x) else (None if math.isnan(x) else x)
    if isinstance(x, dict):
        return {k: json_safe(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [json_safe(v) for v in x]
    return x
