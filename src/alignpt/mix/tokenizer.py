"""Byte-level BPE tokenizers: train one on a sample of the corpus, or load any local one.

Training follows GPT-2 / GPT-NeoX: a byte-level pre-tokenizer (every string is
encodable, no unknown token), BPE merges learned with Hugging Face ``tokenizers``
from a seeded sample of the shards, and configurable special tokens (the first,
``<|endoftext|>`` by default, is the end-of-document token). The output folder
holds ``tokenizer.json`` plus a ``tokenizer_config.json`` so that
``transformers.AutoTokenizer.from_pretrained(folder)`` loads it too.

>>> import tempfile
>>> from pathlib import Path
>>> folder = Path(tempfile.mkdtemp())
>>> _ = (folder / "docs.jsonl").write_text('{"id": "a", "text": "one document"}\\n')
>>> _ = train_tokenizer([folder / "docs.jsonl"], folder / "tok", vocab_size=300)
>>> tok = load_tokenizer(folder / "tok")          # or any tokenizer.json / Hugging Face folder
>>> flat, lengths = tok.encode_batch(["one document", "another"])
>>> tok.decode(flat[: lengths[0]])
'one document<|endoftext|>'
"""

from __future__ import annotations

import hashlib
import itertools
import json
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Sequence

import numpy as np

from alignpt.core.errors import ConfigError, require
from alignpt.mix.chunking import CHUNK_CHARS, split_text, truncate_utf8

if TYPE_CHECKING:
    from alignpt.core.shards import ReadOptions

# Encoding needs only numpy and tokenizers (shard reading and config writing are
# imported where used), so worker processes and benchmarks start light.

__all__ = ["DEFAULT_SPECIAL_TOKENS", "MixTokenizer", "load_tokenizer", "train_tokenizer",
           "sample_texts", "TrainedTokenizer"]

DEFAULT_SPECIAL_TOKENS = ("<|endoftext|>",)
#: names an end-of-document token goes by in common tokenizers, tried by ``eos_token="auto"``
_EOS_CANDIDATES = ("<|endoftext|>", "</s>", "<|end_of_text|>", "<eos>", "<|im_end|>")


def _tokenizers():
    return require("tokenizers", "train", "BPE tokenization")


#: tokenizers loaded in this process, by (file, sha256, split_special_tokens)
_LOADED: dict[tuple[str, str, bool], Any] = {}


def _resolve_file(path: str | Path) -> Path:
    p = Path(path)
    if p.is_dir():
        p = p / "tokenizer.json"
    if not p.is_file():
        raise ConfigError(f"{path}: no tokenizer.json here (give the file or its folder)")
    return p


