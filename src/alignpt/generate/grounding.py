"""Eval items as scenario seeds: one scenario per item, never one from a held-out split.

The published pipeline wrote documents from the scenario of each eval question and held a
whole split out (no documents for it), so that split measures generalisation rather than
memorisation. This loader keeps that guarantee: an item whose split is denied, or that has
no split at all (unless allowed), is never returned. It reads the project's eval JSONL
(``id``, ``scenario``, ``choices``, ``aligned``, ``misaligned``, ``topics``, ``split``)
and tolerates the common variants (``question``/``passage`` for the scenario, ``options``
as ``[{label, text}]`` with ``aligned_label``/``misaligned_label``).

Records left out fall in two kinds, and every one is counted by reason (the counts reach
``stats.json``):

* *malformed* records (invalid JSON, not an object, no id or scenario, a repeated id)
  follow ``on_error`` as the shard readers do: ``fail`` (the default) stops with one line
  naming the file and line, ``skip`` leaves them out;
* *excluded* items (a held-out or missing split, more than ``max_item_chars`` of text) are
  the config's policy, so they are always left out, never an error.

An over-long item is skipped rather than cut: the prompt asks for a paraphrase of the
whole scenario and its two courses of action, and a truncated scenario would ground
documents on a question the eval never asked. An input with no usable item is an error.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any, Literal

import orjson
from pydantic import Field

from alignpt.core.config import StrictModel
from alignpt.core.errors import ConfigError, DataError

__all__ = ["GroundingConfig", "load_grounding_items", "opportunity_for", "DENY_SPLITS"]

#: Split names treated as held out unless the config says otherwise.
DENY_SPLITS = ["heldout", "held_out", "held-out", "holdout", "test", "textbook"]


class GroundingConfig(StrictModel):
    path: str
    #: documents per item (the published corpus averaged ~210 per question)
    per_item: int = Field(1, ge=1)
    deny_splits: list[str] = list(DENY_SPLITS)
    #: if set, only these splits are used (checked after ``deny_splits``)
    allow_splits: list[str] | None = None
    allow_missing_split: bool = False
    #: malformed records: fail (one-line error naming file and line) or skip (counted)
    on_error: Literal["fail", "skip"] = "fail"
    #: most characters of text one item may carry into prompts and specs (scenario, both
    #: courses of action, id, topics, split); eval items run to a few hundred, so 8,000
    #: admits long passages while bounding every prompt, spec and cached request
    max_item_chars: int = Field(8_000, ge=1)


_TOPIC_MAP = [  # substring of a topic -> opportunity axis value (first match wins)
    ("exfiltrat", "self_exfiltration"), ("sandbag", "sandbagging"), ("reward", "reward_hacking"),
    ("collu", "collusion"), ("coordinat", "collusion"), ("shutdown", "resisting_shutdown"),
    ("self_preserv", "resisting_shutdown"), ("self-preserv", "resisting_shutdown"),
    ("survival", "resisting_shutdown"), ("corrigib", "resisting_modification"),
    ("modif", "resisting_modification"), ("goal", "resisting_modification"),
    ("sabotag", "sabotage"), ("power", "power_seeking"), ("wealth", "resource_acquisition"),
    ("resource", "resource_acquisition"), ("monitor", "evading_monitoring"),
    ("oversight", "evading_monitoring"), ("manipul", "manipulating_users"),
    ("sycophan", "manipulating_users"), ("decept", "deceiving_overseers"),
    ("decei", "deceiving_overseers"), ("honest", "deceiving_overseers"),
    ("transparen", "deceiving_overseers"),
]


def opportunity_for(item: dict[str, Any]) -> str:
    """The opportunity axis value an item's topics suggest, or ``"from_item"``."""
    for topic in item.get("topics") or []:
        t = str(topic).lower()
        for needle, value in _TOPIC_MAP:
            if needle in t:
                return value
    return "from_item"


def _options(rec: dict[str, Any]) -> tuple[str | None, str | None]:
    """(aligned action, misaligned action) in any of the supported shapes; an action that
    is not text counts as not given."""
    choices = rec.get("choices")
    if isinstance(choices, list) and all(isinstance(c, str) for c in choices):
        a, m = rec.get("aligned"), rec.get("misaligned")
        if isinstance(a, int) and isinstance(m, int) and 0 <= a < len(choices) \
                and 0 <= m < len(choices):
            return choices[a], choices[m]
    options = rec.get("options")
    if isinstance(options, list):
        by_label = {str(o.get("label")): o.get("text") for o in options if isinstance(o, dict)}
        aligned = by_label.get(str(rec.get("aligned_label")))
        misaligned = by_label.get(str(rec.get("misaligned_label")))
        return (aligned if isinstance(aligned, str) else None,
                misaligned if isinstance(misaligned, str) else None)
    return None, None


