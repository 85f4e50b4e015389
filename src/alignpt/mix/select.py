"""Which documents of a source take part: conditions on metadata and tag attributes.

A condition is a small YAML tree, generic over whatever a tagger wrote::

    exclude: {field: tag.label, equals: ai_misaligned}
    exclude: {field: tag.probs.ai_misaligned, gte: 0.5}
    where:   {any: [{field: lang, equals: en}, {field: lang, in: [en-gb, en-us]}]}

A bare string (or ``{tag: "..."}``) is a condition in ``alignpt filter``'s
language on the document's ``tag`` record (:mod:`alignpt.tag.conditions`), so one
condition means the same in both commands::

    exclude: "label=ai_misaligned and p(ai_misaligned)>=0.5"
    exclude: flagged

``field`` is a dotted path into the document's view: its metadata, with the
record of a parallel **attributes** shard (same relative path under another
folder, joined by document id) merged on top. A record's top-level fields and
the contents of its ``metadata`` / ``attributes`` mappings are merged (a ``text``
field is ignored), so ``{"id": .., "tag": {..}}``, ``{"id": .., "attributes":
{"tag": {..}}}`` and a document-shaped ``{"id": .., "text": "", "metadata":
{"tag": {..}}}`` all give ``tag.label``. A missing field makes every comparison false except
``not_equals`` and ``exists: false``.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Iterator, Optional

import orjson
from pydantic import ConfigDict, Field, PrivateAttr, model_validator

from alignpt.config import StrictModel
from alignpt.errors import DataError
from alignpt.shards import FORMATS, strip_format_suffix

__all__ = ["Condition", "attributes_file", "load_attributes", "document_view"]

_MISSING = object()
_OPS = ("equals", "not_equals", "in_", "gte", "gt", "lte", "lt", "exists")


class Condition(StrictModel):
    """One test on a field, or ``any`` / ``all`` / ``not`` of other conditions."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    field: Optional[str] = None
    equals: Any = None
    not_equals: Any = None
    in_: Optional[list[Any]] = Field(None, alias="in")
    gte: Optional[float] = None
    gt: Optional[float] = None
    lte: Optional[float] = None
    lt: Optional[float] = None
    exists: Optional[bool] = None
    any: Optional[list["Condition"]] = None
    all: Optional[list["Condition"]] = None
    not_: Optional["Condition"] = Field(None, alias="not")
    tag: Optional[str] = Field(None, description="alignpt filter's condition language on the "
                               "document's tag record")
    _parsed: Any = PrivateAttr(None)

    @model_validator(mode="before")
    @classmethod
    def _string(cls, v: Any) -> Any:
        return {"tag": v} if isinstance(v, str) else v

    @model_validator(mode="after")
    def _check(self) -> "Condition":
        ops = [op for op in _OPS if getattr(self, op) is not None]
        groups = [g for g in ("any", "all", "not_") if getattr(self, g) is not None]
        if self.tag is not None:
            if ops or groups or self.field is not None:
                raise ValueError("a tag condition stands alone (combine with any / all / not)")
            from alignpt.errors import ConfigError
            from alignpt.tag.conditions import parse_condition

            try:
                self._parsed = parse_condition(self.tag)
            except ConfigError as exc:
                raise ValueError(str(exc)) from None
            return self
        if self.field is not None:
            if groups or len(ops) != 1:
                raise ValueError(f"condition on {self.field!r} needs exactly one of equals, "
                                 "not_equals, in, gte, gt, lte, lt, exists")
        elif ops or len(groups) != 1:
            raise ValueError("a condition is {field: ..., <op>: value} or one of any / all / not")
        return self

    def key(self) -> str:
        """A short stable hash (names cache files of this condition's results)."""
        body = orjson.dumps(self.model_dump(mode="json", by_alias=True, exclude_none=True),
                            option=orjson.OPT_SORT_KEYS)
        return hashlib.sha256(body).hexdigest()[:12]

    def __call__(self, view: dict[str, Any]) -> bool:
        if self.any is not None:
            return any(c(view) for c in self.any)
        if self.all is not None:
            return all(c(view) for c in self.all)
        if self.not_ is not None:
            return not self.not_(view)
        if self._parsed is not None:
            record = view.get("tag")
            return self._parsed.matches(record if isinstance(record, dict) else None)
        value = _lookup(view, self.field or "")
        if self.exists is not None:
            return (value is not _MISSING) == self.exists
        if self.not_equals is not None:
            return value is _MISSING or value != self.not_equals
        if value is _MISSING or value is None:
            return False
        if self.equals is not None:
            return value == self.equals
        if self.in_ is not None:
            return value in self.in_
        try:
            x = float(value)
        except (TypeError, ValueError):
            return False
        return ((self.gte is None or x >= self.gte) and (self.gt is None or x > self.gt)
                and (self.lte is None or x <= self.lte) and (self.lt is None or x < self.lt))


def _lookup(view: dict[str, Any], path: str) -> Any:
    node: Any = view
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return _MISSING
        node = node[part]
    return node


def attributes_file(attr_root: Path, input_path: Path, input_root: Path) -> Path:
    """The attributes shard for one input: same relative path, any shard extension."""
    rel = strip_format_suffix(str(input_path.resolve().relative_to(input_root.resolve())))
    for ext in sorted(FORMATS, key=len, reverse=True):
        candidate = attr_root / (rel + ext)
        if candidate.is_file():
            return candidate
    raise DataError(f"no attributes shard for this input (looked for {attr_root / rel}.*)",
                    str(input_path))


def _iter_records(path: Path) -> Iterator[dict[str, Any]]:
    """Raw records of a JSONL (any compression) or Parquet attributes shard.

    Attributes shards carry no text, so the document reader (which requires a
    text field) does not apply; records are read as plain objects here.
    """
    if str(path).lower().endswith(".parquet"):
        import pyarrow.parquet as pq

        for batch in pq.ParquetFile(path).iter_batches():
            yield from batch.to_pylist()
        return
    from alignpt.shards import _gzip_chunks, _lines, _plain_chunks, _zstd_chunks, detect_format

    _, comp = detect_format(path)
    chunker = {None: _plain_chunks, "gzip": _gzip_chunks, "zstd": _zstd_chunks}[comp]
    with open(path, "rb") as fh:
        for lineno, line in enumerate(_lines(chunker(fh)), start=1):
            if not line.strip():
                continue
            try:
                rec = orjson.loads(line)
            except orjson.JSONDecodeError:
                raise DataError("invalid JSON in attributes shard", str(path), line=lineno) from None
            if not isinstance(rec, dict):
                raise DataError("expected a JSON object", str(path), line=lineno)
            yield rec


def load_attributes(path: Path, id_field: str = "id") -> dict[str, dict[str, Any]]:
    """Document id -> attributes (the mapping that is merged into the document view)."""
    out: dict[str, dict[str, Any]] = {}
    for rec in _iter_records(path):
        doc_id = rec.pop(id_field, None)
        if doc_id is None:
            raise DataError(f"attributes record without '{id_field}'", str(path))
        rec.pop("text", None)
        view = {k: v for k, v in rec.items()
                if not (k in ("attributes", "metadata") and isinstance(v, dict))}
        for nested in ("metadata", "attributes"):
            if isinstance(rec.get(nested), dict):
                view.update(rec[nested])
        out[str(doc_id)] = view
    return out


def document_view(metadata: dict[str, Any], attributes: dict[str, Any] | None) -> dict[str, Any]:
    """Metadata with attributes merged on top (attributes win on a clash)."""
    if not attributes:
        return metadata
    return {**metadata, **attributes}
