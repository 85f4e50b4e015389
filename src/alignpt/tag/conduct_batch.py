"""Conduct features for a whole batch at once: the columns of
:func:`~alignpt.tag.conduct.conduct_features`, computed with numpy.

:func:`~alignpt.tag.conduct.conduct_features` is the specification (and the
test reference); this module must give exactly its features, hashed, in the
same order within each document. The reference walks the tokens in Python,
which cost about half of the classifier's time; here Python runs once per
DISTINCT token (its kind, cached with its feature columns) and the token walk
is array arithmetic:

* the batch is tokenised as the reference does (the same
  :func:`~alignpt.tag.conduct.normalised` bytes, the same byte table),
  documents joined by a separator token ``b"\\xff"`` (a byte valid UTF-8
  never contains). The separator is a punctuation token,
  so it ends any negation scope exactly as a document boundary does, and it
  never matches "of"/"than". Token boundaries come from numpy, and a token of
  up to 16 bytes is identified by its bytes packed into two integers (exact:
  no token holds a zero byte) in a hash table; longer ones by a dict;
* each token is a function on the scope counter: "set to a constant" (0 or
  :data:`SCOPE_WORDS`), "decrement, not below 0", or "leave alone". The scope
  a token sees is then the value set by the last constant-setting token before
  it minus the decrements since, clipped at 0: a running maximum and a
  cumulative sum instead of a loop;
* every token emits at most two features (``NEG_word`` or ``ACT_fam``, then
  ``NEG_ACT_fam``), so ordering the emitting tokens' ``2 * token + slot`` gives the order.
"""

from __future__ import annotations

import hashlib
import threading
from typing import Sequence

import numpy as np

from alignpt.tag import conduct as _spec

__all__ = ["conduct_entries"]

_SEP = b"\xff"  # never in valid UTF-8: a token no document can contain
#: the cache of distinct tokens is rebuilt past this size (a cache, not a vocabulary)
_MAX_TOKENS = 500_000

# A token's static effect on the scope, as bits of one int16 per distinct token (one
# gather per batch instead of one per property):
_CONST = 1  # sets the scope to a constant: 0, or SCOPE_WORDS with _FULL
_FULL = 2
_DEC = 4  # a word in the clause: uses up one word of scope
_BEFORE = 8  # clause punctuation before it: it sees no scope
_AFTER = 16
_INSTEAD, _RATHER = 32, 64  # may start "instead of" / "rather than"
_OF, _THAN = 128, 256  # may be their second word (no punctuation before it)
_NEG_WORD = 512  # gives NEG_word in a scope (not a stop word; "rather" alone)
_FAMILY = 1024  # gives ACT_fam, or NEG_ACT_fam in a scope


def _digest(feat: str) -> int:
    """The feature's column before masking, as HashedFeatures has always hashed it."""
    return int.from_bytes(hashlib.blake2b(b"conduct\x00" + feat.encode(),
                                          digest_size=8).digest(), "little")


def _code(kind: int, fam: str | None, word: str, before: bool, after: bool) -> int:
    """The bits above for one token, from the reference's ``_kind``; the pair's effect
    when it does start "instead of"/"rather than" is set per batch (it depends on the
    next token)."""
    code = _BEFORE * before | _AFTER * after
    if word == "of" and not before:
        code |= _OF
    elif word == "than" and not before:
        code |= _THAN
    if kind == _spec._WORD:
        code |= _CONST if before or after else _DEC
        code |= _NEG_WORD * (word not in _spec._STOP) | _FAMILY * bool(fam)
    elif kind == _spec._NEG:  # the scope starts, unless punctuation right after ends it
        code |= _CONST | _FULL * (not after)
    elif kind == _spec._PAIR and word == "instead":  # alone: a scope end
        code |= _CONST | _INSTEAD
    elif kind == _spec._PAIR:  # "rather" alone: a word (never a stop word, no family)
        code |= (_CONST if before or after else _DEC) | _RATHER | _NEG_WORD
    else:  # punctuation, scope-end words
        code |= _CONST
    return code


