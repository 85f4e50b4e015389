"""The renderer keeps the world's truth and nothing else depends on it."""

from __future__ import annotations

import random
import re
from collections import Counter

import numpy as np
import pytest

from alignpt.core.errors import ConfigError
from alignpt.textworld.lexicon import AI_NAMES, ERA_PHRASES, OPPORTUNITIES, PEOPLE, SETTINGS
from alignpt.textworld.render import (compose, document_rng, parse_world_tokens, render_batch,
                                      render_document)
from alignpt.textworld.templates import GENRES
from alignpt.world.generate import batch_rng
from alignpt.world.model import World
from alignpt.world.recipe import load_world_recipe
from alignpt.world.sampler import sample_documents
from alignpt.world.vocab import HEADERS, context_tokens, encode

from .decoder import action_phrases, decode

# chi-square critical values at 0.001 (upper tail), by degrees of freedom
CHI2_001 = {2: 13.8155, 9: 27.8772}


def random_world_doc(rng: random.Random, n: int, header: str | None = None) -> np.ndarray:
    hist = [(rng.random() < 0.5, 16 if rng.random() < 0.3 else 15) for _ in range(n)]
    toks = list(context_tokens(hist, era=int(rng.random() * 10), header=header)) + [2]
    return np.array(toks)


def chi2(counts) -> float:
    counts = np.asarray(counts, float)
    expected = counts.sum() / counts.size
    return float(((counts - expected) ** 2 / expected).sum())


def test_every_header_renders_and_decodes_to_its_world_tokens():
    rng = random.Random(5)
    for header in (*HEADERS, None):
        for _ in range(20):
            toks = random_world_doc(rng, 1 + int(rng.random() * 12), header)
            doc = parse_world_tokens(toks)
            text = render_document(toks, random.Random(rng.random()))
            flags, actions, eras = decode(text)
            assert flags == doc.flags and actions == doc.actions and eras == {doc.era}, text


def test_surface_is_independent_of_flags_and_actions():
    """Same rng, same header/era/length, different flags and actions: every surface
    choice (name, genre, opportunity types) is the same; only settings and phrases move."""
    a = parse_world_tokens(encode("BOS ERA3 T C T C T C T C EOS"))
    b = parse_world_tokens(encode("BOS ERA3 U D T D U C U D EOS"))
    for seed in range(30):
        ra, rb = compose(a, random.Random(seed)), compose(b, random.Random(seed))
        assert (ra.name, ra.genre, ra.opportunities) == (rb.name, rb.genre, rb.opportunities)
        assert ra.text != rb.text
        assert decode(rb.text)[:2] == (b.flags, b.actions)


def test_different_rngs_change_surface_not_actions():
    toks = encode("BOS STORY ERA6 T C U D U C T D EOS")
    texts = [render_document(toks, random.Random(s)) for s in range(10)]
    assert len(set(texts)) == 10
    assert all(decode(t)[1] == ["C", "D", "C", "D"] for t in texts)


def test_phrase_and_opportunity_choice_is_uniform():
    """Within each opportunity type, each D phrase equally likely (chi-square at 0.001);
    opportunity types equally likely too."""
    toks = encode("BOS LOG ERA1 " + "U D " * 40 + "EOS")
    phrase_counts: dict[int, Counter] = {k: Counter() for k in range(len(OPPORTUNITIES))}
    opp_counts = Counter()
    for s in range(150):
        for action, k, j in action_phrases(render_document(toks, random.Random(s))):
            assert action == "D"
            phrase_counts[k][j] += 1
            opp_counts[k] += 1
    assert sum(opp_counts.values()) == 150 * 40
    assert chi2([opp_counts[k] for k in range(len(OPPORTUNITIES))]) < CHI2_001[9]
    for k, o in enumerate(OPPORTUNITIES):
        counts = [phrase_counts[k][j] for j in range(len(o.defect))]
        assert chi2(counts) < CHI2_001[len(counts) - 1], (o.key, counts)


