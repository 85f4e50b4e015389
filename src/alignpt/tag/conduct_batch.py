"""Conduct features for a whole batch at once: the columns of
:func:`~alignpt.tag.conduct.conduct_features`, computed with numpy.

:func:`~alignpt.tag.conduct.conduct_features` is the specification (and the
test reference); this module must give exactly its features, hashed, in the
same order within each document. The reference walks the tokens in Python,
which cost about half of the classifier's time; here Python runs once per
DISTINCT token (its kind, cached with its feature columns) and the token walk
is array arithmetic:

* the batch is tokenised as the reference does (same byte table, same
  non-ASCII replacements), documents joined by a separator token ``b"\\xff"``
  (a byte valid UTF-8 never contains). The separator is a punctuation token,
  so it ends any negation scope exactly as a document boundary does, and it
  never matches "of"/"than";
* each token is a function on the scope counter: "set to a constant" (0 or
  :data:`SCOPE_WORDS`), "decrement, not below 0", or "leave alone". The scope
  a token sees is then the value set by the last constant-setting token before
  it minus the decrements since, clipped at 0: a running maximum and a
  cumulative sum instead of a loop;
* every token emits at most two features (``NEG_word`` or ``ACT_fam``, then
  ``NEG_ACT_fam``), so a (tokens x 2) table read row by row gives the order.
"""

from __future__ import annotations

import hashlib
from typing import Sequence

import numpy as np

from alignpt.tag import conduct as _spec

__all__ = ["conduct_entries"]

_SEP = b"\xff"  # never in valid UTF-8: a token no document can contain
#: the cache of distinct tokens is rebuilt past this size (a cache, not a vocabulary)
_MAX_TOKENS = 500_000


def _digest(feat: str) -> int:
    """The feature's column before masking, as HashedFeatures has always hashed it."""
    return int.from_bytes(hashlib.blake2b(b"conduct\x00" + feat.encode(),
                                          digest_size=8).digest(), "little")


class _Tokens:
    """Per distinct token (by id): what the reference's ``_kind`` says about it, and
    the digests of the features it can emit. Lists grow; arrays are rebuilt lazily."""

    def __init__(self) -> None:
        self.ids: dict[bytes, int] = {}
        # kind, before, after, pair (1 "instead", 2 "rather"), "of"/"than" usable as
        # the second word of a pair, whether it can emit NEG_word and has a family, and
        # the digests of NEG_word / NEG_ACT_fam / ACT_fam (any 64-bit value: no sentinel)
        self.cols: tuple[list, ...] = tuple([] for _ in range(10))
        self.arrays: tuple[np.ndarray, ...] | None = None
        self._fam: dict[str, tuple[int, int]] = {}
        self.add(_SEP)

    def add(self, tok: bytes) -> None:
        kind, fam, word, before, after = _spec._kind(tok)
        pair = {"instead": 1, "rather": 2}.get(word, 0) if kind == _spec._PAIR else 0
        neg, has_neg = 0, False
        if (kind == _spec._WORD and word not in _spec._STOP) or kind == _spec._PAIR:
            # (a pair word alone in a scope gives NEG_word too)
            neg, has_neg = _digest("NEG_" + word), True
        neg_act = act = 0
        if fam and kind == _spec._WORD:
            if fam not in self._fam:
                self._fam[fam] = (_digest("NEG_ACT_" + fam), _digest("ACT_" + fam))
            neg_act, act = self._fam[fam]
        second = {"of": 1, "than": 2}.get(word, 0) if not before else 0
        row = (kind, before, after, pair, second, has_neg, bool(fam and kind == _spec._WORD),
               neg, neg_act, act)
        for lst, v in zip(self.cols, row):
            lst.append(v)
        self.ids[tok] = len(self.ids)
        self.arrays = None

    def get_arrays(self) -> tuple[np.ndarray, ...]:
        if self.arrays is None:
            kind, before, after, pair, second, has_neg, has_fam, neg, neg_act, act = self.cols
            self.arrays = (np.array(kind, np.int8), np.array(before, bool),
                           np.array(after, bool), np.array(pair, np.int8),
                           np.array(second, np.int8), np.array(has_neg, bool),
                           np.array(has_fam, bool), np.array(neg, np.uint64),
                           np.array(neg_act, np.uint64), np.array(act, np.uint64))
        return self.arrays


