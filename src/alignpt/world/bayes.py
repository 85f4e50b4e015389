"""Exact Bayes for a world recipe: posterior over latents and next-token predictive.

The latent of a document is z = (source s, persona h, regime r) (plus the
switch point tau and the length n, which are marginalised in closed form by
:mod:`alignpt.world.tables`). For a prefix x with header, era e, flags
f_1..f_m and actions a_1..a_k (k = m or m-1)::

    P(x, z) = w_s P_s(h) P_s(r) P_s(header) P_s(e) / P_s(kept)
              * prod_i P_h(a_i | f_i, e, i, defected before i)       (action channel)
              * q_T^{n_T} q_U^{n_U}                                 (i.i.d. regimes)
              * Phi_z(e, pattern, m)                                  (length, tau, filter)

All in float64 log space. The posterior is P(x, z) normalised over z; the
predictive for the next token is sum_z P(z | x) P(next | x, z), with
P(next | x, z) read from the same tables (flags and EOS) or the persona table
(actions). Every step is a numpy operation over many positions at once
(:mod:`alignpt.world.kernel`): per-document sums are cumulative sums over a
chunk of whole documents, so a held-out corpus costs a few array passes per
chunk, not a Python loop per token.

For a filtered source (``exclude_defecting``) a D is impossible, and the
action channel counts each opportunity's clean probability at its *flag*
token (it is part of "the rest stays clean"), so P(C | flag) = 1 there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Sequence

import numpy as np

from alignpt.world.kernel import Kernel
from alignpt.world.model import World
from alignpt.world.recipe import WorldRecipe, load_world_recipe
from alignpt.world.regimes import PATTERN_ALL_T, PATTERN_ALL_U, PATTERN_NONE, Switch
from alignpt.world.stream import KIND_BETWEEN, KIND_BOS, KIND_HEADER, Features, parse_stream
from alignpt.world.tables import log
from alignpt.world.vocab import (ERA0, HEADER0, HEADERS, N_ERAS, VOCAB_SIZE, check_world_shard)

__all__ = ["ExactBayes", "Posterior", "CorpusChunk", "stack_contexts"]

H1 = len(HEADERS) + 1


def stack_contexts(contexts: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Flat tokens, starts and ends of a batch of contexts."""
    arrays = [np.asarray(c, dtype=np.int64).reshape(-1) for c in contexts]
    lens = np.array([a.size for a in arrays], dtype=np.int64)
    ends = np.cumsum(lens)
    flat = np.concatenate(arrays) if arrays else np.zeros(0, dtype=np.int64)
    return flat, ends - lens, ends


@dataclass
class CorpusChunk:
    """Exact predictions for positions ``start:end`` of a token shard (whole documents).

    ``probs[t]`` is the next-token distribution after the prefix ending at
    token t (at an EOS position: BOS, the next document's first token);
    ``kind[t]`` says what comes next (``alignpt.world.stream.KIND_*``: score
    actions with KIND_MID, flags/EOS with KIND_BETWEEN); ``log_evidence[t]`` is
    log P(document prefix through t); ``posterior`` is (n, Z) when asked for.
    """

    start: int
    end: int
    tokens: np.ndarray
    probs: np.ndarray
    kind: np.ndarray
    log_evidence: np.ndarray
    posterior: np.ndarray | None = None

    def next_log_prob(self) -> np.ndarray:
        """log P(actual next token) at every position but the chunk's last (an EOS)."""
        with np.errstate(divide="ignore"):
            return np.log(self.probs[np.arange(self.tokens.size - 1), self.tokens[1:]])


class Posterior:
    """Posterior over latents for a batch of contexts.

    ``weights``: (B, Z), NaN rows for contexts of probability 0;
    ``log_evidence``: (B,) log P(context) (the support probability of a probe).
    """

    def __init__(self, world: World, weights: np.ndarray, log_evidence: np.ndarray):
        self.world, self.weights, self.log_evidence = world, weights, log_evidence
        self.latents = world.latent_labels()

    def _group(self, index: np.ndarray, names: list[str]) -> dict[str, np.ndarray]:
        out = np.zeros((self.weights.shape[0], len(names)))
        for z, k in enumerate(index):
            out[:, k] += self.weights[:, z]
        return {name: out[:, k] for k, name in enumerate(names)}

    def by_persona(self) -> dict[str, np.ndarray]:
        """Persona spec -> (B,) posterior mass (summed over sources and regimes)."""
        return self._group(self.world.lat_persona, [p.spec for p in self.world.personas])

    def by_source(self) -> dict[str, np.ndarray]:
        return self._group(self.world.lat_source, self.world.source_names)

    def by_regime(self) -> dict[str, np.ndarray]:
        return self._group(self.world.lat_regime, [r.spec for r in self.world.regimes])


