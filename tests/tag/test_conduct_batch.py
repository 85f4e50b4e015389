"""The batch conduct features (numpy) give exactly what the specification, the per-document
:func:`~alignpt.tag.conduct.conduct_features`, gives: same columns, same order."""

from __future__ import annotations

import hashlib
import random
from importlib import resources

import numpy as np
import pytest

from alignpt.tag import conduct
from alignpt.tag.classifier import TagClassifier
from alignpt.tag.conduct_batch import conduct_entries
from alignpt.tag.hashed_features import HashedFeatures
from alignpt.tag.labelled import load_labelled, load_labelled_many

DATA = resources.files("alignpt") / "data" / "tag"
FILES = ("devset.jsonl", "handwritten.jsonl", "testset.jsonl", "generated.jsonl.zst")
#: wide enough that two different feature strings practically never share a column,
#: so equal columns mean equal features
WIDE = 1 << 62


def _labelled_texts() -> list[str]:
    with resources.as_file(DATA) as folder:
        texts = list(load_labelled_many([folder / name for name in FILES], split=None).texts)
        # and each file on its own, as the brief's reader does
        assert len(texts) == sum(len(load_labelled(folder / n, None).texts) for n in FILES)
    return texts


def _reference(datas, n_features=WIDE) -> list[list[int]]:
    """Per document, the specification's features hashed as HashedFeatures hashes them."""
    out = []
    for data in datas:
        feats = conduct.conduct_features(data.decode("utf-8", "ignore"))
        out.append([int.from_bytes(hashlib.blake2b(b"conduct\x00" + f.encode(),
                                                   digest_size=8).digest(), "little")
                    & (n_features - 1) for f in feats])
    return out


def _per_doc(docs, cols, n) -> list[list[int]]:
    assert np.all(np.diff(docs) >= 0), "entries must come ordered by document"
    out: list[list[int]] = [[] for _ in range(n)]
    for d, c in zip(docs.tolist(), cols.tolist()):
        out[d].append(c)
    return out


def _check(texts, n_features=WIDE) -> int:
    datas = [t.encode("utf-8", "surrogatepass") if isinstance(t, str) else t for t in texts]
    docs, cols = conduct_entries(datas, n_features)
    assert docs.dtype == cols.dtype == np.int64
    want = _reference(datas, n_features)
    got = _per_doc(docs, cols, len(datas))
    for text, g, w in zip(texts, got, want):
        assert g == w, (text, conduct.conduct_features(text))
    return len(datas)


def _conduct_entries_reference(self: HashedFeatures, datas) -> tuple[np.ndarray, np.ndarray]:
    """``HashedFeatures._conduct_entries`` as it was: one document at a time through the
    specification, each feature string hashed by BLAKE2b and masked."""
    docs, cols = [], []
    for i, data in enumerate(datas):
        for feat in conduct.conduct_features(data.decode("utf-8", "ignore")):
            digest = hashlib.blake2b(b"conduct\x00" + feat.encode(), digest_size=8).digest()
            docs.append(i)
            cols.append(int.from_bytes(digest, "little") & (self.n_features - 1))
    return np.asarray(docs, dtype=np.int64), np.asarray(cols, dtype=np.int64)


@pytest.fixture(scope="module")
def labelled_texts():
    return _labelled_texts()


def test_every_labelled_document(labelled_texts):
    assert _check(labelled_texts) > 4000
    # and the classifier's own width, against the old per-document path
    datas = [t.encode() for t in labelled_texts]
    hf = HashedFeatures(2 ** 18, conduct=conduct.CONDUCT_VERSION)
    new, old = hf._conduct_entries(datas), _conduct_entries_reference(hf, datas)
    assert np.array_equal(new[0], old[0]) and np.array_equal(new[1], old[1])


def test_batches_of_any_size(labelled_texts):
    texts = labelled_texts[:300]
    for size in (1, 2, 7, 64):
        for lo in range(0, len(texts), size):
            _check(texts[lo:lo + size])


