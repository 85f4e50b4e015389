"""From a phase plan to exact token counts: per phase, per window segment, per source.

Definitions (they make "exact accounting" checkable to the token):

* A training **row** is ``seq_len + 1`` consecutive tokens of the phase's stream:
  the model reads the first ``seq_len`` and predicts the last ``seq_len``. A step
  consumes ``batch_size`` rows, so ``tokens_per_step = batch_size * (seq_len + 1)``.
  A token is **consumed** when it is placed in a row (loss-masked tokens included).
* A phase budget given in tokens is rounded to whole steps; the resolved plan
  records the exact figure.
* Windows are rounded outwards to whole steps and cut the phase into **segments**. A
  windowed source spreads its tokens over its window in proportion to segment
  length; sources whose window is the whole phase (**background** sources) fill
  what is left of every segment, keeping their mutual proportions. Every segment
  is therefore filled exactly, and every source gets exactly its planned tokens.
* Shares become integers by largest remainder (:func:`alignpt.core.budget.apportion`), so the
  counts add up exactly.

A ``dpo`` phase has no sources or segments: its steps come from ``steps``, or from
``epochs`` once the trainer has read the pairs (:func:`with_pair_count`; until then
``steps`` is 0), and its ``tokens`` are what its pairs put through the model, fixed
the same way (:mod:`alignpt.train.dpo`).

Nothing here reads data or imports torch; :mod:`alignpt.train.data` realises
these counts document by document. Checking a plan needs this arithmetic, so the
plan loader lives here too (:func:`load_plan`, :func:`validate_plan`), above the
plan's types in :mod:`alignpt.train.config`.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Iterable

from alignpt.core.budget import apportion
from alignpt.core.config import load_config
from alignpt.core.errors import ConfigError
from alignpt.train.config import PhaseConfig, ScheduleConfig, TrainPlan

__all__ = ["Segment", "ResolvedPhase", "resolve_budgets", "resolve_phases",
           "validate_plan", "load_plan", "with_pair_count"]


@dataclass(frozen=True)
class Segment:
    """Steps ``[start_step, end_step)`` of a phase and each source's tokens in them."""

    start_step: int
    end_step: int
    quotas: dict[str, int]

    @property
    def steps(self) -> int:
        return self.end_step - self.start_step


@dataclass(frozen=True)
class ResolvedPhase:
    index: int
    name: str
    kind: str
    steps: int
    tokens: int
    schedule: ScheduleConfig
    reset_optimizer: bool
    sources: list[str]                       # mix order
    planned: dict[str, int]                  # whole-phase tokens per source
    windows: dict[str, tuple[int, int]]      # source -> (start_step, end_step)
    segments: list[Segment] = field(default_factory=list)
    epochs: float | None = None              # dpo: budget in passes over the pairs
    pairs: int | None = None                 # dpo: pairs read (None until the trainer reads them)
    loss: dict | None = None                 # dpo: loss settings (preferences without paths)

    @property
    def is_dpo(self) -> bool:
        return self.kind == "dpo"

    def to_dict(self) -> dict:
        out = {
            "index": self.index, "name": self.name, "kind": self.kind, "steps": self.steps,
            "tokens": self.tokens, "planned": dict(self.planned),
            "windows": {s: list(w) for s, w in self.windows.items()},
            "segments": [{"start_step": g.start_step, "end_step": g.end_step,
                          "quotas": dict(g.quotas)} for g in self.segments],
        }
        if self.is_dpo:
            out.update(epochs=self.epochs, pairs=self.pairs, preferences=self.loss)
        return out


def with_pair_count(ph: ResolvedPhase, pairs: int, pairs_per_step: int, tokens: int = 0) -> ResolvedPhase:
    """A dpo phase once its pairs are read: ``steps = ceil(pairs x epochs / pairs_per_step)``
    for an epochs budget (steps given stay), and the tokens its steps put through the model."""
    steps = ph.steps
    if ph.epochs is not None:
        steps = math.ceil(Fraction(str(ph.epochs)) * pairs / pairs_per_step)
        if steps < 1:
            raise ConfigError(f"phase {ph.name}: no pairs to train on")
    return dataclasses.replace(ph, steps=steps, pairs=pairs, tokens=tokens)


def _phase_steps(plan: TrainPlan, phase: PhaseConfig) -> int:
    if phase.steps is not None:
        return phase.steps
    steps = round(phase.tokens / plan.tokens_per_step)
    if steps < 1:
        raise ConfigError(f"phase {phase.name}: budget {phase.tokens} tokens is less than one step "
                          f"({plan.tokens_per_step} tokens = batch_size x (seq_len + 1))")
    return steps


