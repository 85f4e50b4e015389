"""Native token shards: what :mod:`alignpt.train` reads.

Each part is a :class:`~alignpt.core.tokens.TokenShardWriter` shard (tokens, document
boundaries, the source of every document, a tokenizer description pointing at
the output folder's ``tokenizer.json``) plus ``NAME.origin.npy``: an ``int64``
``(n, 5)`` array of segment, input index, document index in that input, offset of
the piece within the document, and pass, so any document can be traced back to
the shard line it came from.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from alignpt.core.atomic import atomic_path
from alignpt.core.tokens import TokenShardWriter
from alignpt.mix.writers.base import Batch, PartContext, PartWriter

__all__ = ["NativePartWriter", "ORIGIN_COLUMNS"]

ORIGIN_COLUMNS = ("segment", "input", "doc", "offset", "epoch")


class NativePartWriter(PartWriter):
    def __init__(self, ctx: PartContext, stem: str, group: str, part: int):
        self.path = ctx.out_dir / stem
        self.files = [stem + ".bin", stem + ".docs.npy", stem + ".json", stem + ".origin.npy"]
        self._names = np.asarray(ctx.sources, dtype=object)
        spec = ctx.tokenizer_spec(self.path.parent)
        self._writer = TokenShardWriter(self.path, vocab_size=ctx.vocab_size, eos_id=ctx.eos_id,
                                        tokenizer=spec, sources=ctx.sources, dtype=ctx.dtype,
                                        metadata={**ctx.metadata, "group": group, "part": part,
                                                  "origin_columns": list(ORIGIN_COLUMNS)})
        self._origin: list[np.ndarray] = []

    def write(self, batch: Batch) -> None:
        self._writer.add_documents(batch.tokens, batch.lengths, self._names[batch.source])
        self._origin.append(np.stack([batch.segment, batch.input, batch.doc, batch.offset,
                                      batch.epoch], axis=1).astype(np.int64))

    def close(self) -> None:
        origin = (np.concatenate(self._origin) if self._origin
                  else np.zeros((0, len(ORIGIN_COLUMNS)), dtype=np.int64))
        final = Path(str(self.path) + ".origin.npy")
        with atomic_path(final, suffix=".npy") as tmp:   # np.save would append .npy otherwise
            np.save(tmp, origin)
        self._writer.close()  # its .json goes last: the shard is complete when it exists

    def abort(self) -> None:
        self._writer.abort()
