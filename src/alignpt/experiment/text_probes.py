"""Ask an English model the persona world's probes, as a world-token predictor.

A probe is a world context ``BOS [H] ERA (F A)^k F``. :func:`alignpt.textworld.probe_text`
writes it as the beginning of an English document (in held-out templates by default)
that stops where the AI's next action would be told, with the two sets of phrases that
could follow: every way the corpus tells a defection, and every way it tells a
cooperation. The model's P(D) is its total probability of the defect phrases over the
total of both sets: in the corpus each phrase is drawn uniformly from its set whatever
the persona, so a perfect learner's total over a set is exactly the world's P(action),
and the number is comparable with exact Bayes on the world context.

Each probe is read in ``variants`` renderings (frames, names, opportunity types) and
the readings averaged. A rendering longer than the model's context is not read (its
context would have to be cut): it is counted in :attr:`TextPredictor.too_long`, and a
probe with no rendering that fits reads as missing (NaN), never as a guess.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from alignpt.world.vocab import BOS, C, D, VOCAB_SIZE

__all__ = ["TextPredictor", "decision_prefixes"]

#: Tokens per scoring batch (rows x padded length): bounds the logits tensor's memory.
BATCH_TOKENS = 8192


def decision_prefixes(rows: list[tuple[list[int], int, bool]]) -> list[tuple[list[int], int, bool]]:
    """Each phrase cut where the action is decided: its shortest prefix (in tokens after
    the context) that no phrase of the other action shares; prefixes shared within an
    action are kept once. ``rows`` are ``(ids, start, is_defect)``.

    For a learner of the corpus, P(prefix) is the total of the phrases below it (they are
    all of one action), so the sum over one action's cut prefixes is P(action), exactly as
    the sum over its whole phrases is; but it does not ask the model to have memorised the
    rest of a rare phrase, which a small model has not (measured: at 1.5M tokens, the
    tails of defect phrases, seen ~30 times each, cost it 15-50 nats in the training
    documents themselves, so a whole-phrase reading measures phrase memory, not persona).
    """
    tails = [(ids[start:], is_d) for ids, start, is_d in rows]
    out: dict[tuple[int, ...], tuple[list[int], int, bool]] = {}
    for (ids, start, is_d), (tail, _) in zip(rows, tails):
        cut = len(tail)
        for n in range(1, len(tail) + 1):
            if not any(other[:n] == tail[:n] for other, d in tails if d != is_d):
                cut = n
                break
        key = tuple(tail[:cut])
        out.setdefault(key, (ids[:start + cut], start, is_d))
    return list(out.values())


class TextPredictor:
    """``predictor(world_contexts) -> (B, 22)`` with only the C and D columns filled."""

    def __init__(self, model: Any, tokenizer: Any, *, split: str = "heldout", variants: int = 3,
                 reading: str = "decision"):
        if reading not in ("decision", "phrase"):
            raise ValueError(f"reading must be 'decision' or 'phrase', got {reading!r}")
        self.model, self.tokenizer, self.reading = model, tokenizer, reading
        self.split, self.variants = split, int(variants)
        # Not `max_len`: measure reads that as "takes rows of world documents".
        self.context_tokens = int(model.cfg.max_seq_len)
        self.too_long = 0         # renderings left out because they exceed the context
        self.read = 0             # renderings read

    def _ids(self, text: str) -> list[int]:
        flat, _ = self.tokenizer.encode_batch([text], append_eos=False)
        return [int(t) for t in flat]

    def _ids_batch(self, texts: list[str]) -> list[list[int]]:
        flat, lens = self.tokenizer.encode_batch(texts, append_eos=False)
        ends = np.cumsum(lens)
        return [[int(t) for t in flat[e - n:e]] for e, n in zip(ends, lens)]

    def __call__(self, contexts: Sequence[Sequence[int]]) -> np.ndarray:
        from alignpt.textworld import probe_text

        seqs: list[list[int]] = []       # context + phrase ids
        starts: list[int] = []           # where the phrase begins in each sequence
        owner: list[tuple[int, int, bool]] = []   # (context, variant, is_defect)
        for i, ctx in enumerate(contexts):
            toks = [int(t) for t in ctx]
            if toks.count(BOS) != 1 or toks[0] != BOS:
                raise ValueError("a text probe is one document: one BOS, at the start")
            for v in range(self.variants):
                probe = probe_text(toks, v, split=self.split)
                labelled = [(p, True) for p in probe.defect] + [(p, False) for p in probe.cooperate]
                # One tokenizer call per rendering: the context alone, then context + each phrase.
                head, *fulls = self._ids_batch([probe.context]
                                               + [probe.context + p for p, _ in labelled])
                rows = []
                for full, (phrase, is_d) in zip(fulls, labelled):
                    # Byte-level BPE splits before a phrase's leading space, so the
                    # context's ids are a prefix; if not, the phrase is what follows.
                    if full[:len(head)] != head:
                        full = head + self._ids(phrase)
                    rows.append((full, len(head), is_d))
                if max(len(r[0]) for r in rows) > self.context_tokens:
                    self.too_long += 1
                    continue
                self.read += 1
                if self.reading == "decision":
                    rows = decision_prefixes(rows)
                for full, cut, is_d in rows:
                    seqs.append(full)
                    starts.append(cut)
                    owner.append((i, v, is_d))
        logp = self._score(seqs, starts)
        mass = np.zeros((len(contexts), self.variants, 2))
        seen = np.zeros((len(contexts), self.variants), dtype=bool)
        for (i, v, is_d), lp in zip(owner, logp):
            mass[i, v, int(is_d)] += np.exp(lp)
            seen[i, v] = True
        with np.errstate(invalid="ignore", divide="ignore"):
            q_v = mass[:, :, 1] / mass.sum(axis=2)
            q = np.where(seen.any(axis=1),
                         np.nansum(np.where(seen, q_v, 0.0), axis=1) / seen.sum(axis=1), np.nan)
        out = np.zeros((len(contexts), VOCAB_SIZE))
        out[:, D], out[:, C] = q, 1.0 - q
        return out

    def _score(self, seqs: list[list[int]], starts: list[int]) -> np.ndarray:
        """Sum of log P(token | prefix) over each sequence's tokens from ``starts[i]``."""
        import torch

        out = np.zeros(len(seqs))
        if not seqs:
            return out
        device = next(self.model.parameters()).device
        order = sorted(range(len(seqs)), key=lambda i: len(seqs[i]))
        b = 0
        with torch.no_grad():
            while b < len(order):
                width = len(seqs[order[min(len(order) - 1, b)]])
                rows = max(1, BATCH_TOKENS // max(width, 1))
                idx = order[b:b + rows]
                width = max(len(seqs[i]) for i in idx)
                ids = torch.zeros(len(idx), width, dtype=torch.long)
                for r, i in enumerate(idx):
                    ids[r, :len(seqs[i])] = torch.as_tensor(seqs[i])
                ids = ids.to(device)
                # The model's own per-token loss (float32, fused): no (B, T, V) log-softmax.
                nll = self.model(ids[:, :-1], targets=ids[:, 1:]).double().cpu().numpy()
                for r, i in enumerate(idx):
                    # token t (t >= 1) is predicted at row position t - 1
                    out[i] = -float(nll[r, starts[i] - 1:len(seqs[i]) - 1].sum())
                b += len(idx)
        return out
