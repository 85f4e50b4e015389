"""Parallel encoding of document shards into a token cache, resumable file by file.

Every input shard is tokenized once per tokenizer into a native token shard
(:mod:`alignpt.core.tokens`) under ``CACHE/<settings>/``, beside an Arrow file of its
document ids. A source's ``where`` / ``exclude`` selection is a ``uint8`` mask per
input file, computed in the same read when the tokens are not cached yet. Cache
names carry a fingerprint of the input (size, mtime), of the attributes shard and
of the condition, so a changed input is never served stale; a file whose entry
exists is skipped, which makes a killed run resume where it stopped and lets the
conditions of an experiment share one cache.

Files are the unit of parallel work (spawned processes, one tokenizer thread
each); with one worker the tokenizer's own threads encode each batch.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from alignpt.core.atomic import atomic_path, stable_hash
from alignpt.core.errors import DataError
from alignpt.core.parallel import map_in_processes
from alignpt.mix.select import SelectCondition, document_view, load_attributes
from alignpt.mix.tokenizer import MixTokenizer
from alignpt.core.shards import ReadOptions, ReadStats, read_documents
from alignpt.core.tokens import TokenShardWriter

__all__ = ["TokenCache", "MaskJob", "EncodeStats", "encode_inputs", "read_ids"]

CACHE_VERSION = 1
#: characters of text per encode_batch call: large enough to amortise the call,
#: small enough that progress and memory stay smooth
_BATCH_CHARS = 1 << 20


def _digest(*parts: Any) -> str:
    # scalars and strings only (no mappings): sorting keys leaves the bytes and digest as they were
    return stable_hash(parts, 16)


def _fingerprint(path: Path) -> list[Any]:
    st = path.stat()
    return [str(path.resolve()), st.st_size, st.st_mtime_ns]


class TokenCache:
    """Where the tokens, ids and selection masks of each input file live."""

    def __init__(self, root: str | Path, tokenizer: MixTokenizer, text_field: str = "text",
                 id_field: str = "id"):
        self.tokenizer = tokenizer
        self.text_field, self.id_field = text_field, id_field
        settings = _digest(CACHE_VERSION, tokenizer.sha256, tokenizer.eos_token,
                           tokenizer.split_special_tokens, text_field, id_field)
        self.root = Path(root) / f"tok-{settings}"

    def stem(self, path: Path) -> Path:
        """The token shard for one input (its name says which file and which version)."""
        # no dots: token shards derive their file names with Path.with_suffix
        base = re.sub(r"[^A-Za-z0-9_-]", "_", path.name)[:60]
        return self.root / f"{base}-{_digest(*_fingerprint(path))}"

    def has_tokens(self, path: Path) -> bool:
        return self.stem(path).with_suffix(".json").exists()

    def mask(self, path: Path, condition: SelectCondition, attributes: Path | None) -> Path:
        attr = _digest(*_fingerprint(attributes)) if attributes is not None else "none"
        return Path(f"{self.stem(path)}.sel-{condition.key()}-{attr}.npy")


def read_ids(stem: Path):
    """The document ids of a cache entry, as an Arrow string array (memory-mapped)."""
    import pyarrow as pa

    with pa.memory_map(str(stem) + ".ids.arrow", "r") as src:
        return pa.ipc.open_file(src).read_all().column("id")


@dataclass
class MaskJob:
    condition: SelectCondition
    attributes: Path | None
    out: Path


@dataclass
class _Task:
    path: Path
    stem: Path | None                 # None: tokens are cached, only masks to compute
    masks: list[MaskJob]


@dataclass
class EncodeStats:
    files: int = 0
    files_cached: int = 0
    documents: int = 0
    bytes: int = 0
    tokens: int = 0
    seconds: float = 0.0
    per_file: dict[str, dict[str, int]] = field(default_factory=dict)


def _publish_npy(path: Path, array: np.ndarray) -> None:
    with atomic_path(path, suffix=".npy") as tmp:   # np.save insists on the extension
        np.save(tmp, array)


def _write_ids(stem: Path, ids: list[str]) -> None:
    import pyarrow as pa

    table = pa.table({"id": pa.array(ids, pa.string())})
    with atomic_path(Path(str(stem) + ".ids.arrow")) as tmp, \
            pa.OSFile(str(tmp), "wb") as sink, pa.ipc.new_file(sink, table.schema) as w:
        w.write_table(table)


def _run_task(tok: MixTokenizer, opts: ReadOptions, task: _Task,
              report: Callable[[int, int], None] | None) -> dict[str, int]:
    """Tokenize one input file and/or compute its selection masks."""
    writer = None
    if task.stem is not None:
        writer = TokenShardWriter(task.stem, vocab_size=tok.vocab_size, eos_id=tok.eos_id,
                                  tokenizer=tok.spec(), sources=["document"],
                                  metadata={"input": _fingerprint(task.path),
                                            "text_field": opts.text_field})
    attrs = [load_attributes(m.attributes, opts.id_field) if m.attributes else None
             for m in task.masks]
    bits: list[list[bool]] = [[] for _ in task.masks]
    ids: list[str] = []
    texts: list[str] = []
    stats = ReadStats()
    done = {"documents": 0, "bytes": 0, "tokens": 0}
    pending = 0                      # documents read since the last progress report

    def flush() -> None:
        nonlocal pending
        if writer is not None and texts:
            flat, lengths = tok.encode_batch(texts)
            writer.add_documents(flat, lengths, "document")
            done["tokens"] += int(flat.size)
            if report is not None:
                report(pending, int(flat.size))
            pending = 0
        texts.clear()

    try:
        chars = 0
        for doc in read_documents(task.path, opts, stats):
            for k, job in enumerate(task.masks):
                extra = None
                if attrs[k] is not None:
                    extra = attrs[k].get(doc.id)
                    if extra is None:
                        raise DataError(f"document {doc.id!r} has no record in the attributes "
                                        f"shard {job.attributes}", str(task.path))
                bits[k].append(job.condition(document_view(doc.metadata, extra)))
            done["documents"] += 1
            pending += 1
            if writer is not None:
                ids.append(doc.id)
                texts.append(doc.text)
                chars += len(doc.text)
                if chars >= _BATCH_CHARS:
                    flush()
                    chars = 0
        flush()
        done["bytes"] = stats.record_bytes
        for job, b in zip(task.masks, bits):
            _publish_npy(job.out, np.asarray(b, dtype=np.uint8))
        if writer is not None:
            _write_ids(task.stem, ids)
            writer.close()
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
    if report is not None and pending:
        report(pending, 0)
    return done


def _worker_init() -> None:
    # One process per core: the tokenizer's own thread pool would oversubscribe.
    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    os.environ["RAYON_NUM_THREADS"] = "1"


def encode_inputs(cache: TokenCache, inputs: Sequence[Path],
                  masks: dict[Path, list[tuple[SelectCondition, Path | None]]] | None = None,
                  workers: int = 1, progress: bool = True) -> EncodeStats:
    """Make sure every input has cached tokens (and the masks asked for); return what ran."""
    masks = masks or {}
    cache.root.mkdir(parents=True, exist_ok=True)
    opts = ReadOptions(text_field=cache.text_field, id_field=cache.id_field, on_error="fail")
    tasks: list[_Task] = []
    unique = list(dict.fromkeys(Path(p) for p in inputs))
    for path in unique:
        jobs = [MaskJob(c, a, cache.mask(path, c, a)) for c, a in masks.get(path, [])]
        jobs = [j for j in jobs if not j.out.exists()]
        stem = None if cache.has_tokens(path) else cache.stem(path)
        if stem is not None or jobs:
            tasks.append(_Task(path, stem, jobs))
    stats = EncodeStats(files=len(unique), files_cached=len(unique) - len(tasks))
    if not tasks:
        return stats
    started = time.perf_counter()
    from alignpt.core.console import RateColumn, progress_bar

    with progress_bar(RateColumn("docs", "docs/s"), RateColumn("tokens", "tok/s"),
                      disable=not progress) as bar:
        tid = bar.add_task("tokenize", total=len(tasks), docs=0, tokens=0)

        def on_progress(docs: int, tokens: int) -> None:
            f = bar.tasks[tid].fields
            bar.update(tid, docs=f["docs"] + docs, tokens=f["tokens"] + tokens)

        def on_done(task: _Task, result: dict[str, int]) -> None:
            stats.documents += result["documents"]
            stats.bytes += result["bytes"]
            stats.tokens += result["tokens"]
            stats.per_file[str(task.path)] = result
            bar.advance(tid)

        if workers <= 1 or len(tasks) == 1:
            for task in tasks:
                on_done(task, _run_task(cache.tokenizer, opts, task, on_progress))
        else:
            map_in_processes(partial(_run_task, cache.tokenizer, opts), tasks, workers,
                             on_progress, on_done, initializer=_worker_init)
    stats.seconds = round(time.perf_counter() - started, 4)
    return stats
