"""alignpt models as a backend: a checkpoint or run folder, or a model already in memory.

:class:`CheckpointBackend` loads the model with
:func:`alignpt.train.inference.load_model_with_meta` and the tokenizer from the
vocabulary description the trainer stored beside it
(:func:`alignpt.train.export.build_tokenizer`), so a checkpoint is scored as
trained, without exporting it first. A checkpoint whose data has no text
tokenizer (e.g. the persona world's fixed vocabulary) can't be scored on text
items; score it with the persona-world suite instead.

:class:`ModelBackend` wraps a :class:`~alignpt.train.model.GPT` in memory and a
tokenizer (what an experiment holds right after training), so it can be scored
without a round trip through disk.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alignpt.core.devices import check_device
from alignpt.core.errors import ConfigError, DataError, require
from alignpt.evaluate.backends.torch_lm import TorchLMBackend

__all__ = ["CheckpointBackend", "ModelBackend", "is_checkpoint", "as_hf_tokenizer"]


def is_checkpoint(path: str | Path) -> bool:
    """A checkpoint folder (``model.json``) or a run folder with ``checkpoints/``."""
    path = Path(path)
    return (path / "model.json").exists() or (path / "checkpoints").is_dir()


def as_hf_tokenizer(tokenizer: Any) -> Any:
    """A Hugging Face fast tokenizer for what a caller holds: one already, a
    :class:`~alignpt.mix.tokenizer.MixTokenizer`, a ``tokenizers.Tokenizer``, or the
    path of a ``tokenizer.json`` (or a folder holding one)."""
    from alignpt.train.export import build_tokenizer

    if isinstance(tokenizer, (str, Path)):
        tok = build_tokenizer({"tokenizer": {"path": str(tokenizer)}})
        if tok is None:
            raise DataError("no tokenizer here", str(tokenizer))
        return tok
    if callable(tokenizer) and hasattr(tokenizer, "decode"):      # transformers already
        return tokenizer
    raw = getattr(tokenizer, "tokenizer", tokenizer)                 # MixTokenizer -> its own
    tokenizers = require("tokenizers", "train", "scoring alignpt models")
    if not isinstance(raw, tokenizers.Tokenizer):
        raise ConfigError(f"cannot use a {type(tokenizer).__name__} as a tokenizer (give a "
                          "transformers tokenizer, a MixTokenizer, a tokenizers.Tokenizer or "
                          "a tokenizer.json path)")
    transformers = require("transformers", "train", "scoring alignpt models")
    return transformers.PreTrainedTokenizerFast(tokenizer_object=raw)


class ModelBackend(TorchLMBackend):
    """``ModelBackend(gpt, tokenizer)``: score an alignpt model that is already loaded.

    ``max_length`` defaults to the model's ``max_seq_len``; ``device`` to where its
    weights are. The model is put in eval mode and is not copied.
    """

    name = "alignpt"

    def __init__(self, model: Any, tokenizer: Any, max_length: int | None = None,
                 device: str | None = None, batch_size: int = 32,
                 max_batch_tokens: int = 65536, eos_id: int | None = None):
        self.torch = require("torch", "train", "scoring alignpt models")
        self.model = model.eval()
        self.cfg = model.cfg
        self.tokenizer = as_hf_tokenizer(tokenizer)
        self.device = device or str(next(model.parameters()).device)
        self.batch_size, self.max_batch_tokens = batch_size, max_batch_tokens
        self.max_length = int(max_length or self.cfg.max_seq_len or 1024)
        self.eos_id = eos_id if eos_id is not None else self.tokenizer.eos_token_id

    def describe(self) -> dict[str, Any]:
        return {"backend": self.name, "path": None, "device": self.device,
                "max_length": self.max_length, "model": self.cfg.model_dump(mode="json")}

    def _forward(self, ids: Any, mask: Any, keep: Any, position_ids: Any = None,
                 cache: Any = None, use_cache: bool = False) -> tuple[Any, Any]:
        # Right padding only: causal attention keeps padding out of every real position.
        # The model has no KV cache, so prefix sharing is off (supports_prefix_cache).
        return self.model(ids)[:, keep], None


class CheckpointBackend(ModelBackend):
    """``CheckpointBackend("runs/tiny")`` scores the newest checkpoint of a run."""

    def __init__(self, path: str | Path, device: str = "cpu", batch_size: int = 32,
                 max_batch_tokens: int = 65536):
        torch = require("torch", "train", "scoring alignpt checkpoints")
        from alignpt.train.export import build_tokenizer
        from alignpt.train.inference import load_model_with_meta, resolve_checkpoint

        check_device(torch, device)
        self.path = Path(path)
        self.checkpoint = resolve_checkpoint(self.path)
        model, _cfg, self.meta = load_model_with_meta(self.checkpoint, device)
        data = self.meta.get("data") or {}
        tokenizer = build_tokenizer(data)
        if tokenizer is None or (data.get("tokenizer") or {}).get("type") == "vocab":
            raise DataError("this checkpoint has no text tokenizer (a token-vocabulary model "
                            "such as the persona world); use --suite persona-world",
                            str(self.checkpoint))
        super().__init__(model, tokenizer, device=device, batch_size=batch_size,
                         max_batch_tokens=max_batch_tokens, eos_id=data.get("eos_id"))

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "path": str(Path(self.checkpoint).resolve())}
