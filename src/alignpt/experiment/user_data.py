"""The user's own documents as an experiment corpus (kind: shards).

A corpus is named by what is in it, not where it lies: the hash of every input file's
bytes, in path order. A finished alignpt stage folder (generate, filter, convert, tag
--output inline) gives only the shards it published (:mod:`alignpt.mix.stages`); any
other folder, file or glob gives its document shards (JSONL, JSONL.gz/.zst, Parquet).
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path
from typing import Iterator

__all__ = ["corpus_files", "corpus_digest", "read_texts"]


def corpus_files(paths: str) -> list[Path]:
    from alignpt.core.executor import expand_inputs

    p = Path(paths)
    if p.is_dir() and (p / "config.yaml").is_file():
        from alignpt.mix.stages import published_shards

        return list(published_shards(p).files)
    return expand_inputs([paths])


def corpus_digest(paths: str) -> tuple[list[Path], str]:
    """The corpus's files and the sha256 of their contents (cached per file state)."""
    files = corpus_files(paths)
    h = hashlib.sha256()
    for f in files:
        st = f.stat()
        h.update(_file_digest(str(f.resolve()), st.st_size, st.st_mtime_ns).encode())
    return files, h.hexdigest()


@lru_cache(maxsize=4096)
def _file_digest(path: str, size: int, mtime_ns: int) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def read_texts(paths: str) -> Iterator[tuple[str, str]]:
    """``(id, text)`` of every document, in file then line order (bad records are errors
    naming file and line, as everywhere in alignpt)."""
    from alignpt.core.shards import read_documents

    for f in corpus_files(paths):
        for doc in read_documents(f):
            yield doc.id, doc.text
