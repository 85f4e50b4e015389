"""Stages used by the executor tests (importable, so spawned workers can unpickle them)."""

from __future__ import annotations

from typing import Iterator

from alignpt.documents import Document
from alignpt.executor import ShardContext


class DropShort:
    """Keeps documents with at least ``min_chars`` characters; counts words."""

    def __init__(self, min_chars: int):
        self.min_chars = min_chars

    def __call__(self, docs: Iterator[Document], ctx: ShardContext) -> Iterator[Document]:
        for doc in docs:
            ctx.count("words", len(doc.text.split()))
            if len(doc.text) < self.min_chars:
                ctx.drop(doc, "too_short")
                continue
            yield doc


class FailOn:
    """Raises on a chosen document id (to test that failed tasks publish nothing)."""

    def __init__(self, doc_id: str):
        self.doc_id = doc_id

    def __call__(self, docs: Iterator[Document], ctx: ShardContext) -> Iterator[Document]:
        for doc in docs:
            if doc.id == self.doc_id:
                raise RuntimeError(f"injected failure on {doc.id}")
            yield doc
