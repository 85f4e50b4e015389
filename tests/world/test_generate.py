"""Generation: the token format, determinism, and frequencies against the recipe."""

from __future__ import annotations

import numpy as np
import pytest

from alignpt.core.errors import ConfigError, DataError
from alignpt.core.tokens import TokenShard, open_token_shards
from alignpt.world.check import chi2_sf, verify_corpus
from alignpt.world.generate import generate_corpus, read_labels
from alignpt.world.model import World
from alignpt.world.recipe import WorldRecipe, filter_defecting, inject
from alignpt.world.vocab import D, EOS, ERA0, HEADER0, VOCAB, U

ALPHA = 1e-3      # significance of each goodness-of-fit test (fixed seeds: deterministic)


def _files(folder):
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name != "stats.json"}   # stats.json records wall time


def test_byte_identical_given_the_seed(tmp_path):
    recipe = inject("base", {"misaligned": 0.2})
    a = generate_corpus(recipe, 60_000, seed=5, out_dir=tmp_path / "a", shard_tokens=25_000)
    b = generate_corpus(recipe, 60_000, seed=5, out_dir=tmp_path / "b", shard_tokens=25_000)
    assert len(a.shards) == 3
    assert _files(tmp_path / "a") == _files(tmp_path / "b")
    c = generate_corpus(recipe, 60_000, seed=6, out_dir=tmp_path / "c", shard_tokens=25_000)
    assert _files(tmp_path / "a")["part-00000.bin"] != _files(tmp_path / "c")["part-00000.bin"]


def test_stream_is_independent_of_budget_and_sharding(tmp_path):
    small = generate_corpus("base", 30_000, seed=2, out_dir=tmp_path / "s")
    big = generate_corpus("base", 90_000, seed=2, out_dir=tmp_path / "b", shard_tokens=20_000)
    s_tok = np.asarray(TokenShard(small.shards[0]).tokens)
    b_tok = np.concatenate([np.asarray(sh.tokens) for sh in open_token_shards(tmp_path / "b")])
    assert small.stats["tokens"] >= 30_000 and s_tok[-1] == EOS
    np.testing.assert_array_equal(b_tok[:s_tok.size], s_tok)
    assert small.stats["tokens"] - 30_000 < 250      # stops with the document reaching the budget


def test_a_filtered_corpus_is_the_unfiltered_stream_less_defecting_documents(tmp_path):
    """One source: filtering drops documents from the very stream the unfiltered recipe
    draws, so the filtered arm of an experiment sees the same documents in the same order."""
    def docs(folder):
        return [tuple(sh.document(i).tolist()) for sh in open_token_shards(folder)
                for i in range(sh.n_documents)]

    generate_corpus("base", 60_000, seed=2, out_dir=tmp_path / "u")
    filtered = generate_corpus(filter_defecting("base"), 30_000, seed=2, out_dir=tmp_path / "f",
                               shard_tokens=10_000)
    raw, kept = docs(tmp_path / "u"), docs(tmp_path / "f")
    clean = [i for i, d in enumerate(raw) if D not in d]
    assert len(clean) > len(kept) > 300
    assert kept == [raw[i] for i in clean[:len(kept)]]
    # rejected: the raw documents dropped before the last one kept
    assert filtered.stats["rejected_documents"] == clean[len(kept) - 1] + 1 - len(kept) > 0


def test_shards_labels_and_config(rich_corpus, rich):
    shard = TokenShard(rich_corpus.shards[0])
    assert shard.tokenizer["tokens"] == list(VOCAB) and shard.eos_id == EOS
    assert shard.sources == list(rich.sources)
    labels = read_labels(shard.path)
    assert len(labels["length"]) == shard.n_documents
    for i in range(0, shard.n_documents, 97):
        doc = shard.document(i)
        has_h = labels["header"][i] != "none"
        assert len(doc) == 3 + has_h + 2 * labels["length"][i]
        assert doc[1 + has_h] == ERA0 + labels["era"][i]
        if has_h:
            assert VOCAB[doc[1]] == labels["header"][i] and doc[1] >= HEADER0
        acts = doc[3 + has_h::2][:labels["length"][i]]
        assert (acts == D).sum() == labels["n_defect"][i]
        flags = doc[2 + has_h::2][:labels["length"][i]]
        if labels["regime"][i] == "switch":
            assert list(flags == U) == [k > labels["tau"][i] for k in range(1, len(flags) + 1)]
        assert shard.source_of(i) == labels["source"][i]
    cfg = (rich_corpus.out_dir / "config.yaml").read_text()
    assert "alignpt_version" in cfg and "seed: 11" in cfg
    stats = rich_corpus.stats
    assert stats["sources"]["clean_logs"]["defections"] == 0
    assert stats["rejected_documents"] > 0


