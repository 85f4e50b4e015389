"""Pick and build the backend a ``MODEL`` string names (see :mod:`alignpt.evaluate.backends`).

Each backend module is imported only when its kind is asked for, so a ``fake:`` or
``http://`` model never imports torch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alignpt.core.errors import DataError
from alignpt.evaluate.backends.base import Backend

__all__ = ["load_backend"]


def load_backend(spec: str, device: str = "cpu", dtype: str = "float32", batch_size: int = 32,
                 chat: bool = False, **options: Any) -> Backend:
    """The backend a ``MODEL`` string names (see :mod:`alignpt.evaluate.backends`). ``chat`` picks the
    chat endpoint of a server URL (local models answer chat requests either way)."""
    if spec.startswith("fake:"):
        from alignpt.evaluate.backends.fake import fake_from_spec

        return fake_from_spec(spec[5:])
    if spec.startswith(("http://", "https://")):
        from alignpt.evaluate.backends.openai_completions import OpenAICompletionsBackend

        url, _, model = spec.partition("#")
        if chat:
            from alignpt.evaluate.backends.openai_chat import OpenAIChatBackend

            return OpenAIChatBackend(url, model=model or None, **options)
        return OpenAICompletionsBackend(url, model=model or None, batch_size=batch_size, **options)
    path = Path(spec)
    if not path.exists():
        raise DataError("model not found (expected a Hugging Face folder, an alignpt "
                        "checkpoint or run folder, an http(s) URL or fake:NAME)", spec)
    from alignpt.evaluate.backends.checkpoint import is_checkpoint

    if is_checkpoint(path):
        from alignpt.evaluate.backends.checkpoint import CheckpointBackend

        return CheckpointBackend(path, device=device, batch_size=batch_size)
    if (path / "config.json").exists():
        from alignpt.evaluate.backends.hf import HFBackend

        return HFBackend(path, device=device, dtype=dtype, batch_size=batch_size)
    raise DataError("not a model folder (no config.json, model.json or checkpoints/)", spec)
