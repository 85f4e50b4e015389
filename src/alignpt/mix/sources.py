"""A recipe's sources made concrete: input files, cached tokens, selection and exact size.

:func:`prepare_sources` expands each source's paths (or an earlier stage's
output folder), tokenizes what the cache lacks, applies ``where`` / ``exclude``,
and counts exactly what remains. :func:`build_index` then writes one compact
on-disk index per source (file, length, document, start: 24 bytes a document)
that the stream reads in slices, so no per-document table of a source has to
fit in memory.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from alignpt.core.atomic import atomic_path
from alignpt.core.errors import DataError
from alignpt.core.executor import expand_inputs
from alignpt.core.tokens import TokenShard
from alignpt.mix.encode import EncodeStats, TokenCache, encode_inputs
from alignpt.mix.plan import SourceSize
from alignpt.mix.recipe import SourceSpec
from alignpt.mix.select import attributes_file
from alignpt.mix.stages import published_shards
from alignpt.mix.tokenizer import MixTokenizer

__all__ = ["INDEX_DTYPE", "PreparedSource", "source_inputs", "prepare_sources", "build_index"]

#: one record per kept document with at least one token
INDEX_DTYPE = np.dtype([("file", "<u4"), ("length", "<u4"), ("doc", "<i8"), ("start", "<i8")])


@dataclass
class PreparedSource:
    name: str
    spec: SourceSpec
    inputs: list[Path]
    stems: list[Path]                 # cache entry of each input
    masks: list[Path | None]          # selection mask of each input (None: keep all)
    documents: int = 0                # kept documents with at least one token
    tokens: int = 0
    documents_read: int = 0           # all documents of the inputs

    @property
    def size(self) -> SourceSize:
        return SourceSize(self.documents, self.tokens)


def source_inputs(name: str, spec: SourceSpec) -> tuple[list[Path], Path]:
    """The shard files of a source and the root their relative names are taken from.

    A ``stage`` source is the documents that stage published, no other file of its
    folder (:mod:`alignpt.mix.stages`)."""
    if spec.stage is not None:
        published = published_shards(spec.stage)
        if not published.files:
            raise DataError(f"source {name}: the {published.stage} output published no "
                            "documents", str(spec.stage))
        return published.files, published.root
    files = expand_inputs(spec.paths or [])
    root = Path(os.path.commonpath([str(p.resolve().parent) for p in files]))
    return files, root


def _check_published(src: PreparedSource) -> None:
    """A stage source holds exactly the documents its stage says it published."""
    if src.spec.stage is None:
        return
    expected = published_shards(src.spec.stage).documents
    if src.documents_read != expected:
        raise DataError(f"source {src.name}: read {src.documents_read:,} documents where the "
                        f"stage published {expected:,}; rerun that stage", str(src.spec.stage))


def prepare_sources(specs: dict[str, SourceSpec], cache_root: str | Path,
                    tokenizer: MixTokenizer, workers: int = 1, progress: bool = True,
                    ) -> tuple[dict[str, PreparedSource], EncodeStats]:
    """Tokenize (cached), select and count every source."""
    caches: dict[tuple[str, str], TokenCache] = {}
    requests: dict[tuple[str, str], dict[Path, list]] = {}
    inputs: dict[tuple[str, str], list[Path]] = {}
    prepared: dict[str, PreparedSource] = {}
    for name, spec in specs.items():
        key = (spec.text_field, spec.id_field)
        cache = caches.setdefault(key, TokenCache(cache_root, tokenizer, *key))
        files, root = source_inputs(name, spec)
        spec.check_selection(name, files, root)   # a misspelt condition would select nothing
        cond = spec.selection
        masks: list[Path | None] = []
        for f in files:
            if cond is None:
                masks.append(None)
                continue
            attr = attributes_file(Path(spec.attributes), f, root) if spec.attributes else None
            requests.setdefault(key, {}).setdefault(f, []).append((cond, attr))
            masks.append(cache.mask(f, cond, attr))
        inputs.setdefault(key, []).extend(files)
        prepared[name] = PreparedSource(name, spec, files, [cache.stem(f) for f in files], masks)
    total = EncodeStats()
    for key, cache in caches.items():
        st = encode_inputs(cache, inputs[key], requests.get(key), workers, progress)
        for k in ("files", "files_cached", "documents", "bytes", "tokens"):
            setattr(total, k, getattr(total, k) + getattr(st, k))
        total.seconds += st.seconds
        total.per_file.update(st.per_file)
    for src in prepared.values():
        _count(src)
        _check_published(src)
    return prepared, total


def _kept(src: PreparedSource, i: int, shard: TokenShard) -> tuple[np.ndarray, np.ndarray]:
    """Indices and lengths of the documents of input ``i`` that take part."""
    docs = np.asarray(shard.docs)
    lengths = docs[:, 1] - docs[:, 0]
    keep = lengths > 0
    if src.masks[i] is not None:
        mask = np.load(src.masks[i])
        if mask.shape != (shard.n_documents,):
            raise DataError(f"selection mask has {mask.shape[0]} entries for "
                            f"{shard.n_documents} documents (stale cache?)", str(src.masks[i]))
        keep &= mask.astype(bool)
    idx = np.flatnonzero(keep)
    return idx, lengths[idx]


def _count(src: PreparedSource) -> None:
    for i, stem in enumerate(src.stems):
        shard = TokenShard(stem)
        idx, lengths = _kept(src, i, shard)
        src.documents += int(idx.size)
        src.tokens += int(lengths.sum())
        src.documents_read += shard.n_documents


def build_index(src: PreparedSource, path: Path) -> Path:
    """Write the source's document index (``INDEX_DTYPE`` records), one input at a time."""
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        for i, stem in enumerate(src.stems):
            shard = TokenShard(stem)
            idx, lengths = _kept(src, i, shard)
            if lengths.size and lengths.max() >= 2**32:
                raise DataError("a document of 4 billion tokens or more", str(src.inputs[i]))
            rec = np.empty(idx.size, dtype=INDEX_DTYPE)
            rec["file"] = i
            rec["length"] = lengths
            rec["doc"] = idx
            rec["start"] = np.asarray(shard.docs)[idx, 0]
            fh.write(rec.tobytes())
    return path
