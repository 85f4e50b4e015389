"""Engine equivalence: re2, hyperscan and stdlib re give identical hits and decisions."""

from __future__ import annotations

import importlib.util
import random

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alignpt.tag.matchers import available_engines, make_matcher
from alignpt.tag.rules import load_rules
from alignpt.tag.tagger import RuleTagger

HAS_HS = importlib.util.find_spec("hyperscan") is not None
ENGINES = ["re2", "re"] + (["hyperscan"] if HAS_HS else [])


def _corpus() -> list[str]:
    from importlib import resources

    dev = resources.files("alignpt") / "data" / "tag" / "devset.jsonl"
    texts = [orjson.loads(line)["text"] for line in dev.read_bytes().splitlines()]
    rng = random.Random(7)
    words = ("AI ai A.I. A.I the AI's robot robots android language model Language\n  Model "
             "AI safety safety killer robot killed kill xAI XAI FAIR fair HAL HAL 9000 Skynet "
             "maize said deceive deceived déjà vu naïve AI-generated p(doom) doom the model "
             "neural net neural network existential risk x-risk rogue AI go rogue went rogue "
             "GPT-4 GPT-45 Claude 3.5 Claude 35 self-aware self aware").split(" ")
    for _ in range(300):
        texts.append(rng.choice([" ", "\n", ", "]).join(rng.choice(words)
                                                       for _ in range(rng.randint(1, 40))))
    return texts


@pytest.fixture(scope="module")
def taggers() -> dict[str, RuleTagger]:
    rules = load_rules()
    return {e: RuleTagger(rules, e) for e in ENGINES}


def test_auto_prefers_the_fastest_available():
    assert available_engines()[0] == ("hyperscan" if HAS_HS else "re2")
    assert make_matcher(load_rules(), "auto").engine == available_engines()[0]


def test_engines_agree_on_the_corpus(taggers):
    corpus = _corpus()
    flagged = 0
    for text in corpus:
        results = {e: t.tag(text) for e, t in taggers.items()}
        ref = results["re2"]
        for engine, res in results.items():
            assert res.hits == ref.hits, (engine, text[:80])
            assert res.fired == ref.fired and res.pairs == ref.pairs, (engine, text[:80])
        flagged += ref.flagged
    # the corpus exercises both outcomes, so agreement is not vacuous
    assert 100 < flagged < len(corpus)


def test_engines_agree_on_every_scan_group(taggers):
    data = " ".join(_corpus()[:80]).encode()
    scans = {e: [t.matcher.scan(data, g) for g in range(len(t.matcher.groups))]
             for e, t in taggers.items()}
    assert all(s == scans["re2"] for s in scans.values())
    assert sum(len(v) for v in scans["re2"][1].values()) > 30


_FRAGMENTS = st.sampled_from(["AI", "ai", "A.I.", "robot", "s", " ", "\n", "-", "safety",
                              "language", "model", "killed", "HAL", "9000", "é", "x", "'s",
                              "deceiv", "ed", "doom", "p(", ")", "GPT", "-4"])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_FRAGMENTS, min_size=1, max_size=30))
def test_engines_agree_on_random_fragment_soup(taggers, parts):
    text = "".join(parts)
    ref = taggers["re2"].tag(text)
    for t in taggers.values():
        res = t.tag(text)
        assert res.hits == ref.hits and res.fired == ref.fired


@pytest.mark.skipif(not HAS_HS, reason="hyperscan not installed")
def test_hyperscan_cache_round_trip_and_recovery(tmp_path, monkeypatch):
    monkeypatch.setenv("ALIGNPT_CACHE", str(tmp_path))
    from alignpt.tag.rules import parse_rules

    rules = parse_rules({"categories": {"a": {"terms": ["rogue AI", "AI"]}},
                         "rules": {"r": {"type": "any", "categories": ["a"]}}})
    fresh = make_matcher(rules, "hyperscan")
    cached = list((tmp_path / "hyperscan").glob("*.hsdb"))
    assert len(cached) == 1
    text = b"a rogue AI and an AI"
    assert make_matcher(rules, "hyperscan").scan(text, 0) == fresh.scan(text, 0) == {
        "a": [(2, 10), (8, 10), (18, 20)]}
    cached[0].write_bytes(b"garbage")
    assert make_matcher(rules, "hyperscan").scan(text, 0) == fresh.scan(text, 0)
