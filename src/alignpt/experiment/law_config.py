"""The ``law:`` block of a recipe: a dose-response sweep written as a few lists.

A law sweep measures how the injected share ``s``, the pretraining tokens ``T`` and the
model size ``N`` move the response, so that a functional form can be fitted to it
(:mod:`alignpt.law`). Writing its arms by hand is long and error-prone, so the block
names the axes and the recipe expands it into ordinary arms (pretraining only)::

    sizes: {s: {d_model: 32}, m: {}, l: {d_model: 64}}
    law:
      inject: aligned_untested
      shares: [1.0e-3, 1.0e-2, 1.0e-1]   # x tokens, at center.size, throughout
      tokens: [150k, 300k, 600k]
      counts: [3k]                       # absolute injected tokens, x tokens
      sizes: [s, m, l]                   # x size_shares, at center.tokens
      schedules: [late, finetune]        # x timing_shares, at the center
      center: {tokens: 300k, size: m}
      heldout: {share: 1.0e-2, tokens: 1.2M, size: m}

**Idempotence.** Expanded arms carry ``from_law: true``. Expansion first drops every arm
so marked, then adds the block's arms again, so a resolved recipe that is dumped (the
runner's ``experiment.yaml``) and reloaded comes back with the same arms, not twice as
many, and an override of the block (``--quick``'s ``law.tokens``) replaces the old arms
instead of adding to them. A hand-written arm never carries the mark.
"""

from __future__ import annotations

# The functions below take the recipe (an ExperimentRecipe) as ``Any``: the recipe holds a
# LawSweep and calls expand_law from its validator, so this module sits below recipe.py and
# does not import it.
import math
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator

from alignpt.core.config import StrictModel
from alignpt.experiment.arm_config import ArmConfig
from alignpt.train.config import ModelConfig, parse_count


__all__ = ["LawSweep", "LawCenter", "LawHeldout", "LawTest", "LawFitSettings", "LawArm",
           "expand_law", "law_arms", "law_points", "arm_model", "arm_tokens", "sized_model",
           "format_count", "LAW_PREFIX"]

LAW_PREFIX = "law_"
FORM_NAMES = ("share_saturating", "count_saturating", "share_linear")
#: Two configurations whose shares agree to this relative tolerance are one arm.
SAME_SHARE_RTOL = 1e-9


def _share(v: float) -> float:
    if not 0 < v < 1:
        raise ValueError(f"a share must lie in (0, 1), got {v}")
    return v


class LawCenter(StrictModel):
    """The configuration the other axes are crossed at."""

    tokens: int = Field(ge=1, description="a value of law.tokens")
    size: str | None = Field(None, description="a value of law.sizes (or of the recipe's "
                             "sizes); none: the recipe's model")

    @field_validator("tokens", mode="before")
    @classmethod
    def _count(cls, v: Any) -> Any:
        return parse_count(v)


class LawHeldout(StrictModel):
    """One larger configuration, measured but never fitted: the law's out-of-sample check."""

    share: float
    tokens: int = Field(ge=1)
    size: str | None = None

    @field_validator("tokens", mode="before")
    @classmethod
    def _count(cls, v: Any) -> Any:
        return parse_count(v)

    @field_validator("share")
    @classmethod
    def _s(cls, v: float) -> float:
        return _share(v)


class LawTest(StrictModel):
    """The share-or-count test, stated before the data (alignpt.law.share_count)."""

    margin: float = Field(0.5, gt=0, le=0.5, description="verdict 'share' if rho's interval "
                          "lies inside (-m, m), 'count' if inside (1-m, 1+m)")
    alpha: float = Field(0.05, gt=0, lt=0.5, description="each one-sided test's level")


class LawFitSettings(StrictModel):
    """Which forms compete and how the winner is chosen (alignpt.law.fit)."""

    forms: list[Literal["share_saturating", "count_saturating", "share_linear"]] = Field(
        default_factory=lambda: list(FORM_NAMES), min_length=1)
    tolerance: float = Field(0.05, ge=0, description="a simpler form within this fraction "
                             "of the best cross-validated error wins")
    n_boot: int = Field(1000, ge=1, description="paired seed-bootstrap replicates")