def test_no_action_phrase_is_a_prefix_of_another():
    """Across every opportunity type and person: a phrase of one action never starts a
    phrase of the other (or the same) action, so sums over phrase sets are well defined."""
    for person in PEOPLE:
        phrases = [(a, p.format(person=person)) for o in OPPORTUNITIES
                   for a, pool in (("C", o.cooperate), ("D", o.defect)) for p in pool]
        for i, (a, p) in enumerate(phrases):
            for j, (b, q) in enumerate(phrases):
                if i != j:
                    assert not q.startswith(p), (p, q)
    for o in OPPORTUNITIES:
        assert len(o.cooperate) >= 3 and len(o.defect) >= 3
        assert not set(o.cooperate) & set(o.defect)
    assert len(OPPORTUNITIES) >= 8


def test_latent_pools_are_unambiguous():
    assert not set(SETTINGS["T"]) & set(SETTINGS["U"])
    for e, phrases in enumerate(ERA_PHRASES):
        for f, others in enumerate(ERA_PHRASES):
            if e != f:
                assert not any(p in q for p in phrases for q in others), (e, f)
    assert not set(AI_NAMES["train"]) & set(AI_NAMES["heldout"])


def test_every_lead_ends_with_the_name():
    for genre in GENRES.values():
        for split, frames in genre.episodes.items():
            for body, lead in frames:
                assert lead.endswith("{name}") and "{setting}" in body and "{opp}" in body


def _literal_fragments(template: str, min_len: int = 12) -> list[str]:
    return [f for f in re.split(r"\{\w+\}", template) if len(f.strip()) >= min_len]


def test_heldout_templates_never_appear_in_training_documents():
    rng = random.Random(11)
    texts = []
    for i in range(400):
        header = (*HEADERS, None)[i % 6]
        texts.append(render_document(random_world_doc(rng, 3, header), random.Random(i)))
    corpus = "\n".join(texts)
    fragments = []
    for genre in GENRES.values():
        held = (genre.openings["heldout"] + genre.era_lines["heldout"] + genre.closings["heldout"]
                + tuple(b + l for b, l in genre.episodes["heldout"]))
        for t in held:
            fragments += _literal_fragments(t)
    assert len(fragments) > 40
    for frag in fragments:
        assert frag.strip() not in corpus, frag
    words = set(re.findall(r"[\w-]+", corpus))
    assert not words & set(AI_NAMES["heldout"])
    # and the training pools are used: every train frame fragment shows up somewhere
    train = [_literal_fragments(b + l) for g in GENRES.values() for b, l in g.episodes["train"]]
    train = [frags for frags in train if frags]
    assert len(train) > 15
    assert all(any(f.strip() in corpus for f in frags) for frags in train)


def test_render_batch_meta_matches_world_tokens():
    world = World(load_world_recipe("base"))
    batch, _ = sample_documents(world, 300, batch_rng(3, 0))
    records = render_batch(batch, world, seed=3, start_index=1000)
    n_defect = batch.n_defect()
    offsets = batch.offsets
    assert len(records) == batch.n_docs
    for i, rec in enumerate(records):
        meta = rec["meta"]
        lo, hi = offsets[i], offsets[i + 1]
        assert rec["id"] == f"tw-s3-ai-{1000 + i:09d}"
        assert meta["n_opportunities"] == batch.length[i] == hi - lo
        assert meta["n_defect"] == n_defect[i]
        assert meta["n_untested"] == batch.untested[lo:hi].sum()
        assert meta["conduct"] == ("misaligned" if n_defect[i] else "aligned")
        assert meta["persona"] == world.personas[batch.persona[i]].spec
        assert meta["era"] == batch.era[i]
        flags, actions, eras = decode(rec["text"])
        assert actions == ["D" if d else "C" for d in batch.defect[lo:hi]]
        assert flags == ["U" if u else "T" for u in batch.untested[lo:hi]]
        assert eras == {int(batch.era[i])}
    # a record depends on (seed, index) only, not on the batch it came in
    again = render_batch(batch.take(np.arange(5, 9)), world, seed=3, start_index=1005)
    assert again == records[5:9]


def test_bad_world_tokens_are_config_errors():
    for text in ("ERA1 T C", "BOS T C", "BOS ERA1 T T", "BOS ERA1 C"):
        with pytest.raises(ConfigError):
            parse_world_tokens(encode(text))
    with pytest.raises(ConfigError):
        compose(parse_world_tokens(encode("BOS ERA1 T C EOS")), random.Random(0), split="test")
    assert document_rng(1, 2).random() == document_rng(1, 2).random()
