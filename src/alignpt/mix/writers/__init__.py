"""Output writers: one part of the token stream, in every format asked for, from one batch.

The mixer decides the stream, the documents and where parts roll over; each
writer only lays the same batches out in its format, so the native shards, the
Megatron files and the Parquet files of a part hold the same documents in the
same order (and the manifest describes all of them at once). Every writer
writes under temporary names and publishes on :meth:`PartWriter.close`.

Formats:

``native``   the project's token shards (:mod:`alignpt.tokens`) plus an
             ``.origin.npy`` sidecar: segment, input file, document, offset, pass
``megatron`` GPT-NeoX / Megatron-LM ``.bin`` + ``.idx`` (MMIDIDX version 1)
``parquet``  one row per document: ``input_ids`` and its provenance columns
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

__all__ = ["Batch", "PartContext", "PartWriter", "open_part_writers", "part_stem", "fsync_replace"]


@dataclass
class Batch:
    """Documents (or document pieces) in stream order, as parallel arrays."""

    tokens: np.ndarray       # all ids back to back, in the output dtype
    lengths: np.ndarray      # int64, one per document
    source: np.ndarray       # int32 index into PartContext.sources
    segment: np.ndarray      # int32 segment (window) of the group
    input: np.ndarray        # int32 index into the manifest's input list
    doc: np.ndarray          # int64 document index within that input
    offset: np.ndarray       # int64 first token of the piece within its document
    epoch: np.ndarray        # int32 pass over the source (0 = first time seen)
    ids: Any = None          # document ids (Arrow string array or list) when wanted

    def __len__(self) -> int:
        return int(self.lengths.size)


@dataclass
class PartContext:
    """What every part of a mix shares: token space, names, and a description."""

    out_dir: Path
    vocab_size: int
    dtype: np.dtype
    eos_id: int | None
    tokenizer_file: Path           # the tokenizer copied into the output folder
    tokenizer_spec: Any            # callable(relative_to) -> dict for sidecars
    sources: list[str]
    metadata: dict[str, Any]


def part_stem(fmt: str, group: str, part: int) -> str:
    """Relative path (no extension) of one part in one format."""
    return f"{fmt}/{group}/part-{part:05d}"


def fsync_replace(tmp: Path, final: Path) -> None:
    with open(tmp, "rb+") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, final)


class PartWriter(ABC):
    """One part in one format."""

    #: final file paths relative to the output folder, known before writing
    files: list[str]

    @abstractmethod
    def write(self, batch: Batch) -> None: ...

    @abstractmethod
    def close(self) -> None:
        """Finish and publish every file of the part."""

    @abstractmethod
    def abort(self) -> None:
        """Remove whatever was written."""


def open_part_writers(formats: Sequence[str], ctx: PartContext, group: str, part: int,
                      ) -> list[PartWriter]:
    from alignpt.mix.writers.megatron import MegatronPartWriter
    from alignpt.mix.writers.native import NativePartWriter
    from alignpt.mix.writers.parquet import ParquetPartWriter

    kinds = {"native": NativePartWriter, "megatron": MegatronPartWriter,
             "parquet": ParquetPartWriter}
    writers: list[PartWriter] = []
    try:
        for fmt in formats:
            writers.append(kinds[fmt](ctx, part_stem(fmt, group, part), group, part))
    except BaseException:
        for w in writers:
            w.abort()
        raise
    return writers
