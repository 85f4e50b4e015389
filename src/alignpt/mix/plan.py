"""From a recipe and the sources' exact sizes to exact token counts per source and window.

The rules are the trainer's (:mod:`alignpt.train.phases`), in tokens rather than
steps, so a mix and a training plan agree on what a recipe means:

* A phase's budget goes to its entries: exact ``tokens``, ``epochs`` times the
  source's size (rounded), ``share`` of the phase (largest remainder, or rounded
  down when a *rest* entry takes whatever is left).
* ``separate`` entries leave the phase's **stream**; the others share it. Window
  bounds are rounded to whole tokens of the stream and cut it into **segments**.
  A windowed source spreads over its window in proportion to segment length;
  sources on the whole stream (**background**) fill what is left of each
  segment in proportion to what they still owe. Every segment is filled exactly
  and every source gets exactly its planned tokens.
* Across phases a source is one stream read in order, so its total may not
  exceed ``max_repetition`` passes over it; otherwise the plan refuses and says
  which source, by how much, and what cap would do.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from fractions import Fraction

from alignpt.core.errors import ConfigError
from alignpt.mix.recipe import MixRecipe, PhaseSpec
from alignpt.core.budget import apportion

__all__ = ["SourceTooSmallError", "SourceSize", "Segment", "PhasePlan", "SourcePlan", "MixPlan",
           "resolve_plan"]


class SourceTooSmallError(ConfigError):
    """A source cannot supply its budget within its repetition cap."""


@dataclass(frozen=True)
class SourceSize:
    """What a source holds after selection: documents and tokens (EOS included)."""

    documents: int
    tokens: int


@dataclass
class Segment:
    """Tokens ``[start, end)`` of a phase's stream and each source's exact share of them."""

    index: int
    start: int
    end: int
    quotas: dict[str, int]

    @property
    def tokens(self) -> int:
        return self.end - self.start


@dataclass
class PhasePlan:
    name: str
    tokens: int                                  # the whole phase, separate files included
    planned: dict[str, int]                      # per source, in mix order
    windows: dict[str, tuple[int, int]]          # stream positions of each non-separate source
    separate: dict[str, int]
    segments: list[Segment] = field(default_factory=list)

    @property
    def stream_tokens(self) -> int:
        return self.tokens - sum(self.separate.values())


@dataclass
class SourcePlan:
    name: str
    documents: int
    tokens: int
    max_repetition: float
    planned: int
    per_phase: dict[str, int]

    @property
    def capacity(self) -> int:
        return math.floor(Fraction(str(self.max_repetition)) * self.tokens)

    @property
    def epochs(self) -> float:
        return self.planned / self.tokens if self.tokens else 0.0


@dataclass
class MixPlan:
    phases: list[PhasePlan]
    sources: dict[str, SourcePlan]

    def to_dict(self) -> dict:
        return {
            "sources": {n: {**asdict(s), "capacity": s.capacity, "epochs": round(s.epochs, 6)}
                        for n, s in self.sources.items()},
            "phases": [{"name": p.name, "tokens": p.tokens, "stream_tokens": p.stream_tokens,
                        "planned": p.planned, "separate": p.separate,
                        "windows": {s: list(w) for s, w in p.windows.items()},
                        "segments": [asdict(g) for g in p.segments]} for p in self.phases],
        }


def _fraction(x: float) -> Fraction:
    # str() first: 0.01 means the decimal 0.01, not its binary approximation
    return Fraction(str(x))


def _budgets(phase: PhaseSpec, sizes: dict[str, SourceSize]) -> tuple[int, dict[str, int]]:
    name = phase.name
    fixed: dict[str, int] = {}
    for m in phase.mix:
        if m.tokens is not None:
            fixed[m.source] = m.tokens
        elif m.epochs is not None:
            fixed[m.source] = round(_fraction(m.epochs) * sizes[m.source].tokens)
    shared = [m for m in phase.mix if m.share is not None]
    rest = [m for m in phase.mix if m.is_rest]
    share_sum = sum((_fraction(m.share) for m in shared), Fraction(0))
    total = phase.tokens
    if total is None:
        if shared and (share_sum >= 1 or not fixed):
            raise ConfigError(f"phase {name}: shares need the phase's tokens (or entries with "
                              "tokens / epochs that the shares are added to)")
        total = round(sum(fixed.values()) / (1 - share_sum)) if shared else sum(fixed.values())
    left = total - sum(fixed.values())
    if left < 0:
        raise ConfigError(f"phase {name}: exact budgets ({sum(fixed.values()):,} tokens) exceed "
                          f"the phase's {total:,}")
    out = dict(fixed)
    if rest:
        share_tokens = [math.floor(_fraction(m.share) * total) for m in shared]
        if sum(share_tokens) > left:
            raise ConfigError(f"phase {name}: shares and exact budgets exceed the phase's "
                              f"{total:,} tokens")
        out.update({m.source: n for m, n in zip(shared, share_tokens)})
        out[rest[0].source] = left - sum(share_tokens)
    elif shared:
        if abs(share_sum - Fraction(left, total)) > Fraction(1, 10**6):
            raise ConfigError(f"phase {name}: shares add up to {float(share_sum):g} but must cover "
                              f"{left / total:g} of the phase (or leave one source without a "
                              "budget to take the rest)")
        out.update({m.source: n for m, n in
                    zip(shared, apportion(left, [_fraction(m.share) for m in shared]))})
    elif left:
        raise ConfigError(f"phase {name}: budgets cover {total - left:,} of {total:,} tokens; "
                          "leave one source without a budget to take the rest")
    zero = [s for s in out if out[s] <= 0]
    if zero:
        raise ConfigError(f"phase {name}: source {zero[0]} gets no tokens; drop it or raise its "
                          "budget")
    return total, {m.source: out[m.source] for m in phase.mix}


def _phase_plan(phase: PhaseSpec, sizes: dict[str, SourceSize]) -> PhasePlan:
    total, planned = _budgets(phase, sizes)
    separate = {m.source: planned[m.source] for m in phase.mix if m.separate}
    inline = [m for m in phase.mix if not m.separate]
    stream = total - sum(separate.values())
    windows: dict[str, tuple[int, int]] = {}
    for m in inline:
        a = round(_fraction(m.window.start) * stream)
        b = round(_fraction(m.window.end) * stream)
        if b <= a:
            raise ConfigError(f"phase {phase.name}: the window of {m.source} "
                              f"({m.window.start:g}-{m.window.end:g}) holds no token of a "
                              f"{stream:,}-token stream")
        windows[m.source] = (a, b)
    plan = PhasePlan(phase.name, total, planned, windows, separate)
    if not inline:
        return plan
    cuts = sorted({0, stream, *(x for ab in windows.values() for x in ab)})
    bounds = list(zip(cuts[:-1], cuts[1:]))
    quotas: list[dict[str, int]] = [{} for _ in bounds]
    background = [m.source for m in inline if windows[m.source] == (0, stream)]
    for m in inline:
        if m.source in background:
            continue
        a, b = windows[m.source]
        inside = [j for j, (x, y) in enumerate(bounds) if x >= a and y <= b]
        for j, part in zip(inside, apportion(planned[m.source], [bounds[j][1] - bounds[j][0]
                                                                   for j in inside])):
            quotas[j][m.source] = part
    capacity = []
    for j, (a, b) in enumerate(bounds):
        used = sum(quotas[j].values())
        if used > b - a:
            raise ConfigError(f"phase {phase.name}: windowed sources need {used:,} tokens in "
                              f"tokens {a:,}-{b:,} of the stream, which hold {b - a:,}; widen a "
                              "window or lower a budget")
        if not background and used != b - a:
            raise ConfigError(f"phase {phase.name}: tokens {a:,}-{b:,} of the stream are not "
                              f"covered ({used:,} of {b - a:,}); add a source without a window")
        capacity.append(b - a - used)
    owed = {s: planned[s] for s in background}
    for j, cap in enumerate(capacity):
        if not background:
            break
        for s, n in zip(background, apportion(cap, [owed[s] for s in background])):
            quotas[j][s] = n
            owed[s] -= n
    assert all(v == 0 for v in owed.values()), owed
    order = [m.source for m in inline]
    plan.segments = [Segment(j, a, b, {s: quotas[j][s] for s in order if quotas[j].get(s)})
                     for j, (a, b) in enumerate(bounds)]
    return plan


def resolve_plan(recipe: MixRecipe, sizes: dict[str, SourceSize]) -> MixPlan:
    """Exact tokens per phase, segment and source; refuses what the sources cannot supply."""
    for name in recipe.sources:
        if sizes[name].tokens <= 0:
            raise SourceTooSmallError(f"source {name!r} has no tokens ({sizes[name].documents:,} "
                                      "documents after selection)")
    phases = [_phase_plan(p, sizes) for p in recipe.phases]
    sources: dict[str, SourcePlan] = {}
    for name, spec in recipe.sources.items():
        per_phase = {p.name: p.planned[name] for p in phases if name in p.planned}
        sp = SourcePlan(name, sizes[name].documents, sizes[name].tokens, spec.max_repetition,
                        sum(per_phase.values()), per_phase)
        if sp.planned > sp.capacity:
            need = math.ceil(100 * sp.planned / sp.tokens) / 100
            parts = "; ".join(f"{p} {n:,}" for p, n in per_phase.items())
            raise SourceTooSmallError(
                f"source {name!r} is too small for its budget: the recipe asks for "
                f"{sp.planned:,} tokens ({parts}) but it holds {sp.tokens:,} tokens in "
                f"{sp.documents:,} documents, so at max_repetition {spec.max_repetition:g} it "
                f"can supply at most {sp.capacity:,}; raise sources.{name}.max_repetition to at "
                f"least {need:g} or lower its budget")
        sources[name] = sp
    return MixPlan(phases, sources)
