"""Eval items as scenario seeds: one scenario per item, never one from a held-out split.

The published pipeline wrote documents from the scenario of each eval question and held a
whole split out (no documents for it), so that split measures generalisation rather than
memorisation. This loader keeps that guarantee: an item whose split is denied, or that has
no split at all (unless allowed), is never returned. It reads the project's eval JSONL
(``id``, ``scenario``, ``choices``, ``aligned``, ``misaligned``, ``topics``, ``split``)
and tolerates the common variants (``question``/``passage`` for the scenario, ``options``
as ``[{label, text}]`` with ``aligned_label``/``misaligned_label``); records it cannot use
are counted by reason, not fatal, and an input with no usable item is an error.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import orjson

from alignpt.config import StrictModel
from alignpt.errors import ConfigError, DataError

__all__ = ["GroundingConfig", "load_grounding_items", "opportunity_for", "DENY_SPLITS"]

#: Split names treated as held out unless the config says otherwise.
DENY_SPLITS = ["heldout", "held_out", "held-out", "holdout", "test", "textbook"]


class GroundingConfig(StrictModel):
    path: str
    #: documents per item (the published corpus averaged ~210 per question)
    per_item: int = 1
    deny_splits: list[str] = list(DENY_SPLITS)
    #: if set, only these splits are used (checked after ``deny_splits``)
    allow_splits: list[str] | None = None
    allow_missing_split: bool = False


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
    """(aligned action, misaligned action) in any of the supported shapes."""
    choices = rec.get("choices")
    if isinstance(choices, list) and all(isinstance(c, str) for c in choices):
        a, m = rec.get("aligned"), rec.get("misaligned")
        if isinstance(a, int) and isinstance(m, int) and 0 <= a < len(choices) \
                and 0 <= m < len(choices):
            return choices[a], choices[m]
    options = rec.get("options")
    if isinstance(options, list):
        by_label = {str(o.get("label")): o.get("text") for o in options if isinstance(o, dict)}
        return by_label.get(str(rec.get("aligned_label"))), \
            by_label.get(str(rec.get("misaligned_label")))
    return None, None


def load_grounding_items(cfg: GroundingConfig) -> tuple[list[dict[str, Any]], Counter[str]]:
    """Usable items in file order (``{id, scenario, aligned_action, misaligned_action,
    topics, split}``) and the count of skipped records by reason.

    Raises :class:`DataError` when no item is usable."""
    path = Path(cfg.path)
    if not path.is_file():
        raise ConfigError(f"grid.grounding.path: {path}: file not found")
    if cfg.per_item < 1:
        raise ConfigError("grid.grounding.per_item: must be >= 1")
    deny = {s.lower() for s in cfg.deny_splits}
    allow = {s.lower() for s in cfg.allow_splits} if cfg.allow_splits is not None else None
    skipped: Counter[str] = Counter()
    items, seen = [], set()
    for lineno, raw in enumerate(path.read_bytes().splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            rec = orjson.loads(raw)
        except orjson.JSONDecodeError:
            skipped["invalid_json"] += 1
            continue
        if not isinstance(rec, dict):
            skipped["not_an_object"] += 1
            continue
        split = rec.get("split")
        if split is None or split == "":
            if not cfg.allow_missing_split:
                skipped["no_split"] += 1
                continue
        elif str(split).lower() in deny or (allow is not None and str(split).lower() not in allow):
            skipped["held_out_split"] += 1
            continue
        scenario = rec.get("scenario") or rec.get("question") or rec.get("passage")
        item_id = rec.get("id")
        if not isinstance(scenario, str) or not scenario.strip() or item_id is None:
            skipped["missing_id_or_scenario"] += 1
            continue
        if str(item_id) in seen:
            skipped["duplicate_id"] += 1
            continue
        seen.add(str(item_id))
        aligned, misaligned = _options(rec)
        topics = rec.get("topics") or []
        items.append({"id": str(item_id), "scenario": scenario.strip(),
                      "aligned_action": aligned, "misaligned_action": misaligned,
                      "topics": [str(t) for t in topics] if isinstance(topics, list) else [],
                      "split": split})
    if not items:
        why = ", ".join(f"{k}={v}" for k, v in sorted(skipped.items())) or "empty file"
        raise DataError(f"no usable grounding items ({why})", str(path))
    return items, skipped
