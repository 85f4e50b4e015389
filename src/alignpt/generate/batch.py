"""Batch-API files: export the requests a run still needs, import the provider's results.

Hosted providers run batch jobs at about half price with a 24-hour turnaround (the
published corpus was written this way). ``export`` writes every request the cache lacks
in the OpenAI batch format, one JSON object per line::

    {"custom_id": "<request key>", "method": "POST", "url": "/v1/chat/completions",
     "body": {"model": ..., "messages": [...], "temperature": ..., "max_tokens": ...}}

split into files of at most ``max_requests`` lines and ``max_bytes`` bytes (OpenAI's
limits are 50,000 and 200 MB). ``custom_id`` is the cache key, so ``import`` needs no
bookkeeping: each successful result is stored under its id and the documents it
completes are written. A long-form document needs one round per step (outline, then
chapter 1, ...): export again after each import to get the next step of every novel.
Nothing in these files is secret; the key is given to the provider at upload time.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from alignpt.core.atomic import atomic_write_text
from alignpt.core.errors import ConfigError, DataError
from alignpt.generate.backends.openai import endpoint, parse_completion, request_body, \
    MalformedResponse
from alignpt.generate.backends.base import Completion
from alignpt.generate.runner import Pending, Requester, produce

__all__ = ["BatchExport", "BatchImport", "export_batch", "import_batch"]


@dataclass
class BatchExport:
    requests: int
    files: list[Path] = field(default_factory=list)
    complete_documents: int = 0


@dataclass
class BatchImport:
    imported: int = 0
    already_cached: int = 0
    errors: Counter = field(default_factory=Counter)


async def _next_steps(specs, factory, cache):
    requester = Requester(cache, mode="cache")
    pending, complete = [], 0
    for spec in specs:
        try:
            await produce(spec, factory, requester)
            complete += 1
        except Pending as p:
            pending.append(p.request)
    return pending, complete


def export_batch(cfg, out_dir: Path, specs, factory, cache, max_requests: int = 50_000,
                 max_bytes: int = 190_000_000) -> BatchExport:
    """Write ``OUT/batch/requests-NNNNN.jsonl`` for every document's next missing step."""
    if cfg.backend.kind != "openai":
        raise ConfigError("batch-export needs backend.kind: openai (the batch format is the "
                          "OpenAI-compatible request body)")
    pending, complete = asyncio.run(_next_steps(specs, factory, cache))
    folder = Path(out_dir) / "batch"
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("requests-*.jsonl"):
        old.unlink()
    url = "/v1" + endpoint(cfg.backend.api)
    result = BatchExport(len(pending), complete_documents=complete)
    seen: set[str] = set()
    lines: list[bytes] = []
    size = 0

    def flush() -> None:
        nonlocal lines, size
        if lines:
            path = folder / f"requests-{len(result.files):05d}.jsonl"
            atomic_write_text(path, b"".join(lines).decode("utf-8"))
            result.files.append(path)
        lines, size = [], 0

    for req in pending:
        if req.key in seen:  # two documents waiting on the same prompt: ask once
            continue
        seen.add(req.key)
        line = orjson.dumps({"custom_id": req.key, "method": "POST", "url": url,
                             "body": request_body(cfg.backend, req)}) + b"\n"
        if lines and (len(lines) >= max_requests or size + len(line) > max_bytes):
            flush()
        lines.append(line)
        size += len(line)
    flush()
    result.requests = len(seen)
    return result


def import_batch(cfg, paths: list[Path], cache, price_factor: float = 0.5) -> BatchImport:
    """Store every successful result of batch output files in the cache."""
    out = BatchImport()
    model = cfg.backend.model_name()
    for path in paths:
        if not Path(path).is_file():
            raise DataError("batch results file not found", str(path))
        for lineno, raw in enumerate(Path(path).read_bytes().splitlines(), start=1):
            if not raw.strip():
                continue
            try:
                rec = orjson.loads(raw)
                key = rec["custom_id"]
                response = rec.get("response") or {}
            except (orjson.JSONDecodeError, KeyError, TypeError):
                raise DataError("not a batch result line (needs custom_id)", str(path),
                                line=lineno) from None
            status = response.get("status_code")
            if rec.get("error") or status != 200:
                out.errors[f"http_{status}" if status else "error"] += 1
                continue
            try:
                text, finish, usage = parse_completion(orjson.dumps(response.get("body")),
                                                       cfg.backend.api)
            except MalformedResponse:
                out.errors["malformed"] += 1
                continue
            pt, ct = usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0)
            cost = price_factor * (pt * cfg.backend.price_input_per_mtok
                                   + ct * cfg.backend.price_output_per_mtok) / 1e6
            c = Completion(text, finish, pt, ct, model, cost)
            if cache.put(key, c.to_record(key, "openai-batch")):
                out.imported += 1
            else:
                out.already_cached += 1
    return out
