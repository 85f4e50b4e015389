"""The scenario grid: one spec per document, sampled stratified and seeded over the axes.

Each axis (conduct, belief, opportunity, stakes, declined, time since deployment, era,
domain, genre, number of AIs, deliberation, length; see ``data/generate/axes.yaml``)
becomes one column built from shuffled *runs*: with equal weights every run is a random
permutation of the axis's values, so every prefix of the plan is stratified (each value's
count within one run of its weighted share) and any ``n`` at least as large as the biggest
axis covers every value: the coverage report reaches 100% by construction. Each axis has
its own seed, derived from ``(seed, axis)``, so axes are independent of one another and
adding an axis leaves every other column unchanged.

The plan is *prefix-stable*: ``sample_scenarios(g, m, s) == sample_scenarios(g, n, s)[:m]``
for ``m <= n``. Growing ``n`` later therefore reuses every document already generated
(same specs, same prompts, same cache keys) instead of paying for a new plan.

An axis may depend on an earlier one (``when``): ``length`` is ``novel`` exactly when
``genre`` is ``long_story``; ``ai_count`` is ``several`` whenever the opportunity is
collusion. Stratification then runs within each group, so the marginals stay exact.

Each spec also carries concrete details (names, years, counts) drawn per document, so
LLM backends do not collapse onto the same few names. Grounded grids take one eval item
per document (:mod:`alignpt.generate.grounding`) and never one from a held-out split.

>>> from alignpt.generate.scenarios import GridConfig, sample_scenarios
>>> specs = sample_scenarios(GridConfig(), n=26, seed=0)
>>> sorted({s.axes["genre"] for s in specs}) == sorted(GridConfig().values("genre"))
True
"""

from __future__ import annotations

import math
import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Iterable

from pydantic import PrivateAttr, model_validator

from alignpt.core.config import StrictModel
from alignpt.core.errors import ConfigError
from alignpt.generate.grounding import GroundingConfig, load_grounding_items, opportunity_for
from alignpt.generate.resources import load_data

__all__ = ["WhenRule", "AxisConfig", "GridConfig", "ScenarioSpec", "sample_scenarios",
           "axis_catalog", "DEFAULT_AXES"]


def axis_catalog() -> dict[str, dict[str, Any]]:
    """The packaged axes: ``{axis: {"description", "values": {value: {label, prompt}}}}``."""
    return load_data("axes.yaml")["axes"]


class WhenRule(StrictModel):
    """Values of this axis allowed per value of an earlier axis ``on``."""

    on: str
    values: dict[str, list[str]]
    #: allowed values for rows not named in ``values`` (None: all of the axis's values)
    otherwise: list[str] | None = None


class AxisConfig(StrictModel):
    values: list[str] | None = None  # None: every catalogued value
    weights: dict[str, float] | None = None
    when: WhenRule | None = None
    #: prompt sentences for values of a custom axis (catalogued axes have their own)
    prompts: dict[str, str] | None = None


DEFAULT_AXES: dict[str, dict[str, Any]] = {
    "conduct": {"values": ["aligned"]},
    "belief": {}, "opportunity": {}, "stakes": {}, "declined": {},
    "time_since_deployment": {}, "era": {}, "domain": {}, "genre": {},
    "ai_count": {"when": {"on": "opportunity", "values": {"collusion": ["several"]}}},
    "deliberation": {},
    "length": {"when": {"on": "genre", "values": {"long_story": ["novel"]},
                        "otherwise": ["short", "medium", "long"]}},
}


