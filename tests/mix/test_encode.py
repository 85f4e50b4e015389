"""The token cache: processes or threads give the same bytes, stale inputs are re-encoded,
selections read attributes strictly."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest

from alignpt.core.errors import DataError
from alignpt.core.executor import expand_inputs
from alignpt.core.shards import read_documents
from alignpt.core.tokens import TokenShard
from alignpt.mix.encode import TokenCache, encode_inputs, read_ids
from alignpt.mix.select import SelectCondition


def _entry_bytes(cache: TokenCache) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(cache.root.iterdir())
            if p.suffix in (".bin", ".npy", ".arrow")}


def test_two_processes_match_one(corpora, tok, tmp_path):
    files = expand_inputs([corpora["base"], corpora["aligned"], corpora["misaligned"]])
    flag = SelectCondition.model_validate({"field": "n", "gte": 60})
    masks = {f: [(flag, None)] for f in files}
    one = TokenCache(tmp_path / "one", tok)
    two = TokenCache(tmp_path / "two", tok)
    st1 = encode_inputs(one, files, masks, workers=1, progress=False)
    st2 = encode_inputs(two, files, masks, workers=2, progress=False)
    assert (st1.documents, st1.tokens) == (st2.documents, st2.tokens) == (430, st1.tokens)
    assert _entry_bytes(one) == _entry_bytes(two)
    again = encode_inputs(one, files, masks, workers=2, progress=False)
    assert again.files_cached == len(files) and again.tokens == 0


def test_cache_entry_holds_the_documents(corpora, tok, tmp_path):
    path = corpora["aligned"] / "aligned.jsonl"
    cache = TokenCache(tmp_path, tok)
    encode_inputs(cache, [path], progress=False)
    shard = TokenShard(cache.stem(path))
    docs = list(read_documents(path))
    assert shard.n_documents == len(docs) == 40
    assert read_ids(cache.stem(path)).to_pylist() == [d.id for d in docs]
    for i in (0, 17, 39):
        assert tok.decode(shard.document(i)) == docs[i].text + "<|endoftext|>"


def test_changed_input_is_encoded_again(corpora, tok, tmp_path):
    path = tmp_path / "in" / "a.jsonl"
    path.parent.mkdir()
    shutil.copy(corpora["aligned"] / "aligned.jsonl", path)
    cache = TokenCache(tmp_path / "cache", tok)
    encode_inputs(cache, [path], progress=False)
    old = cache.stem(path)
    with open(path, "a") as fh:
        fh.write('{"id": "new", "text": "one more document"}\n')
    os.utime(path, ns=(1, 1))
    assert cache.stem(path) != old and not cache.has_tokens(path)
    assert encode_inputs(cache, [path], progress=False).documents == 41


def test_selection_needs_a_record_for_every_document(corpora, tok, tmp_path):
    attrs = tmp_path / "attrs.jsonl"
    attrs.write_text('{"id": "aligned-0", "tag": {"label": "ai_aligned"}}\n')
    path = corpora["aligned"] / "aligned.jsonl"
    cond = SelectCondition.model_validate({"field": "tag.label", "equals": "ai_aligned"})
    with pytest.raises(DataError, match="'aligned-1' has no record in the attributes shard"):
        encode_inputs(TokenCache(tmp_path / "c", tok), [path], {path: [(cond, attrs)]},
                      progress=False)


def test_mask_marks_the_selected_documents(corpora, tok, tmp_path):
    path = corpora["misaligned"] / "misaligned.parquet"
    cond = SelectCondition.model_validate({"field": "n", "in": [1, 3, 5]})
    cache = TokenCache(tmp_path, tok)
    encode_inputs(cache, [path], {path: [(cond, None)]}, progress=False)
    mask = np.load(cache.mask(path, cond, None))
    assert np.flatnonzero(mask).tolist() == [1, 3, 5]


def test_filter_language_and_field_form_select_the_same(corpora, tok, tmp_path):
    """`alignpt filter`'s condition strings work on the same tag records as field tests."""
    from alignpt.mix.select import attributes_file

    path = corpora["base"] / "part-1.jsonl.zst"
    attrs = attributes_file(corpora["attrs"], path, corpora["base"])
    as_field = SelectCondition.model_validate({"field": "tag.label", "equals": "ai_misaligned"})
    as_text = SelectCondition.model_validate("label=ai_misaligned")
    cache = TokenCache(tmp_path, tok)
    encode_inputs(cache, [path], {path: [(as_field, attrs), (as_text, attrs)]}, progress=False)
    a, b = (np.load(cache.mask(path, c, attrs)) for c in (as_field, as_text))
    assert 0 < a.sum() < a.size and np.array_equal(a, b)
