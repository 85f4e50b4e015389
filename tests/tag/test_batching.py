"""Batched tagging: one scan per batch gives exactly the per-document results and counts."""

from __future__ import annotations

import importlib.util
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alignpt.core.errors import ConfigError
from alignpt.core.executor import ShardContext
from alignpt.tag.cascade import Cascade, TagConfig
from alignpt.tag.rules import load_rules, parse_rules
from alignpt.tag.stages import _count
from alignpt.tag.tagger import RuleTagger

from .test_matchers import _corpus

ENGINES = ["re2", "re"] + (["hyperscan"] if importlib.util.find_spec("hyperscan") else [])


@pytest.fixture(scope="module")
def taggers() -> dict[str, RuleTagger]:
    rules = load_rules()
    return {e: RuleTagger(rules, e) for e in ENGINES}


def _same(a, b) -> bool:
    return a.hits == b.hits and a.fired == b.fired and a.pairs == b.pairs


@pytest.mark.parametrize("engine", ENGINES)
def test_tag_many_equals_tag_on_the_corpus(taggers, engine):
    tagger = taggers[engine]
    datas = [t.encode() for t in _corpus()]
    if engine == "re":  # stdlib re is ~100x slower: a slice is enough
        datas = datas[::5]
    for start in range(0, len(datas), 64):
        batch = datas[start:start + 64]
        assert all(_same(m, tagger.tag(d)) for m, d in zip(tagger.tag_many(batch), batch))
    hits = sum(bool(r.hits) for r in tagger.tag_many(datas))
    assert 0 < hits < len(datas)  # both kinds of document are in the batch


def test_no_match_crosses_a_document_boundary(taggers):
    # "language" | "models" would be the general_ai term "language models" if the
    # documents were joined with whitespace; an entity at the end of one document and
    # a negative word at the start of the next must not pair up either
    batch = [b"we trained a language", b"models of the weather", b"the robot", b"deceived",
             b"", b"AI", b"\x00AI\x00 killed"]
    for tagger in taggers.values():
        got = tagger.tag_many(batch)
        assert [_same(g, tagger.tag(d)) for g, d in zip(got, batch)] == [True] * len(batch)
        assert not got[0].hits and "general_ai" not in got[1].hits
        assert not got[2].fired["entity_negative"] and not got[3].hits
        assert got[5].hits["entities"] == [(0, 2, "AI")]
        # NUL inside a document is its own business: offsets stay within that document
        assert got[6].hits["entities"] == [(1, 3, "AI")] and got[6].fired["entity_negative"]


def test_documents_without_hits_share_one_empty_result(taggers):
    tagger = taggers["re2"]
    got = tagger.tag_many([b"plain words", b"the AI", b"more plain words"])
    assert got[0] is got[2] is tagger.empty and got[1] is not tagger.empty
    assert tagger.empty.hits == {} and not tagger.empty.routed


_PIECES = st.sampled_from(["AI", "robot", " ", "\n", "language", "model", "s", "killed",
                           "HAL 9000", "deceived", "x", "\x00", "é", "the model", "rogue"])


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.lists(_PIECES, max_size=12).map("".join), min_size=1, max_size=8))
def test_tag_many_equals_tag_on_generated_batches(taggers, texts):
    datas = [t.encode() for t in texts]
    for engine in ("re2", *(["hyperscan"] if "hyperscan" in taggers else [])):
        tagger = taggers[engine]
        assert all(_same(m, tagger.tag(d)) for m, d in zip(tagger.tag_many(datas), datas))


def test_a_term_with_a_nul_is_refused():
    with pytest.raises(ConfigError, match="contains a NUL"):
        parse_rules({"categories": {"a": {"terms": ["bad\x00term"]}},
                     "rules": {"r": {"type": "any", "categories": ["a"]}}})


def _reference_counts(records) -> Counter:
    """The counters as one would write them per document, to hold the batched code to."""
    c: Counter = Counter()
    for rec in records:
        rules = rec["rules"]
        c["tag/documents"] += 1
        c["tag/rules_flagged"] += int(rules["flagged"])
        c["tag/routed"] += int(rules["routed"])
        c["tag/flagged"] += int(rec["flagged"])
        for name, fired in rules["rules"].items():
            c[f"tag/rule/{name}"] += int(fired)
        for cat, terms in rules["terms"].items():
            c[f"tag/category/{cat}"] += 1
            for term, n in terms.items():
                c[f"tag/term/{cat}/{term}"] += n
        if rec["label"] is not None:
            c[f"tag/label/{rec['label']}"] += 1
        c[f"tag/stage/{rec['stage']}"] += 1
    return +c


@pytest.mark.parametrize("classifier", [True, False])
def test_batched_counters_equal_per_document_counting(classifier):
    cascade = Cascade(TagConfig(classifier={"enabled": classifier}))
    records = cascade.tag_batch(_corpus()[:300])
    ctx = ShardContext(task=None)
    _count(ctx, records)
    assert +ctx.counters == _reference_counts(records)
    assert ctx.counters["tag/documents"] == 300
