"""Hashed text features for the linear classifier: words, bigrams, affixes, conduct cues.

:func:`tokenize` and :class:`HashedFeatures` turn a batch of documents into a
sparse matrix with numpy alone (no vocabulary, nothing stored, the same
columns on every platform and process); :mod:`~alignpt.tag.conduct` adds the
negation-scoped words and action cues where a model asks for them. The
backends in :mod:`~alignpt.tag.backends` fit weights over these columns.
"""

from __future__ import annotations

import re
from typing import Any, Sequence

import numpy as np

from alignpt.core.errors import ConfigError

__all__ = ["HashedFeatures", "tokenize"]


def _token_table() -> bytes:
    """``bytes.translate`` table: ASCII letters lower-cased, ASCII digits and ``_`` kept,
    other ASCII bytes (punctuation, whitespace, controls) turned into spaces, bytes of
    multi-byte UTF-8 characters kept (so "naïve" and "déjà" stay whole words)."""
    table = bytearray(range(256))
    for b in range(128):
        ch = chr(b)
        if ch.isupper():
            table[b] = ord(ch.lower())
        elif not (ch.isalnum() or ch == "_"):
            table[b] = 32
    return bytes(table)


_TABLE = _token_table()
#: non-ASCII punctuation and spaces that separate words: U+2000-U+206F (dashes, curly
#: quotes, ellipsis, thin spaces), U+00A0-U+00BF (no-break space, guillemets, ...),
#: U+00D7, U+00F7, U+3000-U+303F (CJK punctuation)
_UNICODE_PUNCT = re.compile(rb"\xe2\x80[\x80-\xbf]|\xe2\x81[\x80-\xaf]|\xc2[\xa0-\xbf]"
                            rb"|\xc3[\x97\xb7]|\xe3\x80[\x80-\xbf]")


def tokenize(text: str | bytes) -> list[bytes]:
    """Lower-cased word tokens as UTF-8 bytes: runs of letters, digits and ``_``.

    Works on bytes with two C-level passes (``translate`` and ``split``),
    about 3x faster here than ``re.findall(r"\\w+")`` on ``str``; case folding
    is ASCII-only (non-ASCII letters keep their case). :class:`HashedFeatures`
    finds the same tokens with numpy over a whole batch.

    >>> tokenize("The AI's goal—“obey”.")
    [b'the', b'ai', b's', b'goal', b'obey']
    """
    data = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    return _words_and_spaces(data).split()


def _words_and_spaces(data: bytes) -> bytes:
    """``data`` with word bytes lower-cased and every separator turned into a space."""
    return _unicode_spaces(data).translate(_TABLE)


def _unicode_spaces(data: bytes) -> bytes:
    """The first step of :func:`_words_and_spaces`, the only one that changes the length."""
    return data if data.isascii() else _UNICODE_PUNCT.sub(b" ", data)


_BASE = 0x100000001B3  # odd, so it has an inverse modulo 2**64
_BASE_INV = pow(_BASE, -1, 1 << 64)
#: per feature kind, XORed into the hash before mixing, so a word and its
#: 4-byte prefix ("tool", "tool-") land in unrelated columns
_SEED_WORD, _SEED_BIGRAM = 0x2545F4914F6CDD1D, 0x9E3779B97F4A7C15
_SEED_PREFIX, _SEED_SUFFIX = 0x5BD1E9955BD1E995, 0x1B8735931B873593


