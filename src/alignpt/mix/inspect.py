"""Look inside a mix output: the accounting table, any document decoded, a recount.

Skipped as doctests: they read a finished mix output (``alignpt mix run`` writes one).

>>> rows = accounting("runs/mix/aligned")                   # doctest: +SKIP
>>> doc = read_document("runs/mix/aligned", "pretrain", 17)  # doctest: +SKIP
>>> print(doc.source, doc.segment, doc.text[:80])           # doctest: +SKIP

Documents are numbered per group (``pretrain``, ``pretrain.aligned`` ...) across
its parts, in stream order. They are read from the native shards when the output
has them, else from Parquet, else from the Megatron files.
"""

from __future__ import annotations

import struct
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from alignpt.core.errors import DataError
from alignpt.mix.manifest import accounting_rows, load_manifest
from alignpt.mix.tokenizer import load_tokenizer

__all__ = ["accounting", "MixDocument", "read_document", "verify"]


def accounting(out_dir: str | Path) -> list[dict[str, Any]]:
    """Planned and written tokens per group, segment (window) and source."""
    return accounting_rows(load_manifest(out_dir))


@dataclass
class MixDocument:
    group: str
    index: int
    part: int
    source: str | None
    segment: int | None
    tokens: np.ndarray
    text: str
    input: str | None = None       # the input shard it came from
    doc: int | None = None         # its position in that shard
    offset: int | None = None      # first token of this piece within the document
    epoch: int | None = None       # pass over the source
    id: str | None = None


def _group(manifest: dict[str, Any], name: str) -> dict[str, Any]:
    for g in manifest["groups"]:
        if g["name"] == name:
            return g
    raise DataError(f"no group {name!r} (groups: {', '.join(g['name'] for g in manifest['groups'])})")


def _locate(group: dict[str, Any], index: int) -> tuple[dict[str, Any], int]:
    total = sum(p["documents"] for p in group["parts"])
    if not -total <= index < total:
        raise DataError(f"group {group['name']} has {total:,} documents; {index} is out of range")
    index %= total
    for part in group["parts"]:
        if index < part["documents"]:
            return part, index
        index -= part["documents"]
    raise AssertionError("unreachable")


def read_document(out_dir: str | Path, group: str, index: int) -> MixDocument:
    """Document ``index`` of ``group`` (negative counts from the end), decoded to text."""
    out = Path(out_dir)
    manifest = load_manifest(out)
    part, i = _locate(_group(manifest, group), index)
    tok = load_tokenizer(out / "tokenizer.json", eos_token=None)
    files = part["files"]
    if "native" in files:
        from alignpt.core.tokens import TokenShard

        stem = out / files["native"][0][: -len(".bin")]
        shard = TokenShard(stem)
        origin = np.load(str(stem) + ".origin.npy", mmap_mode="r")[i]
        ids = shard.document(i)
        seg, inp, d, off, ep = (int(x) for x in origin)
        return MixDocument(group, index, part["part"], shard.source_of(i), seg, ids,
                           tok.decode(ids), manifest["inputs"][inp], d, off, ep)
    if "parquet" in files:
        import pyarrow.parquet as pq

        row = pq.read_table(out / files["parquet"][0]).slice(i, 1).to_pylist()[0]
        ids = np.asarray(row["input_ids"], dtype=np.int64)
        return MixDocument(group, index, part["part"], row["source"], row["segment"], ids,
                           tok.decode(ids), manifest["inputs"][row["input"]], row["doc"],
                           row["offset"], row["epoch"], row["id"])
    bin_path, idx_path = (out / f for f in files["megatron"])
    lengths, pointers, dtype = _megatron_index(idx_path)
    ids = np.fromfile(bin_path, dtype=dtype, count=int(lengths[i]), offset=int(pointers[i]))
    # Megatron files carry no provenance: source and segment are unknown here.
    return MixDocument(group, index, part["part"], None, None, ids, tok.decode(ids))


def _megatron_index(path: Path) -> tuple[np.ndarray, np.ndarray, np.dtype]:
    raw = path.read_bytes()
    code = raw[17]
    (n,) = struct.unpack_from("<Q", raw, 18)
    lengths = np.frombuffer(raw, np.int32, n, 34)
    pointers = np.frombuffer(raw, np.int64, n, 34 + 4 * n)
    return lengths, pointers, np.dtype({8: np.uint16, 4: np.int32}[code])


def verify(out_dir: str | Path) -> dict[str, Any]:
    """Recount every native part from its files and compare with the manifest.

    Returns ``{"parts": n, "tokens": n}``; raises :class:`DataError` on the first
    difference (a part edited, truncated or swapped after the mix).
    """
    from alignpt.core.tokens import TokenShard

    out = Path(out_dir)
    manifest = load_manifest(out)
    n_parts = n_tokens = 0
    for group in manifest["groups"]:
        for part in group["parts"]:
            if "native" not in part["files"]:
                raise DataError("verify needs the native format in the output", str(out))
            stem = out / part["files"]["native"][0][: -len(".bin")]
            shard = TokenShard(stem)
            docs = np.asarray(shard.docs)
            origin = np.load(str(stem) + ".origin.npy")
            lengths = docs[:, 1] - docs[:, 0]
            counts: dict[str, dict[str, int]] = defaultdict(dict)
            for s in np.unique(docs[:, 2]):
                mine = docs[:, 2] == s
                for seg in np.unique(origin[mine, 0]):
                    n = int(lengths[mine & (origin[:, 0] == seg)].sum())
                    counts[shard.sources[int(s)]][str(int(seg))] = n
            if dict(counts) != part["counts"] or shard.n_tokens != part["tokens"]:
                raise DataError(f"part {part['part']} of {group['name']} does not match the "
                                f"manifest (files: {dict(counts)}, manifest: {part['counts']})",
                                str(stem))
            n_parts += 1
            n_tokens += shard.n_tokens
    return {"parts": n_parts, "tokens": n_tokens}
