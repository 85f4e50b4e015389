"""Token shards: the on-disk format every trainer input goes through.

A shard named ``NAME`` is three files in one folder:

``NAME.bin``
    the token ids of all documents back to back, a raw little-endian array
    (``uint16`` when the vocabulary fits, else ``uint32``), readable with
    ``np.memmap`` exactly like nanoGPT's ``train.bin`` or OLMo-core's ``.npy``;
``NAME.docs.npy``
    an ``int64`` array of shape ``(n_documents, 3)``: start offset, end offset
    (exclusive) and source index of every document. It is a binary sidecar
    rather than JSON because a web-scale shard holds millions of documents;
``NAME.json``
    the metadata: format version, dtype, vocabulary size, special ids, the
    tokenizer description, the source names and per-source token counts.

The JSON file is written last (temporary name, fsync, rename), so a shard is
complete exactly when its ``.json`` exists; a killed writer leaves nothing that
a reader would pick up.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import numpy as np
import orjson

from alignpt.core.atomic import fsync_replace, temp_name
from alignpt.core.errors import DataError

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "dtype_for_vocab",
    "TokenShardWriter",
    "TokenShard",
    "find_token_shards",
    "open_token_shards",
]

FORMAT_NAME = "alignpt-tokens"
FORMAT_VERSION = 1


def dtype_for_vocab(vocab_size: int) -> np.dtype:
    """``uint16`` when every id fits (vocab <= 65536), else ``uint32``."""
    if vocab_size <= 0:
        raise ValueError("vocab_size must be positive")
    return np.dtype(np.uint16) if vocab_size <= 2**16 else np.dtype(np.uint32)


class TokenShardWriter:
    """Stream documents of token ids into one shard.

    >>> with TokenShardWriter("out/part-00000", vocab_size=20, eos_id=2,
    ...                       sources=["base"]) as w:      # doctest: +SKIP
    ...     w.add_document([1, 5, 6, 2], source="base")

    Token ids are written as they come; only the document index (24 bytes a
    document) is held in memory. Sources may be declared up front (their index
    order is then fixed) or are added on first use.
    """

    def __init__(self, path: str | Path, *, vocab_size: int, eos_id: int | None = None,
                 bos_id: int | None = None, pad_id: int | None = None,
                 tokenizer: dict[str, Any] | None = None, sources: Sequence[str] = (),
                 metadata: dict[str, Any] | None = None, dtype: str | np.dtype | None = None):
        self.path = Path(path)
        if self.path.suffix in (".bin", ".json"):
            self.path = self.path.with_suffix("")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.vocab_size = int(vocab_size)
        self.dtype = np.dtype(dtype) if dtype is not None else dtype_for_vocab(self.vocab_size)
        if self.dtype not in (np.dtype(np.uint16), np.dtype(np.uint32)):
            raise ValueError(f"token dtype must be uint16 or uint32, got {self.dtype}")
        if self.vocab_size > np.iinfo(self.dtype).max + 1:
            raise ValueError(f"vocab_size {self.vocab_size} does not fit in {self.dtype}")
        self.eos_id, self.bos_id, self.pad_id = eos_id, bos_id, pad_id
        self.tokenizer = tokenizer or {}
        self.metadata = dict(metadata or {})
        self.sources: list[str] = []
        self._source_index: dict[str, int] = {}
        self._source_tokens: dict[str, int] = {}
        for name in sources:
            self._source_id(name)
        self._tmp_bin = temp_name(self._beside(".bin"))
        self._fh = open(self._tmp_bin, "wb")
        self._starts: list[np.ndarray] = []
        self._ends: list[np.ndarray] = []
        self._srcs: list[np.ndarray] = []
        self._n_tokens = 0
        self._closed = False

    def _beside(self, ext: str) -> Path:
        """The shard's file ``NAME{ext}`` (the temporaries are named after it)."""
        return self.path.with_name(self.path.name + ext)

    # -- writing -------------------------------------------------------
    def _source_id(self, name: str) -> int:
        idx = self._source_index.get(name)
        if idx is None:
            idx = len(self.sources)
            self.sources.append(name)
            self._source_index[name] = idx
            self._source_tokens.setdefault(name, 0)
        return idx

    def _check_ids(self, ids: np.ndarray) -> np.ndarray:
        if ids.size and (ids.min() < 0 or ids.max() >= self.vocab_size):
            raise ValueError(f"token id out of range [0, {self.vocab_size}) in {self.path}")
        return ids.astype(self.dtype, copy=False)

    def add_document(self, ids: Sequence[int] | np.ndarray, source: str = "default") -> None:
        self.add_documents(np.asarray(ids, dtype=np.int64), np.array([len(ids)]), [source])

    def add_documents(self, flat_ids: np.ndarray, lengths: Sequence[int] | np.ndarray,
                      sources: Sequence[str] | np.ndarray | str) -> None:
        """Append many documents at once (the fast path for generators).

        ``flat_ids`` is every document's ids back to back, ``lengths`` their
        lengths, ``sources`` one source name for all or one per document.
        """
        if self._closed:
            raise RuntimeError("writer is closed")
        flat = self._check_ids(np.asarray(flat_ids))
        lengths = np.asarray(lengths, dtype=np.int64)
        if int(lengths.sum()) != flat.size:
            raise ValueError("lengths do not add up to the number of ids")
        if isinstance(sources, str):
            src_ids = np.full(lengths.size, self._source_id(sources), dtype=np.int64)
        else:
            names = list(sources)
            if len(names) != lengths.size:
                raise ValueError("need one source per document")
            src_ids = np.fromiter((self._source_id(str(s)) for s in names), dtype=np.int64,
                                  count=len(names))
        ends = self._n_tokens + np.cumsum(lengths)
        starts = ends - lengths
        self._fh.write(flat.tobytes())
        self._starts.append(starts)
        self._ends.append(ends)
        self._srcs.append(src_ids)
        self._n_tokens += int(flat.size)
        per_source = np.bincount(src_ids, weights=lengths, minlength=len(self.sources))
        for idx, count in enumerate(per_source):
            if count:
                self._source_tokens[self.sources[idx]] += int(count)

    # -- finishing -----------------------------------------------------
    def close(self) -> "TokenShard":
        if self._closed:
            return TokenShard(self.path)
        self._fh.close()   # fsynced by fsync_replace below, before it is renamed
        if self._starts:
            docs = np.stack([np.concatenate(self._starts), np.concatenate(self._ends),
                             np.concatenate(self._srcs)], axis=1).astype(np.int64)
        else:
            docs = np.zeros((0, 3), dtype=np.int64)
        tmp_docs = temp_name(self._beside(".docs"), ".npy")   # np.save insists on the extension
        np.save(tmp_docs, docs)
        meta = {
            "format": FORMAT_NAME,
            "version": FORMAT_VERSION,
            "dtype": self.dtype.name,
            "vocab_size": self.vocab_size,
            "eos_id": self.eos_id,
            "bos_id": self.bos_id,
            "pad_id": self.pad_id,
            "tokenizer": self.tokenizer,
            "sources": self.sources,
            "n_tokens": self._n_tokens,
            "n_documents": int(docs.shape[0]),
            "source_tokens": {s: self._source_tokens.get(s, 0) for s in self.sources},
            "metadata": self.metadata,
        }
        tmp_json = temp_name(self._beside(".json"))
        tmp_json.write_bytes(orjson.dumps(meta, option=orjson.OPT_INDENT_2))
        # Data files first, sidecar last: the .json marks the shard complete.
        fsync_replace(self._tmp_bin, self.path.with_suffix(".bin"))
        fsync_replace(tmp_docs, self.path.with_name(self.path.name + ".docs.npy"))
        fsync_replace(tmp_json, self.path.with_suffix(".json"))
        self._closed = True
        return TokenShard(self.path)

    def abort(self) -> None:
        """Drop everything written so far (used when a stage fails)."""
        if not self._closed:
            self._fh.close()
            self._tmp_bin.unlink(missing_ok=True)
            self._closed = True

    def __enter__(self) -> "TokenShardWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


