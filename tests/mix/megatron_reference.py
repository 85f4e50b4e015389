"""A reader for Megatron-LM indexed datasets, written from the format's documentation.

It shares no code with :mod:`alignpt.mix.writers.megatron`, so reading our files
with it (and datatrove's files, written by a third party) checks the writer
against the format rather than against itself. Layout, per Megatron-LM's
``megatron/core/datasets/readme.md`` and ``indexed_dataset.py`` (``_IndexReader``):
header ``MMIDIDX\\x00\\x00``, version (u64, 1), dtype code (u8), sequence count
(u64), document count (u64), then ``int32`` sequence lengths, ``int64`` sequence
byte pointers, ``int64`` document indices.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

_CODES = {1: np.uint8, 2: np.int8, 3: np.int16, 4: np.int32, 5: np.int64, 6: np.float64,
          7: np.float32, 8: np.uint16}


class IndexedDataset:
    def __init__(self, prefix: Path):
        with open(f"{prefix}.idx", "rb") as fh:
            assert fh.read(9) == b"MMIDIDX\x00\x00", "bad header"
            assert struct.unpack("<Q", fh.read(8))[0] == 1, "bad version"
            self.dtype = np.dtype(_CODES[struct.unpack("<B", fh.read(1))[0]])
            self.sequence_count = struct.unpack("<Q", fh.read(8))[0]
            self.document_count = struct.unpack("<Q", fh.read(8))[0]
            offset = fh.tell()
        idx = np.memmap(f"{prefix}.idx", mode="r", dtype=np.uint8)
        n = self.sequence_count
        self.sequence_lengths = np.frombuffer(idx, np.int32, n, offset)
        self.sequence_pointers = np.frombuffer(idx, np.int64, n, offset + 4 * n)
        self.document_indices = np.frombuffer(idx, np.int64, self.document_count,
                                              offset + 12 * n)
        empty = Path(f"{prefix}.bin").stat().st_size == 0   # np.memmap refuses empty files
        self.bin = (np.zeros(0, np.uint8) if empty else
                    np.memmap(f"{prefix}.bin", mode="r", dtype=np.uint8))

    def __len__(self) -> int:
        return self.sequence_count

    def __getitem__(self, i: int) -> np.ndarray:
        return np.frombuffer(self.bin, self.dtype, int(self.sequence_lengths[i]),
                             int(self.sequence_pointers[i]))

    def document(self, d: int) -> list[np.ndarray]:
        lo, hi = self.document_indices[d], self.document_indices[d + 1]
        return [self[i] for i in range(lo, hi)]


def read_indexed_dataset(prefix: str | Path) -> IndexedDataset:
    return IndexedDataset(Path(prefix))