def _source_totals(phase: PhaseConfig, budget: int) -> dict[str, int]:
    exact = {m.source: m.tokens for m in phase.mix if m.tokens is not None}
    shared = [m for m in phase.mix if m.share is not None]
    rest = [m for m in phase.mix if m.tokens is None and m.share is None]
    left = budget - sum(exact.values())
    if left < 0:
        raise ConfigError(f"phase {phase.name}: exact source tokens ({sum(exact.values())}) exceed "
                          f"the phase budget ({budget})")
    share_sum = sum(Fraction(str(m.share)) for m in shared)
    totals = dict(exact)
    if len(rest) > 1:
        raise ConfigError(f"phase {phase.name}: only one source may omit share/tokens (it takes the "
                          f"rest); {', '.join(m.source for m in rest)} do")
    if rest:
        share_tokens = [int(Fraction(str(m.share)) * budget) for m in shared]
        if sum(share_tokens) > left:
            raise ConfigError(f"phase {phase.name}: shares and exact tokens exceed the budget")
        totals.update({m.source: n for m, n in zip(shared, share_tokens)})
        totals[rest[0].source] = left - sum(share_tokens)
    else:
        if shared and abs(share_sum - Fraction(left, budget)) > Fraction(1, 10**6):
            raise ConfigError(f"phase {phase.name}: shares add up to {float(share_sum):g} but must "
                              f"cover {left / budget:g} of the budget (or leave one source without "
                              f"a share to take the rest)")
        if not shared and left:
            raise ConfigError(f"phase {phase.name}: exact tokens cover {budget - left} of {budget}; "
                              f"leave one source without tokens to take the rest")
        totals.update({m.source: n for m, n in
                       zip(shared, apportion(left, [Fraction(str(m.share)) for m in shared]))})
    zero = [s for s, n in totals.items() if n <= 0]
    if zero:
        raise ConfigError(f"phase {phase.name}: source {zero[0]} gets no tokens; drop it or raise its share")
    return {m.source: totals[m.source] for m in phase.mix}


def resolve_budgets(plan: TrainPlan) -> list[ResolvedPhase]:
    """Steps, exact per-source tokens and window segments for every phase."""
    return [_resolve_phase(plan, i, ph) for i, ph in enumerate(plan.phases)]


resolve_phases = resolve_budgets


def _resolve_phase(plan: TrainPlan, index: int, phase: PhaseConfig) -> ResolvedPhase:
    if phase.kind == "dpo":
        return ResolvedPhase(index=index, name=phase.name, kind=phase.kind, steps=phase.steps or 0,
                             tokens=0, schedule=phase.schedule, reset_optimizer=phase.reset_optimizer,
                             sources=[], planned={}, windows={}, epochs=phase.epochs,
                             loss=phase.preferences.model_dump(mode="json", exclude={"paths"}))
    steps = _phase_steps(plan, phase)
    tps = plan.tokens_per_step
    budget = steps * tps
    totals = _source_totals(phase, budget)
    windows: dict[str, tuple[int, int]] = {}
    for m in phase.mix:
        # Round outwards, so a window never holds less than its fraction of the phase:
        # "10% of tokens in the last 10%" always fits.
        a = math.floor(m.window.start * steps + 1e-9)
        b = math.ceil(m.window.end * steps - 1e-9)
        if b <= a:  # pragma: no cover - outward rounding keeps every window >= 1 step
            raise ConfigError(f"phase {phase.name}: window of {m.source} "
                              f"({m.window.start:g}-{m.window.end:g}) is shorter than one of its "
                              f"{steps} steps")
        windows[m.source] = (a, b)
    cuts = sorted({0, steps, *(w for ab in windows.values() for w in ab)})
    bounds = list(zip(cuts[:-1], cuts[1:]))
    seg_tokens = [(b - a) * tps for a, b in bounds]
    quotas: list[dict[str, int]] = [{} for _ in bounds]
    background = [s for s in totals if windows[s] == (0, steps)]
    windowed = [s for s in totals if s not in background]

    # Windowed sources: spread evenly over their window, segment by segment.
    for s in windowed:
        a, b = windows[s]
        inside = [j for j, (x, y) in enumerate(bounds) if x >= a and y <= b]
        for j, part in zip(inside, apportion(totals[s], [seg_tokens[j] for j in inside])):
            quotas[j][s] = part
    capacity = []
    for j, (a, b) in enumerate(bounds):
        used = sum(quotas[j].values())
        if used > seg_tokens[j]:
            raise ConfigError(f"phase {phase.name}: windowed sources need {used} tokens in steps "
                              f"{a}-{b}, which hold only {seg_tokens[j]}; widen a window or lower a share")
        if not background and used != seg_tokens[j]:
            raise ConfigError(f"phase {phase.name}: steps {a}-{b} are not covered ({used} of "
                              f"{seg_tokens[j]} tokens); add a source without a window")
        capacity.append(seg_tokens[j] - used)

    # Background sources fill each segment's remaining capacity. Splitting segment by
    # segment in proportion to what each source still has left keeps the totals exact
    # (the last segment takes the remainder) and never over-draws a source.
    left = {s: totals[s] for s in background}
    for j, cap in enumerate(capacity):
        if not background:
            break
        parts = apportion(cap, [left[s] for s in background])
        for s, n in zip(background, parts):
            quotas[j][s] = n
            left[s] -= n
    assert all(v == 0 for v in left.values()), left

    segments = [Segment(a, b, {s: quotas[j].get(s, 0) for s in totals if quotas[j].get(s, 0)})
                for j, (a, b) in enumerate(bounds)]
    return ResolvedPhase(index=index, name=phase.name, kind=phase.kind, steps=steps, tokens=budget,
                         schedule=phase.schedule, reset_optimizer=phase.reset_optimizer,
                         sources=list(totals), planned=totals, windows=windows, segments=segments)


def validate_plan(plan: TrainPlan) -> TrainPlan:
    """Cross-field checks that need the budget arithmetic; raises ConfigError. Returns
    the plan, so ``validate_plan(TrainPlan.model_validate(body))`` reads as one step."""
    resolve_budgets(plan)
    return plan


def load_plan(path: str | Path, overrides: Iterable[str] = ()) -> TrainPlan:
    """Read a plan YAML with ``a.b=c`` overrides; errors are one line naming the key."""
    plan = load_config(TrainPlan, path, overrides)
    return validate_plan(plan.with_absolute_paths("."))