@dataclass
class TokenShard:
    """Read access to one shard: memory-mapped tokens plus its document index."""

    path: Path

    def __post_init__(self) -> None:
        self.path = Path(self.path)
        if self.path.suffix in (".bin", ".json"):
            self.path = self.path.with_suffix("")
        json_path = self.path.with_suffix(".json")
        try:
            self.meta: dict[str, Any] = orjson.loads(json_path.read_bytes())
        except FileNotFoundError:
            raise DataError("token shard sidecar not found (incomplete or missing shard)",
                            str(json_path)) from None
        except orjson.JSONDecodeError as exc:
            raise DataError(f"invalid JSON in token shard sidecar: {exc}", str(json_path)) from None
        if self.meta.get("format") != FORMAT_NAME:
            raise DataError(f"not an {FORMAT_NAME} sidecar", str(json_path))
        if self.meta.get("version") != FORMAT_VERSION:
            raise DataError(f"unsupported token format version {self.meta.get('version')}",
                            str(json_path))
        self.dtype = np.dtype(self.meta["dtype"])
        bin_path = self.path.with_suffix(".bin")
        size = bin_path.stat().st_size if bin_path.exists() else -1
        expected = self.meta["n_tokens"] * self.dtype.itemsize
        if size != expected:
            raise DataError(f"token file has {size} bytes, sidecar says {expected}", str(bin_path))
        self._tokens: np.ndarray | None = None
        self._docs: np.ndarray | None = None

    # -- metadata ------------------------------------------------------
    @property
    def n_tokens(self) -> int:
        return int(self.meta["n_tokens"])

    @property
    def n_documents(self) -> int:
        return int(self.meta["n_documents"])

    @property
    def sources(self) -> list[str]:
        return list(self.meta["sources"])

    @property
    def vocab_size(self) -> int:
        return int(self.meta["vocab_size"])

    @property
    def eos_id(self) -> int | None:
        return self.meta.get("eos_id")

    @property
    def tokenizer(self) -> dict[str, Any]:
        return self.meta.get("tokenizer") or {}

    # -- data ----------------------------------------------------------
    @property
    def tokens(self) -> np.ndarray:
        """All token ids, memory-mapped read-only."""
        if self._tokens is None:
            if self.n_tokens == 0:
                self._tokens = np.zeros(0, dtype=self.dtype)
            else:
                self._tokens = np.memmap(self.path.with_suffix(".bin"), dtype=self.dtype,
                                         mode="r", shape=(self.n_tokens,))
        return self._tokens

    @property
    def docs(self) -> np.ndarray:
        """``(n_documents, 3)`` int64: start, end, source index."""
        if self._docs is None:
            docs_path = self.path.with_name(self.path.name + ".docs.npy")
            try:
                self._docs = np.load(docs_path, mmap_mode="r")
            except (OSError, ValueError) as exc:
                raise DataError(f"unreadable document index: {exc}", str(docs_path)) from None
            if self._docs.shape != (self.n_documents, 3):
                raise DataError(f"document index has shape {self._docs.shape}, expected "
                                f"({self.n_documents}, 3)", str(docs_path))
        return self._docs

    def document(self, i: int) -> np.ndarray:
        start, end, _ = self.docs[i]
        return np.asarray(self.tokens[start:end])

    def source_of(self, i: int) -> str:
        return self.sources[int(self.docs[i, 2])]

    def iter_documents(self) -> Iterator[tuple[np.ndarray, str]]:
        for start, end, src in self.docs:
            yield np.asarray(self.tokens[start:end]), self.sources[int(src)]

    def __len__(self) -> int:
        return self.n_documents

    def __repr__(self) -> str:
        return (f"TokenShard({str(self.path)!r}, documents={self.n_documents}, "
                f"tokens={self.n_tokens}, sources={self.sources})")


