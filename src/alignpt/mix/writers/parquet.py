"""Parquet of token ids: one row per document, ready for ``datasets.load_dataset("parquet")``.

Columns: ``input_ids`` (a list of ``uint16`` or ``uint32``), ``source``, ``segment``,
``id`` (the document's id in its input shard), ``input`` (index into the
manifest's input list), ``doc`` (document index in that input), ``offset`` (first
token of this piece within the document; 0 unless a budget cut it) and
``epoch`` (the pass over its source). A row group closes at ``ROW_GROUP_ROWS``
rows or ``ROW_GROUP_TOKENS`` tokens, whichever comes first: the file does not
depend on how the mixer batched its writes, and the buffer stays small whatever
the document length.
"""

from __future__ import annotations

import numpy as np

from alignpt.core.atomic import fsync_replace, temp_name
from alignpt.mix.writers.base import Batch, PartContext, PartWriter

__all__ = ["ParquetPartWriter", "ROW_GROUP_ROWS", "ROW_GROUP_TOKENS"]

ROW_GROUP_ROWS = 8192
ROW_GROUP_TOKENS = 1 << 22


class ParquetPartWriter(PartWriter):
    def __init__(self, ctx: PartContext, stem: str, group: str, part: int):
        import pyarrow as pa
        import pyarrow.parquet as pq

        self._pa = pa
        self.path = ctx.out_dir / (stem + ".parquet")
        self.files = [stem + ".parquet"]
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._tmp = temp_name(self.path)    # streamed into across write() calls, published in close()
        self._value_type = pa.from_numpy_dtype(ctx.dtype)
        self._sources = pa.array(ctx.sources, pa.string())
        self.schema = pa.schema([
            ("input_ids", pa.list_(self._value_type)), ("source", pa.string()),
            ("segment", pa.int32()), ("id", pa.string()), ("input", pa.int32()),
            ("doc", pa.int64()), ("offset", pa.int64()), ("epoch", pa.int32()),
        ], metadata={b"alignpt": b"mix", b"group": group.encode(), b"part": str(part).encode()})
        self._writer = pq.ParquetWriter(self._tmp, self.schema, compression="zstd")
        self._pending: list = []
        self._rows = self._tokens = 0

    def write(self, batch: Batch) -> None:
        pa = self._pa
        offsets = np.zeros(len(batch) + 1, dtype=np.int64)
        np.cumsum(batch.lengths, out=offsets[1:])
        ids = pa.LargeListArray.from_arrays(pa.array(offsets), pa.array(batch.tokens))
        ids = ids.cast(pa.list_(self._value_type))
        doc_ids = (pa.array(batch.ids, pa.string()) if batch.ids is not None
                   else pa.nulls(len(batch), pa.string()))
        table = pa.table({
            "input_ids": ids,
            "source": self._sources.take(pa.array(batch.source)),
            "segment": pa.array(batch.segment, pa.int32()),
            "id": doc_ids,
            "input": pa.array(batch.input, pa.int32()),
            "doc": pa.array(batch.doc, pa.int64()),
            "offset": pa.array(batch.offset, pa.int64()),
            "epoch": pa.array(batch.epoch, pa.int32()),
        }, schema=self.schema)
        self._pending.append(table)
        self._rows += table.num_rows
        self._tokens += int(batch.tokens.size)
        if self._rows >= ROW_GROUP_ROWS or self._tokens >= ROW_GROUP_TOKENS:
            self._flush(final=False)

    def _flush(self, final: bool) -> None:
        import pyarrow.compute as pc

        table = self._pa.concat_tables(self._pending)
        lengths = pc.list_value_length(table.column("input_ids")).to_numpy()
        start = 0
        while start < table.num_rows:
            cum = np.cumsum(lengths[start:start + ROW_GROUP_ROWS])
            full = cum.size == ROW_GROUP_ROWS or cum[-1] >= ROW_GROUP_TOKENS
            if not (full or final):
                break
            n = min(cum.size, int(np.searchsorted(cum, ROW_GROUP_TOKENS, side="left")) + 1)
            self._writer.write_table(table.slice(start, n), row_group_size=ROW_GROUP_ROWS)
            start += n
        self._pending = [table.slice(start)] if start < table.num_rows else []
        self._tokens = int(lengths[start:].sum())
        self._rows = table.num_rows - start

    def close(self) -> None:
        if self._pending:
            self._flush(final=True)
        self._writer.close()
        fsync_replace(self._tmp, self.path)

    def abort(self) -> None:
        try:
            self._writer.close()
        finally:
            self._tmp.unlink(missing_ok=True)
