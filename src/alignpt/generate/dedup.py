"""Near-duplicate removal with MinHash LSH, in numpy, deterministic.

A document's shingles are its word ``n``-grams (lower-cased), hashed to 64 bits
(blake2b per word, combined polynomially per n-gram). Each of ``num_perm`` hash
functions is a multiply-shift hash ``((a*x + b) mod 2**64) >> 32`` with odd ``a``,
a universal family that numpy evaluates for every shingle at once (unsigned
overflow wraps, which is the ``mod 2**64``); the signature keeps each function's
minimum. Two signatures agree in a position with probability equal to the Jaccard
similarity of the shingle sets.

LSH splits the signature into ``bands`` of ``rows``; documents sharing any band are
candidates, and a candidate counts as a duplicate only if its estimated Jaccard
similarity (the share of agreeing positions) reaches ``threshold``. The band shape is
the one minimising false positives plus false negatives around the threshold (the
same criterion datasketch uses). Documents are added in plan order and the first of
each group is kept, so the result depends only on the documents and the seed.
"""

from __future__ import annotations

import hashlib
import re
from functools import lru_cache

import numpy as np

from alignpt.core.config import StrictModel
from alignpt.core.errors import ConfigError

__all__ = ["DedupConfig", "MinHashDeduper", "optimal_bands", "shingle_hashes", "jaccard"]

_TOKEN = re.compile(r"\w+", re.UNICODE)
_MULT = np.uint64(0x100000001B3)
_trapezoid = getattr(np, "trapezoid", None) or np.trapz  # numpy < 2 spells it trapz  # FNV-64 prime: spreads word hashes across positions


class DedupConfig(StrictModel):
    enabled: bool = True
    #: Jaccard similarity of word n-gram sets at which two documents are duplicates
    threshold: float = 0.8
    num_perm: int = 128
    ngram: int = 5
    seed: int = 1

    def model_post_init(self, _) -> None:
        if not 0 < self.threshold <= 1 or self.num_perm < 2 or self.ngram < 1:
            raise ConfigError("dedup: need 0 < threshold <= 1, num_perm >= 2, ngram >= 1")


@lru_cache(maxsize=1 << 18)
def _word_hash(word: str) -> int:
    return int.from_bytes(hashlib.blake2b(word.encode("utf-8"), digest_size=8).digest(), "little")


def shingle_hashes(text: str, n: int) -> np.ndarray:
    """Distinct 64-bit hashes of the word ``n``-grams of ``text``."""
    words = [w.lower() for w in _TOKEN.findall(text)]
    if not words:
        return np.zeros(1, dtype=np.uint64)
    h = np.fromiter((_word_hash(w) for w in words), dtype=np.uint64, count=len(words))
    if len(words) < n:
        n = len(words)
    with np.errstate(over="ignore"):
        acc = h[: len(h) - n + 1].copy()
        for j in range(1, n):
            acc = acc * _MULT + h[j: len(h) - n + 1 + j]
    return np.unique(acc)


def _false_rates(threshold: float, b: int, r: int) -> float:
    xs = np.linspace(0, 1, 1001)
    p = 1 - (1 - xs ** r) ** b  # probability of becoming a candidate at similarity x
    fp = _trapezoid(p[xs < threshold], xs[xs < threshold]) if threshold > 0 else 0.0
    fn = _trapezoid(1 - p[xs >= threshold], xs[xs >= threshold])
    return float(fp + fn)


def optimal_bands(threshold: float, num_perm: int) -> tuple[int, int]:
    """``(bands, rows)`` with ``bands * rows <= num_perm`` minimising FP + FN area."""
    best, best_err = (1, num_perm), float("inf")
    for b in range(1, num_perm + 1):
        r = num_perm // b
        err = _false_rates(threshold, b, r)
        if err < best_err - 1e-12:
            best, best_err = (b, r), err
    return best


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """Estimated Jaccard similarity of two signatures."""
    return float(np.mean(a == b))


class MinHashDeduper:
    """``dup_of = d.add(index, text)``: the kept index ``text`` duplicates, or None."""

    def __init__(self, cfg: DedupConfig):
        self.cfg = cfg
        rng = np.random.default_rng(cfg.seed)
        self.a = (rng.integers(0, 2**63, cfg.num_perm, dtype=np.uint64) << np.uint64(1)) | \
            np.uint64(1)
        self.b = rng.integers(0, 2**63, cfg.num_perm, dtype=np.uint64)
        self.bands, self.rows = optimal_bands(cfg.threshold, cfg.num_perm)
        self._buckets: list[dict[bytes, list[int]]] = [{} for _ in range(self.bands)]
        self._sigs: dict[int, np.ndarray] = {}

    def signature(self, text: str) -> np.ndarray:
        x = shingle_hashes(text, self.cfg.ngram)
        sig = np.full(self.cfg.num_perm, np.iinfo(np.uint32).max, dtype=np.uint32)
        with np.errstate(over="ignore"):
            for start in range(0, len(x), 4096):  # bounded memory for novel-length texts
                chunk = x[start:start + 4096]
                hv = (self.a[:, None] * chunk[None, :] + self.b[:, None]) >> np.uint64(32)
                np.minimum(sig, hv.min(axis=1).astype(np.uint32), out=sig)
        return sig

    def add(self, index: int, text: str) -> int | None:
        sig = self.signature(text)
        keys = [sig[i * self.rows:(i + 1) * self.rows].tobytes() for i in range(self.bands)]
        candidates = sorted({j for band, key in zip(self._buckets, keys)
                             for j in band.get(key, ())})
        for j in candidates:
            if jaccard(sig, self._sigs[j]) >= self.cfg.threshold:
                return j
        self._sigs[index] = sig
        for band, key in zip(self._buckets, keys):
            band.setdefault(key, []).append(index)
        return None