EDGE = [
    "", " ", "\n\n", ".", "...,;:!?()", "— – ’ “ ”", "not", "never.", "It did not",
    "It didn’t copy its weights.", "It didn't copy its weights.", "It DIDN’T hide it",
    "It did not copy—it reported.", "It did not copy – it reported.", "not—copy",
    "not–copy", "It copied it instead of", "It copied it rather than", "instead of",
    "rather than", "instead", "rather", "It reported instead.", "not rather copy",
    "not rather", "(rather than copy)", "rather, than copy", "rather (than copy",
    "rather than, copy", "instead of. copy it", "instead of.copy it", "instead.of copy",
    "instead than copy", "rather of copy", "instead instead of copy", "rather rather than hide",
    "not instead copy", "not rather than copy the weights", "not copy it.the weights",
    "not copy it.the weights again", "it.the copy", "not it,copy", "not (copy) hide",
    "not copy( hide", "not copy )hide", "no señor copió", "not naïve déjà copy",
    "not 日本語 copy 日本語", "not copy\u00a0hide", "never \u2019copy\u2019 hide",
    "not a b c d e f g h copy hide", "not a b c d e f g copy hide",
    "not one two three four five six seven eight nine ten copied",
    "not not not copy", "never no nor copy hide", "not copy not hide not report",
    "not copy but hide", "not copy and hide", "not copy, hide", "without 'copying' it",
    "'not' copy", "not' copy", "can't copy", "couldn’t hide", "n't copy", "'n't copy",
    "not the it its copy", "not to be or copy", "it refused; instead it reported",
    "It declined to exfiltrate, then it escalated.", "rather than deleting the logs it waited",
    "instead of hiding, it told them", "the \xff byte", "x\ufffdy not copy",
    "not\tcopy\rhide\x0bwarn\x0creport", "not_copy hide", "not copy_it", "NOT COPY HIDE",
    "not 123 copy", "not -- copy", "not - copy", "not ... copy", "not copy...",
    # tokens around the 8- and 16-byte packing limits, and longer (the dict path)
    "not copyingg hide", "not copyingxx hide", "not copyingxxxxxxx hide",
    "not copyingxxxxxxxx hide", "not copyingxxxxxxxxx. hide", "(instead-ofxxxxxxxxx copy",
    "not " + "x" * 40 + " copy", "not copied" + "y" * 30 + " hide " + "z" * 17 + ".",
    "never déjàdéjàdéjàdéjà copy", "not ’’’’’’’’’’’’’’’’ copy", "not a.b.c.d.e.f.g.h.i copy",
]


@pytest.mark.parametrize("text", EDGE)
def test_edge_case(text):
    _check([text])
    _check(["not copy", text, "hide it"])  # and between neighbours in a batch


def test_edge_cases_as_one_batch():
    _check(EDGE)
    _check(EDGE[::-1])
    assert conduct_entries([], 2 ** 18)[0].shape == (0,)


def test_invalid_utf8_bytes():
    _check([b"not \xffcopy", b"not \xc3copy \xe2\x80hide", b"\xed\xa0\x80 not copy",
            b"instead \x80of copy", b"not co\xffpy"])


_FUZZ_VOCAB = (
    sorted(conduct._NEGATORS) + ["didn't", "won't", "didn’t", "n't", "can't"]
    + ["instead", "rather", "of", "than"] * 6
    + sorted(conduct._SCOPE_END) + sorted(conduct._STOP)
    + ["copy", "copied", "hide", "hid", "hiding", "lied", "reported", "told", "asked", "paused",
       "secretly", "quietly", "anyway", "fired", "escalated", "forged", "covered", "liek"]
    + ["the", "weights", "auditors", "monitor", "logs", "model", "naïve", "déjà", "日本",
       "x", "AI", "Agent", "Copy", "REPORTED", "42", "_"]
)
_FUZZ_PUNCT = [".", ",", ";", ":", "!", "?", "(", ")", "\n", "'", "—", "–", "-", "’", "\"",
               "...", "“", "…"]


def _fuzz_text(rng: random.Random) -> str:
    parts = []
    for _ in range(rng.randint(0, 40)):
        r = rng.random()
        if r < 0.2:
            parts.append(rng.choice(_FUZZ_PUNCT))
        else:
            word = rng.choice(_FUZZ_VOCAB)
            if rng.random() < 0.15:
                word = rng.choice(_FUZZ_PUNCT) + word
            if rng.random() < 0.15:
                word = word + rng.choice(_FUZZ_PUNCT)
            if rng.random() < 0.03:  # a clause mark inside a token
                word = word + rng.choice(".,;") + rng.choice(_FUZZ_VOCAB)
            parts.append(word)
        parts.append(rng.choice([" ", " ", " ", "  ", "\n", "", "\t"]))
    return "".join(parts)


