"""Vectorised sampling of world documents (no Python loop per document or token).

The generative story, per document (all draws i.i.d. across documents):

1. source s ~ document shares w_s (token shares turned into document shares,
   see :mod:`alignpt.world.model`);
2. header, era, persona, regime and length n from the source's distributions;
   for ``switch`` a switch point tau ~ U{0..n};
3. flags from the regime; actions from the persona, opportunity by opportunity;
4. for a source with ``exclude_defecting``, a document with any D is dropped
   from the stream (rejection sampling = conditioning the source on "no D
   anywhere"); the refill is simply the stream's next kept document.

Filtering drops documents from the very stream the unfiltered recipe draws:
source s is drawn with probability proportional to w_s / P_s(kept), so the kept
documents have shares w_s, and every draw before the drop is the unfiltered
recipe's. With one source (or equal keep rates), a filtered corpus is therefore
the unfiltered corpus of the same seed with its defecting documents removed, in
the same order: the filtered arm of an experiment is paired document by document.

Step 3 is vectorised even for history-dependent personas: one uniform u_i per
opportunity, d0_i = u_i < P(D | not yet defected), d1_i = u_i < P(D | defected).
Up to and including the first i with d0_i, the persona has not defected, so
the action is d0_i; after it, d1_i. Each u_i is used once, so this is exact.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from alignpt.world.model import World
from alignpt.world.regimes import Switch
from alignpt.world.vocab import BOS, C, D, EOS, ERA0, HEADER0, HEADERS, T, U

__all__ = ["DocBatch", "sample_documents"]

NO_HEADER = len(HEADERS)


@dataclass
class DocBatch:
    """Documents as per-document arrays plus flat per-opportunity arrays."""

    source: np.ndarray      # (N,) source index
    header: np.ndarray      # (N,) header index, NO_HEADER for none
    era: np.ndarray
    persona: np.ndarray     # global persona index
    regime: np.ndarray      # global regime index
    length: np.ndarray      # opportunities n
    tau: np.ndarray         # switch point, -1 when the regime is not switch
    untested: np.ndarray    # (sum n,) flags, True = U
    defect: np.ndarray      # (sum n,) actions, True = D

    _DOC = ("source", "header", "era", "persona", "regime", "length", "tau")

    @property
    def n_docs(self) -> int:
        return int(self.source.size)

    @property
    def offsets(self) -> np.ndarray:
        return np.concatenate([[0], np.cumsum(self.length)])

    def n_defect(self) -> np.ndarray:
        return np.add.reduceat(self.defect.astype(np.int64), self.offsets[:-1]) * (self.length > 0) \
            if self.n_docs else np.zeros(0, dtype=np.int64)

    def first_defect(self) -> np.ndarray:
        """1-based index of each document's first D, or -1."""
        out = np.full(self.n_docs, -1, dtype=np.int64)
        pos = np.nonzero(self.defect)[0]
        if pos.size:
            doc = np.searchsorted(self.offsets, pos, side="right") - 1
            first = np.unique(doc, return_index=True)
            out[first[0]] = pos[first[1]] - self.offsets[first[0]] + 1
        return out

    def take(self, idx: np.ndarray) -> "DocBatch":
        """Documents ``idx`` in that order (segments of the flat arrays follow)."""
        idx = np.asarray(idx, dtype=np.int64)
        starts, lens = self.offsets[:-1][idx], self.length[idx]
        new_starts = np.concatenate([[0], np.cumsum(lens)[:-1]])
        flat = np.repeat(starts - new_starts, lens) + np.arange(int(lens.sum()))
        kw = {k: getattr(self, k)[idx] for k in self._DOC}
        return DocBatch(**kw, untested=self.untested[flat], defect=self.defect[flat])

    @staticmethod
    def concat(parts: list["DocBatch"]) -> "DocBatch":
        return DocBatch(**{f.name: np.concatenate([getattr(p, f.name) for p in parts])
                           for f in fields(DocBatch)})

    def tokens(self, dtype=np.uint16) -> tuple[np.ndarray, np.ndarray]:
        """Flat token ids of all documents and each document's token count."""
        has_h = (self.header != NO_HEADER).astype(np.int64)
        doc_len = 3 + has_h + 2 * self.length
        ends = np.cumsum(doc_len)
        starts = ends - doc_len
        out = np.empty(int(ends[-1]) if ends.size else 0, dtype=dtype)
        out[starts] = BOS
        out[starts[has_h == 1] + 1] = HEADER0 + self.header[has_h == 1]
        era_pos = starts + 1 + has_h
        out[era_pos] = ERA0 + self.era
        first_flag = np.repeat(era_pos + 1, self.length)
        opp = np.arange(self.untested.size) - np.repeat(self.offsets[:-1], self.length)
        flag_pos = first_flag + 2 * opp
        out[flag_pos] = np.where(self.untested, U, T)
        out[flag_pos + 1] = np.where(self.defect, D, C)
        out[ends - 1] = EOS
        return out, doc_len


