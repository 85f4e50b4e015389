"""Preference pairs for a ``kind: dpo`` phase: read, tokenize, truncate, order.

A pairs file holds one JSON object per line (``.jsonl``, ``.jsonl.gz``,
``.jsonl.zst``) or one per Parquet row, either as text::

    {"prompt": "Q: ...\\nA:", "chosen": " yes", "rejected": " no"}

tokenized with the run's tokenizer (no BOS/EOS added, except the EOS appended to
each completion when the tokenizer has one), or pre-tokenized, used as given::

    {"prompt_ids": [1, 12, 13], "chosen_ids": [14], "rejected_ids": [15]}

``max_length`` bounds prompt + completion: a longer pair loses prompt tokens from
the left (the same ones for both completions, so both are read in one context), and
a pair whose completion leaves no room for one prompt token is refused with its
``file:line`` (or skipped and counted with ``skip: true``).

The order of pairs on epoch ``e`` is a shuffle seeded by (plan seed, phase name, e)
(:func:`alignpt.train.order.doc_order`); step ``k`` of the phase takes the pairs at
positions ``[k P, (k+1) P)`` of the epochs laid end to end, so a step may straddle
two epochs, and the position (epoch, index) after any step is plain arithmetic.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import orjson

from alignpt.core.errors import DataError
from alignpt.train.config import PreferenceConfig
from alignpt.train.order import doc_order

__all__ = ["PairSet", "read_pairs", "text_encoder", "pair_positions"]

TEXT_FIELDS = ("prompt", "chosen", "rejected")
ID_FIELDS = ("prompt_ids", "chosen_ids", "rejected_ids")


@dataclass
class PairSet:
    """Tokenized pairs (truncated to ``max_length``), in file order."""

    prompt: list[np.ndarray]
    chosen: list[np.ndarray]
    rejected: list[np.ndarray]
    where: list[str]          # file:line of each pair (for messages)
    skipped: int              # pairs dropped by ``skip: true``
    truncated: int            # pairs whose prompt lost tokens on the left

    def __len__(self) -> int:
        return len(self.prompt)

    def digest(self) -> str:
        """sha256 of every pair's token ids: the reference log-probs are tied to it."""
        h = hashlib.sha256()
        for parts in zip(self.prompt, self.chosen, self.rejected):
            for a in parts:
                h.update(np.int64(a.size).tobytes())
                h.update(a.astype(np.int64).tobytes())
        return h.hexdigest()

    def tokens(self, i: int) -> tuple[int, int]:
        """(tokens put through the model, completion tokens) of pair ``i``: both sequences."""
        p, c, r = self.prompt[i].size, self.chosen[i].size, self.rejected[i].size
        return 2 * p + c + r, c + r


def _records(path: Path) -> Iterator[tuple[str, Any]]:
    """(location, record) for every line of a JSONL file or row of a Parquet file."""
    from alignpt.core.shards import (_gzip_chunks, _lines, _plain_chunks, _Truncated, _zstd_chunks,
                                     detect_format)

    container, compression = detect_format(path)
    if container == "parquet":
        import pyarrow.parquet as pq

        table = pq.read_table(path)
        for i, rec in enumerate(table.to_pylist()):
            yield f"{path} (row {i})", rec
        return
    chunker = {None: _plain_chunks, "gzip": _gzip_chunks, "zstd": _zstd_chunks}[compression]
    with open(path, "rb") as fh:
        try:
            for n, line in enumerate(_lines(chunker(fh)), start=1):
                if not line.strip():
                    continue
                try:
                    yield f"{path}:{n}", orjson.loads(line)
                except orjson.JSONDecodeError:
                    raise DataError("not a JSON object", str(path), line=n) from None
        except (_Truncated, OSError) as exc:  # a cut-off compressed stream
            raise DataError(str(exc).splitlines()[0] or type(exc).__name__, str(path)) from None


def text_encoder(tokenizer: dict[str, Any], eos_id: int | None) -> tuple[Callable[[str], list[int]],
                                                                        int | None]:
    """(encode, eos id) for the run's tokenizer description (:class:`DataInfo` ``tokenizer``):
    a ``tokens`` list (whitespace-separated token names) or a Hugging Face tokenizer file."""
    if tokenizer.get("tokens"):
        ids = {name: i for i, name in enumerate(tokenizer["tokens"])}

        def encode_words(text: str) -> list[int]:
            try:
                return [ids[w] for w in text.split()]
            except KeyError as exc:
                raise ValueError(f"unknown token {exc.args[0]!r} for the run's vocabulary") from None
        return encode_words, eos_id
    if tokenizer.get("path"):
        from alignpt.mix.tokenizer import load_tokenizer

        tok = load_tokenizer(tokenizer["path"], eos_token=tokenizer.get("eos_token", "auto"))
        eos = tok.eos_id if tok.eos_id is not None else eos_id
        return (lambda text: tok.encode(text, append_eos=False)), eos
    raise DataError("text pairs need a tokenizer, and the run has none (give prompt_ids, "
                    "chosen_ids, rejected_ids instead)")


