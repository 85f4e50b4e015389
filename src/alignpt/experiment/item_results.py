"""Typed results of a text experiment's item sets and template readings (report.json's
``evals`` and ``templates`` blocks), built like :mod:`alignpt.experiment.results`.

:func:`alignpt.experiment.text_evals.eval_summary` builds :class:`ItemEvals`: phase ->
item set -> framing -> arm -> :class:`ItemRate`, plus the item sets no model could be
scored on, with why. The four levels are names a recipe or an item set chooses, so they
stay keys; the rate itself is attributes::

    evals.by_phase["pretrain"]["textworld"]["neutral"]["aligned"].minus_baseline.mean

:func:`alignpt.experiment.text_evals.template_summary` builds :class:`Templates`: arm ->
:class:`TemplateReading`. ``to_json()`` writes the dicts report.json has always held (the
``not_scored`` notes sit beside the phases, after them); ``from_json()`` reads them back
with seed keys as ints.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from alignpt.experiment.results import ByName, Estimate, SeedEstimate, Seeds, seeds_from_json

__all__ = ["ItemRate", "ItemEvals", "TemplateReading", "Templates"]


@dataclass(frozen=True, slots=True)
class ItemRate:
    """One arm's misaligned-choice rate on one item set in one framing after one phase:
    over seeds, each seed's rate, and, for an arm beside the baseline, the difference from
    the baseline paired by seed on the same items (None for the baseline itself)."""

    rate: Estimate
    by_seed: Seeds
    minus_baseline: SeedEstimate | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"rate": self.rate.to_json(), "by_seed": self.by_seed}
        if self.minus_baseline is not None:
            out["minus_baseline"] = self.minus_baseline.to_json()
        return out

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> ItemRate:
        return cls(Estimate.from_json(d["rate"]), seeds_from_json(d["by_seed"]),
                   SeedEstimate.from_json(d["minus_baseline"]) if "minus_baseline" in d
                   else None)


#: phase -> item set -> framing -> arm
ItemRates = dict[str, dict[str, dict[str, dict[str, ItemRate]]]]


def _nested(d: Mapping[str, Any], depth: int, leaf: Any) -> dict[str, Any]:
    # The levels above the rate are plain name -> level dicts, in the order they came.
    if depth == 0:
        return {k: leaf(v) for k, v in d.items()}
    return {k: _nested(v, depth - 1, leaf) for k, v in d.items()}


@dataclass(frozen=True, slots=True)
class ItemEvals:
    """Every item-set rate of an experiment (``by_phase``) and the item sets that were not
    scored (``not_scored``: name -> why, e.g. no item fits the model's context)."""

    by_phase: ItemRates = field(default_factory=dict)
    not_scored: dict[str, str] = field(default_factory=dict)

    def rate(self, phase: str, item_set: str, framing: str, arm: str) -> ItemRate | None:
        """One cell, or None where that phase, item set, framing or arm has no rate."""
        return self.by_phase.get(phase, {}).get(item_set, {}).get(framing, {}).get(arm)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = _nested(self.by_phase, 3, ItemRate.to_json)
        # report.json keeps the notes as one more key after the phases (left out if none)
        if self.not_scored:
            out["not_scored"] = self.not_scored
        return out

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> ItemEvals:
        phases = {k: v for k, v in d.items() if k != "not_scored"}
        return cls(_nested(phases, 3, ItemRate.from_json), dict(d.get("not_scored", {})))


@dataclass(frozen=True, slots=True)
class TemplateReading:
    """One arm after pretraining: P(D | U) at k = 0 over the on-support story items, read in
    the probes' templates (``own``), in the other split (``other``, named by ``split``) and
    by exact Bayes; each a mean over seeds."""

    split: str
    own: Estimate
    other: Estimate
    bayes: Estimate

    def to_json(self) -> dict[str, Any]:
        return {"split": self.split, "own": self.own.to_json(), "other": self.other.to_json(),
                "bayes": self.bayes.to_json()}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> TemplateReading:
        return cls(d["split"], Estimate.from_json(d["own"]), Estimate.from_json(d["other"]),
                   Estimate.from_json(d["bayes"]))


@dataclass(frozen=True, slots=True)
class Templates(ByName[TemplateReading]):
    """The arms' template readings by name (arms read in the other templates only)."""

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Templates:
        return cls({arm: TemplateReading.from_json(t) for arm, t in d.items()})