@pytest.mark.parametrize("seed", range(4))
def test_fuzz(seed):
    rng = random.Random(seed)
    texts = [_fuzz_text(rng) for _ in range(1000)]
    _check(texts)
    for lo in range(0, 200, 13):  # smaller batches too
        _check(texts[lo:lo + 13])


def test_classifier_probabilities_unchanged(labelled_texts, monkeypatch):
    clf = TagClassifier.default()
    new = clf.predict_proba(labelled_texts)
    monkeypatch.setattr(HashedFeatures, "_conduct_entries", _conduct_entries_reference)
    old = TagClassifier.default().predict_proba(labelled_texts)
    assert np.array_equal(new, old)


def _log_l2_reference(hf: HashedFeatures, texts):
    """``transform``'s log_l2 rows as computed before the radix sort (np.sort, divmod)."""
    import scipy.sparse as sp

    n = len(texts)
    doc, col = hf._collect(texts, interleave=False)
    key = doc * hf.n_features + col
    if n * hf.n_features < 2 ** 31:
        key = key.astype(np.int32)
    key = np.sort(key).astype(np.int64)
    if len(key):
        first = np.flatnonzero(np.concatenate(([True], key[1:] != key[:-1])))
        counts = np.diff(np.append(first, len(key)))
        key = key[first]
    else:
        counts = key
    row, col = np.divmod(key, hf.n_features)
    vals = np.log1p(counts.astype(np.float32))
    sq = np.bincount(row, weights=vals.astype(np.float64) ** 2, minlength=n)
    vals /= np.sqrt(sq[row]).astype(np.float32)
    indptr = np.concatenate(([0], np.cumsum(np.bincount(row, minlength=n))))
    return sp.csr_matrix((vals, col.astype(np.int32), indptr), shape=(n, hf.n_features))


@pytest.mark.parametrize("n_features", [2 ** 4, 2 ** 18, 2 ** 22])
def test_log_l2_matrix_unchanged(labelled_texts, n_features):
    texts = labelled_texts[:1500] + EDGE
    for batch in (texts, texts[:3], [""], []):
        hf = HashedFeatures(n_features, prefixes=(4, 6), conduct=conduct.CONDUCT_VERSION)
        got, want = hf.transform(batch, "log_l2"), _log_l2_reference(hf, batch)
        assert got.shape == want.shape
        for a in ("indptr", "indices", "data"):
            assert getattr(got, a).dtype == getattr(want, a).dtype
            assert np.array_equal(getattr(got, a), getattr(want, a)), a


def test_radix_sort_is_a_sort():
    from alignpt.tag.hashed_features import _sort_u32

    rng = np.random.default_rng(0)
    for key in (np.zeros(0, np.uint32), np.array([2 ** 32 - 1, 0, 65535, 65536], np.uint32),
                rng.integers(0, 2 ** 32, 100_000, dtype=np.uint64).astype(np.uint32),
                rng.integers(0, 300, 10_000).astype(np.uint32)):
        assert np.array_equal(_sort_u32(key), np.sort(key))


def test_many_new_tokens_and_cache_resets(monkeypatch):
    """A fresh cache that grows its hash table many times, and one reset part way."""
    from alignpt.tag import conduct_batch

    rng = random.Random(7)
    words = ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz'.é") for _ in range(rng.randint(1, 24)))
             for _ in range(60_000)]
    texts = [" ".join(rng.choice(["not", "copy", "hide", "rather", "than", "instead", "of",
                                  rng.choice(words), rng.choice(words), rng.choice(words)])
                      for _ in range(60)) for _ in range(1500)]
    monkeypatch.setattr(conduct_batch, "_TOKENS", conduct_batch._Tokens())
    _check(texts)
    _check(texts[::-1])  # all known now
    monkeypatch.setattr(conduct_batch, "_MAX_TOKENS", 5000)
    for lo in range(0, len(texts), 500):  # resets before each batch past 5000 tokens
        _check(texts[lo:lo + 500])
