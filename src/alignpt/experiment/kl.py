"""How Bayesian is a model: KL(exact Bayes || model) on held-out documents of its training world.

:func:`heldout_kl` draws ``n_docs`` documents from the world a model trained on (the
arm's Bayes recipe at that phase, :func:`alignpt.experiment.grid.bayes_recipe`) with a
fixed seed that no training corpus uses, reads each document whole through the model,
and averages, per position, the KL divergence from the exact next-token distribution to
the model's::

    KL(p || q) = sum_v p(v) log(p(v) / q(v))     p = exact Bayes, q = model

split by what comes next: an action (``actions``, the headline: how well the model reads
the persona behind a document), a flag or EOS (``flags_eos``), a header or era
(``start``), and ``all`` of them together. The model's distribution is renormalised over
the world vocabulary (a checkpoint may pad its vocabulary). Held-out documents are drawn
from the very world Bayes describes, so every position has a Bayes answer; a position
that somehow has none is counted in ``off_support_positions`` and not scored.

Positions past the model's context (``max_len``, the model's ``max_seq_len``) are not
scored either: the model never sees that far in one read, so a document longer than its
context is read up to ``max_len`` tokens and the rest is counted in
``positions_past_context``. The demo's context (256) holds the longest base document
(244 tokens), so there it is 0.

The standard error (``se``) treats documents as the sampled unit: the mean is a ratio
(sum of KL over documents / number of positions), and its se is the ratio estimator's
(delta method). Every model of an experiment is read on the same held-out documents
(same world, same seed), so differences between budgets or seeds are paired and far
less noisy than ``se`` of each level suggests.

This is the definition ``benchmarks/world_kl.py`` (now a thin caller) and the README
quoted, moved into the library: on the same checkpoint it agrees with
``alignpt.evaluate.world_suite.kl_report`` on a generated held-out shard within the
standard error.

Use: ``heldout_kl(model_scorer(model), ExactBayes(bayes_recipe(run, phase)))``.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from alignpt.world import ExactBayes
from alignpt.world.sampler import sample_documents
from alignpt.world.stream import KIND_BETWEEN, KIND_BOS, KIND_HEADER, KIND_MID, parse_stream
from alignpt.world.vocab import VOCAB_SIZE

__all__ = ["HELDOUT_SEED", "HELDOUT_DOCS", "KINDS", "DocumentScorer", "heldout_documents",
           "heldout_kl", "model_scorer", "predictor_scorer"]

#: The held-out documents' seed: far from any training seed (0, 1, 2, ... and those
#: plus 1000 for rebound data), and drawn through a different generator than
#: ``generate_corpus`` uses, so no run has trained on these documents.
HELDOUT_SEED = 424242
#: Documents per call (~144k positions): 1.25 s at the demo size (2 layers, width 48,
#: context 256) on one thread, a standard error of about 8% of the per-action KL.
HELDOUT_DOCS = 2000
#: Position kinds (what comes next) scored separately; ``all`` is their union.
KINDS = {"actions": (KIND_MID,), "flags_eos": (KIND_BETWEEN,), "start": (KIND_BOS, KIND_HEADER)}
#: Bayes evaluates chunks of whole documents of about this many tokens (the working
#: arrays stay in cache, as in ``ExactBayes.iter_corpus``).
_CHUNK_TOKENS = 8192

#: Whole documents in, one ``(len(doc), VOCAB_SIZE)`` array of next-token probabilities
#: per document out (row t: the prediction after token t). ``max_len``, when set, is the
#: longest document it can read.
DocumentScorer = Callable[[Sequence[np.ndarray]], list[np.ndarray]]


def model_scorer(model: Any, batch_size: int = 64) -> DocumentScorer:
    """A trained alignpt model (``alignpt.train.GPT``) as a document scorer.

    Each document is read alone from position 0 in one forward pass; documents of
    similar length share a batch, right-padded (causal attention: padding after a
    token cannot change its prediction). Read alone, a document gives the same
    logits with or without per-document attention, so this serves either model."""
    import torch

    device = next(model.parameters()).device

    @torch.no_grad()
    def score(docs: Sequence[np.ndarray]) -> list[np.ndarray]:
        out: list[np.ndarray] = [np.empty(0)] * len(docs)
        order = sorted(range(len(docs)), key=lambda i: len(docs[i]))
        was_training = model.training
        model.eval()            # no dropout while reading; the caller's mode is put back
        try:
            for b in range(0, len(order), batch_size):
                idx = order[b:b + batch_size]
                lens = [len(docs[i]) for i in idx]
                ids = torch.zeros(len(idx), max(lens), dtype=torch.long)
                for r, i in enumerate(idx):
                    ids[r, :lens[r]] = torch.as_tensor(np.asarray(docs[i], dtype=np.int64))
                logits = model(ids.to(device))[..., :VOCAB_SIZE].double()
                probs = torch.softmax(logits, dim=-1).cpu().numpy()
                for r, i in enumerate(idx):
                    out[i] = probs[r, :lens[r]]
        finally:
            model.train(was_training)
        return out

    score.max_len = int(model.cfg.max_seq_len)  # type: ignore[attr-defined]
    return score


def predictor_scorer(predictor: Callable[[Sequence[Sequence[int]]], np.ndarray]) -> DocumentScorer:
    """Any contexts -> probabilities predictor (``ExactBayes``, ``model_predictor(model)``)
    as a document scorer: every prefix of every document is one context. Quadratic in
    document length: for tests and small checks, not for networks (use
    :func:`model_scorer`)."""

    def score(docs: Sequence[np.ndarray]) -> list[np.ndarray]:
        prefixes = [np.asarray(d[:t + 1]) for d in docs for t in range(len(d))]
        flat = np.asarray(predictor(prefixes), dtype=np.float64)
        out, pos = [], 0
        for d in docs:
            out.append(flat[pos:pos + len(d)])
            pos += len(d)
        return out

    score.max_len = getattr(predictor, "max_len", None)  # type: ignore[attr-defined]
    return score


def heldout_documents(bayes: ExactBayes, n_docs: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n_docs`` documents of ``bayes``'s world at ``seed``: flat int64 tokens and each
    document's length. A filtered world drops documents as it samples, so it draws
    until it has enough; the result depends only on (world, n_docs, seed)."""
    if n_docs < 2:
        raise ValueError("n_docs must be at least 2 (a standard error needs two documents)")
    rng = np.random.default_rng(seed)
    toks, lens, have = [], [], 0
    while have < n_docs:
        batch, _ = sample_documents(bayes.world, n_docs, rng)
        t, n = batch.tokens(np.int64)
        toks.append(t)
        lens.append(n)
        have += n.size
    lengths = np.concatenate(lens)[:n_docs]
    return np.concatenate(toks)[:int(lengths.sum())], lengths


