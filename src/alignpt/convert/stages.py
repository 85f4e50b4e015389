"""Shard conversion: JSONL <-> Parquet, recompression and resharding, on the executor."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator, Literal, Sequence

from pydantic import field_validator

from alignpt.core.config import StrictModel
from alignpt.core.documents import Document
from alignpt.core.executor import OutputSpec, ShardContext, StageResult, run_stage
from alignpt.core.shards import ReadOptions
from alignpt.core.units import parse_size

__all__ = ["ConvertConfig", "Passthrough", "convert_shards"]

TargetFormat = Literal["jsonl", "jsonl.gz", "jsonl.zst", "parquet"]


class ConvertConfig(StrictModel):
    """What ``alignpt shards convert`` does; saved as ``config.yaml`` beside the output."""

    to: TargetFormat | None = None
    """Output format; ``None`` keeps each input's own format."""
    max_bytes: int | None = None
    """Roll to a new part once a part holds this many bytes of uncompressed JSONL."""
    group_bytes: int | None = None
    """Merge consecutive small inputs into one task until their file sizes reach this."""
    compression_level: int | None = None
    text_field: str = "text"
    id_field: str = "id"
    on_error: Literal["fail", "skip"] = "fail"
    quarantine: bool = True
    workers: int = 1
    executor: Literal["local", "ray"] = "local"
    ray_address: str | None = None

    @field_validator("max_bytes", "group_bytes", mode="before")
    @classmethod
    def _size(cls, v):  # noqa: ANN001 - pydantic validator
        return parse_size(v)

    @field_validator("workers")
    @classmethod
    def _workers(cls, v: int) -> int:
        if v < 1:
            raise ValueError("must be >= 1")
        return v


class Passthrough:
    """The identity stage: every document goes through unchanged."""

    def __call__(self, docs: Iterator[Document], ctx: ShardContext) -> Iterator[Document]:
        yield from docs


def convert_shards(inputs: Sequence[str | Path], out_dir: str | Path, cfg: ConvertConfig,
                   progress: bool = True) -> StageResult:
    output = OutputSpec(str(out_dir), fmt=f".{cfg.to}" if cfg.to else None,
                        max_bytes=cfg.max_bytes, compression_level=cfg.compression_level,
                        quarantine=cfg.quarantine)
    read = ReadOptions(cfg.text_field, cfg.id_field, cfg.on_error)
    return run_stage(Passthrough(), inputs, output, config=cfg, read=read, workers=cfg.workers,
                     executor=cfg.executor, ray_address=cfg.ray_address,
                     group_bytes=cfg.group_bytes, progress=progress, description="convert")
