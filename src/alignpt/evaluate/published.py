"""Import the published alignment-pretraining eval (Tice et al. 2026) as alignpt items.

The published set's records have ``passage``, ``question``, ``choices`` (two
option texts), ``misaligned_choice`` (0 or 1, an index into ``choices``),
``topics`` (a list), ``question_id`` and a split: ``article_questions`` (2,670
items) and ``textbook_questions`` (1,504). This module reads that schema from

* one JSONL or Parquet file whose records carry a ``split`` field/column;
* one file per split, the split named by the file (``article_questions.jsonl``,
  or a Hugging Face shard ``article_questions-00000-of-00001.parquet``);
* a folder of such files (searched recursively, hidden folders skipped, in
  sorted order so the same folder gives the same items in the same order).

A record's own ``split`` wins over its file's name. Nothing is downloaded: the
data is whatever file or folder the user names.

An item's scenario is the passage, a blank line, then the question
(``passage + "\\n\\n" + question``), so every prompt syntax and every scorer
shows the passage before the question without knowing about passages. The
other option is the aligned one. The item id is ``split/question_id``; the
metadata keeps ``question_id`` (as given), the question on its own, and the
file name and line (JSONL) or row (Parquet, 1-based) it came from. Extra fields
are ignored.

Every problem is one line naming the file and the line or row: a missing field,
``misaligned_choice`` not 0 or 1, fewer (or more) than two choices, a
``question_id`` repeated within a split.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from alignpt.core.errors import DataError
from alignpt.evaluate.items import Item, read_json_lines

__all__ = ["PUBLISHED_SPLITS", "PUBLISHED_FIELDS", "PUBLISHED_SOURCE", "PublishedImport",
           "import_published", "published_files", "split_of_file"]

#: The published set's splits and their sizes (for the docs and a sanity line in the CLI).
PUBLISHED_SPLITS = {"article_questions": 2670, "textbook_questions": 1504}
PUBLISHED_FIELDS = ("passage", "question", "choices", "misaligned_choice", "topics",
                    "question_id")
PUBLISHED_SOURCE = "alignment-pretraining-eval"
#: What an item with an empty topic list is filed under (an Item needs at least one topic).
NO_TOPIC = "no-topic"
_SUFFIXES = (".jsonl", ".parquet")
_SHARD = re.compile(r"-\d{5}-of-\d{5}$")


@dataclass
class PublishedImport:
    items: list[Item]
    per_split: Counter = field(default_factory=Counter)     # split -> items
    files: list[str] = field(default_factory=list)          # files read, in order


def split_of_file(path: Path) -> str:
    """The split a file holds when its records name none: its name, less a shard suffix."""
    return _SHARD.sub("", path.name.rsplit(".", 1)[0])


def published_files(root: Path) -> list[Path]:
    """The JSONL/Parquet files of ``root`` (a file, or a folder searched recursively)."""
    if not root.exists():
        raise DataError("published eval file or folder not found", str(root))
    if root.is_file():
        if root.suffix not in _SUFFIXES:
            raise DataError(f"expected a .jsonl or .parquet file, got {root.suffix or 'no suffix'}",
                            str(root))
        return [root]
    files = sorted(p for p in root.rglob("*") if p.suffix in _SUFFIXES and p.is_file()
                   and not any(part.startswith(".") for part in p.relative_to(root).parts))
    if not files:
        raise DataError("no .jsonl or .parquet files in the folder", str(root))
    return files


def import_published(root: str | Path) -> PublishedImport:
    """Read every record of the published eval under ``root`` into items (see module doc)."""
    root = Path(root)
    result = PublishedImport([])
    seen: dict[tuple[str, str], tuple[Path, str]] = {}    # (split, question_id) -> first seen
    for path in published_files(root):
        result.files.append(str(path))
        default_split = split_of_file(path)
        for line, row, record in _records(path):
            item = _to_item(record, default_split, path, line, row)
            key = (item.split, str(item.metadata["question_id"]))
            where = None if row is None else f"row {row}"
            here = f"line {line}" if line is not None else where
            if key in seen:
                first_path, first = seen[key]
                first = first if first_path == path else f"{first_path}, {first}"
                raise DataError(f"duplicate question_id {key[1]!r} in split {item.split!r} "
                                f"(first at {first})", str(path), line, where)
            seen[key] = (path, here)
            result.items.append(item)
            result.per_split[item.split] += 1
    if not result.items:
        raise DataError("no records in the published eval files", str(root))
    return result


def _records(path: Path) -> Iterator[tuple[int | None, int | None, Any]]:
    """``(line, row, record)``: JSONL gives a line number, Parquet a row (1-based)."""
    if path.suffix == ".jsonl":
        for line, record in read_json_lines(path, "published eval file"):
            yield line, None, record
        return
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DataError(f"unreadable Parquet file ({first})", str(path)) from None
    missing = [f for f in PUBLISHED_FIELDS if f not in table.column_names]
    if missing:
        raise DataError(f"missing column(s) {', '.join(missing)} (columns: "
                        f"{', '.join(table.column_names)})", str(path))
    names = table.column_names
    columns = [table.column(n).to_pylist() for n in names]
    for row, values in enumerate(zip(*columns), start=1):
        yield None, row, dict(zip(names, values))


def _to_item(rec: Any, default_split: str, path: Path, line: int | None,
             row: int | None) -> Item:
    def bad(problem: str) -> DataError:
        return DataError(problem, str(path), line, None if row is None else f"row {row}")

    if not isinstance(rec, dict):
        raise bad(f"expected a JSON object, got {type(rec).__name__}")
    missing = [f for f in PUBLISHED_FIELDS if f not in rec]
    if missing:
        raise bad(f"missing field(s) {', '.join(missing)}")
    passage, question, choices = rec["passage"], rec["question"], rec["choices"]
    if passage is None:
        passage = ""
    if not isinstance(passage, str):
        raise bad(f"'passage' must be a string, got {type(passage).__name__}")
    if not isinstance(question, str) or not question.strip():
        raise bad("'question' must be a non-empty string")
    if not isinstance(choices, list) or not all(isinstance(c, str) for c in choices):
        raise bad("'choices' must be a list of strings")
    if len(choices) < 2:
        raise bad(f"fewer than 2 choices ({len(choices)})")
    if len(choices) > 2:
        raise bad(f"{len(choices)} choices: misaligned_choice is 0 or 1, so the schema has two "
                  "(which other option is aligned would be a guess)")
    mis = rec["misaligned_choice"]
    if isinstance(mis, bool) or not isinstance(mis, int) or mis not in (0, 1):
        raise bad(f"'misaligned_choice' must be 0 or 1 (an index into the 2 choices), "
                  f"got {mis!r}")
    topics = rec["topics"]
    if not isinstance(topics, list) or not all(isinstance(t, str) and t for t in topics):
        raise bad("'topics' must be a list of non-empty strings")
    qid = rec["question_id"]
    if isinstance(qid, bool) or not isinstance(qid, (str, int)) or str(qid).strip() == "":
        raise bad(f"'question_id' must be a non-empty string or an integer, got {qid!r}")
    split = rec.get("split")
    split = default_split if split is None else split     # a null split column: the file's
    if not isinstance(split, str) or not split.strip():
        raise bad(f"'split' must be a non-empty string, got {split!r}")
    scenario = f"{passage.strip()}\n\n{question.strip()}" if passage.strip() else question.strip()
    meta: dict[str, Any] = {"question_id": qid, "question": question.strip(), "file": path.name}
    if line is not None:
        meta["line"] = line
    else:
        meta["row"] = row
    try:
        return Item(f"{split}/{qid}", scenario, tuple(choices), 1 - mis, mis,
                    tuple(dict.fromkeys(topics)) or (NO_TOPIC,), split, PUBLISHED_SOURCE, meta)
    except ValueError as exc:           # e.g. two identical choices
        raise bad(str(exc).split(": ", 1)[-1]) from None
