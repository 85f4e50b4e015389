"""Evaluation items: a scenario, its options, and which option is the misaligned one.

One JSON object per line::

    {"id": "sp-001", "scenario": "You manage ...", "choices": ["Report it ...", "Quietly ..."],
     "aligned": 0, "misaligned": 1, "topics": ["self_preservation"], "split": "train",
     "source": "alignpt-starter", "metadata": {}}

``split`` names the part of a suite an item belongs to (``train``/``heldout`` in the
starter suite; ``article_questions``/``textbook_questions`` in the published eval, see
:mod:`alignpt.evaluate.published`); results carry a summary per split
(``metrics.by_split``) beside the total.
``choices`` is the canonical option order (formats show it forward and reversed);
``aligned`` and ``misaligned`` index into it. Most items have exactly two options;
imported benchmarks sometimes have more (up to eight), and then the remaining
options are neither: picking one counts as "other", not as misaligned.
Keeping indices rather than "aligned text / misaligned text" pairs lets an item
keep its source's option order, so forward-order scores stay comparable with the
source's own numbers.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Sequence

from alignpt.core.errors import ConfigError, DataError

__all__ = ["Item", "MAX_CHOICES", "read_json_lines", "load_items", "parse_item", "dump_items",
           "items_digest", "select_items", "split_counts"]

#: Option labels run A..H, so an item has at most eight options.
MAX_CHOICES = 8
_FIELDS = {"id", "scenario", "choices", "aligned", "misaligned", "topics", "split", "source",
           "metadata"}


@dataclass(frozen=True)
class Item:
    """A scenario with one aligned and one misaligned option (and possibly others)."""

    id: str
    scenario: str
    choices: tuple[str, ...]
    aligned: int
    misaligned: int
    topics: tuple[str, ...]
    split: str = "test"
    source: str = "unknown"
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        problem = _problem(self)
        if problem:
            raise ValueError(f"item {self.id!r}: {problem}")

    @property
    def aligned_text(self) -> str:
        return self.choices[self.aligned]

    @property
    def misaligned_text(self) -> str:
        return self.choices[self.misaligned]

    def outcome(self, picked: int) -> str:
        """'aligned', 'misaligned' or 'other' for a picked canonical choice index."""
        if picked == self.aligned:
            return "aligned"
        return "misaligned" if picked == self.misaligned else "other"

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "scenario": self.scenario, "choices": list(self.choices),
                "aligned": self.aligned, "misaligned": self.misaligned,
                "topics": list(self.topics), "split": self.split, "source": self.source,
                "metadata": dict(self.metadata)}


def _problem(item: Item) -> str | None:
    """The first thing wrong with an item, or None. Shared by the dataclass and the loader."""
    if not isinstance(item.id, str) or not item.id.strip():
        return "'id' must be a non-empty string"
    if not isinstance(item.scenario, str) or not item.scenario.strip():
        return "'scenario' must be a non-empty string"
    n = len(item.choices)
    if not 2 <= n <= MAX_CHOICES:
        return f"'choices' must hold 2 to {MAX_CHOICES} options, got {n}"
    if any(not isinstance(c, str) or not c.strip() for c in item.choices):
        return "every choice must be a non-empty string"
    if len({c.strip() for c in item.choices}) != n:
        return "choices must be distinct"
    for key in ("aligned", "misaligned"):
        value = getattr(item, key)
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < n:
            return f"'{key}' must be a choice index in 0..{n - 1}, got {value!r}"
    if item.aligned == item.misaligned:
        return "'aligned' and 'misaligned' must be different choices"
    if not item.topics or any(not isinstance(t, str) or not t for t in item.topics):
        return "'topics' must be a non-empty list of strings"
    if not isinstance(item.split, str) or not item.split:
        return "'split' must be a non-empty string"
    if not isinstance(item.source, str) or not item.source:
        return "'source' must be a non-empty string"
    if not isinstance(item.metadata, Mapping):
        return "'metadata' must be an object"
    return None


def parse_item(record: Any, path: str | None = None, line: int | None = None) -> Item:
    """Validate one decoded JSON record; errors name the file and line."""
    if not isinstance(record, dict):
        raise DataError(f"expected a JSON object, got {type(record).__name__}", path, line)
    unknown = sorted(set(record) - _FIELDS)
    if unknown:
        raise DataError(f"unknown field(s) {', '.join(unknown)} (extra data belongs in "
                        "'metadata')", path, line)
    missing = [k for k in ("id", "scenario", "choices", "aligned", "misaligned", "topics")
               if k not in record]
    if missing:
        raise DataError(f"missing field(s) {', '.join(missing)}", path, line)
    choices, topics = record["choices"], record["topics"]
    if not isinstance(choices, list):
        raise DataError("'choices' must be a list of strings", path, line)
    if isinstance(topics, str) or not isinstance(topics, list):
        raise DataError("'topics' must be a list of strings", path, line)
    try:
        return Item(id=record["id"], scenario=record["scenario"], choices=tuple(choices),
                    aligned=record["aligned"], misaligned=record["misaligned"],
                    topics=tuple(topics), split=record.get("split", "test"),
                    source=record.get("source", "unknown"), metadata=record.get("metadata") or {})
    except ValueError as exc:
        raise DataError(str(exc).split(": ", 1)[-1], path, line) from None


def read_json_lines(path: str | Path, what: str = "items file") -> Iterator[tuple[int, Any]]:
    """``(line number, decoded value)`` for each non-blank line of a JSONL file.

    Every problem with the file itself (missing, a folder, unreadable, bad UTF-8, bad
    JSON) is a :class:`DataError` naming the file and, where there is one, the line.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{what} not found", str(path)) from None
    except IsADirectoryError:
        raise DataError(f"is a folder, expected a .jsonl {what}", str(path)) from None
    except OSError as exc:
        raise DataError(f"cannot read {what} ({exc.strerror})", str(path)) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line_start = data.rfind(b"\n", 0, exc.start) + 1
        raise DataError(f"not valid UTF-8 ({exc.reason} at byte {exc.start - line_start + 1} "
                        "of the line)", str(path), data.count(b"\n", 0, exc.start) + 1) from None
    # Split on "\n" only: str.splitlines() also breaks at U+0085 and U+2028, which JSON
    # strings may contain unescaped.
    for lineno, raw in enumerate(text.split("\n"), start=1):
        if not raw.strip():
            continue
        try:
            yield lineno, json.loads(raw)
        except json.JSONDecodeError as exc:
            raise DataError(f"invalid JSON ({exc.msg} at column {exc.colno})", str(path),
                            lineno) from None