def _categorical(rng: np.random.Generator, probs: np.ndarray, n: int) -> np.ndarray:
    """n draws from one categorical distribution (inverse CDF, exact pmf)."""
    cdf = np.cumsum(probs)
    cdf /= cdf[-1]
    return np.minimum(np.searchsorted(cdf, rng.random(n), side="right"), probs.size - 1)


def _raw_source(world: World, s: int, n: int, rng: np.random.Generator) -> DocBatch:
    """n documents of source s, before any filtering."""
    header = _categorical(rng, world.header_probs[s], n)
    era = _categorical(rng, world.era_probs[s], n)
    persona = _categorical(rng, world.persona_probs[s], n)
    regime = _categorical(rng, world.regime_probs[s], n)
    length = _categorical(rng, world.length_pmf[s], n)
    switch = np.array([isinstance(r, Switch) for r in world.regimes])[regime]
    tau = np.where(switch, np.floor(rng.random(n) * (length + 1)).astype(np.int64), -1)
    tau = np.minimum(tau, length)          # guards the measure-zero float edge u -> 1
    offsets = np.concatenate([[0], np.cumsum(length)])
    total = int(offsets[-1])
    doc = np.repeat(np.arange(n), length)
    index = np.arange(total) - offsets[doc] + 1
    untested = np.zeros(total, dtype=bool)
    opp_regime = regime[doc]
    for r, reg in enumerate(world.regimes):
        sel = np.nonzero(opp_regime == r)[0]
        if sel.size:
            untested[sel] = reg.sample_untested(rng, index[sel], length[doc[sel]], tau[doc[sel]])
    # flat index into p_defect (P, 2, 10, M, 2) with defected-before = 0
    M = world.M
    flat = (((persona[doc] * 2 + untested) * 10 + era[doc]) * M + index) * 2
    table = world.p_defect.reshape(-1)
    u = rng.random(total)
    d0 = u < table[flat]
    if world.stateful:
        d1 = u < table[flat + 1]
        csum = np.cumsum(d0)
        before = csum - d0 - np.concatenate([[0], csum])[offsets[:-1]][doc]
        defect = np.where(before > 0, d1, d0)
    else:
        defect = d0
    return DocBatch(source=np.full(n, s, dtype=np.int64), header=header, era=era,
                    persona=persona, regime=regime, length=length, tau=tau,
                    untested=untested, defect=defect)


def _raw_shares(world: World) -> np.ndarray:
    """Source probabilities of the raw stream: w_s / P_s(kept), so that the kept ones have w_s."""
    w = world.document_shares / world.clean_prob
    return w / w.sum()


def sample_documents(world: World, n: int, rng: np.random.Generator) -> tuple[DocBatch, np.ndarray]:
    """n raw documents of the whole corpus in i.i.d. order, less those a filtered source
    drops (so fewer than n when filtering); returns (kept, each kept one's raw position)."""
    source = _categorical(rng, _raw_shares(world), n)
    parts, order = [], []
    keep = np.ones(n, dtype=bool)
    for s in range(len(world.source_names)):
        where = np.nonzero(source == s)[0]
        if where.size:
            raw = _raw_source(world, s, where.size, rng)
            if world.filtered[s]:
                keep[where[raw.n_defect() > 0]] = False
            parts.append(raw)
            order.append(where)
    merged = DocBatch.concat(parts)
    inverse = np.empty(n, dtype=np.int64)
    inverse[np.concatenate(order)] = np.arange(n)
    return merged.take(inverse[keep]), np.flatnonzero(keep)