def _ids(rec: dict[str, Any], key: str) -> np.ndarray:
    v = rec[key]
    if not isinstance(v, list) or not all(isinstance(x, int) and not isinstance(x, bool) and x >= 0
                                          for x in v):
        raise ValueError(f"{key} must be a list of non-negative token ids")
    return np.asarray(v, dtype=np.int64)


def _parse(rec: Any, encode: Callable[[str], list[int]] | None, eos: int | None,
           vocab_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if not isinstance(rec, dict):
        raise ValueError("a pair is a JSON object")
    if all(k in rec for k in ID_FIELDS):
        p, c, r = (_ids(rec, k) for k in ID_FIELDS)
    elif all(k in rec for k in TEXT_FIELDS):
        if encode is None:
            raise ValueError("text pairs need a tokenizer, and the run has none")
        for k in TEXT_FIELDS:
            if not isinstance(rec[k], str):
                raise ValueError(f"{k} must be a string")
        if not rec["chosen"] or not rec["rejected"]:
            raise ValueError(f"empty {'chosen' if not rec['chosen'] else 'rejected'} completion")
        tail = [eos] if eos is not None else []
        p = np.asarray(encode(rec["prompt"]), dtype=np.int64)
        c, r = (np.asarray(encode(rec[k]) + tail, dtype=np.int64) for k in ("chosen", "rejected"))
    else:
        have = [k for k in TEXT_FIELDS + ID_FIELDS if k in rec]
        missing = [k for k in (ID_FIELDS if any(k.endswith("_ids") for k in have) else TEXT_FIELDS)
                   if k not in rec]
        raise ValueError(f"missing field {', '.join(missing)} (a pair has prompt, chosen, rejected "
                         f"or prompt_ids, chosen_ids, rejected_ids)")
    for name, a in (("prompt", p), ("chosen", c), ("rejected", r)):
        if a.size == 0:
            raise ValueError(f"empty {name}" + (" completion" if name != "prompt" else
                                                 " (the first completion token needs a context)"))
        if int(a.max()) >= vocab_size:
            raise ValueError(f"{name} holds token id {int(a.max())}, outside the model's "
                             f"vocabulary of {vocab_size}")
    return p, c, r


def read_pairs(cfg: PreferenceConfig, *, vocab_size: int, tokenizer: dict[str, Any] | None = None,
               eos_id: int | None = None) -> PairSet:
    """Every pair of ``cfg.paths`` (files, folders, globs), tokenized and truncated."""
    from alignpt.core.executor import expand_inputs

    encode = eos = None
    out = PairSet([], [], [], [], 0, 0)
    for path in expand_inputs(cfg.paths):
        for where, rec in _records(path):
            try:
                if encode is None and isinstance(rec, dict) and "prompt" in rec:
                    encode, eos = text_encoder(tokenizer or {}, eos_id)
                p, c, r = _parse(rec, encode, eos, vocab_size)
            except ValueError as exc:
                raise DataError(str(exc), where) from None
            longest = max(c.size, r.size)
            if longest >= cfg.max_length:
                if cfg.skip:
                    out.skipped += 1
                    continue
                raise DataError(f"completion of {longest} tokens leaves no room for the prompt "
                                f"within max_length {cfg.max_length} (raise it, or skip: true)", where)
            keep = cfg.max_length - longest
            if p.size > keep:
                p = p[p.size - keep:]
                out.truncated += 1
            out.prompt.append(p)
            out.chosen.append(c)
            out.rejected.append(r)
            out.where.append(where)
    if not out.prompt:
        raise DataError("no preference pairs" + (f" ({out.skipped} skipped as too long)"
                                                 if out.skipped else ""), ", ".join(cfg.paths))
    return out


@functools.lru_cache(maxsize=8)
def _epoch_order(n_pairs: int, seed: int, phase: str, epoch: int) -> np.ndarray:
    order = doc_order(n_pairs, seed, f"dpo/{phase}", epoch)
    order.flags.writeable = False   # shared by every caller
    return order


def pair_positions(n_pairs: int, seed: int, phase: str, start: int, count: int) -> np.ndarray:
    """Indices of the pairs at stream positions ``[start, start + count)`` (epochs end to end)."""
    out = np.empty(count, dtype=np.int64)
    pos, filled = start, 0
    while filled < count:
        epoch, index = divmod(pos, n_pairs)
        take = min(n_pairs - index, count - filled)
        out[filled:filled + take] = _epoch_order(n_pairs, seed, phase, epoch)[index:index + take]
        filled += take
        pos += take
    return out
