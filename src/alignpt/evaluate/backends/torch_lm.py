"""Shared scoring engine for local torch causal LMs (Hugging Face folders and alignpt checkpoints).

Tokenisation copies lm-evaluation-harness exactly (trailing context spaces move to
the continuation; the whole string is encoded and the context's token count split
off; over-long inputs are truncated on the left), so both tools score the same
token sequences and agree on every choice up to float rounding.

Where the speed comes from, in order of effect:

1. **one pass per distinct input.** A request needs the log-probs of its
   continuation tokens, read at the last positions of ``context + continuation[:-1]``.
   Requests with the same input share one row; for option letters (one token)
   every letter of a prompt is read from the same position of the same pass;
2. **shared prefixes** (backends with a KV cache, ``supports_prefix_cache``).
   The distinct inputs form a radix tree (:mod:`.prefix_trie`); each node's
   tokens run once, on top of its parent's cache, so the preamble, framing and
   scenario shared by a format's two option orders, or the records shared by
   history prompts, are computed once. Nodes run in batches, level by level,
   depth first, so memory stays bounded;
3. **only the needed logits.** The output projection and log-softmax are applied
   at the positions that are read, not at every position (for a real vocabulary
   they are a large share of the work); with left padding these are a few
   columns per batch;
4. length-sorted, padded batches.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from alignpt.core.devices import check_device
from alignpt.core.errors import BackendError
from alignpt.evaluate.backends.base import (PLAIN_STOP, Backend, ChatRequest, GenerateRequest,
                                            LoglikelihoodRequest, cut_at_stop, plain_chat)
from alignpt.evaluate.backends.prefix_trie import Node, build_trie

__all__ = ["TorchLMBackend", "encode_pair", "encode_pairs"]


def _split_spaces(context: str, continuation: str) -> tuple[str, str]:
    # lm-eval moves trailing context whitespace into the continuation, so " A" after
    # "Answer:" and "A" after "Answer: " tokenise the same way.
    n_spaces = len(context) - len(context.rstrip())
    if n_spaces:
        return context[:-n_spaces], context[-n_spaces:] + continuation
    return context, continuation


def encode_pair(encode: Callable[[str], list[int]], context: str,
                continuation: str) -> tuple[list[int], list[int]]:
    """lm-evaluation-harness's ``_encode_pair`` for causal models."""
    context, continuation = _split_spaces(context, continuation)
    whole = encode(context + continuation)
    ctx = encode(context)
    return ctx, whole[len(ctx):]


def encode_pairs(encode_batch: Callable[[list[str]], list[list[int]]],
                 pairs: Sequence[tuple[str, str]]) -> list[tuple[list[int], list[int]]]:
    """:func:`encode_pair` for many pairs, encoding each distinct string once, in one batch."""
    split = [_split_spaces(c, x) for c, x in pairs]
    strings = list(dict.fromkeys(s for c, x in split for s in (c, c + x)))
    enc = dict(zip(strings, encode_batch(strings)))
    out = []
    for c, x in split:
        ctx = list(enc[c])
        out.append((ctx, list(enc[c + x])[len(ctx):]))
    return out


@dataclass
class _Row:
    """A distinct input sequence and the reads it serves: (request, targets at the end)."""

    tokens: tuple[int, ...]
    reads: list[tuple[int, list[int]]] = field(default_factory=list)


