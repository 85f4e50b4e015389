"""Token counting and the refill plan: put back exactly the tokens a filter removed.

The published work replaced flagged documents by sampling retained ones with
replacement, so filtered and unfiltered corpora have the same size. Here the
size is a token count, exact to the token:

* a *token* is a whitespace-separated word by default (:class:`WhitespaceTokens`),
  or a token of a Hugging Face ``tokenizer.json`` (:class:`TokenizerTokens`);
* the plan draws kept documents uniformly with replacement (numpy's PCG64,
  seeded) until the deficit is reached, and truncates the last draw to the
  tokens still missing, so ``kept + refill == original`` exactly;
* the plan depends only on the seed and the per-shard token counts, never on
  the number of workers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from alignpt.core.errors import DataError, require

__all__ = ["TokenCounter", "WhitespaceTokens", "TokenizerTokens", "make_counter", "RefillPlan",
           "plan_refill"]

_WORD = re.compile(r"\S+")


class TokenCounter(Protocol):
    name: str

    def count(self, text: str) -> int: ...

    def truncate(self, text: str, n: int) -> str:
        """A prefix of ``text`` with exactly ``n`` tokens (``n`` <= ``count(text)``)."""


class WhitespaceTokens:
    """Tokens = runs of non-whitespace; truncation keeps the original spacing."""

    name = "whitespace"

    def count(self, text: str) -> int:
        return len(text.split())

    def truncate(self, text: str, n: int) -> str:
        if n <= 0:
            return ""
        for i, m in enumerate(_WORD.finditer(text), start=1):
            if i == n:
                return text[:m.end()]
        return text


class TokenizerTokens:
    """Tokens of a ``tokenizer.json`` (no special tokens added); loaded lazily per process."""

    def __init__(self, path: str):
        self.path = path
        self.name = f"tokenizer:{path}"
        self._tok = None

    def __getstate__(self) -> dict:
        return {"path": self.path, "name": self.name, "_tok": None}

    @property
    def tok(self):
        if self._tok is None:
            tokenizers = require("tokenizers", "train", "counting tokens with a tokenizer.json")
            self._tok = tokenizers.Tokenizer.from_file(self.path)
        return self._tok

    def count(self, text: str) -> int:
        return len(self.tok.encode(text, add_special_tokens=False).ids)

    def truncate(self, text: str, n: int) -> str:
        """Cut at the end of token ``n`` and check by re-encoding; a cut inside a word can
        re-tokenise differently, so nearby cut points are tried until the count is exact."""
        if n <= 0:
            return ""
        offsets = self.tok.encode(text, add_special_tokens=False).offsets
        if n >= len(offsets):
            return text
        lo = offsets[n - 2][1] if n >= 2 else 0
        hi = offsets[n][1]
        first = offsets[n - 1][1]
        for end in [first, *range(first - 1, lo, -1), *range(first + 1, hi + 1)]:
            if self.count(text[:end]) == n:
                return text[:end]
        raise DataError(f"no prefix of a document has exactly {n} tokens under {self.path}")


def make_counter(tokenizer: str | None) -> TokenCounter:
    return TokenizerTokens(tokenizer) if tokenizer else WhitespaceTokens()


@dataclass
class RefillPlan:
    """Which kept documents to copy: per task, local index -> copies; one partial copy."""

    deficit: int
    selections: dict[str, dict[int, int]]
    #: (task, local index, tokens) of the truncated last draw, if any
    partial: tuple[str, int, int] | None
    draws: int

    def summary(self) -> dict:
        return {"deficit_tokens": self.deficit, "draws": self.draws,
                "partial": list(self.partial) if self.partial else None,
                "documents_per_task": {k: sum(v.values()) for k, v in self.selections.items()}}


def plan_refill(lengths: dict[str, np.ndarray], deficit: int, seed: int,
                chunk: int = 65536) -> RefillPlan:
    """Draw kept documents (uniform, with replacement) until ``deficit`` tokens are covered.

    ``lengths`` maps each task name (in a fixed order) to the token counts of
    its kept documents, in output order. Documents with no tokens are never
    drawn (they could not help). The last draw is truncated to the remainder.
    """
    names = list(lengths)
    if deficit <= 0:
        return RefillPlan(0, {}, None, 0)
    flat = np.concatenate([np.asarray(lengths[n], dtype=np.int64) for n in names]) \
        if names else np.zeros(0, np.int64)
    owner = np.concatenate([np.full(len(lengths[n]), i, np.int64) for i, n in enumerate(names)]) \
        if names else np.zeros(0, np.int64)
    local = np.concatenate([np.arange(len(lengths[n]), dtype=np.int64) for n in names]) \
        if names else np.zeros(0, np.int64)
    pool = np.flatnonzero(flat > 0)
    if len(pool) == 0:
        raise DataError(f"cannot refill {deficit} tokens: no kept document has any tokens")
    rng = np.random.default_rng(seed)
    picked: list[np.ndarray] = []
    covered = 0
    while covered < deficit:
        draw = pool[rng.integers(0, len(pool), size=chunk)]
        cum = covered + np.cumsum(flat[draw])
        stop = int(np.searchsorted(cum, deficit))  # first draw reaching the deficit
        if stop < len(draw):
            picked.append(draw[:stop + 1])
            before = int(cum[stop - 1]) if stop else covered
            covered = deficit
            last_tokens = deficit - before
        else:
            picked.append(draw)
            covered = int(cum[-1])
    chosen = np.concatenate(picked)
    partial = None
    last = int(chosen[-1])
    if last_tokens < flat[last]:
        partial = (names[owner[last]], int(local[last]), int(last_tokens))
        chosen = chosen[:-1]
    selections: dict[str, dict[int, int]] = {}
    uniq, counts = np.unique(chosen, return_counts=True)
    for g, c in zip(uniq.tolist(), counts.tolist()):
        selections.setdefault(names[owner[g]], {})[int(local[g])] = int(c)
    return RefillPlan(deficit, selections, partial, len(chosen) + (partial is not None))
