"""Label a seeded sample of a corpus with the LLM judge (training data for the classifier).

The sample keeps the ``n`` documents with the smallest seeded hash of their
id, a uniform sample without replacement found in one streaming pass with
memory for ``n`` documents; the same seed and corpus give the same sample. By
default only documents the rules route to the classifier are eligible,
because those are the only ones the classifier will ever be asked about.
"""

from __future__ import annotations

import hashlib
import heapq
from collections import Counter
from pathlib import Path
from typing import Any, Sequence

import orjson

from alignpt.core.atomic import atomic_write_text
from alignpt.core.errors import ConfigError
from alignpt.core.executor import expand_inputs
from alignpt.core.outdir import check_output_apart
from alignpt.core.shards import ReadOptions, read_documents
from alignpt.tag.judge import Judge
from alignpt.tag.tagger import RuleTagger

__all__ = ["sample_for_labelling", "label_sample"]


def sample_for_labelling(shards: Sequence[str | Path], n: int, seed: int = 0,
                         routed_only: bool = True, tagger: RuleTagger | None = None,
                         read: ReadOptions | None = None) -> list[tuple[str, str]]:
    """``(id, text)`` of the sample, ordered by hash (so any prefix is also a uniform sample)."""
    if n <= 0:
        return []
    tagger = tagger or RuleTagger()
    heap: list[tuple[int, str, str]] = []
    for path in expand_inputs(shards):
        for doc in read_documents(path, read):
            key = int.from_bytes(hashlib.blake2b(f"{seed}:{doc.id}".encode(),
                                                 digest_size=8).digest(), "big")
            if len(heap) == n and -key <= heap[0][0]:
                continue  # cheaper than the rules: most documents stop here
            if routed_only and not tagger.tag(doc.text).routed:
                continue
            item = (-key, doc.id, doc.text)
            if len(heap) < n:
                heapq.heappush(heap, item)
            else:
                heapq.heapreplace(heap, item)
    return [(i, t) for _, i, t in sorted(heap, reverse=True)]


def label_sample(shards: Sequence[str | Path], out: str | Path, judge: Judge, *, n: int,
                 seed: int = 0, routed_only: bool = True, source: str = "judge",
                 batch_size: int = 32, tagger: RuleTagger | None = None) -> dict[str, Any]:
    """Sample, label with ``judge`` and write JSONL (``id, text, label, reason, source``).

    Replies that cannot be parsed are counted and left out rather than guessed.
    """
    # before any judge call: the labelled file must not replace a shard it samples
    check_output_apart(out, shards, what="shard")
    if Path(out).is_dir():
        raise ConfigError(f"--out {out}: is a folder; give the labelled file's name")
    sample = sample_for_labelling(shards, n, seed, routed_only, tagger)
    lines: list[bytes] = []
    labels: Counter = Counter()
    unparsed = 0
    for start in range(0, len(sample), batch_size):
        chunk = sample[start:start + batch_size]
        for (doc_id, text), verdict in zip(chunk, judge.label([t for _, t in chunk])):
            if verdict.label is None:
                unparsed += 1
                continue
            labels[verdict.label] += 1
            lines.append(orjson.dumps({"id": doc_id, "text": text, "label": verdict.label,
                                       "reason": verdict.reason, "source": source,
                                       "split": "train"}))
    atomic_write_text(out, b"\n".join(lines).decode() + ("\n" if lines else ""))
    return {"sampled": len(sample), "labelled": len(lines), "unparsed": unparsed,
            "labels": dict(sorted(labels.items()))}
