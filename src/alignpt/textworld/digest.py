"""The rendering digest: a cache key that changes whenever rendering code or templates change."""

from __future__ import annotations

import hashlib
from functools import lru_cache
from importlib import resources

__all__ = ["render_digest"]

#: The modules whose code and tables decide a rendered document's bytes.
_RENDERING = ("corpus.py", "filler.py", "lexicon.py", "render.py", "templates.py")

#: Issue 20 moved the plumbing into ``alignpt.core`` and gave atomic writes their own module;
#: that changed import lines only, never a rendered byte. Hashing those lines as they read
#: before (each pair: the line now, the line then, applied in order) keeps every recorded
#: digest (rendered-corpus cache keys, and so run names) as it was.
_MOVED_IMPORTS = (
    (b"from alignpt.core.atomic import atomic_write_text",
     b"from alignpt.core.config import atomic_write_text"),
    (b"from alignpt.core.", b"from alignpt."),
)


def _as_before(code: bytes) -> bytes:
    for now, then in _MOVED_IMPORTS:
        code = code.replace(now, then)
    return code


@lru_cache(maxsize=1)
def render_digest() -> str:
    """A hash of the rendering code and templates, for cache keys of rendered corpora: edit a
    template and every corpus rendered with it gets a new name instead of a stale cache hit."""
    h = hashlib.sha256()
    for name in _RENDERING:
        code = resources.files("alignpt.textworld").joinpath(name).read_bytes()
        h.update(name.encode() + b"\0" + _as_before(code))
    return h.hexdigest()[:16]
