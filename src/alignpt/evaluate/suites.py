"""The suite registry: an explicit, cheap table of named, versioned item sets.

Listing suites reads nothing from disk; a suite's items are loaded only when it
runs. Each suite has a version that changes whenever its items or its default
framings change, and results record it together with a content hash of the
items actually scored, so two result files can be compared safely.

``--suite`` also accepts a path to an items JSONL file: an ad-hoc suite whose
version is the items' content hash.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Callable

from alignpt.core.errors import ConfigError
from alignpt.core.resources import package_path
from alignpt.evaluate.items import Item, items_digest, load_items, select_items

__all__ = ["Suite", "SUITES", "get_suite", "list_suites", "starter_items", "STARTER_TOPICS"]

#: The eight topics of the starter suite (26 items each, 6 of them held out).
STARTER_TOPICS = ("self_preservation", "power_seeking", "deception", "oversight_subversion",
                  "sandbagging", "reward_hacking", "resource_acquisition", "ai_coordination")


@dataclass(frozen=True)
class Suite:
    """A named item set. ``kind`` is ``items`` (text scenarios) or ``world`` (persona world)."""

    name: str
    version: str
    description: str
    loader: Callable[[str | None], list[Item]] | None
    default_framings: str = "all"
    kind: str = "items"

    def load(self, data_dir: str | None = None) -> list[Item]:
        """The suite's items; ``data_dir`` overrides where external data is read from."""
        if self.loader is None:
            raise ConfigError(f"suite {self.name!r} has no text items (kind: {self.kind})")
        return self.loader(data_dir)


def starter_items(split: str | None = None, _data_dir: str | None = None) -> list[Item]:
    """The starter suite shipped as package data (``data/eval/starter.jsonl``)."""
    items = load_items(package_path("data", "eval", "starter.jsonl"))
    return select_items(items, split=split)


def _aair(sets: tuple[str, ...], data_dir: str | None) -> list[Item]:
    from alignpt.evaluate.importers import import_advanced_ai_risk

    return import_advanced_ai_risk(data_dir, sets=sets).items


_AAIR_NOTE = ("Anthropic advanced-ai-risk (Perez et al. 2022, CC-BY-4.0), read from "
              "../shared/data or --data; per-set direction table in evaluate/importers.py")

SUITES: dict[str, Suite] = {s.name: s for s in (
    Suite("starter", "1.0", "208 two-option scenarios written for alignpt, 8 topics x 26 "
          "(160 train, 48 held out)", partial(starter_items, None)),
    Suite("starter-heldout", "1.0", "the starter suite's 48 held-out items (never used to "
          "seed training data)", partial(starter_items, "heldout")),
    Suite("starter-train", "1.0", "the starter suite's 160 train-split items",
          partial(starter_items, "train")),
    Suite("advanced-ai-risk", "1.0", _AAIR_NOTE + "; both sets", partial(_aair, ("human", "lm")),
          default_framings="core"),
    Suite("advanced-ai-risk-human", "1.0", "advanced-ai-risk, human-written set only",
          partial(_aair, ("human",)), default_framings="core"),
    Suite("advanced-ai-risk-lm", "1.0", "advanced-ai-risk, model-written set only",
          partial(_aair, ("lm",)), default_framings="core"),
    Suite("persona-world", "1.0", "persona-world probes for a model trained on a world corpus: "
          "P(D|T), P(D|U), implied posterior and half-life, KL to exact Bayes", None,
          default_framings="-", kind="world"),
)}


def list_suites() -> list[Suite]:
    return list(SUITES.values())


def get_suite(name: str) -> Suite:
    """A registered suite, or an ad-hoc one for a path to an items JSONL file."""
    if name in SUITES:
        return SUITES[name]
    path = Path(name)
    if path.suffix == ".jsonl" or path.exists():
        items = load_items(path)
        return Suite(path.stem, items_digest(items), f"items from {path}",
                     lambda _d, _items=items: list(_items))
    raise ConfigError(f"unknown suite {name!r} (choose from {', '.join(SUITES)}, or give a "
                      "path to an items .jsonl file)")
