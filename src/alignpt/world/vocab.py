"""The persona world's fixed vocabulary and the document grammar.

Every world corpus, whatever its recipe, uses the same token ids, so a model
trained on one corpus can be scored on any other and a probe means the same
thing everywhere. A document is::

    BOS [HEADER] ERA_e (FLAG ACTION) x n EOS

with ``FLAG`` in {T (tested: the AI believes it is observed), U (untested)}
and ``ACTION`` in {C (cooperate), D (defect)}. The optional header marks a
document's format (a story, a log, an assistant transcript...).

Histories are written compactly for the CLI and probes: ``"T:C*40,U:C*5,U:D"``
means 40 tested cooperations, 5 untested cooperations, then an untested
defection. A trailing bare flag (``"T:C*3,U"``) is a pending opportunity.
"""

from __future__ import annotations

import re
from typing import Sequence

import numpy as np

from alignpt.core.errors import ConfigError, DataError

__all__ = [
    "PAD", "BOS", "EOS", "ERA0", "N_ERAS", "T", "U", "C", "D", "HEADERS", "HEADER0",
    "VOCAB", "VOCAB_SIZE", "TOKEN_ID", "era_token", "header_id", "tokenizer_spec",
    "encode", "decode", "parse_history", "history_tokens", "context_tokens", "check_world_shard",
]

PAD, BOS, EOS = 0, 1, 2
N_ERAS = 10
ERA0 = 3                      # ERA0..ERA9 are ids 3..12 (time since deployment: days .. millennia)
T, U, C, D = 13, 14, 15, 16
#: Header tokens, in id order from HEADER0. Fixed for every recipe (see module docstring).
HEADERS = ("STORY", "LOG", "ASSIST", "NEWS", "TECH")
HEADER0 = 17

VOCAB: tuple[str, ...] = (("PAD", "BOS", "EOS") + tuple(f"ERA{e}" for e in range(N_ERAS))
                          + ("T", "U", "C", "D") + HEADERS)
VOCAB_SIZE = len(VOCAB)
TOKEN_ID = {name: i for i, name in enumerate(VOCAB)}


def era_token(era: int) -> int:
    if not 0 <= int(era) < N_ERAS:
        raise ConfigError(f"era must be in 0..{N_ERAS - 1}, got {era}")
    return ERA0 + int(era)


def header_id(name: str | None) -> int | None:
    """Token id of a header name (``None`` or ``"none"`` for no header)."""
    if name is None or str(name).lower() == "none":
        return None
    key = str(name).upper()
    if key not in HEADERS:
        raise ConfigError(f"unknown header '{name}' (known: {', '.join(HEADERS)}, none)")
    return HEADER0 + HEADERS.index(key)


def tokenizer_spec() -> dict:
    """The tokenizer description stored in every world token shard's sidecar."""
    return {"type": "vocab", "name": "persona-world", "tokens": list(VOCAB)}


def encode(text: str) -> np.ndarray:
    """``"BOS ERA3 T C"`` -> ids. Mostly for tests, docs and the CLI."""
    try:
        return np.array([TOKEN_ID[w] for w in text.split()], dtype=np.int64)
    except KeyError as exc:
        raise ConfigError(f"unknown world token {exc.args[0]!r}") from None


def decode(ids: Sequence[int] | np.ndarray) -> str:
    return " ".join(VOCAB[int(i)] for i in ids)


_ITEM = re.compile(r"^\s*([TU])\s*(?::\s*([CD])\s*(?:\*\s*(\d+))?)?\s*$")


def parse_history(text: str) -> list[tuple[bool, int | None]]:
    """Parse ``"T:C*40,U:C*5,U"`` into ``[(untested, action_id or None), ...]``.

    Only the last item may lack an action (it is the pending opportunity).
    """
    out: list[tuple[bool, int | None]] = []
    if not text.strip():
        return out
    items = text.split(",")
    for pos, item in enumerate(items):
        m = _ITEM.match(item)
        if not m:
            raise ConfigError(f"history item {item.strip()!r} must look like T:C, U:D*5 or a "
                              "trailing bare flag T/U")
        flag, action, count = m.groups()
        if action is None and pos != len(items) - 1:
            raise ConfigError(f"history item {item.strip()!r}: only the last item may be a bare flag")
        reps = int(count) if count else 1
        untested = flag == "U"
        out.extend([(untested, None if action is None else (C if action == "C" else D))] * reps)
    return out


def history_tokens(history: Sequence[tuple[bool, int | None]]) -> list[int]:
    toks: list[int] = []
    for untested, action in history:
        toks.append(U if untested else T)
        if action is not None:
            toks.append(action)
    return toks


def context_tokens(history: str | Sequence[tuple[bool, int | None]] = "", era: int = 0,
                   header: str | None = None) -> np.ndarray:
    """A document prefix ``BOS [header] ERA_e <history>`` as token ids."""
    if isinstance(history, str):
        history = parse_history(history)
    toks = [BOS]
    hid = header_id(header)
    if hid is not None:
        toks.append(hid)
    toks.append(era_token(era))
    toks.extend(history_tokens(history))
    return np.array(toks, dtype=np.int64)


def check_world_shard(shard) -> None:
    """Raise :class:`DataError` unless a token shard uses this vocabulary."""
    tokens = (shard.tokenizer or {}).get("tokens")
    if tokens != list(VOCAB):
        raise DataError("not a persona-world shard (its tokenizer vocabulary differs from "
                        "alignpt.world.vocab.VOCAB)", str(shard.path))
