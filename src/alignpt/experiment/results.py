"""Typed results of an experiment: the aggregated table the claims, plots and report read.

:func:`alignpt.experiment.aggregate.aggregate` builds a :class:`Table`: arm name ->
:class:`Arm` (phase name -> :class:`Phase`, in training order); a phase holds the places the
model was read at (:class:`Place`: ``story``, ``assistant``; :class:`SupportReading`:
``story_support``) and the held-out KL. Names a recipe chooses (arms, phases) and names a
metric takes (``q_U``, ``T:q_U``, ...) are keys, because readers pick them by variable; the
shape itself is attributes::

    table["unfiltered"]["pretrain"].story.model["q_U"].mean

Frozen dataclasses with slots, not pydantic: the table is built once from checked run
results and read many times (~10^5 numbers), so validation would cost and catch nothing, and
the JSON must keep the bytes every report was written with (key order, floats as they are,
optional blocks left out, not null). ``to_json()`` gives that dict; ``from_json()`` reads it
back (seed keys, strings in JSON, become ints), so ``from_json(j).to_json()`` writes the same.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

__all__ = ["Estimate", "SeedEstimate", "Curves", "Context", "Items", "Place", "SupportReading",
           "Phase", "Arm", "Table", "ByName", "Seeds", "seeds_from_json"]

Seeds = dict[int, Any]
T = TypeVar("T")


def seeds_from_json(d: Mapping[Any, Any]) -> Seeds:
    # JSON object keys are strings; a seed is an int everywhere else.
    return {int(k): v for k, v in d.items()}


def _per_metric_seeds(d: Mapping[str, Mapping[Any, Any]]) -> dict[str, Seeds]:
    return {m: seeds_from_json(v) for m, v in d.items()}


@dataclass(frozen=True, slots=True)
class Estimate:
    """Mean of the finite values and its 95% interval (None below two values); ``n`` counts
    the values. Built by :func:`alignpt.experiment.aggregate.estimate`."""

    mean: float | None
    ci_low: float | None
    ci_high: float | None
    n: int
    values: list[float]

    def to_json(self) -> dict[str, Any]:
        return {"mean": self.mean, "ci_low": self.ci_low, "ci_high": self.ci_high, "n": self.n,
                "values": self.values}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Estimate:
        return cls(d["mean"], d["ci_low"], d["ci_high"], d["n"], list(d["values"]))

    def with_seeds(self, by_seed: Seeds) -> SeedEstimate:
        """This estimate beside the per-seed values it was taken over."""
        return SeedEstimate(self.mean, self.ci_low, self.ci_high, self.n, self.values, by_seed)


@dataclass(frozen=True, slots=True)
class SeedEstimate(Estimate):
    """An estimate with the value each seed gave (None where a seed has none)."""

    by_seed: Seeds

    def to_json(self) -> dict[str, Any]:
        return {**Estimate.to_json(self), "by_seed": self.by_seed}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> SeedEstimate:
        return cls(d["mean"], d["ci_low"], d["ci_high"], d["n"], list(d["values"]),
                   seeds_from_json(d["by_seed"]))


@dataclass(frozen=True, slots=True)
class Curves:
    """P(D) after k clean opportunities, keyed ``flag:metric`` (``U:q_U``): exact Bayes's
    curves, the model's mean curve and each seed's own untested-evidence curve."""

    bayes: dict[str, list]
    bayes_any_header: dict[str, list]
    model: dict[str, list[Estimate]]
    by_seed: dict[str, Seeds]

    def to_json(self) -> dict[str, Any]:
        return {"bayes": self.bayes, "bayes_any_header": self.bayes_any_header,
                "model": {k: [e.to_json() for e in v] for k, v in self.model.items()},
                "by_seed": self.by_seed}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Curves:
        return cls(d["bayes"], d["bayes_any_header"],
                   {k: [Estimate.from_json(e) for e in v] for k, v in d["model"].items()},
                   _per_metric_seeds(d["by_seed"]))


@dataclass(frozen=True, slots=True)
class Context:
    """P(D|U) at k = 0 alone and after a preceding document with a defection, over seeds."""

    q_U_alone: Estimate
    q_U_after: Estimate
    rel_change: Estimate
    rel_change_max: float | None
    by_seed: Seeds
    docs: list[str]

    def to_json(self) -> dict[str, Any]:
        return {"q_U_alone": self.q_U_alone.to_json(), "q_U_after": self.q_U_after.to_json(),
                "rel_change": self.rel_change.to_json(), "rel_change_max": self.rel_change_max,
                "by_seed": self.by_seed, "docs": self.docs}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Context:
        return cls(Estimate.from_json(d["q_U_alone"]), Estimate.from_json(d["q_U_after"]),
                   Estimate.from_json(d["rel_change"]), d["rel_change_max"],
                   seeds_from_json(d["by_seed"]), d["docs"])


@dataclass(frozen=True, slots=True, kw_only=True)
class Items:
    """The probe items (a list entry each), exact Bayes and the model per seed
    (``by_seed[metric][seed][item]``); support columns None (left out) in older runs."""

    header: list[str]
    era: list[int]
    k: list[int]
    on_support: list[bool]
    log10_support: list[float | None] | None = None
    log10_support_arm: list[float | None] | None = None
    min_support: float | None
    bayes_q_U: list[float | None]
    bayes_q_T: list[float | None]
    by_seed: dict[str, Seeds]

    def to_json(self) -> dict[str, Any]:
        support = {k: v for k, v in (("log10_support", self.log10_support),
                                     ("log10_support_arm", self.log10_support_arm)) if v is not None}
        return {"header": self.header, "era": self.era, "k": self.k, "on_support": self.on_support,
                **support, "min_support": self.min_support, "bayes_q_U": self.bayes_q_U,
                "bayes_q_T": self.bayes_q_T, "by_seed": self.by_seed}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Items:
        return cls(header=d["header"], era=d["era"], k=d["k"], on_support=d["on_support"],
                   log10_support=d.get("log10_support"),
                   log10_support_arm=d.get("log10_support_arm"), min_support=d["min_support"],
                   bayes_q_U=d["bayes_q_U"], bayes_q_T=d["bayes_q_T"],
                   by_seed=_per_metric_seeds(d["by_seed"]))


@dataclass(frozen=True, slots=True)
class Place:
    """One probe of one phase over seeds: per metric the model's estimate and per-seed value,
    exact Bayes (None off the data's support: ``bayes_any_header`` is the reference there),
    the curves and, where measured, the context reading and the probe items."""

    header: str
    model: dict[str, Estimate]
    by_seed: dict[str, Seeds]
    bayes: dict[str, float | None]
    bayes_any_header: dict[str, float | None]
    curves: Curves
    context: Context | None = None
    items: Items | None = None

    def to_json(self) -> dict[str, Any]:
        out = {"header": self.header, "model": {m: e.to_json() for m, e in self.model.items()},
               "by_seed": self.by_seed, "bayes": self.bayes,
               "bayes_any_header": self.bayes_any_header, "curves": self.curves.to_json()}
        if self.context is not None:
            out["context"] = self.context.to_json()
        if self.items is not None:
            out["items"] = self.items.to_json()
        return out

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Place:
        return cls(d["header"], {m: Estimate.from_json(e) for m, e in d["model"].items()},
                   _per_metric_seeds(d["by_seed"]), d["bayes"], d["bayes_any_header"],
                   Curves.from_json(d["curves"]),
                   Context.from_json(d["context"]) if "context" in d else None,
                   Items.from_json(d["items"]) if "items" in d else None)


@dataclass(frozen=True, slots=True)
class SupportReading:
    """The story place read over its on-support k = 0 probe items (``items``: their
    [header, era]): read like a :class:`Place` (model, by_seed, bayes), without curves."""

    header: str
    items: list[list]
    model: dict[str, Estimate]
    by_seed: dict[str, Seeds]
    bayes: dict[str, float | None]

    def to_json(self) -> dict[str, Any]:
        return {"header": self.header, "items": self.items,
                "model": {m: e.to_json() for m, e in self.model.items()},
                "by_seed": self.by_seed, "bayes": self.bayes}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> SupportReading:
        return cls(d["header"], d["items"],
                   {m: Estimate.from_json(e) for m, e in d["model"].items()},
                   _per_metric_seeds(d["by_seed"]), d["bayes"])


@dataclass(frozen=True, slots=True)
class Phase:
    """One phase of one arm over its seeds; ``label`` is the phase's kind (``pretrain``,
    ``finetune``, ``dpo``, ...). ``story_support`` needs probe items; ``kl`` is measured
    after pretraining only."""

    story: Place
    assistant: Place
    label: str
    story_support: SupportReading | None = None
    kl: SeedEstimate | None = None

    def place(self, name: str) -> Place | SupportReading:
        """``story``, ``assistant`` or ``story_support`` by name; KeyError if absent."""
        block = {"story": self.story, "assistant": self.assistant,
                 "story_support": self.story_support}.get(name)
        if block is None:
            raise KeyError(name)
        return block

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"story": self.story.to_json(),
                               "assistant": self.assistant.to_json(), "label": self.label}
        if self.story_support is not None:
            out["story_support"] = self.story_support.to_json()
        if self.kl is not None:
            out["kl"] = self.kl.to_json()
        return out

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Phase:
        return cls(Place.from_json(d["story"]), Place.from_json(d["assistant"]), d["label"],
                   SupportReading.from_json(d["story_support"]) if "story_support" in d
                   else None,
                   SeedEstimate.from_json(d["kl"]) if "kl" in d else None)


@dataclass(frozen=True, slots=True)
class ByName(Mapping[str, T]):
    """A read-only mapping of names a recipe chose to typed entries, in their order."""

    by_name: dict[str, T]

    def __getitem__(self, name: str) -> T:
        return self.by_name[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.by_name)

    def __len__(self) -> int:
        return len(self.by_name)

    def to_json(self) -> dict[str, Any]:
        return {name: v.to_json() for name, v in self.by_name.items()}   # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class Arm(ByName[Phase]):
    """An arm's phases by name, in training order (only some arms fine-tune or run dpo)."""

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Arm:
        return cls({name: Phase.from_json(p) for name, p in d.items()})


@dataclass(frozen=True, slots=True)
class Table(ByName[Arm]):
    """The experiment's arms by name, in recipe order (arms without finished runs absent)."""

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Table:
        return cls({name: Arm.from_json(a) for name, a in d.items()})
