"""The output formats by name, and :func:`open_part_writers` to open one part in each."""

from __future__ import annotations

from typing import Sequence

from alignpt.mix.writers.base import PartContext, PartWriter, part_stem
from alignpt.mix.writers.megatron import MegatronPartWriter
from alignpt.mix.writers.native import NativePartWriter
from alignpt.mix.writers.parquet import ParquetPartWriter

__all__ = ["WRITERS", "open_part_writers"]

#: format name (as a recipe's ``output.formats`` spells it) -> its writer
WRITERS: dict[str, type[PartWriter]] = {
    "native": NativePartWriter, "megatron": MegatronPartWriter, "parquet": ParquetPartWriter,
}


def open_part_writers(formats: Sequence[str], ctx: PartContext, group: str, part: int,
                      ) -> list[PartWriter]:
    """One writer per format for part ``part`` of ``group``; if one fails to open, the ones
    already open are aborted so no temporary is left behind."""
    writers: list[PartWriter] = []
    try:
        for fmt in formats:
            writers.append(WRITERS[fmt](ctx, part_stem(fmt, group, part), group, part))
    except BaseException:
        for w in writers:
            w.abort()
        raise
    return writers
