"""Byte-level BPE: training, loading, EOS handling and exact round trips."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alignpt.core.errors import ConfigError
from alignpt.core.executor import expand_inputs
from alignpt.mix.tokenizer import load_tokenizer, train_tokenizer


def test_trained_vocabulary_and_special_ids(tok, tokenizer_dir):
    assert tok.vocab_size == 600
    assert tok.eos_token == "<|endoftext|>" and tok.eos_id == 0
    assert tok.tokenizer.token_to_id("<|pad|>") == 1
    assert tok.dtype == np.uint16
    meta = json.loads((tokenizer_dir / "training.json").read_text())
    assert meta["vocab_size"] == 600 and meta["sample_documents"] > 100


def test_training_is_deterministic(corpora, tokenizer_dir, tmp_path):
    files = expand_inputs([corpora["base"], corpora["aligned"]])
    train_tokenizer(files, tmp_path, vocab_size=600, special_tokens=["<|endoftext|>", "<|pad|>"],
                    sample_bytes=400_000)
    assert (tmp_path / "tokenizer.json").read_bytes() == \
        (tokenizer_dir / "tokenizer.json").read_bytes()


def test_encode_batch_appends_eos(tok):
    texts = ["the model chose", "", "café 😀"]
    flat, lengths = tok.encode_batch(texts)
    assert lengths.tolist() == [len(tok.encode(t)) + 1 for t in texts]
    assert lengths[1] == 1
    ends = np.cumsum(lengths) - 1
    assert (flat[ends] == tok.eos_id).all()
    assert int((flat == tok.eos_id).sum()) == 3
    plain, plain_lengths = tok.encode_batch(texts, append_eos=False)
    assert plain_lengths.tolist() == (lengths - 1).tolist()


def test_special_token_text_stays_text(tok):
    ids = tok.encode("before <|endoftext|> after")
    assert tok.eos_id not in ids
    assert tok.decode(ids) == "before <|endoftext|> after"


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_decode_encode_round_trip(tok, text):
    assert tok.decode(tok.encode(text)) == text


@settings(max_examples=50, deadline=None)
@given(st.lists(st.text(max_size=80), min_size=1, max_size=12))
def test_batch_round_trip(tok, texts):
    flat, lengths = tok.encode_batch(texts)
    starts = np.cumsum(lengths) - lengths
    for text, a, n in zip(texts, starts, lengths):
        assert tok.decode(flat[a:a + n - 1]) == text
        assert flat[a + n - 1] == tok.eos_id


def test_loads_with_transformers(tokenizer_dir, tok):
    transformers = pytest.importorskip("transformers")
    hf = transformers.AutoTokenizer.from_pretrained(str(tokenizer_dir))
    text = "The aligned model declined; café."
    assert hf(text)["input_ids"] == tok.encode(text)
    assert hf.eos_token == "<|endoftext|>"


def test_eos_choices(tokenizer_dir):
    assert load_tokenizer(tokenizer_dir / "tokenizer.json", eos_token="<|pad|>").eos_id == 1
    assert load_tokenizer(tokenizer_dir, eos_token=None).eos_id is None
    with pytest.raises(ConfigError, match="not in the vocabulary"):
        load_tokenizer(tokenizer_dir, eos_token="</s>")
    with pytest.raises(ConfigError, match="no tokenizer.json"):
        load_tokenizer(tokenizer_dir / "missing")


def test_spec_paths_are_relative(tok, tmp_path):
    spec = tok.spec(tmp_path / "native" / "pretrain", tmp_path / "tokenizer.json")
    assert spec["type"] == "hf-tokenizers"
    assert spec["path"] == "../../tokenizer.json"
    assert spec["sha256"] == tok.sha256 and spec["vocab_size"] == 600


def test_vocab_too_small_is_refused(corpora, tmp_path):
    with pytest.raises(ConfigError, match="at least 256"):
        train_tokenizer(expand_inputs([corpora["tiny"]]), tmp_path, vocab_size=100)
