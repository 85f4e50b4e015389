"""The generate stage end to end: plan -> requests (cached) -> filters -> dedup -> shards.

``generate(cfg, out)`` is a pure function of (config, cache) plus whatever the backend
answers for requests the cache lacks:

1. **plan**: ``n`` specs from the grid (deterministic, prefix-stable), written to
   ``OUT/specs.jsonl.zst``;
2. **generate**: every document's requests go through the cache
   (``OUT/cache/responses.jsonl``): cached steps are never sent again, new completions
   are stored the moment they arrive, so a killed run loses nothing it received;
3. **finalize**: every document is re-assembled from the cache in plan order, filtered
   (:mod:`.quality`), near-duplicates removed (:mod:`.dedup`), and written to
   ``OUT/docs/`` (kept) and ``OUT/excluded/`` (dropped, with the reason), with the full
   spec and generation metadata on each document; ``stats.json`` and ``report.json``
   (diversity and coverage) go beside them.

Because step 3 reads only the plan and the cache, a rerun after a crash, a budget stop or
a batch import writes each document exactly once, in the same place, with the same id.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from pydantic import Field, field_validator

from alignpt.core.atomic import atomic_write_text
from alignpt.core.config import StrictModel, write_resolved_config
from alignpt.core.documents import Document
from alignpt.core.outdir import OutputLock, check_output_apart, clean_stale_temporaries
from alignpt.core.shards import ShardWriter
from alignpt.core.units import parse_size
from alignpt.generate.backends import BackendConfig, make_backend
from alignpt.generate.cache import ResponseCache
from alignpt.generate.dedup import DedupConfig, MinHashDeduper
from alignpt.generate.diversity import DiversityReport, coverage
from alignpt.generate.longform import LongformConfig
from alignpt.generate.prompts import PromptBuilder, PromptConfig
from alignpt.generate.quality import QualityConfig, QualityFilter
from alignpt.generate.runner import (Budget, BudgetConfig, Pending, Requester, RequestFactory,
                                     produce, run_plan)
from alignpt.generate.scenarios import GridConfig, ScenarioSpec, sample_scenarios

__all__ = ["OutputConfig", "GenerateConfig", "GenerateResult", "generate", "plan", "finalize",
           "open_cache", "input_paths", "grounding_stats", "request_factory"]

log = logging.getLogger("alignpt.generate")


class OutputConfig(StrictModel):
    format: str = ".jsonl.zst"
    #: roll output parts at this many uncompressed bytes ("256MB"); null: one part
    max_bytes: int | str | None = 256_000_000
    write_excluded: bool = True

    @field_validator("max_bytes")
    @classmethod
    def _size(cls, v: Any) -> int | None:
        size = parse_size(v)
        if size is not None and size < 1:
            raise ValueError("must be a size >= 1 byte, or null for one part")
        return size


class GenerateConfig(StrictModel):
    """Everything a generation run needs (see ``recipes/generate/*.yaml``)."""

    name: str = "generate"
    n: int | None = Field(None, ge=0)
    seed: int = 0
    grid: GridConfig = GridConfig()
    prompts: PromptConfig = PromptConfig()
    backend: BackendConfig = BackendConfig()
    longform: LongformConfig = LongformConfig()
    budget: BudgetConfig = BudgetConfig()
    quality: QualityConfig = QualityConfig()
    dedup: DedupConfig = DedupConfig()
    output: OutputConfig = OutputConfig()
    #: folder overriding the template backend's grammar files
    template_dir: str | None = None
    #: response cache folder (default OUT/cache); share one across runs to reuse responses
    cache_dir: str | None = None
    #: completion budget per requested word (max_tokens = words x this)
    max_tokens_per_word: float = Field(2.0, gt=0)
    max_tokens_cap: int | None = Field(None, ge=1)


@dataclass
class GenerateResult:
    out_dir: Path
    stats: dict[str, Any]
    report: dict[str, Any]
    outputs: list[Path] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return self.stats["pending"] == 0

    @property
    def doc_paths(self) -> list[Path]:
        """The kept documents' shard files (what a mix stage reads)."""
        return sorted(p for p in self.outputs if p.parent.name == "docs")


def plan(cfg: GenerateConfig, skipped: Counter[str] | None = None) -> list[ScenarioSpec]:
    """The run's specs; ``skipped`` receives the grounding records left out, by reason."""
    return sample_scenarios(cfg.grid, cfg.n, cfg.seed, skipped=skipped)


def input_paths(cfg: GenerateConfig) -> list[str]:
    """Files and folders a run reads besides its config: its output folder must lie apart."""
    paths = [cfg.grid.grounding.path] if cfg.grid.grounding is not None else []
    paths += [p for p in (cfg.template_dir, cfg.prompts.dir) if p]
    if cfg.quality.classifier not in (None, "default"):
        paths.append(cfg.quality.classifier)
    return paths


def grounding_stats(skipped: Counter[str]) -> dict[str, Any]:
    """What ``stats.json`` says about grounding records left out."""
    return {"skipped": sum(skipped.values()), "skipped_by_reason": dict(sorted(skipped.items()))}


def requested_values(cfg: GenerateConfig, specs: list[ScenarioSpec]) -> dict[str, list[str]]:
    """Axis values the run asks for; a grounded grid's opportunities are its items'."""
    requested = cfg.grid.requested()
    if cfg.grid.grounding is not None and "opportunity" in requested:
        requested["opportunity"] = sorted({s.axes["opportunity"] for s in specs})
    return requested


def open_cache(cfg: GenerateConfig, out_dir: Path) -> ResponseCache:
    folder = Path(cfg.cache_dir) if cfg.cache_dir else out_dir / "cache"
    return ResponseCache(folder / "responses.jsonl").open()


def request_factory(cfg: GenerateConfig) -> RequestFactory:
    """The request factory a config describes: prompts, backend, long-form and token caps."""
    return RequestFactory(PromptBuilder(cfg.prompts, cfg.grid), cfg.backend, cfg.longform,
                          cfg.max_tokens_per_word, cfg.max_tokens_cap)


def _workers(cfg: GenerateConfig) -> int:
    return {"openai": cfg.backend.concurrency, "hf": 2 * cfg.backend.batch_size}.get(
        cfg.backend.kind, 1)


def generate(cfg: GenerateConfig, out_dir: str | Path, *, cache_only: bool = False,
             progress: Callable[[int, int], None] | None = None) -> GenerateResult:
    """Plan, generate what the cache lacks, finalize. See the module docstring."""
    out = Path(out_dir)
    check_output_apart(out, input_paths(cfg))
    out.mkdir(parents=True, exist_ok=True)
    with OutputLock(out):
        removed = clean_stale_temporaries(out)
        if removed:
            log.info("removed %d temporary file(s) left by runs that died", removed)
        return _generate(cfg, out, cache_only, progress)


def _generate(cfg: GenerateConfig, out: Path, cache_only: bool,
              progress: Callable[[int, int], None] | None) -> GenerateResult:
    t0 = time.perf_counter()
    skipped: Counter[str] = Counter()
    specs = plan(cfg, skipped)
    if skipped:
        log.warning("grounding: %d record(s) left out %s", sum(skipped.values()),
                    dict(sorted(skipped.items())))
    write_resolved_config(out, cfg, extra={"stage": "generate"})
    _write_specs(out, specs)
    cache = open_cache(cfg, out)
    run: dict[str, Any] = {"requests_sent": 0, "cache_hits": 0, "stopped": None,
                           "failed": 0, "failures": {}, "backend": {}}
    try:
        missing = asyncio.run(_missing(specs, request_factory(cfg), cache))
        log.info("plan: %d documents, %d already complete in the cache", len(specs),
                 len(specs) - len(missing))
        if missing and not cache_only:
            backend = make_backend(cfg.backend, cfg.template_dir)
            budget = Budget(cfg.budget, cfg.backend.price_input_per_mtok,
                            cfg.backend.price_output_per_mtok)
            requester = Requester(cache, backend, budget)
            done = [len(specs) - len(missing)]

            def on_done(spec: ScenarioSpec, _: Any) -> None:
                done[0] += 1
                if progress is not None:
                    progress(done[0], len(specs))

            async def _go():
                try:
                    return await run_plan(missing, request_factory(cfg), requester, _workers(cfg),
                                          cfg.backend.max_failures, on_done)
                finally:
                    await backend.aclose()

            cpu0 = time.process_time()
            outcome = asyncio.run(_go())
            cpu = time.process_time() - cpu0
            run.update(requests_sent=requester.sent, cache_hits=requester.hits,
                       stopped=outcome.stopped, failed=outcome.failed,
                       failures=dict(outcome.failures), backend=backend.stats.to_dict(),
                       backend_info=backend.describe(), generate_seconds=round(outcome.seconds, 3),
                       generate_cpu_seconds=round(cpu, 3))
            budget_used = {"tokens": budget.tokens, "usd": round(budget.usd, 6)}
            run["budget_used"] = budget_used
            if outcome.stopped:
                log.warning("stopped: %s", outcome.stopped)
        result = finalize(cfg, out, specs, cache)
    finally:
        cache.close()
    if cfg.grid.grounding is not None:
        result.stats["grounding"] = grounding_stats(skipped)
    result.stats["run"] = run
    result.stats["seconds"] = round(time.perf_counter() - t0, 3)
    st = result.stats
    log.info("done: %d kept, %d dropped %s, %d pending; %d requests sent, %d cache hits, "
             "cost $%.4f", st["kept"], st["dropped"], st["dropped_by_reason"], st["pending"],
             run["requests_sent"], run["cache_hits"], st["cost_usd"])
    atomic_write_text(out / "stats.json", json.dumps(result.stats, indent=2) + "\n")
    return result


def _write_specs(out: Path, specs: list[ScenarioSpec]) -> None:
    with ShardWriter(out, "specs", ".jsonl.zst") as w:
        for s in specs:
            w.write(Document(s.id, "", {"spec": s.to_dict()}))


async def _missing(specs: list[ScenarioSpec], factory: RequestFactory,
                   cache: ResponseCache) -> list[ScenarioSpec]:
    """Specs the cache cannot fully assemble yet (at least one request still to send)."""
    requester = Requester(cache, mode="cache")
    out = []
    for spec in specs:
        try:
            await produce(spec, factory, requester)
        except Pending:
            out.append(spec)
    return out


def finalize(cfg: GenerateConfig, out: Path, specs: list[ScenarioSpec],
             cache: ResponseCache) -> GenerateResult:
    """Assemble, filter, dedup and write every document the cache completes."""
    factory = request_factory(cfg)
    requester = Requester(cache, mode="cache")
    quality = QualityFilter(cfg.quality)
    deduper = MinHashDeduper(cfg.dedup) if cfg.dedup.enabled else None
    requested = requested_values(cfg, specs)
    report = DiversityReport(requested)
    planned: dict[str, Counter] = {}
    docs = ShardWriter(out / "docs", "part", cfg.output.format, max_bytes=cfg.output.max_bytes)
    excl = ShardWriter(out / "excluded", "part", cfg.output.format,
                       max_bytes=cfg.output.max_bytes) if cfg.output.write_excluded else None
    dropped: Counter[str] = Counter()
    pending = tokens_in = tokens_out = 0
    cost = 0.0
    backend_info = {"kind": cfg.backend.kind, "model": factory.model, "api": factory.api,
                    "params": dict(cfg.backend.params)}

    async def assemble_all() -> None:
        nonlocal pending, tokens_in, tokens_out, cost
        for spec in specs:
            for axis, value in spec.axes.items():
                planned.setdefault(axis, Counter())[value] += 1
            try:
                p = await produce(spec, factory, requester)
            except Pending:
                pending += 1
                continue
            tokens_in += p.prompt_tokens
            tokens_out += p.completion_tokens
            cost += p.cost_usd
            conduct = spec.axes.get("conduct", "aligned")
            v = quality.check(p.text, p.finish_reason, conduct)
            meta = {"spec": spec.to_dict(), "generation": {
                **backend_info, "keys": p.keys, "finish_reason": p.finish_reason,
                "prompt_tokens": p.prompt_tokens, "completion_tokens": p.completion_tokens,
                "cost_usd": round(p.cost_usd, 8), **({"chapters": p.chapters}
                                                      if p.chapters else {})},
                "quality": v.notes}
            reason, detail = v.reason, v.detail
            if v.keep and deduper is not None:
                dup = deduper.add(spec.index, v.text)
                if dup is not None:
                    reason, detail = "near_duplicate", specs[dup].id
            if reason is None:
                docs.write(Document(spec.id, v.text, meta))
                report.add(v.text, spec.axes)
            else:
                dropped[reason] += 1
                if excl is not None:
                    meta["drop"] = {"reason": reason, "detail": detail}
                    excl.write(Document(spec.id, v.text, meta))

    try:
        asyncio.run(assemble_all())
        outputs = docs.close(commit=False) + (excl.close(commit=False) if excl else [])
    except BaseException:
        docs.abort()
        if excl:
            excl.abort()
        raise
    for folder in (out / "docs", out / "excluded"):  # parts from an earlier, larger finalize
        for stale in folder.glob("part*") if folder.is_dir() else ():
            if stale not in outputs:
                stale.unlink()
    outputs = docs.publish() + (excl.publish() if excl else [])
    kept = report.documents
    stats = {"stage": "generate", "planned": len(specs), "generated": len(specs) - pending,
             "pending": pending, "kept": kept, "dropped": sum(dropped.values()),
             "dropped_by_reason": dict(sorted(dropped.items())), "bytes_out": docs.bytes,
             "tokens": {"prompt": tokens_in, "completion": tokens_out},
             "cost_usd": round(cost, 6), "cache_records": len(cache)}
    result_report = report.result()
    result_report["planned_coverage"] = coverage(planned, requested)["overall"]
    atomic_write_text(out / "report.json", json.dumps(result_report, indent=2) + "\n")
    return GenerateResult(out, stats, result_report, outputs)