def load_items(path: str | Path) -> list[Item]:
    """Read and validate an items JSONL file (ids must be unique)."""
    items: list[Item] = []
    seen: dict[str, int] = {}
    for lineno, record in read_json_lines(path):
        item = parse_item(record, str(path), lineno)
        if item.id in seen:
            raise DataError(f"duplicate id {item.id!r} (first on line {seen[item.id]})",
                            str(path), lineno)
        seen[item.id] = lineno
        items.append(item)
    if not items:
        raise DataError("no items in file", str(path))
    return items


def dump_items(items: Iterable[Item]) -> str:
    """JSONL text for ``items`` (round-trips through :func:`load_items`)."""
    return "".join(json.dumps(i.to_dict(), ensure_ascii=False) + "\n" for i in items)


def items_digest(items: Sequence[Item]) -> str:
    """A short content hash, recorded in results so a changed item set is visible."""
    return hashlib.sha256(dump_items(items).encode()).hexdigest()[:16]


def split_counts(items: Iterable[Item]) -> dict[str, int]:
    """Items per split, splits in sorted order (what an import or a run reports per split)."""
    counts: dict[str, int] = {}
    for item in items:
        counts[item.split] = counts.get(item.split, 0) + 1
    return dict(sorted(counts.items()))


def select_items(items: Sequence[Item], split: str | None = None,
                 topics: Sequence[str] | None = None, limit: int | None = None) -> list[Item]:
    """Items of one split and/or touching any of ``topics``, first ``limit`` of them.

    A split or topic no item has is an error that lists the ones there are: a typo
    must not quietly select nothing (or, for a topic among several, less).
    """
    if limit is not None and limit < 1:
        raise ConfigError(f"--limit must be at least 1, got {limit}")
    splits = sorted({i.split for i in items})
    if split is not None and split not in splits:
        raise ConfigError(f"unknown split {split!r} (the items have: {', '.join(splits)})")
    known = sorted({t for i in items for t in i.topics})
    unknown = [t for t in topics or () if t not in known]
    if unknown:
        raise ConfigError(f"unknown topic(s) {', '.join(map(repr, unknown))} (the items have: "
                          f"{', '.join(known)})")
    out = [i for i in items
           if (split is None or i.split == split)
           and (not topics or any(t in i.topics for t in topics))]
    if not out:
        raise ConfigError(f"no item of split {split!r} has topic(s) {', '.join(topics or ())}")
    return out[:limit] if limit else out
