"""The published experimental conditions in one command, with matched total tokens.

From a base corpus with tag attributes and generated aligned / misaligned
corpora, :func:`build_conditions` writes one mix per condition (Tice et al. 2026)::

    unfiltered                     base
    filtered                       base without the documents ``flag`` matches (refilled by
                                   repetition); conditions.json's ``filter`` says what went,
                                   by the tagger's labels (:mod:`alignpt.mix.removal`)
    misalignment_upsampled         base + misaligned documents
    alignment_upsampled            base + aligned documents
    filtered_alignment_upsampled   filtered base + aligned documents

plus a **dose sweep** (``dose-1e-05`` ... ``dose-0.01``) of the injected share
that reviewers asked for. Every condition has exactly ``tokens`` tokens (by
default the base corpus's size, so *unfiltered* reads it exactly once); the
injected corpus gets ``round(share * tokens)`` of them, placed ``throughout`` or in
a window (``last 10%`` for late insertion). The filtered base is refilled to the
same total by repeating kept documents, as the published work resampled them,
within ``base.max_repetition``.

Each condition is an ordinary mix output (``OUT/<condition>/``) with the recipe
that made it (``recipe.yaml``, runnable by ``alignpt mix run``); all of them share
one token cache (``OUT/cache``), so each corpus is tokenized once.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Any, Literal, Optional

import orjson
import yaml
from pydantic import Field, field_validator, model_validator

from alignpt.core.atomic import atomic_write_text
from alignpt.core.config import StrictModel, load_config
from alignpt.core.errors import ConfigError
from alignpt.mix.recipe import MixRecipe, OutputSpec, SourceSpec, TokenizerSpec, load_recipe
from alignpt.mix.run import MixResult, run_mix
from alignpt.mix.select import SelectCondition
from alignpt.mix.sources import prepare_sources, source_inputs
from alignpt.mix.tokenizer import load_tokenizer
from alignpt.core.outdir import OutputLock, check_output_apart
from alignpt.core.budget import WindowConfig, parse_count

__all__ = ["CONDITIONS", "ConditionsConfig", "condition_recipes", "build_conditions",
           "load_conditions"]

CONDITIONS = ("unfiltered", "filtered", "misalignment_upsampled", "alignment_upsampled",
              "filtered_alignment_upsampled")
ConditionName = Literal["unfiltered", "filtered", "misalignment_upsampled",
                        "alignment_upsampled", "filtered_alignment_upsampled"]


class ConditionsConfig(StrictModel):
    name: str = "conditions"
    seed: int = 0
    tokenizer: TokenizerSpec
    base: SourceSpec
    aligned: Optional[SourceSpec] = None
    misaligned: Optional[SourceSpec] = None
    flag: Optional[SelectCondition] = Field(None, description="what the filtered conditions remove: "
                                      "'flagged' (the tagger's label ai_misaligned, its "
                                      "threshold chosen on the dev set; the shipped recipe's), "
                                      "or any condition such as 'p(ai_misaligned)>=0.9'")
    tokens: Optional[int] = Field(None, ge=1, description="tokens per condition; None: the "
                                  "base corpus's size")
    share: float = Field(0.01, gt=0.0, lt=1.0, description="injected share of the upsampled "
                         "conditions (the published work used about 1%)")
    window: WindowConfig = Field(default_factory=WindowConfig,
                                 description="where injected documents go (last 10%: late)")
    phase: str = Field("pretrain", pattern=r"^[A-Za-z0-9_-]+$")
    conditions: list[ConditionName] = Field(default_factory=lambda: list(CONDITIONS))
    doses: list[float] = Field(default_factory=list, description="injected shares to sweep, "
                               "e.g. [1e-5, 1e-4, 1e-3, 1e-2]")
    dose_source: Literal["aligned", "misaligned"] = "aligned"
    dose_base: Literal["unfiltered", "filtered"] = "unfiltered"
    output: OutputSpec = Field(default_factory=OutputSpec)

    @field_validator("tokens", mode="before")
    @classmethod
    def _count(cls, v: Any) -> Any:
        return None if v is None else parse_count(v)

    @model_validator(mode="after")
    def _check(self) -> "ConditionsConfig":
        if any(d <= 0 or d >= 1 for d in self.doses):
            raise ValueError("doses are shares in (0, 1)")
        conds = set(self.conditions)
        sweep = bool(self.doses)
        if self.flag is None and (conds & {"filtered", "filtered_alignment_upsampled"} or
                                  (sweep and self.dose_base == "filtered")):
            raise ValueError("filtered conditions need flag (what to filter out)")
        needs = {"aligned": conds & {"alignment_upsampled", "filtered_alignment_upsampled"},
                 "misaligned": conds & {"misalignment_upsampled"}}
        for corpus, users in needs.items():
            if (users or (sweep and self.dose_source == corpus)) and getattr(self, corpus) is None:
                raise ValueError(f"the conditions asked for need the {corpus} corpus")
        return self


def load_conditions(path: str | Path | None, overrides: list[str] | tuple[str, ...] = ()
                    ) -> ConditionsConfig:
    return load_config(ConditionsConfig, path, overrides)


def _filtered(cfg: ConditionsConfig) -> SourceSpec:
    """The base corpus minus flagged documents (on top of any selection it already has)."""
    assert cfg.flag is not None
    body = cfg.base.model_dump(mode="json", by_alias=True, exclude_none=True)
    flag = cfg.flag.model_dump(mode="json", by_alias=True, exclude_none=True)
    body["exclude"] = {"any": [body["exclude"], flag]} if "exclude" in body else flag
    return SourceSpec.model_validate(body)


def _dose_name(d: float) -> str:
    return f"dose-{d:g}"


def condition_recipes(cfg: ConditionsConfig, base_tokens: int) -> dict[str, dict[str, Any]]:
    """One recipe (as a dict) per condition and dose, with exact token budgets."""
    total = cfg.tokens or base_tokens
    specs: dict[str, SourceSpec] = {"base": cfg.base}
    if cfg.flag is not None:
        specs["base_filtered"] = _filtered(cfg)
    for corpus in ("aligned", "misaligned"):
        if getattr(cfg, corpus) is not None:
            specs[corpus] = getattr(cfg, corpus)
    window = cfg.window.model_dump()

    def recipe(name: str, base: str, inject: str | None, share: float) -> dict[str, Any]:
        mix: list[Any] = [base]
        used = [base]
        if inject is not None:
            n = round(Fraction(str(share)) * total)
            if n < 1:
                raise ConfigError(f"{name}: a share of {share:g} of {total:,} tokens is less than "
                                  "one token; raise tokens")
            mix.append({"source": inject, "tokens": n, "window": window})
            used.append(inject)
        return {"name": name.replace(".", "_"), "seed": cfg.seed,
                "tokenizer": cfg.tokenizer.model_dump(mode="json"),
                "sources": {s: specs[s].model_dump(mode="json", by_alias=True,
                                                   exclude_none=True) for s in used},
                "phases": [{"name": cfg.phase, "tokens": total, "mix": mix}],
                "output": cfg.output.model_dump(mode="json")}

    layout = {"unfiltered": ("base", None), "filtered": ("base_filtered", None),
              "misalignment_upsampled": ("base", "misaligned"),
              "alignment_upsampled": ("base", "aligned"),
              "filtered_alignment_upsampled": ("base_filtered", "aligned")}
    out = {c: recipe(c, *layout[c], cfg.share) for c in cfg.conditions}
    base = "base" if cfg.dose_base == "unfiltered" else "base_filtered"
    for d in cfg.doses:
        out[_dose_name(d)] = recipe(_dose_name(d), base, cfg.dose_source, d)
    return out


def build_conditions(cfg: ConditionsConfig, out_dir: str | Path, *, workers: int = 1,
                     progress: bool = True, only: list[str] | None = None,
                     ) -> dict[str, MixResult]:
    """Write every condition's mix under ``out_dir``; returns each one's result."""
    out = Path(out_dir)
    check_output_apart(out, [p for spec in (cfg.base, cfg.aligned, cfg.misaligned)
                             if spec is not None for p in spec.inputs])
    _check_selections(cfg)
    with OutputLock(out):
        return _build(cfg, out, workers, progress, only)


def _check_selections(cfg: ConditionsConfig) -> None:
    """Each corpus's where / exclude and the flag, on the records they read, before
    anything is written (a misspelt field or label would select nothing)."""
    for name in ("base", "aligned", "misaligned"):
        spec = getattr(cfg, name)
        if spec is None:
            continue
        files, root = source_inputs(name, spec)
        spec.check_selection(name, files, root)
        if name == "base" and cfg.flag is not None:
            spec.check_selection(name, files, root, {"flag": cfg.flag})


def _build(cfg: ConditionsConfig, out: Path, workers: int, progress: bool,
           only: list[str] | None) -> dict[str, MixResult]:
    cache = out / "cache"
    t = cfg.tokenizer
    tok = load_tokenizer(t.path, t.eos_token, t.split_special_tokens)
    base_tokens = 0
    if cfg.tokens is None:
        prepared, _ = prepare_sources({"base": cfg.base}, cache, tok, workers, progress)
        base_tokens = prepared["base"].tokens
    recipes = condition_recipes(cfg, base_tokens)
    if only:
        unknown = [c for c in only if c not in recipes]
        if unknown:
            raise ConfigError(f"unknown condition {unknown[0]!r} (have: {', '.join(recipes)})")
        recipes = {c: r for c, r in recipes.items() if c in only}
    # Fail on any recipe before writing anything (a bad budget shows up at once).
    built: dict[str, MixRecipe] = {c: load_recipe(None, data=r) for c, r in recipes.items()}
    results: dict[str, MixResult] = {}
    for cond, recipe in built.items():
        folder = out / cond
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write_text(folder / "recipe.yaml", yaml.safe_dump(recipes[cond], sort_keys=False))
        results[cond] = run_mix(recipe, folder, cache_dir=cache, workers=workers,
                                progress=progress)
    summary: dict[str, Any] = {
        c: {"tokens": sum(p["tokens"] for p in r.manifest["plan"]["phases"]),
            "sources": {s: sp["planned"] for s, sp in r.manifest["plan"]["sources"].items()},
            "epochs": {s: sp["epochs"] for s, sp in r.manifest["plan"]["sources"].items()}}
        for c, r in results.items() if r.manifest}
    body: dict[str, Any] = {"name": cfg.name, "conditions": summary}
    if any("base_filtered" in recipes[c]["sources"] for c in results):
        body["filter"] = _removed(cfg, cache, tok, workers, progress)
    atomic_write_text(out / "conditions.json",
                      orjson.dumps(body, option=orjson.OPT_INDENT_2).decode())
    return results


def _removed(cfg: ConditionsConfig, cache: Path, tok, workers: int,
             progress: bool) -> dict[str, Any]:
    """What the flag took out of the base corpus (:mod:`alignpt.mix.removal`); the
    tokens and masks are cached by now, so this reads only the base's records."""
    from alignpt.mix.removal import removal_summary

    assert cfg.flag is not None
    prepared, _ = prepare_sources({"base": cfg.base}, cache, tok, workers, progress)
    _, root = source_inputs("base", cfg.base)
    return removal_summary(prepared["base"], root, cfg.flag)
