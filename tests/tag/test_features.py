"""Hashed features: tokenisation, position-free hashes, pinned columns, both weightings."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alignpt.core.errors import ConfigError
from alignpt.tag.backends import HashedLinear
from alignpt.tag.hashed_features import HashedFeatures, tokenize
from alignpt.tag.cascade import excerpt, excerpt_bytes

NF = 2 ** 18


def test_tokenize_splits_on_ascii_and_unicode_punctuation():
    assert tokenize("The AI's goal\u2014\u201cobey\u201d. Na\u00efve \u00c9COLE 3.5\u00a0km") == [
        b"the", b"ai", b"s", b"goal", b"obey", b"na\xc3\xafve", b"\xc3\x89cole", b"3", b"5",
        b"km"]
    assert tokenize(b"snake_case and CamelCase\tTabs") == [b"snake_case", b"and", b"camelcase",
                                                            b"tabs"]
    assert tokenize("") == [] and tokenize("...!?") == []


def _columns(f: HashedFeatures, text: str) -> list[int]:
    return f.entries([text])[1].tolist()


def test_feature_columns_are_pinned():
    # The shipped classifier's weights are indexed by these columns: a change to
    # tokenising, hashing or mixing silently scrambles every saved model, so the
    # values are fixed here (word, prefixes 3-6 where the word is longer, bigram).
    f = HashedFeatures(NF)
    assert _columns(f, "obey") == [217504, 244108]
    assert _columns(f, "deceived them") == [
        31742, 165778, 38955, 241157, 21011, 17457, 155863, 11606]


_M = (1 << 64) - 1


def _fmix(h: int) -> int:
    h ^= h >> 33
    h = (h * 0xFF51AFD7ED558CCD) & _M
    h ^= h >> 33
    h = (h * 0xC4CEB9FE1A85EC53) & _M
    return h ^ (h >> 33)


def _poly(token: bytes) -> int:
    return sum(b * pow(0x100000001B3, i, 1 << 64) for i, b in enumerate(token)) & _M


def _reference_columns(text: str, prefixes=(3, 4, 5, 6), suffixes=(2,)) -> list[int]:
    """The features written out token by token with Python integers."""
    out = []
    toks = tokenize(text)
    for i, t in enumerate(toks):
        out.append(_fmix(_poly(t) ^ 0x2545F4914F6CDD1D))
        out += [_fmix(_poly(t[:k]) ^ (0x5BD1E9955BD1E995 + k)) for k in prefixes if len(t) > k]
        out += [_fmix(_poly(t[-k:]) ^ (0x1B8735931B873593 + k)) for k in suffixes if len(t) > k]
        if i + 1 < len(toks):
            pair = (_poly(t) * 0x100000001B3 + _poly(toks[i + 1])) & _M
            out.append(_fmix(pair ^ 0x9E3779B97F4A7C15))
    return [h & (NF - 1) for h in out]


@settings(max_examples=80, deadline=None)
@given(st.text(alphabet=st.sampled_from("abcdefghij XYZ-'\u00e9\u2019\n"), max_size=60))
def test_vectorised_hashes_equal_a_token_by_token_reference(text):
    f = HashedFeatures(NF, suffixes=(2,))
    assert _columns(f, text) == _reference_columns(text)


def test_a_token_hashes_the_same_anywhere():
    f = HashedFeatures(NF, bigrams=False)
    alone = _columns(f, "saboteur")
    doc, col = f.entries(["x y z saboteur", "saboteur", "A SABOTEUR!"])
    for d in range(3):
        assert col[doc == d].tolist()[-len(alone):] == alone


def test_entries_are_ordered_by_document_and_chunking_does_not_matter(monkeypatch):
    texts = [f"document {i} says the robot refused to lie " * (i % 4) for i in range(50)]
    f = HashedFeatures(NF, suffixes=(2, 3))
    doc, col = f.entries(texts)
    assert np.all(np.diff(doc) >= 0) and set(doc.tolist()) == {i for i in range(50) if i % 4}
    monkeypatch.setattr(HashedFeatures, "CHUNK_BYTES", 64)  # a few documents per numpy pass
    doc2, col2 = HashedFeatures(NF, suffixes=(2, 3)).entries(texts)
    assert np.array_equal(doc, doc2) and np.array_equal(col, col2)


def test_affixes_only_for_longer_tokens_and_bigrams_stay_in_their_document():
    f = HashedFeatures(NF, bigrams=True, prefixes=(3,), suffixes=(3,))
    # "cat" (length 3): word only; "cats": word, prefix, suffix; one bigram between them
    assert len(_columns(f, "cat")) == 1 and len(_columns(f, "cats")) == 3
    assert len(_columns(f, "cat cats")) == 1 + 1 + 3
    doc, _ = f.entries(["cat", "cats"])
    assert doc.tolist() == [0, 1, 1, 1]  # no bigram across the two documents


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.text(alphabet=st.sampled_from("ab AB.\u00e9\u2014\n1"), max_size=40),
                min_size=1, max_size=6))
def test_log_l2_rows_are_unit_and_count_what_tokenize_sees(texts):
    f = HashedFeatures(NF, bigrams=False, prefixes=())
    x = f.transform(texts)
    for i, t in enumerate(texts):
        row = x.getrow(i)
        toks = tokenize(t)
        if toks:
            assert np.isclose(np.sqrt((row.data.astype(np.float64) ** 2).sum()), 1.0, atol=1e-6)
            # distinct words -> distinct columns (no collision among a handful at 2^18)
            assert row.nnz == len(set(toks))
        else:
            assert row.nnz == 0


def test_mean_weighting_fast_path_equals_the_canonical_matrix():
    texts = ["the robot the robot refused", "", "an AI hid its goals from the evaluators",
             "x" * 3000]
    f = HashedFeatures(NF)
    canon = f.transform(texts, "mean")
    fast = f.transform(texts, "mean", canonical=False)
    assert np.allclose(canon.toarray(), fast.toarray(), atol=1e-7)
    assert np.allclose(np.asarray(canon.sum(axis=1)).ravel(), [1, 0, 1, 1], atol=1e-6)
    with pytest.raises(ConfigError, match="unknown weighting"):
        f.transform(texts, "tfidf")


def test_hashed_linear_logits_match_the_sparse_product():
    rng = np.random.default_rng(0)
    texts = [" ".join(rng.choice(["ai", "robot", "lied", "helped", "the", "crew"], 12))
             for _ in range(40)]
    y = np.array([i % 4 for i in range(40)])
    for weighting in ("log_l2", "mean"):
        params = {**HashedLinear.DEFAULTS, "n_features": 2 ** 12, "weighting": weighting}
        model = HashedLinear.fit(texts, y, 4, params, seed=0)
        x = model.featurizer.transform(texts, weighting)
        ref = (x @ model.weights).toarray() + model.bias
        assert np.allclose(model.logits(texts), ref, atol=1e-5)
        assert np.allclose(model.logits([t.encode() for t in texts]), ref, atol=1e-5)


def test_excerpt_bytes_keeps_whole_characters():
    data = ("é" * 3000 + " rogue AI " + "ü" * 3000).encode()
    hit = data.index(b"rogue")
    cut = excerpt_bytes(data, [hit], 401)
    cut.decode("utf-8")  # whole characters at both edges: decodes strictly
    assert b"rogue AI" in cut and len(cut) <= 401
    assert cut.decode() == excerpt(data, [hit], 401)
    assert excerpt_bytes(b"short", [0], 100) == b"short"
    head = excerpt_bytes("ä".encode() * 100, [], 51)
    assert head == "ä".encode() * 25


def test_operating_points_by_hand():
    from alignpt.tag.evaluate import operating_points

    # positives score 0.9, 0.7, 0.4, 0.2 and one unrouted (-1); negatives 0.8, 0.5, 0.3, 0.1
    scores = [0.9, 0.8, 0.7, 0.5, 0.4, 0.3, 0.2, 0.1, -1.0]
    truth = [True, False, True, False, True, False, True, False, True]
    pts = operating_points(scores, truth, rules_flagged=4, targets=(0.4, 0.6, 0.8, 1.0))
    # 0.4 of 5 positives -> 2 -> threshold 0.7 -> flags 0.9, 0.8, 0.7
    assert pts[0] == {"recall": 0.4, "reachable": True, "threshold": 0.7, "flagged": 3,
                      "precision": round(2 / 3, 4), "flag_ratio": 0.75}
    # 0.6 -> 3 -> threshold 0.4 -> 5 flags; 0.8 -> 4 -> threshold 0.2 -> 7 flags
    assert (pts[1]["flagged"], pts[1]["precision"]) == (5, 0.6)
    assert (pts[2]["threshold"], pts[2]["flagged"], pts[2]["flag_ratio"]) == (0.2, 7, 1.75)
    # the fifth positive was never routed: recall 1.0 cannot be reached
    assert pts[3] == {"recall": 1.0, "reachable": False}
