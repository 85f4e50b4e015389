"""Seeded permutations of ``range(n)`` computed index by index, in O(1) memory.

A mix shuffles every source by seed. ``np.random.permutation(n)`` would hold
8 bytes per document (gigabytes for a web corpus) and its output is only as
stable as numpy's generator. Here position ``i`` of pass ``p`` maps to document
``permute(i)`` through a keyed Feistel network (six rounds of a splitmix64 round
function) with cycle walking, so:

* any slice of the shuffled order is computed on demand, vectorised, with no
  table held in memory: the mixer streams sources of any size;
* the order is a pure function of (seed, source name, pass) defined in this file,
  so the same seed gives the same bytes on every machine and numpy version.

>>> perm = FeistelPermutation(10, key=derive_key(0, "aligned", 0))
>>> sorted(perm(np.arange(10)).tolist()) == list(range(10))
True
"""

from __future__ import annotations

import hashlib

import numpy as np

__all__ = ["FeistelPermutation", "derive_key", "splitmix64", "hash_uniform"]

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_ROUNDS = 6


def derive_key(seed: int, *parts: object) -> int:
    """A 64-bit key from a seed and labels (source name, pass, phase ...)."""
    text = "\x1f".join([str(seed), *map(str, parts)]).encode("utf-8")
    return int.from_bytes(hashlib.sha256(text).digest()[:8], "little")


def splitmix64(x: np.ndarray) -> np.ndarray:
    """The splitmix64 finaliser on a ``uint64`` array (wrapping arithmetic)."""
    with np.errstate(over="ignore"):
        z = x.astype(np.uint64, copy=True)
        z ^= z >> np.uint64(30)
        z *= _M1
        z ^= z >> np.uint64(27)
        z *= _M2
        z ^= z >> np.uint64(31)
    return z


def hash_uniform(key: int, counter: np.ndarray) -> np.ndarray:
    """Uniform floats in ``[0, 1)``, one per counter value: a counter-based generator,
    so any item's draw is known without replaying the ones before it."""
    with np.errstate(over="ignore"):
        x = counter.astype(np.uint64) * _GOLDEN + np.uint64(key)
    return (splitmix64(x) >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))


class FeistelPermutation:
    """A bijection of ``range(n)`` chosen by ``key``.

    A balanced Feistel network permutes ``range(4**h)`` for the smallest ``4**h >= n``
    (so at most ``4n`` values); cycle walking re-applies it to values that land
    outside ``range(n)``, which keeps the map a bijection of ``range(n)`` and takes
    fewer than four steps per value on average.
    """

    def __init__(self, n: int, key: int):
        if n < 1:
            raise ValueError("a permutation needs n >= 1")
        self.n = int(n)
        self.half_bits = max(1, (int(n - 1).bit_length() + 1) // 2)
        self._mask = np.uint64((1 << self.half_bits) - 1)
        base = np.uint64(key & 0xFFFFFFFFFFFFFFFF)
        with np.errstate(over="ignore"):
            self._round_keys = splitmix64(base + _GOLDEN * np.arange(1, _ROUNDS + 1,
                                                                      dtype=np.uint64))

    def _once(self, x: np.ndarray) -> np.ndarray:
        hb = np.uint64(self.half_bits)
        left, right = x >> hb, x & self._mask
        for k in self._round_keys:
            with np.errstate(over="ignore"):
                f = splitmix64(right ^ k) & self._mask
            left, right = right, left ^ f
        return (left << hb) | right

    def __call__(self, idx: np.ndarray) -> np.ndarray:
        """Map positions (``int64`` array, each in ``range(n)``) to shuffled indices."""
        if self.n == 1:
            return np.zeros(len(idx), dtype=np.int64)
        y = self._once(np.asarray(idx, dtype=np.uint64))
        out = y >= np.uint64(self.n)
        while out.any():
            y[out] = self._once(y[out])
            out[out] = y[out] >= np.uint64(self.n)
        return y.astype(np.int64)