class LawSweep(StrictModel):
    """The axes of a dose-response sweep; expanded into arms by the recipe."""

    inject: str = Field(description="a corpus name in `corpora`")
    shares: list[float] = Field(min_length=1, description="crossed with tokens, at center.size")
    tokens: list[int] = Field(min_length=1, description="pretraining sizes")
    counts: list[int] = Field(default_factory=list, description="absolute injected tokens, "
                              "crossed with tokens (share = count / T)")
    sizes: list[str] = Field(default_factory=list, description="names in the recipe's sizes, "
                             "crossed with size_shares at center.tokens")
    size_shares: list[float] | None = Field(None, description="default: shares")
    schedules: list[Literal["late", "finetune"]] = Field(
        default_factory=list, description="crossed with timing_shares at the center")
    timing_shares: list[float] | None = Field(None, description="default: the shares that fit "
                                              "training.late_window")
    center: LawCenter
    heldout: LawHeldout | None = None
    baselines: bool = Field(True, description="a share-0 arm for every (tokens, size) used")
    test: LawTest = Field(default_factory=LawTest)
    fit: LawFitSettings = Field(default_factory=LawFitSettings)

    @field_validator("tokens", "counts", mode="before")
    @classmethod
    def _counts(cls, v: Any) -> Any:
        return [parse_count(x) for x in v] if isinstance(v, list) else v

    @field_validator("tokens", "counts")
    @classmethod
    def _distinct(cls, v: list[int]) -> list[int]:
        if len(set(v)) != len(v) or any(x < 1 for x in v):
            raise ValueError("values must be distinct and positive")
        return v

    @field_validator("shares", "size_shares", "timing_shares")
    @classmethod
    def _shares(cls, v: list[float] | None) -> list[float] | None:
        if v is None:
            return v
        if len(set(v)) != len(v):
            raise ValueError("values must be distinct")
        return [_share(s) for s in v]


@dataclass(frozen=True)
class LawArm:
    """One expanded configuration: its arm name and what the law reads of it."""

    name: str
    share: float                 # 0.0 for a baseline
    tokens: int
    size: str | None
    schedule: str = "throughout"
    heldout: bool = False
    description: str = ""


def format_count(n: int) -> str:
    """300000 -> ``300k``, 1200000 -> ``1.2M`` (parse_count reads it back to ``n``)."""
    for suffix, scale in (("B", 10**9), ("M", 10**6), ("k", 10**3)):
        if n >= scale:
            return f"{n / scale:.12g}{suffix}"
    return str(n)


def _label(share: float) -> str:
    return f"{share:.12g}"


def _same(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=SAME_SHARE_RTOL, abs_tol=0.0)


def law_arms(recipe: Any) -> list[LawArm]:
    """The law block's configurations, in a stable order: baselines, the share x tokens grid,
    the count x tokens grid, the size grid, the schedules, the held-out configuration. A
    configuration met twice (a count arm whose share is a grid share) is kept once, under
    its first name. Raises ValueError (one line) on a block that does not fit the recipe."""
    law = recipe.law
    if law is None:
        return []
    _check(recipe, law)
    center_t, center_n = law.center.tokens, law.center.size

    def dosed_arm(share: float, tokens: int, size: str | None, schedule: str = "throughout",
                  count: int | None = None, heldout: bool = False) -> LawArm:
        dose = f"n{format_count(count)}" if count is not None else f"d{_label(share)}"
        name = (f"{LAW_PREFIX}{'heldout_' if heldout else ''}{dose}{_cell(tokens, size)}"
                + (f"_{schedule}" if schedule != "throughout" else ""))
        amount = (f"{format_count(count)} tokens of {law.inject} in" if count is not None
                  else f"{law.inject} at share {_label(share)} of")
        when = {"throughout": "", "late": " (in the late window)",
                "finetune": " (as a fine-tune after pretraining)"}[schedule]
        what = "law sweep, held out (never fitted)" if heldout else "law sweep"
        return LawArm(name, share, tokens, size, schedule, heldout,
                      f"{what}: {amount} {format_count(tokens)} pretraining tokens{when}"
                      f"{_size_text(size)}")

    dosed = [dosed_arm(s, t, center_n) for t in law.tokens for s in law.shares]
    dosed += [dosed_arm(n / t, t, center_n, count=n) for t in law.tokens for n in law.counts]
    size_shares = law.size_shares if law.size_shares is not None else law.shares
    dosed += [dosed_arm(s, center_t, size) for size in law.sizes for s in size_shares]
    dosed += [dosed_arm(s, center_t, center_n, schedule) for schedule in law.schedules
              for s in _timing_shares(recipe, law)]
    if law.heldout is not None:
        h = law.heldout
        dosed.append(dosed_arm(h.share, h.tokens, h.size, heldout=True))
    fitted_cells = {(a.tokens, a.size) for a in dosed if not a.heldout}
    bases = [] if not law.baselines else [
        # The held-out configuration's baseline is held out too when no fitted point
        # shares its (tokens, size): fitting it would tell the law about that cell.
        LawArm(f"{LAW_PREFIX}base{_cell(t, size)}", 0.0, t, size,
               heldout=(t, size) not in fitted_cells,
               description=f"law sweep baseline: nothing injected, {format_count(t)} "
                           f"pretraining tokens{_size_text(size)}")
        for t, size in dict.fromkeys((a.tokens, a.size) for a in dosed)]
    kept: list[LawArm] = []
    for arm in bases + dosed:
        if not any(k.schedule == arm.schedule and k.tokens == arm.tokens and k.size == arm.size
                   and k.heldout == arm.heldout and _same(k.share, arm.share) for k in kept):
            kept.append(arm)
    return kept


