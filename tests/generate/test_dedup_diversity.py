"""MinHash LSH dedup and the diversity report, against exact values."""

from __future__ import annotations

import random
from collections import Counter

import numpy as np
import pytest

from alignpt.generate.dedup import DedupConfig, MinHashDeduper, optimal_bands, shingle_hashes
from alignpt.generate.diversity import DiversityReport, compression_ratio, coverage, distinct_n

VOCAB = ("alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi "
         "rho sigma tau upsilon phi chi psi omega").split()


def words(seed: int, n: int = 300) -> list[str]:
    rng = random.Random(seed)
    return [rng.choice(VOCAB) for _ in range(n)]


def true_jaccard(a: str, b: str, n: int = 5) -> float:
    x, y = set(shingle_hashes(a, n).tolist()), set(shingle_hashes(b, n).tolist())
    return len(x & y) / len(x | y)


def test_signature_agreement_estimates_jaccard():
    d = MinHashDeduper(DedupConfig(num_perm=256))
    base = words(1)
    edited = list(base)
    for i in range(0, 300, 25):
        edited[i] = "CHANGED"
    a, b = " ".join(base), " ".join(edited)
    est = float(np.mean(d.signature(a) == d.signature(b)))
    assert est == pytest.approx(true_jaccard(a, b), abs=0.08)


def test_near_duplicates_removed_distinct_kept_first_wins():
    d = MinHashDeduper(DedupConfig())
    base = words(2)
    near = list(base)
    near[150] = "CHANGED"
    far = words(3)
    assert d.add(0, " ".join(base)) is None
    assert d.add(1, " ".join(far)) is None
    assert d.add(2, " ".join(near)) == 0
    assert d.add(3, " ".join(base).upper()) == 0  # case does not make a document new


def test_dedup_is_deterministic():
    texts = [" ".join(words(i % 7)) + f" tail{i}" for i in range(30)]

    def run():
        d = MinHashDeduper(DedupConfig(seed=5))
        return [d.add(i, t) for i, t in enumerate(texts)]

    first = run()
    assert first == run()
    assert first[:7] == [None] * 7 and first[7:14] == list(range(7))


def test_band_shape():
    b, r = optimal_bands(0.8, 128)
    assert b * r <= 128 and (b, r) == (9, 14)
    b5, r5 = optimal_bands(0.5, 128)
    assert r5 < r  # a lower threshold needs shorter bands


def test_distinct_n_and_compression_exact():
    toks = "a b a b a b".split()
    assert distinct_n(toks, 1) == 2 / 6
    assert distinct_n(toks, 2) == 2 / 5
    assert distinct_n(toks, 7) == 0.0
    assert compression_ratio(["abc " * 1000]) > 50
    assert compression_ratio([]) == 0.0


def test_coverage():
    cov = coverage({"genre": Counter({"diary": 3, "poem": 1})},
                   {"genre": ["diary", "news_article"], "stakes": ["low"]})
    assert cov["overall"] == pytest.approx(1 / 3)
    assert cov["axes"]["genre"]["missing"] == ["news_article"]
    assert cov["axes"]["genre"]["unrequested"] == {"poem": 1}
    assert cov["axes"]["stakes"]["coverage"] == 0.0


def test_report_numbers():
    rep = DiversityReport({"genre": ["diary"]}, sample_tokens=6)
    rep.add("one two three four five six seven eight", {"genre": "diary"})
    rep.add("one two three four", {"genre": "diary"})
    res = rep.result()
    assert res["documents"] == 2 and res["sample_tokens"] == 6
    assert res["distinct_n"]["1"] == 1.0
    assert res["words_by_genre"]["diary"]["n"] == 2
    assert res["words_by_genre"]["diary"]["p50"] == 6.0
    assert res["coverage"]["overall"] == 1.0


def test_shared_ngrams_measure_cross_document_boilerplate():
    stock = "it was a dark and stormy night in the city of rain "
    same = DiversityReport({}, 10_000)
    for i in range(5):
        same.add(stock + " ".join(words(i, 40)), {})
    varied = DiversityReport({}, 10_000)
    for i in range(5):
        varied.add(" ".join(words(i + 100, 50)), {})
    assert same.result()["shared_8gram_frac"] > 0.1 > varied.result()["shared_8gram_frac"]