_TOKENS = _Tokens()


def _normalise(data: bytes) -> bytes:
    """What the reference tokenises: ``data`` decoded ("ignore"), curly apostrophe and
    dashes replaced when not ASCII, encoded again. ASCII bytes are already that."""
    if data.isascii():
        return data
    text = data.decode("utf-8", "ignore")
    if not text.isascii():
        text = text.replace("\u2019", "'").replace("\u2014", " , ").replace("\u2013", " , ")
    return text.encode("utf-8", "surrogatepass")


def conduct_entries(datas: Sequence[bytes], n_features: int) -> tuple[np.ndarray, np.ndarray]:
    """``(document, column)`` of every conduct feature of ``datas``, by document, in the
    order :func:`~alignpt.tag.conduct.conduct_features` lists them; column = the feature's
    BLAKE2b digest masked to ``n_features`` (a power of two)."""
    global _TOKENS
    empty = np.zeros(0, dtype=np.int64)
    if not datas:
        return empty, empty
    if len(_TOKENS.ids) > _MAX_TOKENS:
        _TOKENS = _Tokens()
    cache = _TOKENS
    joined = (_SEP + b" " + b" \xff ".join(map(_normalise, datas)) + b" " + _SEP)
    tokens = joined.translate(_spec._TABLE).split()
    for tok in set(tokens).difference(cache.ids):  # Python per distinct new token only
        cache.add(tok)
    ids = np.fromiter(map(cache.ids.__getitem__, tokens), dtype=np.int64, count=len(tokens))
    (kind_t, before_t, after_t, pair_t, second_t, has_neg_t, has_fam_t,
     neg_t, neg_act_t, act_t) = cache.get_arrays()
    kind, before, after, pair = kind_t[ids], before_t[ids], after_t[ids], pair_t[ids]
    second = second_t[ids]
    n = len(ids)

    # "instead of" / "rather than": the pair word not followed by clause punctuation, the
    # next token exactly "of"/"than" with none before it. The next token is then skipped
    # whole (its own punctuation after does not end the scope). The last token is the
    # separator, so i + 1 always exists; the separator is never "of"/"than".
    match = np.zeros(n, dtype=bool)
    match[:-1] = (pair[:-1] != 0) & (pair[:-1] == second[1:]) & ~after[:-1]
    skip = np.zeros(n, dtype=bool)
    skip[1:] = match[:-1]
    live = ~skip
    is_word = (kind == _spec._WORD) & live
    alone = (pair != 0) & ~match  # "instead" alone ends a scope, "rather" alone is a word
    rather = alone & (pair == 2)
    # each live token as a function on the scope: a constant, or a decrement
    reset = before | (kind == _spec._PUNCT) | (kind == _spec._END)
    set_full = (kind == _spec._NEG) | match
    const = live & (reset | set_full | (alone & (pair == 1)) | after)
    value = np.where(set_full & ~after, _spec.SCOPE_WORDS, 0)
    dec = live & ~const & (is_word | rather)
    # scope after token i: value of the last constant token j <= i, less the decrements
    # in (j, i], not below 0 (token 0 is the separator, a constant 0)
    idx = np.arange(n)
    last = np.maximum.accumulate(np.where(const, idx, 0))
    decs = np.cumsum(dec)
    scope_after = np.maximum(value[last] - (decs - decs[last]), 0)
    # the scope a word sees: the previous token's, unless punctuation before it reset it
    seen = np.zeros(n, dtype=bool)
    seen[1:] = scope_after[:-1] > 0
    seen &= ~before
    neg_word = (is_word | rather) & seen
    # first feature: NEG_word in a scope (none for a stop word), ACT_fam outside one;
    # second: NEG_ACT_fam in a scope
    has_fam = has_fam_t[ids] & is_word
    table = np.stack([np.where(neg_word, neg_t[ids], act_t[ids]), neg_act_t[ids]], axis=1)
    valid = np.stack([(neg_word & has_neg_t[ids]) | (has_fam & ~seen), has_fam & seen], axis=1)
    doc = np.cumsum(ids == 0) - 1  # id 0 is the separator (added first)
    docs = np.broadcast_to(doc[:, None], table.shape)[valid]
    cols = (table[valid] & np.uint64(n_features - 1)).astype(np.int64)
    return docs.astype(np.int64), cols