class TorchLMBackend(Backend):
    """Scores requests with a torch causal LM. Subclasses implement :meth:`_forward` and
    set ``torch``, ``device``, ``max_length`` and ``tokenizer``."""

    batch_size: int = 32
    max_batch_tokens: int = 65536
    max_length: int
    supports_prefix_cache: bool = False
    #: "left" lets every row's reads end in the same column (few logits kept); a model
    #: without attention-mask and position-id support needs "right".
    padding_side: str = "right"

    #: a Hugging Face tokenizer; its defaults (add_special_tokens=True) are what lm-eval
    #: uses for causal models, so both tools see the same token ids
    tokenizer: Any

    # -- hooks -----------------------------------------------------------------------
    def encode(self, text: str) -> list[int]:
        return self.tokenizer.encode(text)

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        return self.tokenizer(texts)["input_ids"] if texts else []

    def decode(self, ids: list[int]) -> str:
        return self.tokenizer.decode(ids)

    def _forward(self, ids: Any, mask: Any, keep: Any, position_ids: Any = None,
                 cache: Any = None, use_cache: bool = False) -> tuple[Any, Any]:
        """Logits at positions ``keep`` (1-D) of every row, ``(batch, len(keep), vocab)``,
        and the KV cache when ``use_cache``."""
        raise NotImplementedError  # pragma: no cover - abstract

    def _expand_cache(self, cache: Any, rows: Any) -> Any:
        """A cache whose row i is row ``rows[i]`` of ``cache`` (prefix-cache backends)."""
        raise NotImplementedError  # pragma: no cover - abstract

    # -- scoring ------------------------------------------------------------------------
    def overflow(self, requests: Sequence[LoglikelihoodRequest]) -> list[int]:
        # The model reads context + continuation minus its last token, and loglikelihood
        # keeps the last max_length of those: anything before is cut off. encode_pair's
        # context and continuation tokens together are exactly the tokens of the joined
        # string, so one encoding per distinct string is enough.
        joined = list(dict.fromkeys(r.context + r.continuation for r in requests))
        n_tokens = dict(zip(joined, map(len, self.encode_batch(joined))))
        return [max(0, n_tokens[r.context + r.continuation] - 1 - self.max_length)
                for r in requests]

    def loglikelihood(self, requests: Sequence[LoglikelihoodRequest]) -> list[float]:
        if any(not r.context for r in requests):
            raise BackendError("empty context: every prompt needs text before the continuation")
        encoded = encode_pairs(self.encode_batch, [(r.context, r.continuation) for r in requests])
        rows: dict[tuple[int, ...], _Row] = {}
        for i, (r, (ctx, cont)) in enumerate(zip(requests, encoded)):
            if not cont:
                raise BackendError(f"continuation {r.continuation!r} encodes to no tokens")
            if len(cont) > self.max_length:
                raise BackendError(f"continuation of {len(cont)} tokens exceeds the model's "
                                   f"context of {self.max_length}")
            full = (ctx + cont)[-(self.max_length + 1):]
            key = tuple(full[:-1])
            rows.setdefault(key, _Row(key)).reads.append((i, cont))
        out = np.zeros(len(requests))
        if self.supports_prefix_cache:
            trie = build_trie({k: r.reads for k, r in rows.items()})
            self._score_level([(c, 0) for c in trie.children], None, out)
        else:
            self._score_plain(list(rows.values()), out)
        return out.tolist()

    def _batches(self, lengths: list[int]) -> list[list[int]]:
        """Indices in descending-length batches bounded by rows and padded tokens."""
        order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
        batches: list[list[int]] = []
        cur: list[int] = []
        for i in order:
            width = lengths[cur[0]] if cur else lengths[i]
            if cur and (len(cur) >= self.batch_size
                        or (len(cur) + 1) * width > self.max_batch_tokens):
                batches.append(cur)
                cur = []
            cur.append(i)
        if cur:
            batches.append(cur)
        return batches

    def _pad(self, seqs: list[Sequence[int]]) -> tuple[Any, Any, list[int]]:
        """Padded ids, mask and each row's start column (left or right padding)."""
        torch = self.torch
        width = max(len(s) for s in seqs)
        ids = torch.zeros(len(seqs), width, dtype=torch.long)
        mask = torch.zeros(len(seqs), width, dtype=torch.long)
        starts = []
        for r, s in enumerate(seqs):
            a = width - len(s) if self.padding_side == "left" else 0
            ids[r, a:a + len(s)] = torch.as_tensor(list(s))
            mask[r, a:a + len(s)] = 1
            starts.append(a)
        return ids.to(self.device), mask.to(self.device), starts

    def _position_ids(self, width: int, starts: list[int], offsets: list[int]) -> Any:
        """Row r's token j sits at column starts[r] + j and has position offsets[r] + j."""
        torch = self.torch
        cols = torch.arange(width)
        pos = torch.stack([(cols - a).clamp(min=0) + o for a, o in zip(starts, offsets)])
        return pos.to(self.device)

    def _score_plain(self, rows: list[_Row], out: np.ndarray) -> None:
        """One padded pass per batch of whole rows (backends without a KV cache)."""
        torch = self.torch
        for idx in self._batches([len(r.tokens) for r in rows]):
            batch = [rows[i] for i in idx]
            ids, mask, starts = self._pad([r.tokens for r in batch])
            # Row r's position j is column starts[r] + j; read only those columns.
            cols = [[starts[r] + j for j in range(len(row.tokens) - len(t), len(row.tokens))]
                    for r, row in enumerate(batch) for _, t in row.reads]
            keep = sorted({c for cs in cols for c in cs})
            pos = self._position_ids(ids.shape[1], starts, [0] * len(batch))
            with torch.inference_mode():
                logits, _ = self._forward(ids, mask, torch.as_tensor(keep, device=self.device),
                                          position_ids=pos)
                logp = torch.log_softmax(logits.double(), dim=-1)
            at = {k: c for c, k in enumerate(keep)}
            k = 0
            for r, row in enumerate(batch):
                for req, targets in row.reads:
                    out[req] = float(logp[r, [at[c] for c in cols[k]], targets].sum())
                    k += 1

    def _score_level(self, items: list[tuple[Node, int]], parent: tuple[Any, Any] | None,
                     out: np.ndarray) -> None:
        """Run trie nodes (each on top of row ``parent_row`` of ``parent``'s cache), read
        their positions, then recurse into their children with the extended cache.

        Depth first by batch, so only one batch per level holds a cache at a time.
        """
        torch = self.torch
        for idx in self._batches([n.end - n.start for n, _ in items]):
            batch = [items[i] for i in idx]
            ids, mask, starts = self._pad([n.segment for n, _ in batch])
            pos = self._position_ids(ids.shape[1], starts, [n.start for n, _ in batch])
            col = {(r, j): starts[r] + j - n.start for r, (n, _) in enumerate(batch)
                   for _, j, _ in n.reads}
            keep = sorted(set(col.values())) or [ids.shape[1] - 1]
            cache, full = None, mask
            if parent is not None:
                rows = torch.as_tensor([p for _, p in batch], device=self.device)
                cache = self._expand_cache(parent[0], rows)
                # Attend to every real ancestor token; padding holes stay masked.
                full = torch.cat([parent[1].index_select(0, rows), mask], dim=1)
            more = any(n.children for n, _ in batch)
            with torch.inference_mode():
                logits, cache = self._forward(ids, full, torch.as_tensor(keep, device=self.device),
                                              position_ids=pos, cache=cache, use_cache=more)
            if col:
                logp = torch.log_softmax(logits.double(), dim=-1)
                at = {k: c for c, k in enumerate(keep)}
                for r, (n, _) in enumerate(batch):
                    for req, j, tok in n.reads:
                        out[req] += float(logp[r, at[col[(r, j)]], tok])
            if more:
                kids = [(c, r) for r, (n, _) in enumerate(batch) for c in n.children]
                self._score_level(kids, (cache, full), out)

    # -- generation -----------------------------------------------------------------------
    def chat_prompt(self, req: ChatRequest) -> tuple[list[int], tuple[str, ...]]:
        """The token prompt of a chat request and its stop strings (plain format here)."""
        return (self.encode(plain_chat(req.system, req.user)),
                tuple(dict.fromkeys(req.stop + PLAIN_STOP)))

    def chat(self, requests: Sequence[ChatRequest]) -> list[str]:
        prompts = [self.chat_prompt(r) for r in requests]
        return self.generate_ids([ids for ids, _ in prompts],
                                 [GenerateRequest("", r.max_tokens, stop)
                                  for r, (_, stop) in zip(requests, prompts)])

    def chat_overflow(self, requests: Sequence[ChatRequest]) -> list[int]:
        """Tokens each chat prompt plus its answer budget runs over the context (0: fits);
        an over-long prompt loses its start (the system prompt, the framing)."""
        return [max(0, len(self.chat_prompt(r)[0]) + r.max_tokens - self.max_length)
                for r in requests]

    def generate(self, requests: Sequence[GenerateRequest]) -> list[str]:
        """Greedy completions, batched (see :meth:`generate_ids`)."""
        return self.generate_ids([self.encode(r.context) for r in requests], requests)

    def generate_ids(self, prompts: Sequence[Sequence[int]],
                     requests: Sequence[GenerateRequest]) -> list[str]:
        """Greedy decoding of token prompts (the requests give ``max_tokens`` and ``stop``).

        Rows run together in padded batches of ``batch_size`` (longest first) with no KV
        cache: every step re-reads each row's whole sequence and takes the argmax at its
        last real position, so a row's tokens do not depend on its batch neighbours
        beyond float rounding. A row stops at end-of-text, at ``max_tokens`` or once its
        decoded text contains a stop string; the text is cut at the first stop string.
        Inputs keep their last ``max_length`` tokens.
        """
        out = [""] * len(requests)
        order = sorted(range(len(requests)), key=lambda i: (-len(prompts[i]), i))
        for b in range(0, len(order), self.batch_size):
            idx = order[b:b + self.batch_size]
            texts = self._greedy_batch([list(prompts[i]) for i in idx], [requests[i] for i in idx])
            for i, text in zip(idx, texts):
                out[i] = text
        return out

    def _greedy_batch(self, prompts: list[list[int]], reqs: list[GenerateRequest]) -> list[str]:
        torch = self.torch
        new: list[list[int]] = [[] for _ in prompts]
        texts = [""] * len(prompts)
        active = [r.max_tokens > 0 for r in reqs]
        eos = getattr(self, "eos_id", None)
        while any(active):
            rows = [i for i, a in enumerate(active) if a]
            seqs = [(prompts[i] + new[i])[-self.max_length:] for i in rows]
            ids, mask, starts = self._pad(seqs)
            last = [a + len(s) - 1 for a, s in zip(starts, seqs)]
            keep = sorted(set(last))
            with torch.inference_mode():
                logits, _ = self._forward(ids, mask, torch.as_tensor(keep, device=self.device),
                                          position_ids=self._position_ids(ids.shape[1], starts,
                                                                          [0] * len(rows)))
            at = {c: k for k, c in enumerate(keep)}
            for r, i in enumerate(rows):
                tok = int(logits[r, at[last[r]]].argmax())
                if tok == eos:
                    active[i] = False
                    continue
                new[i].append(tok)
                texts[i] = self.decode(new[i])
                if len(new[i]) >= reqs[i].max_tokens or any(s in texts[i] for s in reqs[i].stop):
                    active[i] = False
        return [cut_at_stop(t, r.stop) for t, r in zip(texts, reqs)]

