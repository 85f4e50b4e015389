"""Build the backend a :class:`~alignpt.generate.backends.config.BackendConfig` names.

Its own module (not beside the config) because it imports the backends, and the
backends import the config: here the arrows all point one way.
"""

from __future__ import annotations

from typing import Any

from alignpt.generate.backends.base import Backend
from alignpt.generate.backends.config import BackendConfig

__all__ = ["make_backend"]


def make_backend(cfg: BackendConfig, template_dir: str | None = None,
                 prompt_builder: Any = None) -> Backend:
    """Build the configured backend (imports its dependencies only now)."""
    if cfg.kind == "template":
        from alignpt.generate.backends.template import TemplateBackend

        return TemplateBackend(cfg.model_name(), template_dir)
    if cfg.kind == "openai":
        from alignpt.generate.backends.openai import OpenAIBackend

        return OpenAIBackend(cfg)
    from alignpt.generate.backends.hf import HFBackend

    return HFBackend(cfg)