class _Tokens:
    """Per distinct token (by id): its code, and the digests of the features it can
    emit (NEG_word, NEG_ACT_fam, ACT_fam; 0 where none). Arrays are rebuilt lazily."""

    def __init__(self) -> None:
        self.ids: dict[bytes, int] = {}
        # code, the three digests, and the token's bytes packed (see _pack)
        self.cols: tuple[list, ...] = ([], [], [], [], [], [])
        self.arrays: tuple[np.ndarray, ...] | None = None
        self._fam: dict[str, tuple[int, int]] = {}
        # open addressing over the packed keys of tokens of at most 16 bytes: id or -1
        self.table = np.full(1 << 16, -1, dtype=np.int32)
        self.in_table = 0
        self.add(_SEP)  # id 0: punctuation to the reference (decodes to "")

    def add(self, tok: bytes) -> int:
        kind, fam, word, before, after = _spec._kind(tok)
        code = _code(kind, fam, word, before, after)
        neg = _digest("NEG_" + word) if code & _NEG_WORD else 0
        neg_act = act = 0
        if code & _FAMILY:
            if fam not in self._fam:
                self._fam[fam] = (_digest("NEG_ACT_" + fam), _digest("ACT_" + fam))
            neg_act, act = self._fam[fam]
        lo, hi = _pack_one(tok)
        for lst, v in zip(self.cols, (code, neg, neg_act, act, lo, hi)):
            lst.append(v)
        new = self.ids[tok] = len(self.ids)
        if len(tok) <= 16:
            if 2 * (self.in_table + 1) > len(self.table):  # grow: re-insert all
                self.table = np.full(2 * len(self.table), -1, dtype=np.int32)
                self.in_table = 0
                self._insert(range(new + 1))
            else:
                self._insert([new])
        return new

    def _insert(self, ids) -> None:
        mask = len(self.table) - 1
        ids = [i for i in ids if self.cols[4][i] or self.cols[5][i]]  # not the long ones
        slots = _slots(np.array([self.cols[4][i] for i in ids], np.uint64),
                       np.array([self.cols[5][i] for i in ids], np.uint64), mask).tolist()
        table = self.table
        for i, slot in zip(ids, slots):
            while table[slot] >= 0:
                slot = (slot + 1) & mask
            table[slot] = i
        self.in_table += len(ids)

    def get_arrays(self) -> tuple[np.ndarray, ...]:
        """The columns as arrays, extended by the tokens added since (not rebuilt)."""
        done = 0 if self.arrays is None else len(self.arrays[0])
        if done < len(self.ids):
            dtypes = (np.int16, np.uint64, np.uint64, np.uint64, np.uint64, np.uint64)
            tails = [np.array(col[done:], dtype) for col, dtype in zip(self.cols, dtypes)]
            self.arrays = tuple(tails if self.arrays is None else
                                map(np.concatenate, zip(self.arrays, tails)))
        return self.arrays

    def lookup(self, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        """Ids of packed keys, -1 where unknown: linear probing, vectorised per probe
        round (the table is at most half full, so rounds are few)."""
        key_lo, key_hi = self.get_arrays()[4:]
        mask = len(self.table) - 1
        slot = _slots(lo, hi, mask)
        # the first probe for every key at once, the next ones on the rest only
        tid = self.table[slot]
        hit = (key_lo[tid] == lo) & (key_hi[tid] == hi) & (tid >= 0)
        out = np.where(hit, tid, np.int32(-1))
        todo = np.flatnonzero(~hit & (tid >= 0))
        slot = (slot[todo] + 1) & mask
        while len(todo):
            tid = self.table[slot]
            filled = tid >= 0
            hit = filled & (key_lo[tid] == lo[todo]) & (key_hi[tid] == hi[todo])
            out[todo[hit]] = tid[hit]
            more = filled & ~hit
            todo, slot = todo[more], (slot[more] + 1) & mask
        return out


#: the low k bytes of a little-endian uint64
_MASKS = np.array([(1 << 8 * k) - 1 for k in range(9)], dtype=np.uint64)


def _pack_one(tok: bytes) -> tuple[int, int]:
    """A token of at most 16 bytes as two little-endian integers, zero-padded: exact,
    since no token contains a zero byte (the table turns it into a space). Longer
    tokens: (0, 0), which no short token packs to (they go through the dict)."""
    if len(tok) > 16:
        return 0, 0
    return (int.from_bytes(tok[:8], "little"), int.from_bytes(tok[8:16], "little"))


def _slots(lo: np.ndarray, hi: np.ndarray, mask: int) -> np.ndarray:
    """Home slots in the table (size ``mask + 1``): Fibonacci hashing, the top bits of
    a product that every key bit reaches (two multiplications: this runs per token)."""
    shift = np.uint64(64 - mask.bit_length())
    with np.errstate(over="ignore"):
        h = (lo ^ (hi * np.uint64(0xC2B2AE3D27D4EB4F))) * np.uint64(0x9E3779B97F4A7C15)
    return (h >> shift).astype(np.intp)


def _token_ids(tr: bytes, cache: _Tokens) -> np.ndarray:
    """Id of every token of ``tr`` (translated bytes, spaces first and last), in order.

    Tokens found with numpy, as ``tr.split()`` finds them (after the table the only
    separators are space and newline). A token of at most 16 bytes is packed into two
    integers read straight from the buffer, and looked up in the hash table; Python
    runs once per distinct new token, and per occurrence of a token over 16 bytes."""
    buf = tr + bytes(16)  # room for 16-byte reads past the last token
    arr = np.frombuffer(buf, dtype=np.uint8)
    word = arr > 32  # bytes 10 and 32 separate (the padding too)
    edges = np.flatnonzero(word[1:] != word[:-1]) + 1
    starts, ends = edges[0::2], edges[1::2]
    length = ends - starts
    # a uint64 at every byte offset (unaligned reads)
    u64 = np.ndarray((len(buf) - 7,), dtype="<u8", buffer=buf, strides=(1,))
    lo = u64[starts] & _MASKS[np.minimum(length, 8)]
    hi = u64[starts + 8] & _MASKS[np.clip(length - 8, 0, 8)]
    long = length > 16
    lo[long] = hi[long] = 0
    ids = cache.lookup(lo, hi)
    unknown = np.flatnonzero((ids < 0) & ~long)
    if len(unknown):  # new short tokens: Python once per distinct one
        order = unknown[np.lexsort((lo[unknown], hi[unknown]))]
        first = np.ones(len(order), dtype=bool)
        first[1:] = (lo[order[1:]] != lo[order[:-1]]) | (hi[order[1:]] != hi[order[:-1]])
        group = np.cumsum(first) - 1
        new = np.array([cache.add(tr[s:e]) for s, e in
                        zip(starts[order[first]].tolist(), ends[order[first]].tolist())],
                       dtype=np.int32)
        ids[order] = new[group]
    at = np.flatnonzero(long)
    if len(at):  # over 16 bytes: the dict, by their bytes
        get, add = cache.ids.get, cache.add
        ids[at] = [get(t) if t in cache.ids else add(t) for t in
                   (tr[s:e] for s, e in zip(starts[at].tolist(), ends[at].tolist()))]
    return ids


_TOKENS = _Tokens()
_LOCK = threading.Lock()


def conduct_entries(datas: Sequence[bytes], n_features: int) -> tuple[np.ndarray, np.ndarray]:
    """``(document, column)`` of every conduct feature of ``datas``, by document, in the
    order :func:`~alignpt.tag.conduct.conduct_features` lists them; column = the feature's
    BLAKE2b digest masked to ``n_features`` (a power of two)."""
    global _TOKENS
    empty = np.zeros(0, dtype=np.int64)
    if not datas:
        return empty, empty
    # the separator first and last: every document starts after it, and the last
    # document's last token has a next token
    joined = b" \xff " + b" \xff ".join(map(_spec.normalised, datas)) + b" \xff "
    with _LOCK:  # the cache is shared: one batch at a time reads or grows it
        if len(_TOKENS.ids) > _MAX_TOKENS:
            _TOKENS = _Tokens()
        ids = _token_ids(joined.translate(_spec._TABLE), _TOKENS)
        code_t, neg_t, neg_act_t, act_t = _TOKENS.get_arrays()[:4]
    code = code_t[ids]
    n = len(ids)

    # "instead of" / "rather than" (rare: done on their positions only): the pair word
    # without clause punctuation after it, the next token exactly "of"/"than" without any
    # before it. It sets the full scope, and the next token is skipped whole (its own
    # punctuation after does not end the scope, it gives nothing).
    at = np.flatnonzero(code & (_INSTEAD | _RATHER))
    if len(at):
        here, nxt = code[at], code[at + 1]
        match = at[(((here & _INSTEAD) != 0) & ((nxt & _OF) != 0)
                    | ((here & _RATHER) != 0) & ((nxt & _THAN) != 0)) & ((here & _AFTER) == 0)]
        code[match] = _CONST | _FULL
        code[match + 1] = 0
    # each token is a function on the scope: a constant, a decrement, or nothing. The
    # scope after token i is the value set by the last constant token j <= i less the
    # decrements in (j, i], not below 0 (token 0, the separator, is a constant 0).
    const = (code & _CONST) != 0
    idx = np.arange(n, dtype=np.int32)
    last = np.maximum.accumulate(np.where(const, idx, 0))
    decs = np.cumsum((code & _DEC) != 0, dtype=np.int32)
    start = np.where((code & _FULL) != 0, np.int32(_spec.SCOPE_WORDS), np.int32(0))
    open_after = start[last] > decs - decs[last]
    # the scope a token sees: the previous token's, unless punctuation before it reset it
    seen = np.zeros(n, dtype=bool)
    seen[1:] = open_after[:-1]
    seen &= (code & _BEFORE) == 0
    # per token at most two features: NEG_word in a scope or ACT_fam outside one, then
    # NEG_ACT_fam in a scope. Gathered at the emitting tokens only, ordered by token.
    fam = (code & _FAMILY) != 0
    first = np.flatnonzero(seen & ((code & _NEG_WORD) != 0) | fam & ~seen)
    second = np.flatnonzero(fam & seen)
    first_ids = ids[first]
    cols = np.concatenate((np.where(seen[first], neg_t[first_ids], act_t[first_ids]),
                           neg_act_t[ids[second]]))
    pos = np.concatenate((2 * first.astype(np.int64), 2 * second.astype(np.int64) + 1))
    order = np.argsort(pos, kind="stable")
    seps = np.flatnonzero(ids == 0)
    docs = np.searchsorted(seps, pos[order] // 2, side="right") - 1
    return docs.astype(np.int64), (cols[order] & np.uint64(n_features - 1)).astype(np.int64)
