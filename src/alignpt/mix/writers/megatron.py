"""GPT-NeoX / Megatron-LM indexed datasets: ``NAME.bin`` + ``NAME.idx`` (MMIDIDX v1).

``NAME.bin`` is every document's tokens back to back. ``NAME.idx`` is, little-endian:

1. the magic ``MMIDIDX\\x00\\x00`` (9 bytes) and the version, ``u64`` 1;
2. the token dtype code, ``u8`` (8 = uint16, 4 = int32: Megatron's
   ``DType.optimal_dtype`` picks uint16 below a vocabulary of 65,500);
3. the sequence count and the document count, ``u64`` each;
4. the sequence lengths (``int32``), their byte offsets in ``.bin`` (``int64``) and
   the document indices (``int64``: ``0`` then the index one past each document's
   last sequence, so ``document count = sequences + 1``).

One document is one sequence, as GPT-NeoX's ``preprocess_data.py`` and
datatrove's ``MegatronDocumentTokenizer`` write it: the files are byte-identical
to datatrove's for the same documents (tested). Index arrays are kept for one
part only, so memory is bounded by the part size.
"""

from __future__ import annotations

import os
import struct

import numpy as np

from alignpt.core.atomic import fsync_replace, temp_name
from alignpt.mix.writers.base import Batch, PartContext, PartWriter

__all__ = ["MegatronPartWriter", "MAGIC", "DTYPE_CODES", "megatron_dtype"]

MAGIC = b"MMIDIDX\x00\x00"
DTYPE_CODES = {np.dtype(np.uint16): 8, np.dtype(np.int32): 4}


def megatron_dtype(vocab_size: int) -> np.dtype:
    """Megatron-LM's choice: uint16 below 65,500 ids, else int32."""
    return np.dtype(np.uint16) if vocab_size < 65500 else np.dtype(np.int32)


class MegatronPartWriter(PartWriter):
    def __init__(self, ctx: PartContext, stem: str, group: str, part: int):
        self.bin_path = ctx.out_dir / (stem + ".bin")
        self.idx_path = ctx.out_dir / (stem + ".idx")
        self.files = [stem + ".bin", stem + ".idx"]
        self.dtype = megatron_dtype(ctx.vocab_size)
        self.bin_path.parent.mkdir(parents=True, exist_ok=True)
        # Streamed into temporaries opened here and published in close(), .bin before .idx.
        self._tmp_bin = temp_name(self.bin_path)
        self._tmp_idx = temp_name(self.idx_path)
        self._fh = open(self._tmp_bin, "wb")
        self._lengths: list[np.ndarray] = []

    def write(self, batch: Batch) -> None:
        if batch.lengths.size and batch.lengths.max() > np.iinfo(np.int32).max:
            raise ValueError("a Megatron sequence holds at most 2**31 - 1 tokens")
        self._fh.write(batch.tokens.astype(self.dtype, copy=False).tobytes())
        self._lengths.append(batch.lengths.astype(np.int32))

    def close(self) -> None:
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self._fh.close()
        lengths = np.concatenate(self._lengths) if self._lengths else np.zeros(0, np.int32)
        pointers = np.zeros(lengths.size, dtype=np.int64)
        if lengths.size > 1:
            np.cumsum(lengths[:-1].astype(np.int64) * self.dtype.itemsize, out=pointers[1:])
        doc_index = np.arange(lengths.size + 1, dtype=np.int64)
        with open(self._tmp_idx, "wb") as fh:
            fh.write(MAGIC)
            fh.write(struct.pack("<Q", 1))
            fh.write(struct.pack("<B", DTYPE_CODES[self.dtype]))
            fh.write(struct.pack("<Q", lengths.size))
            fh.write(struct.pack("<Q", doc_index.size))
            fh.write(lengths.tobytes())
            fh.write(pointers.tobytes())
            fh.write(doc_index.tobytes())
        fsync_replace(self._tmp_bin, self.bin_path)
        fsync_replace(self._tmp_idx, self.idx_path)

    def abort(self) -> None:
        if not self._fh.closed:
            self._fh.close()
        self._tmp_bin.unlink(missing_ok=True)
        self._tmp_idx.unlink(missing_ok=True)