def find_token_shards(paths: str | Path | Iterable[str | Path]) -> list[Path]:
    """Expand files, folders (searched recursively) and globs into shard paths, sorted."""
    if isinstance(paths, (str, Path)):
        paths = [paths]
    found: set[Path] = set()
    for p in paths:
        p = Path(p)
        if p.is_dir():
            found.update(q.with_suffix("") for q in p.rglob("*.json") if _is_shard_sidecar(q))
        elif any(ch in str(p) for ch in "*?["):
            import glob

            for q in glob.glob(str(p), recursive=True):
                q = Path(q)
                if q.suffix == ".json" and _is_shard_sidecar(q):
                    found.add(q.with_suffix(""))
                elif q.suffix == ".bin" and q.with_suffix(".json").exists():
                    found.add(q.with_suffix(""))
        else:
            base = p.with_suffix("") if p.suffix in (".bin", ".json") else p
            if not base.with_suffix(".json").exists():
                raise DataError("no token shard here (expected NAME.json beside NAME.bin)", str(p))
            found.add(base)
    return sorted(found)


def _is_shard_sidecar(path: Path) -> bool:
    if path.name.startswith("."):
        return False
    if not path.with_suffix(".bin").exists():
        return False
    try:
        with open(path, "rb") as fh:
            head = fh.read(256)
    except OSError:
        return False
    return FORMAT_NAME.encode() in head


def open_token_shards(paths: str | Path | Iterable[str | Path]) -> list[TokenShard]:
    shards = [TokenShard(p) for p in find_token_shards(paths)]
    if not shards:
        raise DataError(f"no token shards found in {paths}")
    return shards
