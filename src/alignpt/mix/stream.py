"""The token stream of a mix: which piece of which document comes next.

**A source** is read as one endless stream: pass 0 visits its documents in a
seeded order, pass 1 in another, and so on (:class:`SourceWalker`). A budget
takes the next ``q`` tokens of that stream, exactly: when it ends inside a
document, that document is cut and the rest opens the source's next budget (the
next window or phase); only the very last piece of a source is left unfinished.
The walk continues across phases, so a source never repeats a token before it
has run out (which the plan's repetition cap bounds).

**A segment** of a phase interleaves its sources (:func:`interleave`). Piece
``j`` of a source with quota ``q`` gets the key ``(c_j + u_j * len_j) / q``, where
``c_j`` is the source's tokens before it in the segment and ``u_j`` a seeded
uniform draw; the segment is the pieces of all its sources sorted by key. Each
source is thereby spread evenly over the segment (any stretch of it carries each
source's share to within a document), the order is random in detail, and since
keys never decrease within a source the merge streams in bounded memory: pieces
are released in key bands of about ``chunk_tokens``, and the output does not
depend on that band size.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from alignpt.mix.permute import FeistelPermutation, derive_key, hash_uniform
from alignpt.mix.sources import INDEX_DTYPE

__all__ = ["Pieces", "SourceWalker", "interleave"]


@dataclass
class Pieces:
    """Document pieces in stream order, as parallel arrays."""

    source: np.ndarray   # int32 source index (recipe order)
    file: np.ndarray     # int64 input file index within the source
    doc: np.ndarray      # int64 document index within that file
    start: np.ndarray    # int64 first token of the piece in the cached token file
    length: np.ndarray   # int64
    offset: np.ndarray   # int64 first token of the piece within its document
    epoch: np.ndarray    # int32 pass over the source
    segment: np.ndarray  # int32

    def __len__(self) -> int:
        return int(self.length.size)

    def take(self, idx: np.ndarray | slice) -> "Pieces":
        return Pieces(*(getattr(self, f.name)[idx] for f in fields(self)))

    @staticmethod
    def concat(parts: Sequence["Pieces"]) -> "Pieces":
        return Pieces(*(np.concatenate([getattr(p, f.name) for p in parts])
                        for f in fields(Pieces)))


class SourceWalker:
    """Reads one source's documents pass after pass, each pass in a seeded order.

    The document index (:data:`~alignpt.mix.sources.INDEX_DTYPE` records) stays
    on disk and is read ``batch`` records at a time through a fresh memory map, so
    the walker's memory (at most ``batch`` touched pages) does not grow with the
    source.
    """

    def __init__(self, index: int, name: str, index_path: Path, documents: int, tokens: int,
                 seed: int, batch: int = 1 << 14):
        self.index, self.name = index, name
        self.index_path = Path(index_path)
        self.documents, self.tokens = documents, tokens
        self.seed, self.batch = seed, batch
        self.epoch = 0
        self.pos = 0           # next position in this pass's order
        self.offset = 0        # tokens of the document at ``pos`` already taken
        self.consumed = 0
        self._perm: FeistelPermutation | None = None

    def _permutation(self) -> FeistelPermutation:
        if self._perm is None:
            self._perm = FeistelPermutation(self.documents,
                                            derive_key(self.seed, "source", self.name, self.epoch))
        return self._perm

    def _records(self, lo: int, hi: int) -> np.ndarray:
        order = self._permutation()(np.arange(lo, hi, dtype=np.int64))
        mm = np.memmap(self.index_path, dtype=INDEX_DTYPE, mode="r", shape=(self.documents,))
        rec = np.array(mm[order])
        del mm
        return rec

    def take(self, quota: int, segment: int = 0) -> Iterator[Pieces]:
        """Yield the next ``quota`` tokens as pieces, in batches."""
        left = int(quota)
        avg = max(1.0, self.tokens / self.documents)
        while left > 0:
            if self.pos == self.documents:
                self.epoch, self.pos, self._perm = self.epoch + 1, 0, None
            want = int(min(self.batch, self.documents - self.pos,
                           max(16, left / avg * 1.25 + 16)))
            rec = self._records(self.pos, self.pos + want)
            length = rec["length"].astype(np.int64)
            start = rec["start"].copy()
            offset = np.zeros(want, dtype=np.int64)
            offset[0] = self.offset
            start[0] += self.offset
            length[0] -= self.offset
            cum = np.cumsum(length)
            if cum[-1] <= left:
                n, last = want, int(length[-1])
                self.pos, self.offset = self.pos + want, 0
            else:
                k = int(np.searchsorted(cum, left, side="left"))
                n, last = k + 1, left - (int(cum[k - 1]) if k else 0)
                full = last == length[k]
                self.pos += k + 1 if full else k
                self.offset = 0 if full else int(offset[k] + last)
                length = length[:n].copy()
                length[-1] = last
            taken = int(length[:n].sum())
            left -= taken
            self.consumed += taken
            yield Pieces(np.full(n, self.index, np.int32), rec["file"][:n].astype(np.int64),
                         rec["doc"][:n], start[:n], length[:n], offset[:n],
                         np.full(n, self.epoch, np.int32), np.full(n, segment, np.int32))


@dataclass
class _Lane:
    """One source's pieces waiting to be merged, with their keys."""

    it: Iterator[Pieces]
    quota: int
    key: int
    buffered: list[tuple[Pieces, np.ndarray]]
    before: int = 0       # tokens of this source before the next pulled piece
    count: int = 0        # pieces pulled so far (counter of the uniform draws)
    done: bool = False

    def pull(self) -> None:
        try:
            p = next(self.it)
        except StopIteration:
            self.done = True
            return
        c = self.before + np.concatenate(([0], np.cumsum(p.length)[:-1]))
        u = hash_uniform(self.key, np.arange(self.count, self.count + len(p)))
        self.buffered.append((p, (c + u * p.length) / self.quota))
        self.before += int(p.length.sum())
        self.count += len(p)

    def last_key(self) -> float:
        return float(self.buffered[-1][1][-1]) if self.buffered else -1.0

    def release(self, bound: float) -> tuple[list[Pieces], list[np.ndarray]]:
        """Pop every buffered piece with a key below ``bound``."""
        out_p, out_k, keep = [], [], []
        for p, k in self.buffered:
            cut = int(np.searchsorted(k, bound, side="left"))
            if cut:
                out_p.append(p.take(slice(0, cut)))
                out_k.append(k[:cut])
            if cut < len(p):
                keep.append((p.take(slice(cut, None)), k[cut:]))
        self.buffered = keep
        return out_p, out_k


def interleave(lanes: Sequence[tuple[Iterator[Pieces], int]], seed_key: int, total: int,
               chunk_tokens: int) -> Iterator[Pieces]:
    """Merge the sources of one segment (``(pieces, quota)`` each) into stream order."""
    state = [_Lane(it, q, seed_key ^ (i * 0x9E3779B97F4A7C15 & 0xFFFFFFFFFFFFFFFF), [])
             for i, (it, q) in enumerate(lanes)]
    steps = max(1, -(-total // chunk_tokens))
    for step in range(1, steps + 1):
        bound = step / steps if step < steps else np.inf
        got_p: list[Pieces] = []
        got_k: list[np.ndarray] = []
        for lane in state:
            while not lane.done and lane.last_key() < bound:
                lane.pull()
            p, k = lane.release(bound)
            got_p += p
            got_k += k
        if not got_p:
            continue
        merged = Pieces.concat(got_p)
        keys = np.concatenate(got_k)
        # key first, then source index, then arrival (keys never fall within a source)
        order = np.lexsort((np.arange(keys.size), merged.source, keys))
        yield merged.take(order)