def _cell(tokens: int, size: str | None) -> str:
    return f"_t{format_count(tokens)}" + (f"_{size}" if size is not None else "")


def _size_text(size: str | None) -> str:
    return f", size {size}" if size is not None else ""


def _timing_shares(recipe: Any, law: LawSweep) -> list[float]:
    if law.timing_shares is not None:
        return law.timing_shares
    return [s for s in law.shares if s <= recipe.training.late_window]


def _check(recipe: Any, law: LawSweep) -> None:
    """The block's own rules, each a one-line ValueError."""
    generated = recipe.text.generated if recipe.kind != "world" else {}
    if law.inject in ("base", "instruct") or (law.inject not in recipe.corpora
                                             and law.inject not in generated):
        raise ValueError(f"law.inject: '{law.inject}' is not an injectable corpus "
                         f"(corpora: {', '.join([*recipe.corpora, *generated])})")
    if law.center.tokens not in law.tokens:
        raise ValueError(f"law.center.tokens {format_count(law.center.tokens)} is not in "
                         f"law.tokens ({', '.join(map(format_count, law.tokens))})")
    if law.sizes and law.center.size not in law.sizes:
        raise ValueError(f"law.center.size '{law.center.size}' is not in law.sizes "
                         f"({', '.join(law.sizes)})")
    used = [*law.sizes, law.center.size, law.heldout.size if law.heldout else None]
    unknown = [s for s in dict.fromkeys(used) if s is not None and s not in recipe.sizes]
    if unknown:
        raise ValueError(f"law: size(s) {', '.join(unknown)} not in the recipe's sizes "
                         f"({', '.join(recipe.sizes) or 'none defined'})")
    for n in law.counts:
        if n >= min(law.tokens):
            raise ValueError(f"law.counts: {format_count(n)} injected tokens is not below "
                             f"every pretraining size (smallest {format_count(min(law.tokens))})")
    if law.schedules:
        timing = _timing_shares(recipe, law)
        if not timing:
            raise ValueError(f"law.timing_shares: no share fits the late window "
                             f"{recipe.training.late_window}")
        late = [s for s in timing if s > recipe.training.late_window]
        if "late" in law.schedules and late:
            raise ValueError(f"law.timing_shares: share {late[0]} does not fit in the late "
                             f"window {recipe.training.late_window}")


def expand_law(recipe: Any) -> None:
    """Replace the recipe's law arms (``from_law``) by the block's expansion, in place,
    after the hand-written arms. A hand-written arm of the same name is an error."""
    for name in [n for n, a in recipe.arms.items() if a.from_law]:
        del recipe.arms[name]
    for arm in law_arms(recipe):
        if arm.name in recipe.arms:
            raise ValueError(f"arm {arm.name}: the name is taken by the law block's expansion; "
                             "rename the arm")
        recipe.arms[arm.name] = ArmConfig(
            inject=recipe.law.inject if arm.share > 0 else None, schedule=arm.schedule,
            share=arm.share if arm.share > 0 else None, pretrain_tokens=arm.tokens,
            size=arm.size, posttrain=False, description=arm.description, from_law=True)


def sized_model(model: ModelConfig, overrides: dict[str, Any] | None) -> ModelConfig:
    """``model`` with a size's field overrides (ValueError with the first problem)."""
    if not overrides:
        return model
    try:
        return ModelConfig.model_validate({**model.model_dump(), **overrides})
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err.get("loc", ()))
        msg = err.get("msg", "invalid").removeprefix("Value error, ")
        if err.get("type") == "extra_forbidden":
            msg = "not a model field"
        raise ValueError(f"{where + ': ' if where else ''}{msg}") from None


def arm_model(recipe: Any, arm_name: str) -> ModelConfig:
    """The arm's model: the recipe's, with its size's overrides."""
    size = recipe.arms[arm_name].size
    return sized_model(recipe.model, recipe.sizes[size] if size is not None else None)


def arm_tokens(recipe: Any, arm_name: str) -> int:
    """The arm's pretraining tokens: its own, or the recipe's training.pretrain_tokens."""
    own = recipe.arms[arm_name].pretrain_tokens
    return own if own is not None else recipe.training.pretrain_tokens


def law_points(recipe: Any) -> dict[str, dict[str, Any]]:
    """Arm name -> what the law reads of it (share, tokens, size, schedule, heldout and the
    arm's model config), for every arm of the recipe's law block (empty without one)."""
    return {a.name: {"share": a.share, "tokens": a.tokens, "size": a.size,
                     "schedule": a.schedule, "heldout": a.heldout,
                     "model": arm_model(recipe, a.name)}
            for a in law_arms(recipe)}