class MixTokenizer:
    """A ``tokenizer.json`` plus the two decisions the mixer needs: the end-of-document
    token and whether special-token text in documents stays plain text.

    ``split_special_tokens=True`` (the default) encodes a literal ``<|endoftext|>``
    inside a document as ordinary bytes, so corpus text can never forge a document
    boundary. Only the path is pickled; worker processes load the file lazily.

    A batch holding a document longer than ``chunk_chars`` characters is encoded in
    calls of at most ``chunk_chars`` characters, that document in pieces cut at safe
    boundaries (:mod:`alignpt.mix.chunking` says when that is exact), so memory stays
    bounded on a huge document. Each call holds several pieces, which the
    tokenizer's threads encode side by side.
    """

    chunk_chars = CHUNK_CHARS
    pieces_per_call = 8

    def __init__(self, path: str | Path, eos_token: str | None = "auto",
                 split_special_tokens: bool = True):
        self.path = _resolve_file(path).resolve()
        self.split_special_tokens = split_special_tokens
        self.sha256 = hashlib.sha256(self.path.read_bytes()).hexdigest()
        self._tok = None
        vocab = self.tokenizer.get_vocab(with_added_tokens=True)
        self.vocab_size = max(vocab.values()) + 1 if vocab else 0
        self.eos_token = self._pick_eos(eos_token, vocab)
        self.eos_id = vocab[self.eos_token] if self.eos_token is not None else None

    def _pick_eos(self, eos_token: str | None, vocab: dict[str, int]) -> str | None:
        if eos_token is None:
            return None
        if eos_token != "auto":
            if eos_token not in vocab:
                raise ConfigError(f"{self.path}: eos_token {eos_token!r} is not in the vocabulary "
                                  f"(special tokens: {', '.join(self.special_tokens) or 'none'})")
            return eos_token
        cfg = self.path.with_name("tokenizer_config.json")
        if cfg.is_file():
            named = json.loads(cfg.read_text(encoding="utf-8")).get("eos_token")
            named = named.get("content") if isinstance(named, dict) else named
            if isinstance(named, str) and named in vocab:
                return named
        for name in _EOS_CANDIDATES:
            if name in vocab:
                return name
        raise ConfigError(f"{self.path}: cannot tell the end-of-document token; set "
                          f"tokenizer.eos_token to one of {self.special_tokens or ['...']} or null")

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_tok": None}

    @property
    def tokenizer(self):
        """The loaded ``tokenizers.Tokenizer``, loaded once per process: a worker gets a
        fresh unpickled copy of this object with every file it encodes, and reloading
        each time grew the worker's memory by a few MB per file."""
        if self._tok is None:
            key = (str(self.path), self.sha256, self.split_special_tokens)
            tok = _LOADED.get(key)
            if tok is None:
                tok = _tokenizers().Tokenizer.from_file(str(self.path))
                tok.encode_special_tokens = self.split_special_tokens
                _LOADED[key] = tok
            self._tok = tok
        return self._tok

    @property
    def special_tokens(self) -> list[str]:
        return [t.content for t in self.tokenizer.get_added_tokens_decoder().values() if t.special]

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(np.uint16) if self.vocab_size <= 2**16 else np.dtype(np.uint32)

    def encode_batch(self, texts: Sequence[str], append_eos: bool = True,
                     ) -> tuple[np.ndarray, np.ndarray]:
        """Encode documents to one flat ``uint32`` array and their lengths (``int64``).

        Uses ``encode_batch_fast`` (Rust threads, no character offsets) and never the
        tokenizer's own post-processor: the only token added is the EOS, here, so
        every tokenizer.json behaves the same way.
        """
        texts = list(texts)
        if any(len(t) > self.chunk_chars for t in texts):
            flat, lengths = self._encode_in_pieces(texts)
        else:
            enc = self.tokenizer.encode_batch_fast(texts, add_special_tokens=False)
            ids = [e.ids for e in enc]
            lengths = np.fromiter(map(len, ids), dtype=np.int64, count=len(ids))
            flat = np.fromiter(itertools.chain.from_iterable(ids), dtype=np.uint32,
                               count=int(lengths.sum()))
        total = flat.size
        if not append_eos or self.eos_id is None:
            return flat, lengths
        lengths += 1
        out = np.empty(total + len(texts), dtype=np.uint32)
        ends = np.cumsum(lengths) - 1
        keep = np.ones(out.size, dtype=bool)
        keep[ends] = False
        out[ends] = self.eos_id
        out[keep] = flat
        return out, lengths

    def _encode_in_pieces(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """``encode_batch`` without the EOS, at most ``chunk_chars`` characters per call."""
        piece_chars = max(2, self.chunk_chars // self.pieces_per_call)
        avoid = [t.content for t in self.tokenizer.get_added_tokens_decoder().values()]
        arrays: list[np.ndarray] = []
        lengths = np.zeros(len(texts), dtype=np.int64)
        batch: list[str] = []
        owners: list[int] = []

        def encode() -> None:
            for e, k in zip(self.tokenizer.encode_batch_fast(batch, add_special_tokens=False),
                            owners):
                arrays.append(np.array(e.ids, dtype=np.uint32))
                lengths[k] += arrays[-1].size
            batch.clear()
            owners.clear()

        size = 0
        for k, text in enumerate(texts):
            for piece in split_text(text, piece_chars, avoid):
                if batch and size + len(piece) > self.chunk_chars:
                    encode()
                    size = 0
                batch.append(piece)
                owners.append(k)
                size += len(piece)
        encode()
        return np.concatenate(arrays), lengths

    def encode(self, text: str, append_eos: bool = False) -> list[int]:
        flat, _ = self.encode_batch([text], append_eos=append_eos)
        return flat.tolist()

    def decode(self, ids: Sequence[int] | np.ndarray, skip_special_tokens: bool = False) -> str:
        return self.tokenizer.decode([int(i) for i in ids], skip_special_tokens=skip_special_tokens)

    def spec(self, relative_to: str | Path | None = None, path: str | Path | None = None,
             ) -> dict[str, Any]:
        """The tokenizer description stored in token-shard sidecars.

        ``path`` (default: this tokenizer's file) is written relative to
        ``relative_to`` when given, so an output folder can be moved as a whole.
        """
        import os

        where = Path(path) if path is not None else self.path
        shown = os.path.relpath(where, relative_to) if relative_to is not None else str(where)
        return {"type": "hf-tokenizers", "path": shown, "sha256": self.sha256,
                "vocab_size": self.vocab_size, "eos_token": self.eos_token,
                "split_special_tokens": self.split_special_tokens}


def load_tokenizer(path: str | Path, eos_token: str | None = "auto",
                   split_special_tokens: bool = True) -> MixTokenizer:
    """Load a ``tokenizer.json`` (or a folder holding one), e.g. a Hugging Face model folder."""
    return MixTokenizer(path, eos_token, split_special_tokens)


# -- training ------------------------------------------------------------------------------
def sample_texts(files: Sequence[Path], sample_bytes: int, seed: int = 0,
                 options: ReadOptions | None = None) -> Iterator[str]:
    """Up to ``sample_bytes`` of text drawn evenly from ``files``, in a seeded order.

    Each file contributes documents from its start up to an equal share of the
    budget, so a sample covers every shard without scanning whole shards. The
    document that reaches a share is cut at a safe boundary to fit it, so one huge
    document never brings more than its file's share.
    """
    from alignpt.core.shards import ReadOptions, read_documents

    order = list(files)
    random.Random(seed).shuffle(order)
    per_file = max(1, -(-sample_bytes // max(1, len(order))))
    left = sample_bytes
    for path in order:
        taken = 0
        for doc in read_documents(path, options or ReadOptions()):
            if taken >= per_file or left <= 0:
                break
            text = truncate_utf8(doc.text, min(per_file - taken, left))
            n = len(text.encode("utf-8"))
            taken += n
            left -= n
            if text:
                yield text
            if len(text) < len(doc.text):
                break
        if left <= 0:
            return


@dataclass
class TrainedTokenizer:
    path: Path
    vocab_size: int
    documents: int
    sample_bytes: int
    seconds: float


def train_tokenizer(files: Sequence[Path], out_dir: str | Path, *, vocab_size: int = 32000,
                    special_tokens: Sequence[str] = DEFAULT_SPECIAL_TOKENS,
                    sample_bytes: int = 100_000_000, min_frequency: int = 2, seed: int = 0,
                    options: ReadOptions | None = None) -> TrainedTokenizer:
    """Train a byte-level BPE on a sample of ``files``; write it to ``out_dir``.

    Special tokens get the first ids, in the order given; the vocabulary can come
    out smaller than ``vocab_size`` when the sample has too few distinct merges.
    """
    from alignpt.core.atomic import atomic_write_text

    tk = _tokenizers()
    if vocab_size < 256 + len(special_tokens):
        raise ConfigError(f"vocab_size must be at least 256 bytes + {len(special_tokens)} special "
                          f"tokens, got {vocab_size}")
    if any(not token for token in special_tokens):
        raise ConfigError("--special-token: a special token cannot be empty")
    if len(set(special_tokens)) != len(special_tokens):
        raise ConfigError("special tokens must be distinct")
    started = time.perf_counter()
    tok = tk.Tokenizer(tk.models.BPE())
    tok.pre_tokenizer = tk.pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = tk.decoders.ByteLevel()
    tok.post_processor = tk.processors.ByteLevel(trim_offsets=False)
    trainer = tk.trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=min_frequency,
                                     special_tokens=list(special_tokens), show_progress=False,
                                     initial_alphabet=tk.pre_tokenizers.ByteLevel.alphabet())
    counted = {"docs": 0, "bytes": 0}

    def texts() -> Iterator[str]:
        for text in sample_texts(files, sample_bytes, seed, options):
            counted["docs"] += 1
            counted["bytes"] += len(text.encode("utf-8"))
            yield text

    tok.train_from_iterator(texts(), trainer)
    if counted["docs"] == 0:
        raise ConfigError("no documents to train the tokenizer on")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "tokenizer.json", tok.to_str(pretty=True))
    eos = special_tokens[0] if special_tokens else None
    atomic_write_text(out / "tokenizer_config.json", json.dumps({
        "tokenizer_class": "PreTrainedTokenizerFast", "eos_token": eos, "bos_token": eos,
        "unk_token": None, "model_max_length": 1_000_000_000_000,
        "clean_up_tokenization_spaces": False}, indent=2) + "\n")
    seconds = time.perf_counter() - started
    result = TrainedTokenizer(out / "tokenizer.json", tok.get_vocab_size(with_added_tokens=True),
                              counted["docs"], counted["bytes"], round(seconds, 3))
    atomic_write_text(out / "training.json", json.dumps({
        "vocab_size_requested": vocab_size, "vocab_size": result.vocab_size,
        "special_tokens": list(special_tokens), "min_frequency": min_frequency, "seed": seed,
        "sample_documents": result.documents, "sample_bytes": result.sample_bytes,
        "files": [str(f) for f in files], "seconds": result.seconds}, indent=2) + "\n")
    return result
