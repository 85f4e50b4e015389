"""What every output writer shares: the batch it is handed, the part's context, the interface.

The mixer decides the stream, the documents and where parts roll over; each
writer only lays the same batches out in its format (see :mod:`alignpt.mix.writers`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["Batch", "PartContext", "PartWriter", "part_stem"]


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
