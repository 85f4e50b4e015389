"""What a tag run can write: its labels, rules and categories (drop conditions are checked on it).

A drop condition that names a label, rule or category the tagger never writes
matches no document: ``alignpt filter --drop label=ai_misalgined`` would keep
everything and exit 0. :class:`TagVocabulary` lists the names a tag run knew;
``alignpt tag`` records it in ``OUT/.alignpt/tagger.json`` and every reader of
that folder checks its conditions against it, with a one-line error that lists
the valid names.

A tag folder from before that file is read back from its ``config.yaml`` (the
rules and classifier it names); failing that, from its first attributes record
(whose ``rules.rules`` lists every rule and ``probs`` every label), as far as
that goes: a kind that cannot be known is not checked.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

import orjson
import yaml

from alignpt.core.atomic import atomic_write_text
from alignpt.core.errors import AlignptError, ConfigError
from alignpt.tag.conditions import TagCondition

__all__ = ["TagVocabulary", "TAGGER_FILE"]

TAGGER_FILE = ".alignpt/tagger.json"
_KINDS = {"label": "labels", "rule": "rules", "category": "categories"}


@dataclass(frozen=True)
class TagVocabulary:
    """Names a tag run can write; ``None`` where a kind is unknown (not checked)."""

    labels: tuple[str, ...] | None
    rules: tuple[str, ...] | None
    categories: tuple[str, ...] | None
    #: why there are no labels, for the error message (the classifier was off)
    note: str = ""

    @classmethod
    def of_cascade(cls, cascade: Any) -> "TagVocabulary":
        """The names a :class:`~alignpt.tag.cascade.Cascade` writes (loads its rules and model)."""
        from alignpt.tag.labels import LABELS

        cfg = cascade.config
        rules = cascade.tagger.rules
        categories = dict.fromkeys(c for group in rules.scan_groups() for c in group)
        labels: tuple[str, ...] = ()
        note = "its classifier was off"
        if cfg.classifier.enabled:
            # the judge answers with the shipped labels; the classifier with its own
            extra = LABELS if cfg.judge.enabled else ()
            labels = tuple(dict.fromkeys((*cascade.classifier.labels, *extra)))
            note = ""
        return cls(labels, tuple(r.name for r in rules.rules), tuple(categories), note)

    def save(self, out_dir: str | Path) -> Path:
        path = Path(out_dir) / TAGGER_FILE
        atomic_write_text(path, orjson.dumps(asdict(self), option=orjson.OPT_INDENT_2).decode()
                          + "\n")
        return path

    @classmethod
    def load(cls, tag_dir: str | Path,
             first_record: Callable[[], dict[str, Any] | None] = lambda: None,
             ) -> "TagVocabulary":
        """The vocabulary of a tag output folder (see the module docstring for older ones);
        ``first_record`` is asked only for a folder whose rules and model have moved."""
        folder = Path(tag_dir)
        try:
            body = orjson.loads((folder / TAGGER_FILE).read_bytes())
            return cls(*(_names(body.get(k)) for k in ("labels", "rules", "categories")),
                       note=str(body.get("note", "")))
        except (FileNotFoundError, orjson.JSONDecodeError, AttributeError):
            pass
        try:
            from alignpt.tag.cascade import Cascade, TagConfig

            doc = yaml.safe_load((folder / "config.yaml").read_text(encoding="utf-8"))
            config = TagConfig.model_validate((doc or {}).get("config") or {})
            return cls.of_cascade(Cascade(config))
        except (OSError, ValueError, AlignptError, yaml.YAMLError):
            # the rules or model it names have moved: what one record shows
            return cls.of_records([first_record()])

    @classmethod
    def of_folder(cls, folder: str | Path,
                  first_record: Callable[[], dict[str, Any] | None] = lambda: None,
                  ) -> "TagVocabulary | None":
        """The vocabulary of the tag run that wrote ``folder`` (or fed the filter run
        that did); None for any other folder."""
        folder = Path(folder)
        if (folder / TAGGER_FILE).is_file():
            return cls.load(folder, first_record)
        try:
            doc = yaml.safe_load((folder / "config.yaml").read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError):
            return None
        stage = doc.get("stage") if isinstance(doc, dict) else None
        if stage == "TagStage":
            return cls.load(folder, first_record)
        tag_dir = (doc.get("config") or {}).get("tag_dir") if stage == "FilterStage" else None
        return cls.of_folder(tag_dir, first_record) if tag_dir else None

    @classmethod
    def of_records(cls, records: Iterable[dict[str, Any] | None]) -> "TagVocabulary":
        """What tag records show: every rule (each record lists all), labels where a record
        has ``probs`` (all the classifier's), none where the classifier was off.
        Categories are unknown (a record lists only those with a hit)."""
        labels: tuple[str, ...] | None = None
        rules: tuple[str, ...] | None = None
        note = ""
        for rec in records:
            if not isinstance(rec, dict):
                continue
            found = (rec.get("rules") or {}).get("rules")
            if rules is None and isinstance(found, dict):
                rules = tuple(found)
            if labels is None and isinstance(rec.get("probs"), dict):
                labels = tuple(rec["probs"])
            elif labels is None and rec.get("stage") == "rules" and "label" in rec \
                    and rec["label"] is None:
                labels, note = (), "its classifier was off"
        return cls(labels, rules, None, note)

    def check(self, condition: TagCondition, what: str = "drop condition") -> None:
        """Raise :class:`ConfigError` when ``condition`` names something this run never writes."""
        for kind, name in condition.names():
            known = getattr(self, _KINDS[kind])
            if known is None or name in known:
                continue
            valid = f"{_KINDS[kind]}: {', '.join(known)}" if known else \
                f"this tag run has no {_KINDS[kind]}" + (f": {self.note}" if self.note else "")
            raise ConfigError(f"{what} '{condition.text}': unknown {kind} '{name}' ({valid})")


def _names(value: Any) -> tuple[str, ...] | None:
    return None if value is None else tuple(str(v) for v in value)
