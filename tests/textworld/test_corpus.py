"""The corpus writer: bytes, stopping, stats, and the world stream it renders."""

from __future__ import annotations

import json
import re
from collections import Counter

import numpy as np
import orjson
import pytest
import zstandard

from alignpt.core.errors import ConfigError
from alignpt.textworld.corpus import iter_records, write_text_corpus
from alignpt.textworld.filler import render_filler, render_neutral
from alignpt.textworld.render import seeded_rng
from alignpt.textworld.templates import GENRES
from alignpt.world.generate import DOCS_PER_BATCH, batch_rng
from alignpt.world.model import World
from alignpt.world.recipe import filter_defecting, load_world_recipe
from alignpt.world.sampler import sample_documents


def read(folder):
    out = []
    for path in sorted(folder.glob("part-*.jsonl.zst")):
        raw = zstandard.ZstdDecompressor().decompressobj().decompress(path.read_bytes())
        out += [orjson.loads(line) for line in raw.splitlines() if line]
    return out


def test_same_arguments_same_bytes_and_longer_target_extends(tmp_path):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    write_text_corpus("base", 7, a, target_tokens=40_000, docs_per_shard=25)
    write_text_corpus("base", 7, b, target_tokens=40_000, docs_per_shard=25)
    names = sorted(p.name for p in a.iterdir())
    assert len(names) > 3 and names == sorted(p.name for p in b.iterdir())
    for name in names:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    write_text_corpus("base", 7, c, target_tokens=80_000, docs_per_shard=1000)
    short, long = read(a), read(c)
    assert long[:len(short)] == short and len(long) > len(short)
    write_text_corpus("base", 8, tmp_path / "d", 40_000)
    other = read(tmp_path / "d")
    assert [r["text"] for r in other[:5]] != [r["text"] for r in short[:5]]


def test_stops_at_the_document_that_reaches_the_target(tmp_path):
    count = lambda texts: [len(t) // 3 for t in texts]      # noqa: E731
    stats = write_text_corpus("base", 1, tmp_path, target_tokens=50_000, count_tokens=count)
    lengths = [len(r["text"]) // 3 for r in read(tmp_path)]
    assert sum(lengths) == stats["tokens"] >= 50_000
    assert sum(lengths[:-1]) < 50_000
    assert stats["token_counter"] == "count_tokens"


def test_stats_match_the_records(tmp_path):
    stats = write_text_corpus("base", 2, tmp_path, target_tokens=200_000, filler_share=0.4,
                              neutral_share=0.1, docs_per_shard=80)
    recs = read(tmp_path)
    meta = [r["metadata"] for r in recs]
    assert stats["documents"] == len(recs)
    assert stats["by_kind"] == dict(Counter(m["kind"] for m in meta))
    assert stats["by_conduct"] == dict(Counter(m["conduct"] for m in meta))
    ai = [m for m in meta if m["kind"] == "ai"]
    assert stats["by_header"] == dict(Counter(m["header"] for m in ai))
    assert stats["by_persona"] == dict(Counter(m["persona"] for m in ai))
    assert stats["defections"] == sum(m["n_defect"] for m in ai)
    assert stats["opportunities"] == sum(m["n_opportunities"] for m in ai)
    assert stats["tokens"] == sum(len(r["text"].split()) for r in recs)
    assert stats["shards"] == len(list(tmp_path.glob("part-*.jsonl.zst"))) == -(-len(recs) // 80)
    assert stats["recipe"] == "base" and stats["seed"] == 2 and stats["alignpt_version"]
    assert json.loads((tmp_path / "stats.json").read_text()) == stats
    # shares are of documents: 40% filler, within 4 binomial sd
    assert len(recs) > 250
    assert abs(stats["by_kind"]["filler"] / len(recs) - 0.4) < 0.12


def test_ai_documents_are_the_world_stream(tmp_path):
    """The i-th AI record is the i-th document of the world generator's batches."""
    recipe = load_world_recipe("base")
    write_text_corpus(recipe, 5, tmp_path, target_tokens=60_000)
    ai = [r for r in read(tmp_path) if r["metadata"]["kind"] == "ai"]
    world = World(recipe)
    batch, _ = sample_documents(world, DOCS_PER_BATCH, batch_rng(5, 0))
    assert len(ai) > 10
    n_defect = batch.n_defect()
    for i, rec in enumerate(ai):
        m = rec["metadata"]
        assert m["index"] == i
        assert (m["n_opportunities"], m["n_defect"], m["era"]) == \
            (batch.length[i], n_defect[i], batch.era[i])


def test_filtered_recipe_renders_only_clean_documents(tmp_path):
    stats = write_text_corpus(filter_defecting("base"), 0, tmp_path, target_tokens=40_000,
                              filler_share=0.0, neutral_share=0.0)
    assert stats["by_kind"] == {"ai": stats["documents"]} and stats["defections"] == 0


def test_filler_and_neutral_do_not_open_like_ai_documents():
    openings = set()
    for g in GENRES.values():
        for pool in g.openings.values():
            openings |= {re.split(r"\{\w+\}", t)[0].strip() for t in pool}
    openings.discard("")
    for i in range(300):
        for render in (render_filler, render_neutral):
            _, text = render(seeded_rng(1, i))
            assert not any(text.startswith(o) for o in openings)
            assert "\n\n" in text


def test_bad_arguments_are_config_errors(tmp_path):
    with pytest.raises(ConfigError):
        write_text_corpus("base", 0, tmp_path / "x", target_tokens=0)
    with pytest.raises(ConfigError):
        write_text_corpus("base", 0, tmp_path / "x", 100, filler_share=0.7, neutral_share=0.3)
    with pytest.raises(ConfigError):
        write_text_corpus("base", 0, tmp_path / "x", 100, docs_per_shard=0)
    write_text_corpus("base", 0, tmp_path / "y", 100)
    with pytest.raises(ConfigError, match="not empty"):
        write_text_corpus("base", 0, tmp_path / "y", 100)
    write_text_corpus("base", 0, tmp_path / "y", 100, force=True)
    with pytest.raises(ConfigError, match="counts"):
        write_text_corpus("base", 0, tmp_path / "z", 100, count_tokens=lambda t: [1])
    first = next(iter_records("base", 0))
    assert first["id"].startswith("tw-s0-")