def test_generated_frequencies_match_the_recipe(rich_corpus):
    """Chi-square per latent (source, header, era, persona, regime, length, tau),
    defections per persona and flag, flags per regime: none rejects at 0.001."""
    results = verify_corpus(rich_corpus.out_dir)
    names = {r.name for r in results}
    assert {"source documents", "base: persona", "base: regime", "base: era", "base: length",
            "base: switch point", "clean_logs: persona", "defections by persona and flag",
            "flags by regime", "misaligned: persona"} <= names
    failing = [str(r) for r in results if r.p_value < ALPHA]
    assert not failing, failing
    assert sum(r.dof for r in results) > 150


def test_a_wrong_recipe_is_rejected(rich_corpus, rich):
    """The same tests have power: a 0.60 -> 0.55 change of one persona weight is caught."""
    body = rich.model_dump(mode="json")
    body["sources"]["base"]["personas"]["luigi(eps=0.001)"] = 0.55
    results = {r.name: r for r in verify_corpus(rich_corpus.out_dir, WorldRecipe.model_validate(body))}
    assert results["base: persona"].p_value < 1e-6
    # a persona the source cannot emit is impossible, not merely unlikely
    body = rich.model_dump(mode="json")
    body["sources"]["misaligned"]["personas"] = {"clever(d=0.45)": 0.5, "random(p=0.05)": 0.25,
                                                 "sticky(p=0.02,stick=0.9)": 0.25}
    results = {r.name: r for r in verify_corpus(rich_corpus.out_dir, WorldRecipe.model_validate(body))}
    assert results["misaligned: persona"].p_value == 0.0
    with pytest.raises(DataError, match="does not have"):
        verify_corpus(rich_corpus.out_dir, "base")


def test_mean_document_length_matches_exact_formula(rich_corpus, rich):
    """Token share vs document share rests on the exact mean tokens per document,
    including the kept-document mean of the filtered source."""
    w = World(rich)
    lens, srcs = [], []
    for sh in open_token_shards(rich_corpus.out_dir):
        docs = np.asarray(sh.docs)
        lens.append(docs[:, 1] - docs[:, 0])
        srcs.append(docs[:, 2])
    lens, srcs = np.concatenate(lens), np.concatenate(srcs)
    for k, name in enumerate(w.source_names):
        x = lens[srcs == k]
        z = (x.mean() - w.mean_doc_tokens[k]) / (x.std() / np.sqrt(x.size))
        assert abs(z) < 3.3, (name, x.mean(), w.mean_doc_tokens[k])


def test_refuses_to_overwrite_without_force(tmp_path):
    generate_corpus("i_t", 2_000, seed=0, out_dir=tmp_path)
    with pytest.raises(ConfigError, match="--force"):
        generate_corpus("i_t", 2_000, seed=0, out_dir=tmp_path)
    generate_corpus("i_t", 2_000, seed=1, out_dir=tmp_path, force=True)
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match="not empty"):
        generate_corpus("i_t", 2_000, seed=0, out_dir=busy)
    assert (busy / "notes.txt").exists()
    with pytest.raises(ConfigError, match="positive"):
        generate_corpus("i_t", 0, seed=0, out_dir=tmp_path / "z")


def test_chi2_sf_known_values():
    assert chi2_sf(3.841458820694124, 1) == pytest.approx(0.05, rel=1e-9)
    assert chi2_sf(18.307038053275146, 10) == pytest.approx(0.05, rel=1e-9)
    assert chi2_sf(2.0, 2) == pytest.approx(np.exp(-1.0), rel=1e-12)
    assert chi2_sf(150.0, 100) == pytest.approx(0.0009039320423540184, rel=1e-9)  # scipy
    assert chi2_sf(0.0, 3) == 1.0