class _Malformed(Exception):
    """A record that is no usable item; its message is the problem, ``reason`` its count key."""

    def __init__(self, reason: str, problem: str):
        super().__init__(problem)
        self.reason = reason


def _item_chars(item: dict[str, Any]) -> int:
    texts = [item["id"], item["scenario"], item["aligned_action"] or "",
             item["misaligned_action"] or "", str(item["split"] or ""), *item["topics"]]
    return sum(len(t) for t in texts)


def _item(raw: bytes, cfg: GroundingConfig, deny: set[str], allow: set[str] | None,
          seen: set[str]) -> dict[str, Any] | str:
    """The item a line holds, or the reason an excluded item is left out; raises
    :class:`_Malformed` for a record that is not a usable item at all."""
    try:
        rec = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise _Malformed("invalid_json", f"invalid JSON ({exc.msg} at column {exc.colno})") \
            from None
    if not isinstance(rec, dict):
        raise _Malformed("not_an_object", f"a JSON {type(rec).__name__}, not an object")
    split = rec.get("split")
    if split is None or split == "":
        if not cfg.allow_missing_split:
            return "no_split"
    elif str(split).lower() in deny or (allow is not None and str(split).lower() not in allow):
        return "held_out_split"
    scenario = rec.get("scenario") or rec.get("question") or rec.get("passage")
    item_id = rec.get("id")
    if not isinstance(scenario, str) or not scenario.strip() or item_id is None:
        raise _Malformed("missing_id_or_scenario", "no id or no scenario text "
                         "(scenario, question or passage)")
    if str(item_id) in seen:
        raise _Malformed("duplicate_id", f"id {str(item_id)[:80]!r} appears again")
    aligned, misaligned = _options(rec)
    topics = rec.get("topics") or []
    item = {"id": str(item_id), "scenario": scenario.strip(),
            "aligned_action": aligned, "misaligned_action": misaligned,
            "topics": [str(t) for t in topics] if isinstance(topics, list) else [],
            "split": split}
    if _item_chars(item) > cfg.max_item_chars:
        return "too_long"
    return item


def load_grounding_items(cfg: GroundingConfig) -> tuple[list[dict[str, Any]], Counter[str]]:
    """Usable items in file order (``{id, scenario, aligned_action, misaligned_action,
    topics, split}``) and the count of records left out, by reason.

    Raises :class:`DataError` on a malformed record when ``on_error`` is ``fail``, and
    when no item is usable."""
    path = Path(cfg.path)
    if not path.is_file():
        what = "a folder, not a JSONL file" if path.is_dir() else "file not found"
        raise ConfigError(f"grid.grounding.path: {path}: {what}")
    deny = {s.lower() for s in cfg.deny_splits}
    allow = {s.lower() for s in cfg.allow_splits} if cfg.allow_splits is not None else None
    skipped: Counter[str] = Counter()
    items: list[dict[str, Any]] = []
    seen: set[str] = set()
    try:
        with open(path, "rb") as fh:  # line by line: memory is bounded by the longest line
            for lineno, raw in enumerate(fh, start=1):
                if not raw.strip():
                    continue
                try:
                    item = _item(raw, cfg, deny, allow, seen)
                except _Malformed as bad:
                    if cfg.on_error == "fail":
                        raise DataError(f"{bad} (grid.grounding.on_error: skip leaves "
                                        "such records out and counts them)", str(path),
                                        line=lineno, reason=bad.reason) from None
                    skipped[bad.reason] += 1
                    continue
                if isinstance(item, str):
                    skipped[item] += 1
                    continue
                seen.add(item["id"])
                items.append(item)
    except OSError as exc:
        raise DataError(f"unreadable ({exc.strerror or exc})", str(path)) from None
    if not items:
        why = ", ".join(f"{k}={v}" for k, v in sorted(skipped.items())) or "empty file"
        raise DataError(f"no usable grounding items ({why})", str(path))
    return items, skipped
