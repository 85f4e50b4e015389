"""The rendering digest: a cache key that changes whenever rendering code or templates change."""

from __future__ import annotations

import hashlib
from functools import lru_cache
from importlib import resources

__all__ = ["render_digest"]

#: The modules whose code and tables decide a rendered document's bytes.
_RENDERING = ("corpus.py", "filler.py", "lexicon.py", "render.py", "templates.py")

#: Issue 20 moved the plumbing into ``alignpt.core``; that changed import lines only, never a
#: rendered byte. Hashing those lines as they read before the move keeps every recorded digest
#: (rendered-corpus cache keys, and so run names) as it was.
_MOVED_IMPORT = (b"from alignpt.core.", b"from alignpt.")


@lru_cache(maxsize=1)
def render_digest() -> str:
    """A hash of the rendering code and templates, for cache keys of rendered corpora: edit a
    template and every corpus rendered with it gets a new name instead of a stale cache hit."""
    h = hashlib.sha256()
    for name in _RENDERING:
        code = resources.files("alignpt.textworld").joinpath(name).read_bytes()
        h.update(name.encode() + b"\0" + code.replace(*_MOVED_IMPORT))
    return h.hexdigest()[:16]
