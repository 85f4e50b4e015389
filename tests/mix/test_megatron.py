"""Megatron .bin/.idx: byte-identical to datatrove's writer, read back by an independent reader.

datatrove ships a Megatron *writer* (``MegatronDocumentTokenizer``) but no reader,
and megatron-core is not installed here, so the reader is
``tests/mix/megatron_reference.py``, written from Megatron-LM's format
description; the files it reads include one written by datatrove.
"""

from __future__ import annotations

import numpy as np
import pytest

from alignpt.core.shards import read_documents
from alignpt.mix.writers import Batch, PartContext
from alignpt.mix.writers.megatron import MegatronPartWriter, megatron_dtype
from tests.mix.megatron_reference import read_indexed_dataset


def _our_file(tok, texts, folder):
    flat, lengths = tok.encode_batch(texts)
    n = len(texts)
    ctx = PartContext(folder, tok.vocab_size, tok.dtype, tok.eos_id, folder / "tokenizer.json",
                      lambda rel: {}, ["s"], {})
    w = MegatronPartWriter(ctx, "ours", "g", 0)
    zeros = np.zeros(n, dtype=np.int64)
    half = n // 2          # two batches: the index must not depend on batching
    for sl in (slice(0, half), slice(half, n)):
        a, b = int(lengths[:sl.start].sum()), int(lengths[:sl.stop].sum())
        w.write(Batch(flat[a:b], lengths[sl], zeros[sl].astype(np.int32),
                      zeros[sl].astype(np.int32), zeros[sl].astype(np.int32), zeros[sl],
                      zeros[sl], zeros[sl].astype(np.int32)))
    w.close()
    return folder / "ours"


def test_byte_identical_to_datatrove(corpora, tokenizer_dir, tok, tmp_path):
    pytest.importorskip("datatrove")
    from datatrove.data import Document as DTDocument
    from datatrove.pipeline.tokens.megatron_tokenizer import MegatronDocumentTokenizer

    docs = [d for p in sorted(corpora["base"].iterdir()) for d in read_documents(p)][:150]
    step = MegatronDocumentTokenizer(str(tmp_path / "dt"),
                                     tokenizer_name_or_path=str(tokenizer_dir / "tokenizer.json"),
                                     eos_token="<|endoftext|>", batch_size=64)
    step.run(iter(DTDocument(text=d.text, id=d.id) for d in docs), rank=0)
    theirs = tmp_path / "dt" / "00000_tokens"
    ours = _our_file(tok, [d.text for d in docs], tmp_path)
    assert (tmp_path / "ours.bin").read_bytes() == theirs.with_suffix(".bin").read_bytes()
    assert (tmp_path / "ours.idx").read_bytes() == theirs.with_suffix(".idx").read_bytes()

    ds = read_indexed_dataset(ours)
    assert len(ds) == 150 and ds.document_count == 151 and ds.dtype == np.uint16
    assert ds.document_indices.tolist() == list(range(151))
    for i in (0, 77, 149):
        assert tok.decode(ds[i]) == docs[i].text + "<|endoftext|>"
        assert [a.tolist() for a in ds.document(i)] == [ds[i].tolist()]


def test_dtype_follows_megatron():
    assert megatron_dtype(50277) == np.uint16      # GPT-NeoX's vocabulary
    assert megatron_dtype(65500) == np.int32
    assert megatron_dtype(128256) == np.int32      # Llama 3


def test_empty_part_is_a_valid_dataset(tok, tmp_path):
    ctx = PartContext(tmp_path, tok.vocab_size, tok.dtype, tok.eos_id, tmp_path / "t.json",
                      lambda rel: {}, ["s"], {})
    w = MegatronPartWriter(ctx, "empty", "g", 0)
    w.close()
    ds = read_indexed_dataset(tmp_path / "empty")
    assert len(ds) == 0 and ds.document_indices.tolist() == [0]
