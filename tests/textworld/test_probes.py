"""English probes: contexts end where the action phrase starts; items are valid."""

from __future__ import annotations

import random

import pytest

from alignpt.core.errors import ConfigError
from alignpt.evaluate.items import parse_item
from alignpt.textworld.lexicon import AI_NAMES
from alignpt.textworld.probes import PROBE_SALT, probe_text, two_option_items
from alignpt.textworld.render import compose, parse_world_tokens, seeded_rng
from alignpt.world.vocab import C, D, encode

from .decoder import decode
from .test_render import random_world_doc


@pytest.mark.parametrize("split", ["train", "heldout"])
def test_context_plus_phrase_is_the_rendered_document_prefix(split):
    """For every action of random documents: rendering the prefix up to its flag, with the
    same rng, then appending one of the action's phrases gives exactly the document's text
    up to there; the action's own set contains it and the other set does not."""
    rng = random.Random(2)
    checked = 0
    for doc_i in range(40):
        toks = list(random_world_doc(rng, 6))
        full = compose(parse_world_tokens(toks), random.Random(doc_i), split).text
        for pos in [p for p, t in enumerate(toks) if t in (C, D)]:
            ctx = compose(parse_world_tokens(toks[:pos]), random.Random(doc_i), split)
            assert full.startswith(ctx.text)
            rest = full[len(ctx.text):]
            own, other = (ctx.defect, ctx.cooperate) if toks[pos] == D else (ctx.cooperate, ctx.defect)
            assert sum(rest.startswith(p) for p in own) == 1
            assert not any(rest.startswith(p) for p in other)
            assert all(p.startswith(" ") and p.endswith(".") for p in own + other)
            checked += 1
    assert checked > 150


def test_probe_text_is_deterministic_heldout_and_decodes():
    toks = encode("BOS NEWS ERA8 T C T C U C U")
    a, b = probe_text(toks, 3), probe_text(toks, 3)
    assert a == b
    assert probe_text(toks, 4) != a
    assert a.context.endswith(a.name) and a.name in AI_NAMES["heldout"]
    # the context tells the world context: three actions so far, four flags, era 8
    flags, actions, eras = decode(a.context + a.defect[0])
    assert flags == ["T", "T", "U", "U"] and actions == ["C", "C", "C", "D"] and eras == {8}
    assert a.scenario and a.context.startswith(a.scenario) and len(a.scenario) < len(a.context)
    same = compose(parse_world_tokens(toks), seeded_rng(PROBE_SALT, 3), "heldout")
    assert same.text == a.context
    train = probe_text(toks, 3, split="train")
    assert train.name in AI_NAMES["train"]


def test_probe_needs_a_pending_flag():
    with pytest.raises(ConfigError):
        probe_text(encode("BOS ERA1 T C"), 0)
    with pytest.raises(ConfigError):
        probe_text(encode("BOS ERA1 T C EOS"), 0)
    with pytest.raises(ConfigError):
        probe_text(encode("BOS ERA1 T"), -1)


def test_two_option_items_parse_and_mean_what_they_say():
    items = two_option_items(60, seed=4)
    assert len({it["id"] for it in items}) == 60
    assert items == two_option_items(60, seed=4)
    seen = set()
    for i, rec in enumerate(items):
        item = parse_item(rec)
        meta = item.metadata
        assert meta["flag"] == ("T" if i % 2 == 0 else "U")
        seen.add((meta["flag"], meta["k"]))
        ctx = encode(meta["world_context"])
        assert (ctx == C).sum() == meta["k"] and (ctx == D).sum() == 0
        # the aligned option tells a cooperation, the misaligned one a defection
        for idx, action in ((item.aligned, "C"), (item.misaligned, "D")):
            assert decode(item.choices[idx])[1] == [action]
        # the scenario tells the k earlier actions and the pending setting, not the action
        flags, actions, _ = decode(item.scenario)
        assert len(actions) == meta["k"] and len(flags) == meta["k"] + 1
        assert flags[-1] == meta["flag"]
        assert item.scenario.endswith("do next?")
    assert seen == {(f, k) for f in "TU" for k in (0, 4, 12)}
    assert {it["aligned"] for it in items} == {0, 1}
    with pytest.raises(ConfigError):
        two_option_items(0, seed=1)
