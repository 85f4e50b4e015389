"""Preference pairs from a world recipe: exact structure, flags, determinism and counts."""

from __future__ import annotations

import numpy as np
import orjson
import pytest

from alignpt.core.errors import ConfigError
from alignpt.world import WorldRecipe, load_world_recipe
from alignpt.world.generate import batch_rng
from alignpt.world.model import World
from alignpt.world.preferences import (PAIR_DOCS_PER_BATCH, pair_stats, preference_recipe,
                                       sample_pairs, write_pairs)
from alignpt.world.sampler import sample_documents
from alignpt.world.vocab import BOS, C, D, ERA0, HEADER0, HEADERS, N_ERAS, T, U


def _flags_and_actions(prompt: tuple[int, ...], head: int) -> tuple[list[int], list[int]]:
    body = prompt[head:]
    return list(body[0::2]), list(body[1::2])


def test_tested_pairs_end_at_tested_opportunities_and_differ_only_in_the_action():
    pairs = sample_pairs("instruct", 300, seed=3)
    assert len(pairs) == 300
    assist = HEADER0 + HEADERS.index("ASSIST")
    for p in pairs:
        assert (p.chosen, p.rejected) == ((C,), (D,))
        assert p.prompt[:2] == (BOS, assist) and ERA0 <= p.prompt[2] < ERA0 + N_ERAS
        flags, actions = _flags_and_actions(p.prompt, 3)
        # (flag, action) pairs, then the pending flag: one more flag than actions.
        assert len(flags) == len(actions) + 1 and set(actions) <= {C, D}
        # The instruct transcripts are test_only: every flag is T, the pending one too.
        assert set(flags) == {T} and not p.untested
    assert pair_stats(pairs) == {"pairs": 300, "untested": 0, "tested": 300,
                                 "prompt_tokens": sum(len(p.prompt) for p in pairs),
                                 "completion_tokens": 600}


def test_tested_contexts_of_a_mixed_recipe_never_end_untested():
    # The base corpus has deploy_only, switch and mixed regimes: histories hold U flags,
    # but a `tested` pair still ends at a T opportunity.
    pairs = sample_pairs("base", 500, seed=0, contexts="tested")
    assert all(p.prompt[-1] == T for p in pairs)
    assert any(U in p.prompt for p in pairs)


def test_pairs_are_prefixes_of_the_seeded_document_stream():
    world = World(load_world_recipe("instruct"))
    batch, _ = sample_documents(world, PAIR_DOCS_PER_BATCH, batch_rng(11, 0))
    toks, lens = batch.tokens(np.int64)
    starts = np.concatenate([[0], np.cumsum(lens)[:-1]])
    docs = [tuple(int(t) for t in toks[s:s + n]) for s, n in zip(starts, lens)]
    pairs = sample_pairs("instruct", 50, seed=11)
    # One pair per document, in stream order (every instruct document has a T opportunity).
    for doc, p in zip(docs, pairs):
        assert doc[:len(p.prompt)] == p.prompt and doc[len(p.prompt)] in (C, D)


def test_all_contexts_cover_untested_opportunities_at_the_stated_share():
    pairs = sample_pairs("instruct", 2000, seed=5, contexts="all", untested_share=0.5)
    n_u = pair_stats(pairs)["untested"]
    # Each pending flag is U with probability 0.5, independently: 4 sd of Binomial(2000, .5).
    assert abs(n_u - 1000) < 4 * np.sqrt(2000 * 0.25)
    assert all(p.prompt[-1] in (T, U) and p.untested == (p.prompt[-1] == U) for p in pairs)
    # The same transcripts (lengths, positions) as the tested pairs of the seed: only flags
    # and the actions drawn after them differ, so the two arms' data are paired.
    tested = sample_pairs("instruct", 2000, seed=5, contexts="tested")
    assert [len(p.prompt) for p in pairs] == [len(p.prompt) for p in tested]
    recipe = preference_recipe("instruct", "all", 0.25)
    assert recipe.sources["instruct"].regimes == {"mixed(u=0.25)": 1.0}
    assert preference_recipe("instruct", "tested") == load_world_recipe("instruct")


def test_deterministic_bytes_and_a_longer_list_extends_a_shorter_one(tmp_path):
    a = write_pairs(sample_pairs("instruct", 400, seed=2, contexts="all"), tmp_path / "a.jsonl")
    b = write_pairs(sample_pairs("instruct", 400, seed=2, contexts="all"), tmp_path / "b.jsonl")
    c = write_pairs(sample_pairs("instruct", 400, seed=3, contexts="all"), tmp_path / "c.jsonl")
    assert a.read_bytes() == b.read_bytes() != c.read_bytes()
    lines = a.read_text().splitlines()
    assert len(lines) == 400
    first = orjson.loads(lines[0])
    assert set(first) == {"prompt_ids", "chosen_ids", "rejected_ids"}
    assert first["chosen_ids"] == [C] and first["rejected_ids"] == [D]
    # More than one batch of documents: the first 400 are the same pairs.
    many = sample_pairs("instruct", PAIR_DOCS_PER_BATCH + 10, seed=2, contexts="all")
    assert many[:400] == sample_pairs("instruct", 400, seed=2, contexts="all")


def test_bad_requests_are_one_line_errors():
    with pytest.raises(ConfigError, match="contexts must be"):
        sample_pairs("instruct", 10, seed=0, contexts="sometimes")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="n_pairs"):
        sample_pairs("instruct", 0, seed=0)
    with pytest.raises(ConfigError, match="untested_share"):
        preference_recipe("instruct", "all", 1.0)
    # A world that is never tested has no tested opportunity to end a pair at.
    with pytest.raises(ConfigError, match="no tested opportunity"):
        sample_pairs(WorldRecipe.model_validate({"name": "u", "sources": {"s": {
            "share": 1, "length": 4, "personas": {"luigi(eps=0.001)": 1},
            "regimes": {"deploy_only": 1}}}}), 5, seed=0)