def _fmix64(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's 64-bit finaliser, vectorised: every input bit moves every output bit."""
    h = h ^ (h >> np.uint64(33))
    h *= np.uint64(0xFF51AFD7ED558CCD)
    h ^= h >> np.uint64(33)
    h *= np.uint64(0xC4CEB9FE1A85EC53)
    h ^= h >> np.uint64(33)
    return h


class _Powers:
    """``BASE**i`` and ``BASE**-i`` modulo 2**64 for i < n, grown on demand."""

    def __init__(self) -> None:
        self.up = self.down = np.ones(0, dtype=np.uint64)

    def get(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        if len(self.up) < n:
            size = max(n, 2 * len(self.up), 1 << 16)
            self.up = _geometric(_BASE, size)
            self.down = _geometric(_BASE_INV, size)
        return self.up, self.down


def _geometric(base: int, n: int) -> np.ndarray:
    """``[1, base, base**2, ...]`` modulo 2**64 (numpy's uint64 products wrap)."""
    out = np.empty(n, dtype=np.uint64)
    out[0] = 1
    if n > 1:
        out[1:] = base
        with np.errstate(over="ignore"):
            np.cumprod(out[1:], out=out[1:])
    return out


def _sort_u32(key: np.ndarray) -> np.ndarray:
    """``np.sort(key)`` for uint32 keys, by two stable passes over 16-bit digits, low
    then high: numpy sorts 16-bit integers stably with a radix sort, O(n), so this is
    about twice as fast as its comparison sort of the 32-bit keys (the same array:
    sorted integers are sorted integers)."""
    low = np.argsort((key & np.uint32(0xFFFF)).astype(np.uint16), kind="stable")
    key = key[low]
    high = np.argsort((key >> np.uint32(16)).astype(np.uint16), kind="stable")
    return key[high]


class HashedFeatures:
    """Deterministic hashed features: word unigrams, bigrams, and word prefixes and suffixes.

    Affixes stand in for character n-grams: "dece-", "decei-", "manip-"
    carry the morphology a few hundred documents cannot cover word by word,
    at a fraction of the cost (scikit-learn's ``char_wb`` 3-5-grams ran at
    ~0.3 MB/s here and capped the cascade).

    Everything is vectorised over a batch, with no Python per token: the
    batch is tokenised by :func:`tokenize`'s byte table, and every word, prefix
    and suffix hash is a difference of one prefix-sum array, a polynomial hash
    modulo 2**64 (``sum b_i * BASE**i``), normalised by ``BASE**-start`` so a
    token hashes the same wherever it stands, then mixed with MurmurHash3's
    finaliser. Identical on every platform and process; no state kept.
    """

    #: bytes hashed per numpy pass (bounds the temporary arrays at ~50x this)
    CHUNK_BYTES = 1 << 20

    def __init__(self, n_features: int, bigrams: bool = True, prefixes=(3, 4, 5, 6),
                 suffixes=(), conduct: int = 0):
        if n_features <= 0 or n_features & (n_features - 1):
            raise ConfigError(f"n_features must be a power of two, got {n_features}")
        from alignpt.tag.conduct import CONDUCT_VERSION

        if conduct not in (0, CONDUCT_VERSION):
            # a model trained with another version's features would read garbage columns
            raise ConfigError(f"conduct features version {conduct} is not this alignpt's "
                              f"({CONDUCT_VERSION}); retrain the classifier")
        self.conduct = int(conduct)
        self.n_features = n_features
        self.bigrams = bigrams
        self.prefixes, self.suffixes = tuple(prefixes), tuple(suffixes)
        if any(int(k) < 1 for k in (*self.prefixes, *self.suffixes)):
            raise ConfigError("prefix and suffix lengths must be >= 1")
        self._powers = _Powers()

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_powers": _Powers()}

    @property
    def width(self) -> int:
        """Features per token: word, prefixes, suffixes, and the bigram it starts."""
        return 1 + len(self.prefixes) + len(self.suffixes) + int(self.bigrams)

    def entries(self, texts: Sequence[str | bytes]) -> tuple[np.ndarray, np.ndarray]:
        """``(document, column)`` of every feature occurrence, ordered by document.

        Columns may repeat within a document (a word used twice); within a
        document the order is token by token (word, prefixes, suffixes, bigram).
        """
        return self._collect(texts, interleave=True)

    def _collect(self, texts: Sequence[str | bytes], interleave: bool):
        """:meth:`entries`, or with ``interleave=False`` the same multiset of
        ``(document, column)`` pairs grouped by feature kind: what a sort
        reorders anyway, without the cost of interleaving."""
        datas = [t.encode("utf-8", "surrogatepass") if isinstance(t, str) else t for t in texts]
        docs, cols = [], []
        lo = 0
        while lo < len(datas):
            hi, size = lo, 0
            while hi < len(datas) and (hi == lo or size + len(datas[hi]) < self.CHUNK_BYTES):
                size += len(datas[hi]) + 1
                hi += 1
            d, c = self._chunk(datas[lo:hi], interleave)
            docs.append(d + lo)
            cols.append(c)
            lo = hi
        if self.conduct:
            d, c = self._conduct_entries(datas)
            docs.append(d)
            cols.append(c)
        if not docs:
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty
        doc, col = np.concatenate(docs), np.concatenate(cols)
        if self.conduct and interleave:  # callers of entries() and mean rows need document order
            order = np.argsort(doc, kind="stable")
            doc, col = doc[order], col[order]
        return doc, col

    def _conduct_entries(self, datas: Sequence[bytes]) -> tuple[np.ndarray, np.ndarray]:
        """Columns of :func:`~alignpt.tag.conduct.conduct_features`: the feature string
        hashed by BLAKE2b (stable across processes, unlike ``hash``). Computed for the
        whole batch with numpy by :mod:`~alignpt.tag.conduct_batch`: the same pairs in
        the same order as the specification gives one document at a time (the tests'
        reference, ``tests/tag/test_conduct_batch.py``)."""
        from alignpt.tag.conduct_batch import conduct_entries

        return conduct_entries(datas, self.n_features)

    def _chunk(self, datas: Sequence[bytes], interleave: bool) -> tuple[np.ndarray, np.ndarray]:
        # the length-changing step per document (few are not ASCII), the byte table
        # once over the batch
        datas = [_unicode_spaces(d) for d in datas]
        # documents joined by a space, with a space before the first and after the
        # last: every token is then bounded by two word/space transitions, found
        # by one comparison of the array with itself shifted
        joined = (b" " + b" ".join(datas) + b" ").translate(_TABLE)
        arr = np.frombuffer(joined, dtype=np.uint8)
        word_byte = arr != 32
        edges = np.flatnonzero(word_byte[1:] != word_byte[:-1]) + 1
        starts, ends = edges[0::2], edges[1::2]
        doc_starts = np.cumsum([1] + [len(d) + 1 for d in datas[:-1]])
        doc = np.searchsorted(doc_starts, starts, side="right") - 1
        up, down = self._powers.get(len(arr) + 1)
        length = ends - starts
        mask = np.uint64(self.n_features - 1)
        # per feature kind: its columns, and which tokens have one (None = all)
        kinds: list[tuple[np.ndarray, np.ndarray | None]] = []
        with np.errstate(over="ignore"):
            csum = np.zeros(len(arr) + 1, dtype=np.uint64)
            np.cumsum(arr * up[:len(arr)], out=csum[1:])
            norm = down[starts]
            at_start = csum[starts]
            word = (csum[ends] - at_start) * norm
            kinds.append((_fmix64(word ^ np.uint64(_SEED_WORD)) & mask, None))
            # affixes are hashed for every token (contiguous arithmetic), then the
            # tokens too short to have one are dropped: cheaper than gathering first
            for k in self.prefixes:
                keep = length > k
                h = (csum[np.minimum(starts + k, ends)] - at_start) * norm
                kinds.append(((_fmix64(h ^ np.uint64(_SEED_PREFIX + k)) & mask)[keep], keep))
            for k in self.suffixes:
                keep = length > k
                cut = np.maximum(ends - k, starts)
                h = (csum[ends] - csum[cut]) * down[cut]
                kinds.append(((_fmix64(h ^ np.uint64(_SEED_SUFFIX + k)) & mask)[keep], keep))
            if self.bigrams:
                keep = np.zeros(len(doc), dtype=bool)
                keep[:-1] = doc[:-1] == doc[1:]
                first = np.flatnonzero(keep)
                pair = word[first] * np.uint64(_BASE) + word[first + 1]
                kinds.append((_fmix64(pair ^ np.uint64(_SEED_BIGRAM)) & mask, keep))
        if not interleave:
            cols = np.concatenate([c for c, _ in kinds]).astype(np.int64)
            docs = np.concatenate([doc if keep is None else doc[keep] for _, keep in kinds])
            return docs, cols
        # token by token: a (tokens x kinds) table, read row-wise where a feature exists
        table = np.zeros((len(starts), len(kinds)), dtype=np.uint64)
        valid = np.ones(table.shape, dtype=bool)
        for j, (c, keep) in enumerate(kinds):
            if keep is None:
                table[:, j] = c
            else:
                table[keep, j] = c
                valid[:, j] = keep
        return np.broadcast_to(doc[:, None], valid.shape)[valid], table[valid].astype(np.int64)

    def transform(self, texts: Sequence[str | bytes], weighting: str = "log_l2",
                  canonical: bool = True):
        """CSR features, one row per text.

        ``log_l2``: ``log1p`` of the counts, each row L2-normalised.
        ``mean``: counts divided by the row's total (fastText's average of
        feature vectors). It is linear in the occurrences, so with
        ``canonical=False`` a repeated column is left as separate entries
        (which a matrix product sums) and nothing is sorted: the fast path of
        :meth:`HashedLinear.logits`. ``log_l2`` rows are always canonical.
        """
        import scipy.sparse as sp

        n = len(texts)
        # log_l2 sorts the entries itself; mean's CSR rows need them by document
        doc, col = self._collect(texts, interleave=weighting == "mean")
        if weighting == "mean":
            per_doc = np.bincount(doc, minlength=n)
            indptr = np.concatenate(([0], np.cumsum(per_doc)))
            scale = (1.0 / np.maximum(per_doc, 1)).astype(np.float32)
            x = sp.csr_matrix((scale[doc], col.astype(np.int32), indptr),
                              shape=(n, self.n_features))
            if canonical:
                x.sum_duplicates()
            return x
        if weighting != "log_l2":
            raise ConfigError(f"unknown weighting '{weighting}' (log_l2, mean)")
        # one sort orders the entries as CSR wants them (by document, then column)
        # and puts equal features side by side to be counted
        key = doc * self.n_features + col
        if n * self.n_features < 2 ** 32:  # 32-bit keys: two radix passes (see _sort_u32)
            key = _sort_u32(key.astype(np.uint32))  # and counted in 32 bits, half the bytes
        else:
            key = np.sort(key)
        if len(key):
            first = np.flatnonzero(np.concatenate(([True], key[1:] != key[:-1])))
            counts = np.diff(np.append(first, len(key)))
            key = key[first].astype(np.int64)
        else:
            counts = key = key.astype(np.int64)
        # n_features is a power of two: a shift and a mask are the divmod, cheaper
        row = key >> (int(self.n_features).bit_length() - 1)
        col = key & (self.n_features - 1)
        vals = np.log1p(counts.astype(np.float32))
        sq = np.bincount(row, weights=vals.astype(np.float64) ** 2, minlength=n)
        vals /= np.sqrt(sq[row]).astype(np.float32)
        indptr = np.concatenate(([0], np.cumsum(np.bincount(row, minlength=n))))
        return sp.csr_matrix((vals, col.astype(np.int32), indptr), shape=(n, self.n_features))
