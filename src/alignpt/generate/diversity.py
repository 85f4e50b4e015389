"""How varied the corpus is, measured: distinct-n, compression, shared n-grams, coverage.

"Obviously synthetic" text has measurable symptoms: few distinct n-grams, text that
compresses unusually well, stock phrases shared across many documents, and whole regions
of the scenario grid left empty. The report gives each a number:

* ``distinct_n``: unique / total word n-grams (n = 1..4) over the first
  ``sample_tokens`` tokens of the corpus in plan order (corpus-level distinct-n depends
  on sample size, so the sample is fixed to make runs comparable), and the mean of the
  per-document values;
* ``compression_ratio``: raw bytes / gzip bytes of that sample (Shaib et al. 2024 use the
  same measure: higher means more repetitive; English web text is around 2.5-3);
* ``shared_8gram_frac``: the share of 8-gram occurrences in the sample that also occur in
  another document (boilerplate across documents, which per-document filters miss);
* ``coverage``: per axis, documents per value and the share of requested values present.
"""

from __future__ import annotations

import gzip
import re
from collections import Counter, defaultdict
from typing import Any, Iterable

import numpy as np

__all__ = ["DiversityReport", "distinct_n", "compression_ratio", "coverage"]

_TOKEN = re.compile(r"\w+|[^\w\s]", re.UNICODE)


def _tokens(text: str) -> list[str]:
    return [t.lower() for t in _TOKEN.findall(text)]


def distinct_n(tokens: list[str], n: int) -> float:
    total = len(tokens) - n + 1
    return len({tuple(tokens[i:i + n]) for i in range(total)}) / total if total > 0 else 0.0


def compression_ratio(texts: Iterable[str]) -> float:
    raw = "\n\n".join(texts).encode("utf-8")
    return len(raw) / len(gzip.compress(raw, compresslevel=9, mtime=0)) if raw else 0.0


def coverage(counts: dict[str, Counter], requested: dict[str, list[str]]) -> dict[str, Any]:
    """Per-axis counts and the share of requested values with at least one document."""
    axes, hit, total = {}, 0, 0
    for axis, values in requested.items():
        got = counts.get(axis, Counter())
        present = [v for v in values if got.get(v, 0) > 0]
        hit += len(present)
        total += len(values)
        axes[axis] = {"requested": len(values), "covered": len(present),
                      "coverage": len(present) / len(values) if values else 1.0,
                      "missing": [v for v in values if v not in present],
                      "counts": {v: got.get(v, 0) for v in values},
                      "unrequested": {v: c for v, c in sorted(got.items()) if v not in values}}
    return {"overall": hit / total if total else 1.0, "axes": axes}


class DiversityReport:
    """Accumulate documents (in plan order), then :meth:`result`."""

    def __init__(self, requested: dict[str, list[str]], sample_tokens: int = 200_000):
        self.requested = requested
        self.sample_tokens = sample_tokens
        self.counts: dict[str, Counter] = defaultdict(Counter)
        self.lengths: dict[str, list[int]] = defaultdict(list)
        self._sample: list[list[str]] = []
        self._sample_texts: list[str] = []
        self._taken = 0
        self._per_doc: dict[int, list[float]] = defaultdict(list)
        self.documents = 0

    def add(self, text: str, axes: dict[str, str]) -> None:
        self.documents += 1
        for axis, value in axes.items():
            self.counts[axis][value] += 1
        toks = _tokens(text)
        self.lengths[axes.get("genre", "all")].append(len(text.split()))
        for n in (1, 2, 3, 4):
            self._per_doc[n].append(distinct_n(toks, n))
        if self._taken < self.sample_tokens:
            take = toks[: self.sample_tokens - self._taken]
            self._sample.append(take)
            self._sample_texts.append(text if len(take) == len(toks) else
                                      text[: max(1, len(text) * len(take) // max(1, len(toks)))])
            self._taken += len(take)

    def _shared_8gram_frac(self) -> float:
        df: Counter = Counter()
        grams_per_doc = []
        for toks in self._sample:
            grams = {hash(tuple(toks[i:i + 8])) for i in range(len(toks) - 7)}
            grams_per_doc.append([hash(tuple(toks[i:i + 8])) for i in range(len(toks) - 7)])
            df.update(grams)
        occ = sum(len(g) for g in grams_per_doc)
        shared = sum(1 for g in grams_per_doc for h in g if df[h] > 1)
        return shared / occ if occ else 0.0

    def result(self) -> dict[str, Any]:
        flat = [t for toks in self._sample for t in toks]
        lengths = {g: _summary(v) for g, v in sorted(self.lengths.items())}
        return {
            "documents": self.documents,
            "sample_tokens": len(flat),
            "distinct_n": {str(n): round(distinct_n(flat, n), 4) for n in (1, 2, 3, 4)},
            "distinct_n_per_doc_mean": {str(n): round(float(np.mean(v)), 4) if v else 0.0
                                        for n, v in sorted(self._per_doc.items())},
            "compression_ratio": round(compression_ratio(self._sample_texts), 4),
            "shared_8gram_frac": round(self._shared_8gram_frac(), 4),
            "words_by_genre": lengths,
            "words_all": _summary([x for v in self.lengths.values() for x in v]),
            "coverage": coverage(self.counts, self.requested),
        }


def _summary(values: list[int]) -> dict[str, float]:
    if not values:
        return {"n": 0}
    a = np.asarray(values, dtype=float)
    return {"n": int(a.size), "mean": round(float(a.mean()), 1),
            "p10": float(np.percentile(a, 10)), "p50": float(np.percentile(a, 50)),
            "p90": float(np.percentile(a, 90)), "total": int(a.sum())}
