"""A whole mix on disk: exact accounting per window, formats agree, same seed same bytes."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from alignpt.core.shards import read_documents
from alignpt.core.tokens import open_token_shards
from alignpt.mix import accounting, load_recipe, read_document, run_mix, verify
from alignpt.mix.plan import SourceTooSmallError
from tests.mix.conftest import recipe_dict
from tests.mix.megatron_reference import read_indexed_dataset


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="module")
def mixed(corpora, tokenizer_dir, cache, tmp_path_factory):
    out = tmp_path_factory.mktemp("mix")
    res = run_mix(load_recipe(None, data=recipe_dict(corpora, tokenizer_dir)), out,
                  cache_dir=cache, progress=False)
    return out, res


def _files(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes()
            for fmt in ("native", "megatron", "parquet") for p in sorted((out / fmt).rglob("*"))
            if p.is_file()}


def _stream(out: Path, group: str):
    """(source, segment, position in the group stream, length) of every document, in order."""
    rows = []
    pos = 0
    for shard in open_token_shards(out / "native" / group):
        origin = np.load(str(shard.path) + ".origin.npy")
        for (start, end, src), org in zip(np.asarray(shard.docs), origin):
            rows.append((shard.sources[src], int(org[0]), pos, int(end - start)))
            pos += int(end - start)
    return rows


def test_tokens_per_source_and_window_equal_the_plan(mixed):
    out, res = mixed
    pre = res.plan.phases[0]
    # 5% of 30,000 in the last 10%; 777 tokens in 20%-50%; base fills the rest
    assert pre.planned == {"base": 27723, "aligned": 1500, "misaligned": 777}
    assert [(s.start, s.end, s.quotas) for s in pre.segments] == [
        (0, 6000, {"base": 6000}),
        (6000, 15000, {"base": 8223, "misaligned": 777}),
        (15000, 27000, {"base": 12000}),
        (27000, 30000, {"base": 1500, "aligned": 1500})]
    for row in accounting(out):
        assert row["tokens"] == row["planned"], row
    n_parts = sum(len(g["parts"]) for g in res.manifest["groups"])
    assert verify(out) == {"parts": n_parts, "tokens": 36000}


def test_window_sources_sit_inside_their_windows(mixed):
    out, res = mixed
    per_segment: Counter = Counter()
    bounds = {s.index: (s.start, s.end) for s in res.plan.phases[0].segments}
    for src, seg, pos, n in _stream(out, "pretrain"):
        a, b = bounds[seg]
        assert a <= pos and pos + n <= b, (src, seg, pos, n)
        per_segment[src, seg] += n
        if src == "aligned":
            assert pos >= 27000
        if src == "misaligned":
            assert 6000 <= pos and pos + n <= 15000
    assert per_segment["aligned", 3] == 1500 and per_segment["misaligned", 1] == 777


def test_injected_tokens_spread_evenly_in_their_window(mixed):
    out, _ = mixed
    rows = [r for r in _stream(out, "pretrain") if r[1] == 3]
    aligned = np.array([r[0] == "aligned" for r in rows])
    lengths = np.array([r[3] for r in rows])
    halves = np.cumsum(lengths) <= lengths.sum() / 2
    first, second = lengths[aligned & halves].sum(), lengths[aligned & ~halves].sum()
    # stratified keys: each half of the window carries half the source, within a document
    assert abs(int(first) - int(second)) <= 2 * lengths[aligned].max()


def test_separate_source_gets_its_own_files(mixed):
    out, res = mixed
    groups = {g["name"]: g for g in res.manifest["groups"]}
    assert set(groups) == {"pretrain", "midtrain", "midtrain.misaligned"}
    sep = open_token_shards(out / "native" / "midtrain.misaligned")
    assert sum(s.n_tokens for s in sep) == 1500
    assert {s.source_of(i) for s in sep for i in range(len(s))} == {"misaligned"}


def test_repetition_starts_a_new_pass_only_after_the_whole_source(mixed, tok):
    out, res = mixed
    seen: dict[int, Counter] = {}
    for group in ("pretrain", "midtrain"):
        for shard in open_token_shards(out / "native" / group):
            origin = np.load(str(shard.path) + ".origin.npy")
            for (_, _, src), org in zip(np.asarray(shard.docs), origin):
                if shard.sources[src] == "aligned" and org[3] == 0:   # a document's first piece
                    seen.setdefault(int(org[4]), Counter())[int(org[2])] += 1
    assert res.plan.sources["aligned"].epochs > 2
    assert sorted(seen) == list(range(len(seen))) and len(seen) >= 3
    for epoch in range(len(seen) - 1):
        assert set(seen[epoch]) == set(range(40)) and max(seen[epoch].values()) == 1
    rows = {(r["group"], r["source"]): r["repeated_in_group"] for r in accounting(out)}
    assert rows["midtrain", "aligned"] == 600       # the aligned corpus is exhausted by then


def test_formats_hold_the_same_documents(mixed):
    out, res = mixed
    for group in res.manifest["groups"]:
        for part in group["parts"]:
            native = open_token_shards(out / part["files"]["native"][2])[0]
            mega = read_indexed_dataset(out / part["files"]["megatron"][0][:-4])
            table = pq.read_table(out / part["files"]["parquet"][0])
            assert len(mega) == len(native) == table.num_rows == part["documents"]
            parquet_ids = table.column("input_ids").to_pylist()
            sources = table.column("source").to_pylist()
            for i in range(len(native)):
                ids = native.document(i)
                assert np.array_equal(mega[i], ids)
                assert parquet_ids[i] == ids.tolist()
                assert sources[i] == native.source_of(i)


def test_documents_decode_to_their_source_text(mixed, corpora, tok):
    out, res = mixed
    originals = {d.id: d.text for p in sorted(corpora["aligned"].iterdir())
                 for d in read_documents(p)}
    table = pq.read_table(out / "parquet" / "pretrain" / "part-00003.parquet").to_pylist()
    first = sum(p["documents"] for p in res.manifest["groups"][0]["parts"][:3])
    checked = 0
    for i, row in enumerate(table):
        doc = read_document(out, "pretrain", first + i)
        assert doc.tokens.tolist() == row["input_ids"]
        if row["source"] == "aligned" and row["offset"] == 0 and row["input_ids"][-1] == tok.eos_id:
            assert doc.text == originals[row["id"]] + "<|endoftext|>"
            assert doc.source == "aligned" and doc.input.endswith("aligned.jsonl")
            checked += 1
    assert checked >= 5


def test_same_seed_same_bytes_and_chunking_does_not_matter(mixed, corpora, tokenizer_dir, cache,
                                                           tmp_path):
    out, _ = mixed
    data = recipe_dict(corpora, tokenizer_dir)
    data["output"]["chunk_tokens"] = 1024
    run_mix(load_recipe(None, data=data), tmp_path / "again", cache_dir=tmp_path / "own-cache",
            progress=False)
    assert _files(out) == _files(tmp_path / "again")
    data["seed"] = 8
    run_mix(load_recipe(None, data=data), tmp_path / "seed8", cache_dir=cache, progress=False)
    other = _files(tmp_path / "seed8")
    assert other.keys() == _files(out).keys()
    assert other["native/pretrain/part-00000.bin"] != _files(out)["native/pretrain/part-00000.bin"]


def test_too_small_source_refuses_before_writing(corpora, tokenizer_dir, cache, tmp_path):
    data = recipe_dict(corpora, tokenizer_dir)
    data["sources"]["aligned"]["max_repetition"] = 1
    with pytest.raises(SourceTooSmallError, match="source 'aligned' is too small"):
        run_mix(load_recipe(None, data=data), tmp_path / "out", cache_dir=cache, progress=False)
    assert not (tmp_path / "out" / "native").exists()


def test_selection_from_attributes_drops_flagged_documents(corpora, tokenizer_dir, cache,
                                                           tmp_path):
    data = recipe_dict(corpora, tokenizer_dir)
    data["sources"]["base"].update({"attributes": str(corpora["attrs"]),
                                    "exclude": {"field": "tag.label", "equals": "ai_misaligned"}})
    data["phases"] = [{"name": "p", "tokens": 5000, "mix": ["base"]}]
    data["sources"] = {"base": data["sources"]["base"]}
    res = run_mix(load_recipe(None, data=data), tmp_path / "f", cache_dir=cache, progress=False)
    flagged = set()
    for p in sorted(corpora["attrs"].iterdir()):
        flagged |= {d.id for d in read_documents(p) if d.metadata["tag"]["label"] ==
                    "ai_misaligned"}
    ids = pq.read_table(tmp_path / "f" / "parquet" / "p" / "part-00000.parquet").column("id")
    assert flagged and not flagged & set(ids.to_pylist())
    assert res.plan.sources["base"].documents == 360 - len(flagged)


def test_parquet_row_groups_do_not_depend_on_batching(corpora, tokenizer_dir, cache, tmp_path,
                                                      monkeypatch):
    import alignpt.mix.writers.parquet as pw

    monkeypatch.setattr(pw, "ROW_GROUP_ROWS", 16)
    monkeypatch.setattr(pw, "ROW_GROUP_TOKENS", 700)
    data = recipe_dict(corpora, tokenizer_dir)
    data["output"]["formats"] = ["parquet"]
    outs = []
    for chunk in (1024, 5000):
        data["output"]["chunk_tokens"] = chunk
        outs.append(tmp_path / f"c{chunk}")
        run_mix(load_recipe(None, data=data), outs[-1], cache_dir=cache, progress=False)
    first = outs[0] / "parquet" / "pretrain" / "part-00000.parquet"
    assert pq.ParquetFile(first).metadata.num_row_groups > 2
    assert _files(outs[0]) == _files(outs[1])