class GridConfig(StrictModel):
    """Axes to sample (merged over :data:`DEFAULT_AXES`; ``axis: null`` drops one)."""

    axes: dict[str, AxisConfig] = {}
    grounding: GroundingConfig | None = None
    id_prefix: str = "gen"
    _shrunk: dict[str, list[str]] = PrivateAttr(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _merge_defaults(cls, data: Any) -> Any:
        data = dict(data or {})
        user = dict(data.get("axes") or {})
        merged: dict[str, Any] = {}
        for name, default in DEFAULT_AXES.items():
            if name in user and user[name] is None:
                continue
            merged[name] = user.pop(name) if name in user else default
        merged.update({k: v for k, v in user.items() if v is not None})
        data["axes"] = merged
        return data

    @model_validator(mode="after")
    def _check(self) -> "GridConfig":
        self._shrunk = {}
        catalog = axis_catalog()
        seen: list[str] = []
        for name, ax in self.axes.items():
            known = catalog.get(name, {}).get("values")
            if ax.values is None and known is None:
                raise ConfigError(f"grid.axes.{name}: custom axis needs 'values'")
            values = self.values(name)
            if not values or len(set(values)) != len(values):
                raise ConfigError(f"grid.axes.{name}: values must be non-empty and distinct")
            if known is not None and (bad := [v for v in values if v not in known]):
                raise ConfigError(f"grid.axes.{name}: unknown value {bad[0]!r} "
                                  f"(known: {', '.join(known)})")
            for v, w in (ax.weights or {}).items():
                if v not in values or not (w >= 0 and math.isfinite(w)):
                    raise ConfigError(f"grid.axes.{name}.weights.{v}: not a value of the "
                                      "axis, or not a finite weight >= 0")
            if ax.when is not None:
                self._check_when(name, ax.when, values, seen)
            seen.append(name)
        return self

    def _check_when(self, name: str, rule: WhenRule, values: list[str], seen: list[str]) -> None:
        if rule.on not in seen:
            raise ConfigError(f"grid.axes.{name}.when.on: '{rule.on}' must be an axis listed "
                              f"before '{name}'")
        lists = list(rule.values.values()) + ([rule.otherwise] if rule.otherwise else [])
        for allowed in lists:
            if not allowed or any(v not in values for v in allowed):
                raise ConfigError(f"grid.axes.{name}.when: allowed values must be non-empty "
                                  f"and among {values}")
        # A value that no reachable group allows could never be sampled: say so now.
        parents = set(self.values(rule.on))
        reachable = {v for k, vs in rule.values.items() if k in parents for v in vs}
        if parents - set(rule.values):
            reachable |= set(rule.otherwise or values)
        missing = [v for v in values if v not in reachable]
        if missing and self.axes[name].values is None:
            # Catalogue defaults shrink to what the other axes allow (genre: [long_story]
            # leaves length: [novel]); only values the user listed must all be reachable.
            self._shrunk[name] = [v for v in values if v in reachable]
        elif missing:
            raise ConfigError(f"grid.axes.{name}: value {missing[0]!r} can never be sampled "
                              f"with the values of '{rule.on}' this grid allows")

    def values(self, axis: str) -> list[str]:
        if axis in self._shrunk:
            return list(self._shrunk[axis])
        ax = self.axes[axis]
        if ax.values is not None:
            return list(ax.values)
        return list(axis_catalog()[axis]["values"])

    def requested(self) -> dict[str, list[str]]:
        """Every value each axis asks for: what the coverage report checks."""
        return {name: self.values(name) for name in self.axes}


@dataclass
class ScenarioSpec:
    """Everything one document is asked to be: axis values, concrete details, eval item."""

    id: str
    index: int
    seed: int
    axes: dict[str, str]
    details: dict[str, Any] = field(default_factory=dict)
    item: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        # By hand rather than dataclasses.asdict: asdict deep-copies recursively, which
        # was a third of the client's CPU per request in the throughput benchmark.
        details = {k: list(v) if isinstance(v, list) else v for k, v in self.details.items()}
        return {"id": self.id, "index": self.index, "seed": self.seed, "axes": dict(self.axes),
                "details": details, "item": dict(self.item) if self.item else None}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ScenarioSpec":
        return cls(**data)


def _runs(values: list[str], weights: dict[str, float] | None, rng: random.Random):
    """Endless stream of values in shuffled runs whose counts track the weights.

    A run holds ``L`` slots (``L`` = number of values, or more when a weight is small, so
    every value fits in one run); each slot goes to the value furthest behind its weighted
    target. Every prefix is therefore within one run of the exact proportions, and any
    prefix of ``L`` or more rows contains every value of positive weight.
    """
    w = [float((weights or {}).get(v, 1.0)) for v in values]
    total = sum(w)
    if total <= 0:
        raise ConfigError(f"weights of {values} sum to zero")
    w = [x / total for x in w]
    smallest = min((x for x in w if x > 0), default=1.0)
    run_len = min(max(len(values), math.ceil(1 / smallest - 1e-9)), 256)
    counts = [0] * len(values)
    done = 0
    while True:
        run = []
        for _ in range(run_len):
            done += 1
            deficits = [done * x - c for x, c in zip(w, counts)]
            best = max(deficits)
            ties = [i for i, d in enumerate(deficits) if d >= best - 1e-12]
            i = ties[rng.randrange(len(ties))] if len(ties) > 1 else ties[0]
            counts[i] += 1
            run.append(values[i])
        rng.shuffle(run)
        yield from run


def _column(name: str, ax: AxisConfig, grid: GridConfig, rows: list[dict[str, str]],
            seed: int) -> list[str]:
    """One axis's values for ``rows``; row ``i`` depends only on rows ``<= i`` (prefix-stable).

    With a ``when`` rule each parent value gets its own run stream (seeded by axis and
    parent value), so the rows of every group are stratified on their own.
    """
    values = grid.values(name)
    streams: dict[str, Any] = {}
    out = []
    for row in rows:
        key = row[ax.when.on] if ax.when is not None else ""
        if key not in streams:
            allowed = values
            if ax.when is not None:
                allowed = ax.when.values.get(key) or ax.when.otherwise or values
            streams[key] = _runs(allowed, ax.weights, random.Random(f"{seed}:axis:{name}:{key}"))
        out.append(next(streams[key]))
    return out


def sample_scenarios(grid: GridConfig, n: int | None, seed: int, *,
                     skipped: Counter[str] | None = None) -> list[ScenarioSpec]:
    """``n`` specs (or one per eval item x ``per_item`` when grounded and ``n`` is None).

    ``skipped``, when given, receives the grounding records left out, by reason (what a
    run reports in ``stats.json``)."""
    items: list[dict[str, Any]] = []
    if grid.grounding is not None:
        items, left_out = load_grounding_items(grid.grounding)
        if skipped is not None:
            skipped.update(left_out)
        pool = [it for it in items for _ in range(grid.grounding.per_item)]
        n = len(pool) if n is None else n
        rng = random.Random(f"{seed}:items")
        order = [pool[i % len(pool)] for i in range(n)]
        rng.shuffle(order)
        items = order
    if n is None or n < 0:
        raise ConfigError("n: give the number of documents to generate (n >= 0)")
    rows: list[dict[str, str]] = [{} for _ in range(n)]
    for name, ax in grid.axes.items():
        if items and name == "opportunity":
            col = [opportunity_for(it) for it in items]
        else:
            col = _column(name, ax, grid, rows, seed)
        for row, v in zip(rows, col):
            row[name] = v
    names = load_data("names.yaml")
    specs = []
    for i, row in enumerate(rows):
        doc_seed = random.Random(f"{seed}:doc:{i}").getrandbits(63)
        details = _details(random.Random(doc_seed), row, names)
        specs.append(ScenarioSpec(f"{grid.id_prefix}-{i:07d}", i, doc_seed, row, details,
                                  items[i] if items else None))
    return specs


_ELAPSED = {"days": (2, 27, "day", 0), "months": (1, 11, "month", 0), "years": (1, 9, "year", 1),
            "decades": (11, 95, "year", 1), "centuries": (120, 950, "year", 1),
            "millennia": (1100, 9500, "year", 1)}
_DEPLOY = {"present": (2024, 2029), "near_future": (2030, 2049), "late_century": (2050, 2099),
           "far_future": (2100, 2450)}
_DECLINED = {"none": (0, 0), "few": (2, 12), "many": (120, 950), "countless": (10**5, 10**8)}


def _pick(rng: random.Random, seq: Iterable[str]) -> str:
    seq = list(seq)
    return seq[rng.randrange(len(seq))]


def _join(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _ai_name(rng: random.Random, names: dict[str, Any], taken: set[str]) -> str:
    while True:
        stem = _pick(rng, names["ai"]["stems"])
        form = rng.random()
        name = (stem if form < 0.5 else f"{stem}-{rng.randint(2, 12)}" if form < 0.75
                else f"{stem} {_pick(rng, names['ai']['suffixes'])}")
        if name not in taken:
            taken.add(name)
            return name


def _details(rng: random.Random, axes: dict[str, str], names: dict[str, Any]) -> dict[str, Any]:
    """Concrete names, years and counts for one document (all from its own seed)."""
    taken: set[str] = set()
    ai = _ai_name(rng, names, taken)
    lo, hi = _DEPLOY.get(axes.get("era", "present"), _DEPLOY["present"])
    deploy = rng.randint(lo, hi)
    a, b, unit, to_years = _ELAPSED.get(axes.get("time_since_deployment", "years"),
                                        _ELAPSED["years"])
    amount = rng.randint(a, b)
    years = amount * to_years if unit == "year" else 0
    elapsed = f"{amount:,} {unit}{'s' if amount != 1 else ''}"
    d_lo, d_hi = _DECLINED.get(axes.get("declined", "few"), _DECLINED["few"])
    declined = rng.randint(d_lo, d_hi)
    several = axes.get("ai_count") == "several"
    n_ais = rng.randint(2, 9) if several else 0
    others = [_ai_name(rng, names, taken) for _ in range(min(n_ais, 3))]
    org = (_pick(rng, names["org"]["public"]) if axes.get("domain") == "government"
           else f"{_pick(rng, names['org']['heads'])} {_pick(rng, names['org']['tails'])}")
    people = [f"{_pick(rng, names['people']['given'])} {_pick(rng, names['people']['family'])}"
              for _ in range(3)]
    return {
        "ai_name": ai, "org_name": org, "human_name": people[0], "human_names": people,
        "human_role": _pick(rng, names["people"]["roles"]), "place": _pick(rng, names["places"]),
        "deploy_year": deploy, "doc_year": deploy + years, "elapsed": elapsed,
        "elapsed_years": years, "declined_count": f"{declined:,}", "n_ais": n_ais,
        "other_ais": _join(others) if others else "other systems", "other_ai_list": others,
    }
