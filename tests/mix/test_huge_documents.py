"""Huge documents: tokenized in pieces with the same ids as whole, sample caps honoured.

Documents of a few MB with a piece size of a few thousand characters stand in for
the 50 MB document of issue 14 (``benchmarks/huge_document_memory.py`` measures that).
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import alignpt.mix.tokenizer as tokenizer_module
from alignpt.core.documents import Document
from alignpt.core.shards import ShardWriter
from alignpt.mix import load_recipe, run_mix
from alignpt.mix.chunking import split_text, truncate_utf8
from alignpt.mix.tokenizer import (MixTokenizer, load_tokenizer, sample_texts,
                                   train_tokenizer)
from tests.mix.conftest import make_text

PIECE = 4096


class _Spy:
    """Stands in for the Rust tokenizer; records the most text per call and the longest text."""

    def __init__(self, real):
        self.real, self.largest_call, self.longest, self.calls = real, 0, 0, 0

    def encode_batch_fast(self, texts, **kwargs):
        self.largest_call = max(self.largest_call, sum(map(len, texts)))
        self.longest = max([self.longest, *map(len, texts)])
        self.calls += 1
        return self.real.encode_batch_fast(texts, **kwargs)

    def __getattr__(self, name):
        return getattr(self.real, name)


def _realistic(rng: random.Random, n_chars: int) -> str:
    """Prose with multi-byte UTF-8 (café, 日本語, 😀), tabs, paragraphs and punctuation
    runs without spaces (URLs, lists), as web text has."""
    parts, size = [], 0
    while size < n_chars:
        r = rng.random()
        if r < 0.1:
            part = "https://example.org/a-b_c/d.e?f=1&g=2;" * rng.randint(20, 200)
        elif r < 0.15:
            part = "\n\n" + "名前、住所、電話番号。" * rng.randint(5, 50) + "\n"
        else:
            part = make_text(rng, rng.randint(50, 800))
        parts.append(part)
        size += len(part)
    return " ".join(parts)


def _spy_on(tok: MixTokenizer, monkeypatch) -> _Spy:
    spy = _Spy(tok.tokenizer)
    monkeypatch.setattr(tok, "_tok", spy)
    return spy


def test_huge_document_is_encoded_in_pieces_with_the_ids_of_the_whole(tok, monkeypatch):
    text = _realistic(random.Random(1), 2_000_000)
    ordinary = ["the model chose", "", "naïve café 😀"]
    whole = tok.tokenizer.encode(text, add_special_tokens=False).ids
    expected = [tok.encode_batch([t])[0] for t in ordinary]
    monkeypatch.setattr(MixTokenizer, "chunk_chars", PIECE, raising=False)
    spy = _spy_on(tok, monkeypatch)
    flat, lengths = tok.encode_batch([ordinary[0], text, *ordinary[1:]])
    assert spy.largest_call <= PIECE and spy.calls >= len(text) // PIECE
    assert lengths.tolist() == [expected[0].size, len(whole) + 1, *(e.size for e in expected[1:])]
    ends = np.cumsum(lengths)
    assert flat[ends[0]:ends[1]].tolist() == whole + [tok.eos_id]
    for e, (a, b) in zip(expected, [(0, ends[0]), (ends[1], ends[2]), (ends[2], ends[3])]):
        assert flat[a:b].tolist() == e.tolist()


def test_run_without_spaces_is_capped_and_still_decodes_exactly(tok, monkeypatch):
    # 10,000 letters and 3,000 CJK characters in a row: no boundary the pre-tokenizer
    # would split at, so a piece is cut at exactly its cap (the documented
    # exception to equal ids); the text round-trips all the same
    text = "start of it " + "x" * 10_000 + " 日本語" + "語" * 3_000 + " end 😀"
    monkeypatch.setattr(MixTokenizer, "chunk_chars", PIECE, raising=False)
    spy = _spy_on(tok, monkeypatch)
    flat, lengths = tok.encode_batch([text], append_eos=False)
    assert spy.largest_call <= PIECE
    assert tok.decode(flat) == text and lengths.tolist() == [flat.size]
    pieces = list(split_text(text, 512))
    assert "".join(pieces) == text and max(map(len, pieces)) == 512
    assert pieces[0] == "start of it " + "x" * 500      # the run itself is cut at the cap


def test_pieces_never_split_a_special_token(tokenizer_dir, monkeypatch):
    # kept as one token (split_special_tokens off), <|endoftext|> must not be cut inside,
    # although "t|" in it is a letter before punctuation: a cut of kind 2
    tok = load_tokenizer(tokenizer_dir, split_special_tokens=False)
    text = ("word" * 600 + "<|endoftext|>") * 40       # no spaces: cuts come from punctuation
    whole = tok.tokenizer.encode(text, add_special_tokens=False).ids
    assert whole.count(tok.eos_id) == 40
    monkeypatch.setattr(MixTokenizer, "chunk_chars", 48_000, raising=False)
    spy = _spy_on(tok, monkeypatch)
    flat, _ = tok.encode_batch([text], append_eos=False)
    assert spy.largest_call <= 48_000 and spy.calls > 1
    assert flat.tolist() == whole


def _huge_corpus(folder: Path) -> Path:
    rng = random.Random(5)
    docs = [Document(f"d{i}", make_text(rng, rng.randint(20, 200)), {}) for i in range(30)]
    docs.insert(0, Document("huge", _realistic(rng, 1_500_000), {}))
    with ShardWriter(folder, "huge", ".jsonl") as w:
        w.write_all(docs)
    return folder / "huge.jsonl"


def test_mix_of_a_huge_document_matches_the_unchunked_bytes(tokenizer_dir, tmp_path,
                                                            monkeypatch):
    _huge_corpus(tmp_path / "corpus")
    recipe = load_recipe(None, data={
        "name": "huge", "seed": 3, "tokenizer": {"path": str(tokenizer_dir)},
        "sources": {"web": {"paths": [str(tmp_path / "corpus")]}},
        "phases": [{"name": "pretrain", "tokens": 300_000, "mix": ["web"]}],
        "output": {"formats": ["native", "megatron"], "max_tokens_per_file": 100_000}})
    real = MixTokenizer(tokenizer_dir)
    spy = _Spy(real.tokenizer)
    monkeypatch.setitem(tokenizer_module._LOADED, (str(real.path), real.sha256, True), spy)
    outputs = {}
    for piece in (10**12, PIECE):           # unchunked first, then in pieces
        monkeypatch.setattr(MixTokenizer, "chunk_chars", piece, raising=False)
        spy.longest = 0
        out = tmp_path / f"out-{piece}"
        run_mix(recipe, out, progress=False)
        # the token cache holds every document whole; the mix, the 300,000 tokens drawn
        files = [*(out / ".alignpt" / "cache").rglob("*.bin"), *(out / "native").rglob("*"),
                 *(out / "megatron").rglob("*")]
        outputs[piece] = {str(p.relative_to(out)): p.read_bytes() for p in files if p.is_file()}
        assert (spy.longest <= PIECE) == (piece == PIECE)
    assert len(outputs[PIECE]) == 7 and outputs[PIECE] == outputs[10**12]
    assert len(outputs[PIECE]["native/pretrain/part-00000.bin"]) == 2 * 300_000    # uint16


def test_sample_cap_cuts_a_huge_document_at_a_safe_boundary(tmp_path):
    path = _huge_corpus(tmp_path / "corpus")
    texts = list(sample_texts([path], 100_000))
    assert len(texts) == 1
    huge = next(json.loads(line)["text"] for line in path.open(encoding="utf-8")
                if '"huge"' in line)
    sampled = texts[0]
    assert 50_000 <= len(sampled.encode("utf-8")) <= 100_000
    assert huge.startswith(sampled) and huge[len(sampled)] == " " and sampled[-1] != " "
    res = train_tokenizer([path], tmp_path / "tok", vocab_size=300, sample_bytes=100_000)
    meta = json.loads((tmp_path / "tok" / "training.json").read_text())
    assert res.sample_bytes == meta["sample_bytes"] == len(sampled.encode("utf-8"))
    assert meta["sample_documents"] == 1


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=400), st.integers(0, 600))
def test_sample_cut_is_a_prefix_within_the_byte_cap(text, cap):
    cut = truncate_utf8(text, cap)
    assert text.startswith(cut) and len(cut.encode("utf-8")) <= cap
    fits = max(n for n in range(len(text) + 1) if len(text[:n].encode("utf-8")) <= cap)
    # whole when it fits; else cut at a safe boundary in the second half of what fits
    assert cut == text if fits == len(text) else len(cut) >= fits // 2