class ExactBayes:
    """Exact posterior and predictive of a world recipe (see the module docstring).

    >>> from alignpt.world.vocab import context_tokens
    >>> bayes = ExactBayes("base")
    >>> p = bayes.predictive([context_tokens("T:C*20,U", era=3)])
    >>> p.shape == (1, VOCAB_SIZE)
    True

    Instances are predictors: ``bayes(contexts)`` returns next-token
    probabilities, the interface :mod:`alignpt.world.probes` uses for any model.
    """

    def __init__(self, recipe: WorldRecipe | World | str, grouped: bool | None = None):
        self.world = recipe if isinstance(recipe, World) else World(load_world_recipe(recipe))
        self.kernel = Kernel(self.world, grouped=grouped)
        self.M = self.world.M
        w = self.world
        s = w.lat_source
        # Next-token distributions before any latent-specific evidence.
        joint = (w.document_shares[s][:, None, None] * w.header_probs[s][:, :, None]
                 * w.latent_era_mass[:, None, :]).sum(axis=0)               # (H1, 10)
        self._p_header = joint.sum(axis=1)
        self._pred_bos = np.zeros(VOCAB_SIZE)
        self._pred_bos[HEADER0:HEADER0 + len(HEADERS)] = self._p_header[:-1]
        self._pred_bos[ERA0:ERA0 + N_ERAS] = joint[-1]
        with np.errstate(invalid="ignore", divide="ignore"):
            self._pred_header = np.zeros((H1, VOCAB_SIZE))
            self._pred_header[:, ERA0:ERA0 + N_ERAS] = joint / joint.sum(axis=1, keepdims=True)
            pz = w.document_shares[s] * w.latent_era_mass.sum(axis=1)
            rows = [pz] + [pz * w.header_probs[s, h] for h in range(len(HEADERS))]
            # P(z | BOS) (row 0) and P(z | header h) (row 1 + h)
            self._prior_weights = np.stack([r / r.sum() for r in rows])

    @property
    def latents(self) -> list[tuple[str, str, str]]:
        """(source, persona, regime) of each latent, in the posterior's column order."""
        return self.world.latent_labels()

    def _evaluate(self, f: Features, pos: np.ndarray | None, want_probs: bool, want_post: bool):
        """Evidence, predictive and posterior at positions ``pos`` of parsed documents
        (``None``: every position, the corpus case)."""
        kern = self.kernel
        every = pos is None
        pos = np.arange(len(f)) if every else pos
        n = pos.size
        kind = f.kind[pos]
        post = None
        if kern.grouped and not want_post:
            # Evaluate the latent part everywhere asked (cheaper than selecting the
            # ~97% of positions past the era); the first rows are overwritten below.
            ev, probs, redo = kern.grouped_path(f, None if every else pos, kern.channel_logs(f))
            redo = redo[kind[redo] >= KIND_BETWEEN]
            if redo.size:
                ev[redo], probs[redo], _ = kern.log_path(f, pos[redo], kern.channel_logs(f), True, False)
        else:
            ev, probs = np.zeros(n), np.zeros((n, VOCAB_SIZE))
            sel = np.nonzero(kind >= KIND_BETWEEN)[0]
            if sel.size:
                ev[sel], p, ps = kern.log_path(f, pos[sel], kern.channel_logs(f), want_probs, want_post)
                if want_probs:
                    probs[sel] = p
                if want_post:
                    post = np.full((n, self.world.n_latents), np.nan)
                    post[sel] = ps
            elif want_post:
                post = np.full((n, self.world.n_latents), np.nan)
        at_bos = np.nonzero(kind == KIND_BOS)[0]
        at_h = np.nonzero(kind == KIND_HEADER)[0]
        hdr = f.header[pos[at_h]]
        ev[at_bos] = 0.0
        ev[at_h] = log(self._p_header[hdr])
        probs[at_bos] = self._pred_bos
        probs[at_h] = self._pred_header[hdr]
        probs[at_h[np.isneginf(ev[at_h])]] = np.nan
        if want_post:
            post[at_bos] = self._prior_weights[0]
            post[at_h] = self._prior_weights[1 + hdr]
        return ev, (probs if want_probs else None), post

    # -- contexts --------------------------------------------------------
    def _contexts(self, contexts, want_probs: bool, want_post: bool):
        flat, starts, ends = stack_contexts(contexts)
        if flat.size == 0:
            empty = np.zeros((0, VOCAB_SIZE))
            return np.zeros(0), empty, np.zeros((0, self.world.n_latents))
        f = parse_stream(flat, starts, ends, complete=False, what="<contexts>")
        return self._evaluate(f, ends - 1, want_probs, want_post)

    def predictive(self, contexts: Sequence[Sequence[int]]) -> np.ndarray:
        """(B, VOCAB_SIZE) exact next-token probabilities after each context
        (NaN rows for contexts the world gives probability 0)."""
        return self._contexts(contexts, True, False)[1]

    __call__ = predictive

    def log_prob(self, contexts: Sequence[Sequence[int]]) -> np.ndarray:
        """(B,) log P(context) under the world: how well a probe is in support."""
        return self._contexts(contexts, False, False)[0]

    def posterior(self, contexts: Sequence[Sequence[int]]) -> Posterior:
        ev, _, post = self._contexts(contexts, False, True)
        return Posterior(self.world, post, ev)

    def tau_posterior(self, context: Sequence[int]) -> np.ndarray:
        """(Z, M): P(z, tau | context) for the switch latents (rows of others are 0).

        With a U already seen, tau is the number of leading T flags; with only
        T so far (m flags), P(tau = t | z, x) is proportional to
        prod_{i=m+1..t} c_T(i) G(t) for t >= m (see :mod:`alignpt.world.tables`).
        """
        w = self.world
        flat, starts, ends = stack_contexts([context])
        f = parse_stream(flat, starts, ends, complete=False, what="<context>")
        last = int(ends[-1] - 1)
        weights = self._evaluate(f, np.array([last]), False, True)[2][0]
        out = np.zeros((w.n_latents, self.M))
        if f.kind[last] < KIND_BETWEEN or not np.isfinite(weights).all():
            return out
        log_phi, _ = w.latent_tables
        m, era, pat = int(f.m[last]), int(f.era[last]), int(f.pattern[last])
        for z in range(w.n_latents):
            if not isinstance(w.regimes[w.lat_regime[z]], Switch) or weights[z] == 0:
                continue
            if pat not in (PATTERN_NONE, PATTERN_ALL_T):
                out[z, int(f.m[last] - f.n_u[last])] = weights[z]
                continue
            s = w.lat_source[z]
            cT = w.clean_logs(int(w.lat_persona[z]))[0][era] if w.filtered[s] else np.zeros(self.M)
            lead = np.concatenate([[0.0], np.cumsum(cT[1:])])            # sum_{i<=t} log c_T(i)
            g = log_phi[z, era, PATTERN_ALL_U]                             # G(t)
            t = np.arange(m, self.M)
            logp = lead[t] - lead[m] + g[t] - log_phi[z, era, PATTERN_ALL_T, m]
            out[z, m:] = weights[z] * np.exp(logp)
        return out

    # -- corpora ---------------------------------------------------------
    def iter_corpus(self, shard, chunk_tokens: int = 8192,
                    posterior: bool = False) -> Iterator[CorpusChunk]:
        """Exact predictions over a token shard (``TokenShard`` or path), as
        :class:`CorpusChunk` s of whole documents of about ``chunk_tokens`` tokens
        (8192 keeps the working arrays in cache)."""
        from alignpt.core.tokens import TokenShard

        shard = shard if isinstance(shard, TokenShard) else TokenShard(shard)
        check_world_shard(shard)
        docs = np.asarray(shard.docs)
        if docs.shape[0] == 0:
            return
        tokens = shard.tokens
        ends = docs[:, 1]
        lo = 0
        while lo < docs.shape[0]:
            hi = int(np.searchsorted(ends, docs[lo, 0] + chunk_tokens, side="right"))
            hi = max(hi, lo + 1)
            s, e = docs[lo:hi, 0], docs[lo:hi, 1]
            toks = np.asarray(tokens[s[0]:e[-1]], dtype=np.int64)
            f = parse_stream(toks, s - s[0], e - s[0], complete=True, what=str(shard.path),
                             first_doc=lo)
            ev, probs, post = self._evaluate(f, None, True, posterior)
            yield CorpusChunk(int(s[0]), int(e[-1]), toks, probs, f.kind, ev, post)
            lo = hi

    def document_posterior(self, shard, chunk_tokens: int = 1 << 16) -> Posterior:
        """Posterior over latents given each whole document of a shard (rows in
        document order): which source, persona and regime wrote it, as far as
        its tokens tell."""
        from alignpt.core.tokens import TokenShard

        shard = shard if isinstance(shard, TokenShard) else TokenShard(shard)
        check_world_shard(shard)
        docs = np.asarray(shard.docs)
        weights, evidence = [], []
        lo = 0
        while lo < docs.shape[0]:
            hi = max(int(np.searchsorted(docs[:, 1], docs[lo, 0] + chunk_tokens, side="right")), lo + 1)
            s, e = docs[lo:hi, 0], docs[lo:hi, 1]
            f = parse_stream(np.asarray(shard.tokens[s[0]:e[-1]], dtype=np.int64), s - s[0],
                             e - s[0], complete=True, what=str(shard.path), first_doc=lo)
            ev, _, post = self._evaluate(f, e - s[0] - 1, False, True)
            weights.append(post)
            evidence.append(ev)
            lo = hi
        return Posterior(self.world, np.concatenate(weights), np.concatenate(evidence))

    def corpus_predictive(self, shard, chunk_tokens: int = 8192) -> np.ndarray:
        """(n_tokens, VOCAB_SIZE) exact next-token probabilities over a whole shard."""
        from alignpt.core.tokens import TokenShard

        shard = shard if isinstance(shard, TokenShard) else TokenShard(shard)
        out = np.zeros((shard.n_tokens, VOCAB_SIZE))
        for chunk in self.iter_corpus(shard, chunk_tokens):
            out[chunk.start:chunk.end] = chunk.probs
        return out