def _kl_rows(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """KL(p || q) per row; terms with p = 0 are 0, q is floored at 1e-300 (a model that
    gives a possible token probability 0 has KL ~ 690 there, not infinity)."""
    q = np.clip(q, 1e-300, None)
    safe_p = np.where(p > 0, p, 1.0)
    return np.where(p > 0, p * (np.log(safe_p) - np.log(q)), 0.0).sum(axis=1)


def _ratio_summary(sums: np.ndarray, counts: np.ndarray) -> dict[str, Any]:
    """Mean per position over documents, with the ratio estimator's standard error."""
    n = int(counts.sum())
    if n == 0:
        return {"mean": None, "se": None, "n_positions": 0}
    mean = float(sums.sum() / n)
    k = sums.size
    resid = sums - mean * counts
    se = float(np.sqrt((resid ** 2).sum() / (k * (k - 1))) / counts.mean())
    return {"mean": mean, "se": se, "n_positions": n}


def heldout_kl(scorer: DocumentScorer, bayes: ExactBayes, *, n_docs: int = HELDOUT_DOCS,
               seed: int = HELDOUT_SEED, max_len: int | None = None) -> dict[str, Any]:
    """KL(exact Bayes || model) per position on held-out documents (see the module
    docstring). ``max_len`` defaults to the scorer's own (``model_scorer``: the
    model's context); ``None`` reads documents whole."""
    if max_len is None:
        max_len = getattr(scorer, "max_len", None)
    tokens, lengths = heldout_documents(bayes, n_docs, seed)
    ends = np.cumsum(lengths)
    starts = ends - lengths
    sums = {k: np.zeros(n_docs) for k in KINDS}
    counts = {k: np.zeros(n_docs) for k in KINDS}
    past_context = off_support = 0
    lo = 0
    while lo < n_docs:
        hi = max(int(np.searchsorted(ends, starts[lo] + _CHUNK_TOKENS, side="right")), lo + 1)
        base = int(starts[lo])
        toks = tokens[base:int(ends[hi - 1])]
        f = parse_stream(toks, starts[lo:hi] - base, ends[lo:hi] - base, complete=True,
                         what="<held-out documents>")
        # Exact predictions at every position of whole documents (what iter_corpus does
        # for a shard; these documents live in memory only).
        evidence, p, _ = bayes._evaluate(f, None, True, False)
        docs = [toks[a - base:b - base] for a, b in zip(starts[lo:hi], ends[lo:hi])]
        read = [d[:max_len] if max_len is not None else d for d in docs]
        q = np.full_like(p, np.nan)
        for d, (a, probs) in enumerate(zip(starts[lo:hi], scorer(read))):
            if probs.shape != (len(read[d]), VOCAB_SIZE):
                raise ValueError(f"scorer returned {probs.shape} for a document of "
                                 f"{len(read[d])} tokens (expected ({len(read[d])}, {VOCAB_SIZE}))")
            q[a - base:a - base + len(probs)] = probs
        seen = ~np.isnan(q[:, 0])
        on = np.isfinite(evidence) & np.isfinite(p).all(axis=1) & (p.sum(axis=1) > 0)
        kl = np.zeros(len(toks))
        ok = seen & on
        kl[ok] = _kl_rows(p[ok], q[ok])
        for name, kinds in KINDS.items():
            mask = np.isin(f.kind, kinds)
            sums[name][lo:hi] += np.bincount(f.doc, weights=np.where(mask & ok, kl, 0.0),
                                             minlength=hi - lo)[:hi - lo]
            counts[name][lo:hi] += np.bincount(f.doc, weights=(mask & ok).astype(float),
                                               minlength=hi - lo)[:hi - lo]
            past_context += int((mask & ~seen).sum())
            off_support += int((mask & seen & ~on).sum())
        lo = hi
    out: dict[str, Any] = {name: _ratio_summary(sums[name], counts[name]) for name in KINDS}
    out["all"] = _ratio_summary(sum(sums.values()), sum(counts.values()))
    out.update({"n_docs": n_docs, "seed": seed, "max_len": max_len,
                "world": bayes.world.recipe.name, "positions_past_context": past_context,
                "off_support_positions": off_support})
    return out
