"""The one document type that flows through every corpus stage."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterator, Callable, Iterable

__all__ = ["Document", "DocumentStage"]


@dataclass(slots=True)
class Document:
    """A unit of text with a stable id and free-form metadata.

    Stages add to ``metadata`` (taggers), drop documents with a reason
    (filters) or yield new ones (generators); none rewrites ``text`` silently.
    """

    id: str
    text: str
    metadata: dict[str, Any] = field(default_factory=dict)

    def to_dict(self, text_field: str = "text", id_field: str = "id") -> dict[str, Any]:
        out: dict[str, Any] = {id_field: self.id, text_field: self.text}
        if self.metadata:
            out["metadata"] = self.metadata
        return out


#: A stage is a function over an iterator of documents.
DocumentStage = Callable[[Iterable[Document]], Iterator[Document]]
