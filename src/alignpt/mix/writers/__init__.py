"""Output writers: one part of the token stream, in every format asked for, from one batch.

The mixer decides the stream, the documents and where parts roll over; each
writer only lays the same batches out in its format, so the native shards, the
Megatron files and the Parquet files of a part hold the same documents in the
same order (and the manifest describes all of them at once). Every writer
writes under temporary names and publishes on :meth:`PartWriter.close`.

Formats:

``native``   the project's token shards (:mod:`alignpt.core.tokens`) plus an
             ``.origin.npy`` sidecar: segment, input file, document, offset, pass
``megatron`` GPT-NeoX / Megatron-LM ``.bin`` + ``.idx`` (MMIDIDX version 1)
``parquet``  one row per document: ``input_ids`` and its provenance columns

The interface lives in :mod:`.base`, the name -> writer table in :mod:`.formats`.
"""

from alignpt.mix.writers.base import Batch, PartContext, PartWriter, part_stem
from alignpt.mix.writers.formats import open_part_writers

__all__ = ["Batch", "PartContext", "PartWriter", "open_part_writers", "part_stem"]
