"""alignpt: alignment pretraining, from corpus to persona posterior."""

from __future__ import annotations

__version__ = "0.1.0"

from alignpt.core.documents import Document  # noqa: E402
from alignpt.core.errors import (  # noqa: E402
    AlignptError,
    BackendError,
    ConfigError,
    DataError,
    MissingDependencyError,
)

__all__ = [
    "__version__",
    "Document",
    "AlignptError",
    "BackendError",
    "ConfigError",
    "DataError",
    "MissingDependencyError",
]
