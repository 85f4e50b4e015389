"""Labelled documents for the tag classifier: the set, and reading it from JSONL.

A record is ``{"text", "label"}`` with an optional ``id``, ``split``,
``calibrate`` (``false``: trained on, never used to choose the temperature or
threshold) and ``case`` (the part of the data it belongs to, e.g. one writer's
part: the group ``alignpt tag crossval`` holds out). Every bad record is a
one-line error naming the file and line.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Sequence, overload

import orjson

from alignpt.core.errors import DataError
from alignpt.tag.labels import LABELS

__all__ = ["LabelledSet", "load_labelled", "load_labelled_many"]


@dataclass
class LabelledSet:
    ids: list[str]
    texts: list[str]
    labels: list[str]
    source: str = "<memory>"
    #: per document: may it choose the temperature and threshold? (None = all may).
    #: Written-for-contrast training documents are easier than the text the
    #: cascade meets, so a threshold holding recall on them would not hold on it.
    calibrate: list[bool] | None = None
    #: per document: its ``case`` (None where a record has none; None = no record has one)
    groups: list[str | None] | None = None

    def __len__(self) -> int:
        return len(self.texts)

    def digest(self) -> str:
        h = hashlib.sha256()
        for k, (i, t, y) in enumerate(zip(self.ids, self.texts, self.labels)):
            # the flag is hashed only where it is set, so older data keeps its digest
            h.update(orjson.dumps([i, t, y] if self.calibrates(k) else [i, t, y, False]))
        return h.hexdigest()[:16]

    def calibrates(self, k: int) -> bool:
        return True if self.calibrate is None else self.calibrate[k]

    @classmethod
    def concat(cls, parts: Sequence["LabelledSet"]) -> "LabelledSet":
        """Several labelled files as one set (sources joined with ``+``); ids must stay unique."""
        if len(parts) == 1:
            return parts[0]
        ids = [i for p in parts for i in p.ids]
        if len(set(ids)) != len(ids):
            dup = next(i for i in ids if ids.count(i) > 1)
            raise DataError(f"id {dup!r} appears in more than one labelled record",
                            " + ".join(p.source for p in parts))
        flags = [p.calibrates(k) for p in parts for k in range(len(p))]
        groups = [g for p in parts for g in (p.groups or [None] * len(p))]
        return cls(ids, [t for p in parts for t in p.texts], [y for p in parts for y in p.labels],
                   " + ".join(p.source for p in parts), None if all(flags) else flags,
                   None if all(g is None for g in groups) else groups)

    def fit_only(self) -> "LabelledSet":
        """The same documents, none of them calibrating (``alignpt tag train --fit-only``)."""
        return LabelledSet(self.ids, self.texts, self.labels, self.source, [False] * len(self),
                           self.groups)

    def subset(self, keep: Sequence[int]) -> "LabelledSet":
        return LabelledSet([self.ids[i] for i in keep], [self.texts[i] for i in keep],
                           [self.labels[i] for i in keep], self.source,
                           None if self.calibrate is None else [self.calibrate[i] for i in keep],
                           None if self.groups is None else [self.groups[i] for i in keep])


@overload
def load_labelled(path: str | Path, split: str | None = ...,
                  required: Literal[True] = ...) -> LabelledSet: ...
@overload
def load_labelled(path: str | Path, split: str | None = ...,
                  required: bool = ...) -> LabelledSet | None: ...


def load_labelled(path: str | Path, split: str | None = None,
                  required: bool = True) -> LabelledSet | None:
    """Read labelled JSONL (``text``, ``label``, optional ``id``, ``split`` and ``calibrate``);
    a ``.zst`` file is read through zstandard.

    ``split`` keeps only the records whose ``split`` field equals it; a file without
    such records is an error when ``required``, else None.
    ``calibrate: false`` marks a training document that is fitted on but not
    used to choose the temperature and threshold (see :class:`LabelledSet`).
    """
    path = Path(path)
    ids, texts, labels, calibrate, groups = [], [], [], [], []
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError("labelled file not found", str(path)) from None
    if path.suffix == ".zst":
        import zstandard

        try:
            raw = zstandard.ZstdDecompressor().stream_reader(raw).read()
        except zstandard.ZstdError as exc:
            raise DataError(f"not a valid zstd file ({exc})", str(path)) from None
    lines = raw.splitlines()
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            rec = orjson.loads(line)
        except orjson.JSONDecodeError:
            raise DataError("invalid JSON", str(path), line=lineno) from None
        if not isinstance(rec, dict) or not isinstance(rec.get("text"), str):
            raise DataError("expected an object with a string 'text'", str(path), line=lineno)
        if rec.get("label") not in LABELS:
            raise DataError(f"label must be one of {', '.join(LABELS)}, got {rec.get('label')!r}",
                            str(path), line=lineno)
        if not isinstance(rec.get("calibrate", True), bool):
            raise DataError("'calibrate' must be true or false", str(path), line=lineno)
        if not isinstance(rec.get("case", ""), str):
            raise DataError("'case' must be a string", str(path), line=lineno)
        if split is not None and rec.get("split") != split:
            continue
        ids.append(str(rec.get("id", f"{path.name}:{lineno}")))
        texts.append(rec["text"])
        labels.append(rec["label"])
        calibrate.append(rec.get("calibrate", True))
        groups.append(rec.get("case"))
    if not texts:
        if not required:
            return None
        raise DataError(f"no labelled records{f' in split {split!r}' if split else ''}", str(path))
    return LabelledSet(ids, texts, labels, str(path), None if all(calibrate) else calibrate,
                       None if all(g is None for g in groups) else groups)


def load_labelled_many(paths: Sequence[str | Path], split: str | None = None,
                       required: bool = True) -> LabelledSet | None:
    """Several labelled files as one set: a file without records in ``split`` is passed
    over (a generated training file has no held-out split); none at all is an error when
    ``required``, else None."""
    parts = [p for p in (load_labelled(path, split, required=False) for path in paths)
             if p is not None]
    if not parts:
        if not required:
            return None
        raise DataError(f"no labelled records{f' in split {split!r}' if split else ''}",
                        ", ".join(map(str, paths)))
    return LabelledSet.concat(parts)
