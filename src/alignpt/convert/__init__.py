"""``alignpt shards``: look at and convert document shards.

The conversion stage is ``stages`` (JSONL <-> Parquet, recompression, resharding, on the
executor); ``cli`` holds ``alignpt shards info`` and ``alignpt shards convert``.
"""

from alignpt.convert.stages import ConvertConfig, Passthrough, convert_shards

__all__ = ["ConvertConfig", "Passthrough", "convert_shards"]
