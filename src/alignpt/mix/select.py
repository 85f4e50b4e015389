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
``not_equals`` and ``exists: false``; so before a source is selected,
:func:`check_selection` refuses a field that no record has (a misspelt
``tag.lable`` would select nothing or everything) and a label, rule or category
its tagger never wrote, naming the ones that exist.
"""

from __future__ import annotations

from itertools import zip_longest
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Optional

import orjson
from pydantic import ConfigDict, Field, PrivateAttr, model_validator

from alignpt.core.atomic import stable_hash
from alignpt.core.config import StrictModel
from alignpt.core.errors import ConfigError, DataError
from alignpt.core.shards import FORMATS, ReadOptions, read_documents, strip_format_suffix

__all__ = ["SelectCondition", "attributes_file", "load_attributes", "document_view",
           "check_selection", "source_views"]

_MISSING = object()
_OPS = ("equals", "not_equals", "in_", "gte", "gt", "lte", "lt", "exists")


class SelectCondition(StrictModel):
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
    any: Optional[list["SelectCondition"]] = None
    all: Optional[list["SelectCondition"]] = None
    not_: Optional["SelectCondition"] = Field(None, alias="not")
    tag: Optional[str] = Field(None, description="alignpt filter's condition language on the "
                               "document's tag record")
    _parsed: Any = PrivateAttr(None)

    @model_validator(mode="before")
    @classmethod
    def _string(cls, v: Any) -> Any:
        return {"tag": v} if isinstance(v, str) else v

    @model_validator(mode="after")
    def _check(self) -> "SelectCondition":
        ops = [op for op in _OPS if getattr(self, op) is not None]
        groups = [g for g in ("any", "all", "not_") if getattr(self, g) is not None]
        if self.tag is not None:
            if ops or groups or self.field is not None:
                raise ValueError("a tag condition stands alone (combine with any / all / not)")
            from alignpt.core.errors import ConfigError
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

    def _children(self) -> list["SelectCondition"]:
        return [*(self.any or ()), *(self.all or ()), *([self.not_] if self.not_ else [])]

    def field_paths(self) -> list[str]:
        """Every field the condition reads (``tag`` for one in filter's language)."""
        if self._parsed is not None:
            return ["tag"]
        if self.field is not None:
            return [self.field]
        return list(dict.fromkeys(p for c in self._children() for p in c.field_paths()))

    def tag_conditions(self) -> list[Any]:
        """The conditions in filter's language inside this one (their names get checked)."""
        if self._parsed is not None:
            return [self._parsed]
        return [t for c in self._children() for t in c.tag_conditions()]

    def key(self) -> str:
        """A short stable hash (names cache files of this condition's results)."""
        return stable_hash(self.model_dump(mode="json", by_alias=True, exclude_none=True), 12)

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
    from alignpt.core.shards import _gzip_chunks, _lines, _plain_chunks, _zstd_chunks, detect_format

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
        out[str(doc_id)] = _attributes_view(rec)
    return out


def _attributes_view(rec: dict[str, Any]) -> dict[str, Any]:
    """What one attributes record (id already taken out) adds to its document's view."""
    rec.pop("text", None)
    view = {k: v for k, v in rec.items()
            if not (k in ("attributes", "metadata") and isinstance(v, dict))}
    for nested in ("metadata", "attributes"):
        if isinstance(rec.get(nested), dict):
            view.update(rec[nested])
    return view


def document_view(metadata: dict[str, Any], attributes: dict[str, Any] | None) -> dict[str, Any]:
    """Metadata with attributes merged on top (attributes win on a clash)."""
    if not attributes:
        return metadata
    return {**metadata, **attributes}


def source_views(files: Iterable[Path], read: ReadOptions,
                 attributes_of: Callable[[Path], Path | None]) -> Iterator[dict[str, Any]]:
    """Documents' metadata and attributes records of a source, alternating, file by file.

    For checking which fields exist, not for selecting: a field exists in some
    view exactly when it is in some document's metadata or some attributes
    record, so the two need not be joined, and a check that finds its fields in
    the first few records reads no further.
    """
    for path in files:
        attr = attributes_of(path)
        docs = (d.metadata for d in read_documents(path, read))
        rows = (_attributes_view({k: v for k, v in r.items() if k != read.id_field})
                for r in (_iter_records(attr) if attr is not None else ()))
        for pair in zip_longest(rows, docs):
            yield from (v for v in pair if v is not None)


def check_selection(what: str, condition: SelectCondition, views: Iterable[dict[str, Any]],
                    tag_folder: str | Path | None = None) -> None:
    """Raise :class:`ConfigError` when ``condition`` reads a field no view has, or names a
    label, rule or category its tagger never wrote: the tagger of ``tag_folder`` (a tag
    run's output, or a filter run's) if it is one, else what the tag records show.

    Reads ``views`` only until every field the condition reads has been seen.
    """
    from alignpt.tag.vocabulary import TagVocabulary

    wanted = condition.field_paths()
    missing = dict.fromkeys(wanted)
    depth = max((p.count(".") + 1 for p in wanted), default=1)
    present: set[str] = set()
    first_tag: dict[str, Any] | None = None   # a tag record, for a folder that lists no names
    for view in views:
        _collect_paths(view, depth, "", present)
        for path in [p for p in missing if _lookup(view, p) is not _MISSING]:
            del missing[path]
        if first_tag is None and isinstance(view.get("tag"), dict):
            first_tag = view["tag"]
        if not missing:
            break
    for path in missing:
        shown = sorted(p for p in present if p.count(".") <= path.count("."))
        listed = ", ".join(shown[:40]) + (", ..." if len(shown) > 40 else "")
        raise ConfigError(f"{what}: field '{path}' occurs in no record of the source "
                          f"({f'fields: {listed}' if shown else 'it has no records'})")
    tag_conditions = condition.tag_conditions()
    if tag_conditions:
        vocab = TagVocabulary.of_folder(tag_folder, lambda: first_tag) if tag_folder else None
        vocab = vocab or TagVocabulary.of_records([first_tag])
        for cond in tag_conditions:
            vocab.check(cond, what=f"{what}: condition")


def _collect_paths(node: dict[str, Any], depth: int, prefix: str, out: set[str]) -> None:
    for key, value in node.items():
        path = prefix + str(key)
        out.add(path)
        if depth > 1 and isinstance(value, dict):
            _collect_paths(value, depth - 1, path + ".", out)
