"""Atomic file writes and stable content hashes: the one home for both.

Every output in alignpt is written through a temporary name beside the final one, fsynced,
then renamed with ``os.replace``: a reader (or a resumed run) sees the old file or the whole new
one, never half a file, and a failed write leaves neither the new file nor the temporary behind.

``stable_hash`` is the cache key / identity digest used across stages: sha256 of the object's
JSON with sorted keys, so two equal configs hash the same whatever their key order.

>>> stable_hash({"b": 1, "a": [1, 2]}, 12) == stable_hash({"a": [1, 2], "b": 1}, 12)
True
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson

__all__ = ["atomic_path", "atomic_write_bytes", "atomic_write_text", "fsync_path",
           "fsync_replace", "stable_hash", "temp_name"]


def temp_name(path: str | Path, suffix: str = "") -> Path:
    """The hidden temporary beside ``path``: ``.NAME.tmp-PID`` plus ``suffix`` (e.g. ``".npy"``).

    Beside (not in /tmp) so ``os.replace`` stays a rename within one filesystem; the writer's pid
    in the name is what lets ``alignpt.core.outdir`` remove a dead writer's leftovers and keep a live
    one's, so the shape must stay what its pattern reads."""
    path = Path(path)
    return path.with_name(f".{path.name}.tmp-{os.getpid()}{suffix}")


def fsync_path(path: str | Path) -> None:
    """Flush a file's (or a folder's entries') bytes to disk.

    Reopens by name because the writer may be any library (np.save, torch.save, a tokenizer)
    that does not hand back its file handle; a folder is fsynced so the renames inside it
    survive a crash."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_replace(tmp: str | Path, path: str | Path) -> None:
    """Publish a finished temporary: fsync it, then rename it onto ``path``.

    The fsync comes first so a crash cannot leave a renamed but empty file. For streaming
    writers that open their temporary in one method and publish it in another; others use
    ``atomic_path``."""
    fsync_path(tmp)
    os.replace(tmp, path)


@contextmanager
def atomic_path(path: str | Path, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on a clean exit fsync it and rename it onto ``path``.

    On any error (in the body, the fsync or the rename) the temporary is removed and ``path`` keeps
    its old content. The parent folder is created if missing. ``suffix`` ends the temporary's
    name, for writers that insist on an extension.

    >>> import tempfile
    >>> target = Path(tempfile.mkdtemp()) / "out.txt"
    >>> with atomic_path(target) as tmp:
    ...     _ = tmp.write_text("done")
    >>> target.read_text()
    'done'
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_name(path, suffix)
    try:
        yield tmp
        fsync_replace(tmp, path)
    except BaseException:
        # A failed write or rename (a folder in the way, a full disk, Ctrl-C) leaves nothing.
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically: readers never see half a file."""
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        fh.write(data)


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically: readers never see half a file."""
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)


def stable_hash(obj: Any, n: int | None = None) -> str:
    """sha256 (hex) of ``obj``'s JSON with sorted keys; its first ``n`` characters if ``n``.

    Key order never changes the digest; anything orjson cannot encode raises ``TypeError``."""
    digest = hashlib.sha256(orjson.dumps(obj, option=orjson.OPT_SORT_KEYS)).hexdigest()
    return digest[:n] if n else digest
