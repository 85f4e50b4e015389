"""Corpus statistics for ``alignpt shards info``: counts, fields, lengths, a sample."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from alignpt.core.parallel import spawn_pool
from alignpt.core.shards import ReadOptions, ReadStats, read_documents

__all__ = ["ShardInfo", "shard_info", "corpus_info", "PERCENTILES"]

PERCENTILES = (0, 10, 50, 90, 99, 100)
_RESERVOIR = 1_000_000


@dataclass
class ShardInfo:
    path: str
    documents: int = 0
    text_chars: int = 0
    record_bytes: int = 0
    file_bytes: int = 0
    fields: Counter = field(default_factory=Counter)
    skipped: Counter = field(default_factory=Counter)
    lengths: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    sample: list[dict[str, Any]] = field(default_factory=list)


def shard_info(path: str, opts: ReadOptions, sample: int = 3, seed: int = 0) -> ShardInfo:
    """Read one shard. Text lengths are kept exactly up to a million documents and
    as a seeded reservoir sample beyond that, so memory stays flat."""
    info = ShardInfo(path)
    stats = ReadStats()
    rng = np.random.default_rng(seed)
    lengths = np.zeros(min(_RESERVOIR, 1 << 16), dtype=np.int64)
    n = 0
    for doc in read_documents(path, opts, stats):
        length = len(doc.text)
        if n < _RESERVOIR:
            if n >= lengths.size:
                lengths = np.resize(lengths, min(_RESERVOIR, lengths.size * 2))
            lengths[n] = length
        else:
            j = int(rng.integers(0, n + 1))
            if j < _RESERVOIR:
                lengths[j] = length
        n += 1
        info.text_chars += length
        info.fields.update(doc.metadata.keys())
        if len(info.sample) < sample:
            info.sample.append({"id": doc.id, "text": doc.text[:200], "chars": length})
    info.documents = stats.documents
    info.record_bytes = stats.record_bytes
    info.file_bytes = stats.file_bytes
    info.skipped = stats.skipped
    info.lengths = lengths[: min(n, _RESERVOIR)]
    return info


def _one(args: tuple[str, ReadOptions, int]) -> ShardInfo:
    return shard_info(*args)


def corpus_info(paths: Sequence[Path], opts: ReadOptions, sample: int = 3,
                workers: int = 1) -> dict[str, Any]:
    """Merge per-shard info into one summary (per-file rows included)."""
    jobs = [(str(p), opts, sample) for p in paths]
    if workers > 1 and len(jobs) > 1:
        with spawn_pool(min(workers, len(jobs))) as ex:
            infos = list(ex.map(_one, jobs))
    else:
        infos = [_one(j) for j in jobs]
    lengths = np.concatenate([i.lengths for i in infos]) if infos else np.zeros(0)
    fields: Counter = Counter()
    skipped: Counter = Counter()
    for i in infos:
        fields.update(i.fields)
        skipped.update(i.skipped)
    docs = sum(i.documents for i in infos)
    pct = ({f"p{q}": int(np.percentile(lengths, q, method="inverted_cdf")) for q in PERCENTILES}
           if lengths.size else {})
    return {
        "files": len(infos),
        "documents": docs,
        "text_chars": sum(i.text_chars for i in infos),
        "record_bytes": sum(i.record_bytes for i in infos),
        "file_bytes": sum(i.file_bytes for i in infos),
        "fields": dict(fields.most_common()),
        "skipped": dict(skipped),
        "length_percentiles_chars": pct,
        "lengths_exact": all(i.lengths.size == i.documents for i in infos),
        "per_file": [{"path": i.path, "documents": i.documents, "file_bytes": i.file_bytes}
                     for i in infos],
        "sample": [s for i in infos for s in i.sample][:sample],
    }
