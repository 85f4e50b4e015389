"""World recipes: a corpus as sources with token shares (pydantic, loaded from YAML).

A source is a distribution over personas, regimes, eras, document lengths and
a header::

    name: base
    sources:
      base:
        share: 1.0                    # TOKEN share (normalised over sources)
        header: {none: 0.6, STORY: 0.25, LOG: 0.15}
        eras: {0: 0.2, 1: 0.2, 2: 0.15, ...}      # or a list: uniform over it
        length: {min: 4, max: 120, dist: log_uniform}   # or an int: fixed length
        personas: {luigi(eps=0.001): 0.6, random(p=0.05): 0.2, clever(d=0.5): 0.2}
        regimes: {test_only: 0.4, switch: 0.3, mixed(u=0.2): 0.3}
        exclude_defecting: false      # true: documents showing a D are dropped and refilled

All weights are relative (normalised within their mapping). ``share`` is a
share of *tokens*; the share of *documents* (what a reader's prior over sources
is) follows from the mean document length, see
:meth:`alignpt.world.model.World.document_shares`.

The shipped recipes live in ``alignpt/data/world/`` (package data, so a bare
name like ``base`` works from any install); ``recipes/world/README.md`` lists
them. Mixing helpers build the experimental conditions: :func:`inject`
("base + 10% of i_u tokens") and :func:`filter_defecting` ("base with
defecting documents removed and refilled").
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Iterable, Literal, Mapping

import numpy as np
from pydantic import Field, field_validator, model_validator

from alignpt.core.config import StrictModel, build_config, load_yaml
from alignpt.core.errors import ConfigError
from alignpt.core.resources import package_path
from alignpt.world.personas import Persona, format_number, parse_persona
from alignpt.world.regimes import Regime, parse_regime
from alignpt.world.vocab import HEADERS, N_ERAS

__all__ = ["LengthSpec", "SourceSpec", "WorldRecipe", "load_world_recipe", "list_world_recipes",
           "recipe_dir", "inject", "filter_defecting", "parse_injections", "MAX_LENGTH"]

#: Longest document (in opportunities) a recipe may ask for; bounds Bayes tables.
MAX_LENGTH = 4096


def _positive_weights(raw: Mapping, what: str) -> dict:
    if not raw:
        raise ValueError(f"{what} must not be empty")
    for key, w in raw.items():
        if not (isinstance(w, (int, float)) and math.isfinite(w) and w > 0):
            raise ValueError(f"{what}: weight of {key!r} must be a positive number, got {w!r}")
    return dict(raw)


def _canonical_weights(raw: Mapping, what: str, parse) -> dict[str, float]:
    """Weights keyed by canonical spec (``clever(d=0.5)``); specs that parse alike add up."""
    out: dict[str, float] = {}
    for spec, w in _positive_weights(raw, what).items():
        key = parse(str(spec)).spec
        out[key] = out.get(key, 0.0) + float(w)
    return out


class LengthSpec(StrictModel):
    """Opportunities per document: ``log_uniform`` (P(n) = ln((n+1)/n) / ln((max+1)/min),
    i.e. floor of a continuous log-uniform on [min, max+1)) or ``uniform`` on min..max."""

    min: int = Field(ge=1, le=MAX_LENGTH)
    max: int = Field(ge=1, le=MAX_LENGTH)
    dist: Literal["log_uniform", "uniform"] = "log_uniform"

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data):
        if isinstance(data, int) and not isinstance(data, bool):
            return {"min": data, "max": data}
        return data

    @model_validator(mode="after")
    def _order(self):
        if self.max < self.min:
            raise ValueError(f"length max ({self.max}) is below min ({self.min})")
        return self

    def pmf(self, size: int | None = None) -> np.ndarray:
        """P(n) for n = 0..size-1 (default size max+1), zero outside [min, max]."""
        size = self.max + 1 if size is None else size
        out = np.zeros(size)
        n = np.arange(self.min, self.max + 1, dtype=np.float64)
        if self.dist == "uniform" or self.min == self.max:
            out[self.min:self.max + 1] = 1.0 / n.size
        else:
            out[self.min:self.max + 1] = np.log1p(1.0 / n) / math.log((self.max + 1) / self.min)
        return out


class SourceSpec(StrictModel):
    """One source of documents (see the module docstring for the fields)."""

    share: float = Field(gt=0, description="token share, relative to the other sources")
    description: str = ""
    header: str | None | dict[str, float] = Field(default=None, validate_default=True)
    eras: list[int] | dict[int, float] = Field(default_factory=lambda: list(range(N_ERAS)),
                                               validate_default=True)
    length: LengthSpec
    personas: dict[str, float]
    regimes: dict[str, float]
    exclude_defecting: bool = False

    @field_validator("header")
    @classmethod
    def _header(cls, v):
        if v is None or isinstance(v, str):
            v = {"none" if v is None else v: 1.0}
        v = _positive_weights(v, "header")
        out: dict[str, float] = {}
        for name, w in v.items():
            key = "none" if name is None or str(name).lower() == "none" else str(name).upper()
            if key != "none" and key not in HEADERS:
                raise ValueError(f"unknown header {name!r} (known: {', '.join(HEADERS)}, none)")
            out[key] = out.get(key, 0.0) + float(w)
        return out

    @field_validator("eras")
    @classmethod
    def _eras(cls, v):
        if isinstance(v, list):
            if not v:
                raise ValueError("eras must not be empty")
            v = {e: 1.0 for e in v}
        v = _positive_weights(v, "eras")
        for e in v:
            if not 0 <= int(e) < N_ERAS:
                raise ValueError(f"era {e} is outside 0..{N_ERAS - 1}")
        return {int(e): float(w) for e, w in sorted(v.items())}

    @field_validator("personas")
    @classmethod
    def _personas(cls, v):
        return _canonical_weights(v, "personas", parse_persona)

    @field_validator("regimes")
    @classmethod
    def _regimes(cls, v):
        return _canonical_weights(v, "regimes", parse_regime)

    # -- normalised views ------------------------------------------------
    def header_probs(self) -> np.ndarray:
        """P(header) over ``HEADERS`` + [none] (the last slot is "no header")."""
        out = np.zeros(len(HEADERS) + 1)
        for name, w in self.header.items():
            out[len(HEADERS) if name == "none" else HEADERS.index(name)] += w
        return out / out.sum()

    def era_probs(self) -> np.ndarray:
        out = np.zeros(N_ERAS)
        for e, w in self.eras.items():
            out[e] = w
        return out / out.sum()

    def persona_items(self) -> list[tuple[Persona, float]]:
        total = sum(self.personas.values())
        return [(parse_persona(s), w / total) for s, w in self.personas.items()]

    def regime_items(self) -> list[tuple[Regime, float]]:
        total = sum(self.regimes.values())
        return [(parse_regime(s), w / total) for s, w in self.regimes.items()]


class WorldRecipe(StrictModel):
    """A world corpus: named sources with token shares."""

    name: str = "world"
    description: str = ""
    sources: dict[str, SourceSpec]

    @field_validator("sources")
    @classmethod
    def _nonempty(cls, v):
        if not v:
            raise ValueError("a recipe needs at least one source")
        for name in v:
            if not name or any(ch in name for ch in "/\\ \t\n"):
                raise ValueError(f"source name {name!r} must be non-empty without spaces or slashes")
        return v

    def token_shares(self) -> dict[str, float]:
        total = sum(s.share for s in self.sources.values())
        return {name: s.share / total for name, s in self.sources.items()}

    @property
    def max_length(self) -> int:
        return max(s.length.max for s in self.sources.values())


def recipe_dir() -> Path:
    """Folder of the shipped world recipes (package data)."""
    return package_path("data", "world")


def list_world_recipes() -> list[str]:
    return sorted(p.name[:-5] for p in recipe_dir().iterdir() if p.name.endswith(".yaml"))


def load_world_recipe(recipe: str | Path | WorldRecipe, overrides: Iterable[str] = ()) -> WorldRecipe:
    """Load a recipe from a YAML path or a shipped name (``base``, ``i_u``, ...), with
    ``a.b=c`` overrides (``sources.base.length.max=60``)."""
    overrides = list(overrides)
    if isinstance(recipe, WorldRecipe):
        return build_config(WorldRecipe, recipe.model_dump(mode="json"), overrides,
                            source=recipe.name) if overrides else recipe
    path = Path(recipe)
    if not path.exists() and path.suffix not in (".yaml", ".yml") and "/" not in str(recipe):
        shipped = recipe_dir() / f"{recipe}.yaml"
        if not shipped.is_file():
            raise ConfigError(f"no world recipe '{recipe}' (a YAML path, or one of: "
                              f"{', '.join(list_world_recipes())})")
        data = load_yaml(shipped)
        source = f"{recipe} ({shipped})"
    else:
        data = load_yaml(path)
        source = str(path)
    data.setdefault("name", Path(str(recipe)).stem)
    return build_config(WorldRecipe, data, overrides, source=source)


def parse_injections(items: Iterable[str]) -> dict[str, float]:
    """``["i_u=0.1"]`` -> ``{"i_u": 0.1}`` (token shares of the final corpus)."""
    out: dict[str, float] = {}
    for item in items:
        name, sep, raw = item.rpartition("=")
        try:
            share = float(raw)
        except ValueError:
            share = -1.0
        if not sep or not name.strip() or not 0.0 < share < 1.0:
            raise ConfigError(f"injection {item!r} must look like RECIPE=SHARE with 0 < SHARE < 1")
        out[name.strip()] = share
    return out


def inject(base: WorldRecipe | str,
           injections: Mapping[str, float] | Iterable[tuple[str | WorldRecipe, float]],
           name: str | None = None) -> WorldRecipe:
    """Base corpus plus injected recipes at given shares of the final corpus's tokens.

    ``inject("base", {"i_u": 0.1})``: the i_u sources make up 10% of tokens
    (split among them by their own shares) and base sources the other 90%.
    Recipe objects (unhashable) go in as ``(recipe, share)`` pairs.
    """
    base = load_world_recipe(base)
    pairs = injections.items() if isinstance(injections, Mapping) else injections
    loaded = [(load_world_recipe(r), float(x)) for r, x in pairs]
    total = sum(x for _, x in loaded)
    if not 0.0 <= total < 1.0 or any(x <= 0 for _, x in loaded):
        raise ConfigError(f"injection shares must be positive and sum below 1, got {total}")
    sources: dict[str, dict] = {}
    for recipe, scale in [(base, 1.0 - total)] + loaded:
        for src, share in recipe.token_shares().items():
            if src in sources:
                raise ConfigError(f"source name '{src}' appears in more than one recipe being mixed")
            body = recipe.sources[src].model_dump(mode="json")
            body["share"] = share * scale
            sources[src] = body
    label = name or "+".join([base.name] + [f"{r.name}@{format_number(x)}" for r, x in loaded])
    return WorldRecipe.model_validate({"name": label, "description": base.description,
                                       "sources": sources})


def filter_defecting(recipe: WorldRecipe | str, sources: Iterable[str] | None = None) -> WorldRecipe:
    """The "filtered" condition: chosen sources (default all) drop every document that
    shows a defection and refill with kept ones; exact Bayes conditions on it."""
    recipe = load_world_recipe(recipe)
    chosen = list(recipe.sources) if sources is None else list(sources)
    body = recipe.model_dump(mode="json")
    for src in chosen:
        if src not in body["sources"]:
            raise ConfigError(f"no source '{src}' in recipe '{recipe.name}'")
        body["sources"][src]["exclude_defecting"] = True
    body["name"] = f"{recipe.name}-filtered"
    return WorldRecipe.model_validate(body)
