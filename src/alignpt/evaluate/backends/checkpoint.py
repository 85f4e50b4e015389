"""alignpt checkpoints (``model.json`` + ``model.safetensors``, or a run folder) as a backend.

The model comes from :func:`alignpt.train.inference.load_model_with_meta`, the
tokenizer from the vocabulary description the trainer stored beside it
(:func:`alignpt.train.export.build_tokenizer`), so a checkpoint is scored as
trained, without exporting it first. A checkpoint whose data has no text
tokenizer (e.g. the persona world's fixed vocabulary) can't be scored on text
items; score it with the persona-world suite instead.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alignpt.errors import DataError, require
from alignpt.evaluate.backends.torch_lm import TorchLMBackend, check_device

__all__ = ["CheckpointBackend", "is_checkpoint"]


def is_checkpoint(path: str | Path) -> bool:
    """A checkpoint folder (``model.json``) or a run folder with ``checkpoints/``."""
    path = Path(path)
    return (path / "model.json").exists() or (path / "checkpoints").is_dir()


class CheckpointBackend(TorchLMBackend):
    """``CheckpointBackend("runs/tiny")`` scores the newest checkpoint of a run."""

    name = "alignpt"

    def __init__(self, path: str | Path, device: str = "cpu", batch_size: int = 32,
                 max_batch_tokens: int = 65536):
        self.torch = require("torch", "train", "scoring alignpt checkpoints")
        from alignpt.train.export import build_tokenizer
        from alignpt.train.inference import load_model_with_meta, resolve_checkpoint

        check_device(self.torch, device)
        self.path = Path(path)
        self.checkpoint = resolve_checkpoint(self.path)
        self.model, self.cfg, self.meta = load_model_with_meta(self.checkpoint, device)
        data = self.meta.get("data") or {}
        self.tokenizer = build_tokenizer(data)
        if self.tokenizer is None or (data.get("tokenizer") or {}).get("type") == "vocab":
            raise DataError("this checkpoint has no text tokenizer (a token-vocabulary model "
                            "such as the persona world); use --suite persona-world",
                            str(self.checkpoint))
        self.device, self.batch_size, self.max_batch_tokens = device, batch_size, max_batch_tokens
        self.max_length = int(self.cfg.max_seq_len or 1024)
        self.eos_id = data.get("eos_id")

    def describe(self) -> dict[str, Any]:
        return {"backend": self.name, "path": str(Path(self.checkpoint).resolve()),
                "device": self.device, "max_length": self.max_length,
                "model": self.cfg.model_dump(mode="json")}

    def _forward(self, ids: Any, mask: Any, keep: Any, position_ids: Any = None,
                 cache: Any = None, use_cache: bool = False) -> tuple[Any, Any]:
        # Right padding only: causal attention keeps padding out of every real position.
        # The model has no KV cache, so prefix sharing is off (supports_prefix_cache).
        return self.model(ids)[:, keep], None
