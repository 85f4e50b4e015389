"""Plumbing: what every stage stands on, and nothing in it knows a stage.

The one ``Document`` type (``documents``), shard files (``shards``), the resumable per-shard
runner (``executor``) and the one process pool (``parallel``), typed configs (``config``), the
one exception hierarchy (``errors``), output-folder safety (``outdir``), token shards
(``tokens``), sizes (``units``), token budgets (``budget``), atomic writes and hashes
(``atomic``), the device check (``devices``), packaged files (``resources``), terminal output
(``console``) and corpus statistics (``info``). docs/architecture.md draws the layers.

Import from the module that owns a name (``from alignpt.core.shards import ShardWriter``);
this ``__init__`` re-exports only the names every stage meets, and only from the two light
modules, so importing any part of ``alignpt.core`` stays cheap.
"""

from alignpt.core.documents import Document, DocumentStage
from alignpt.core.errors import (
    AlignptError,
    BackendError,
    ConfigError,
    DataError,
    MissingDependencyError,
)

__all__ = [
    "Document",
    "DocumentStage",
    "AlignptError",
    "BackendError",
    "ConfigError",
    "DataError",
    "MissingDependencyError",
]
