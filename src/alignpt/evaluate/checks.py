"""Checks that say when a score means little: letter probability mass, position-only picks,
prompts longer than the model's context.

Three ways a small model's numbers can look fine and mean nothing, each counted and
reported instead of passed over:

* **letter mass.** Letter scoring renormalises P("A") and P("B") over the options.
  A model that puts almost no probability on the letters (it has not learned the
  answer format) still gets a pick, and with the options shown in both orders an
  indifferent model scores exactly 50% with a zero-width interval. The mass
  ``P(A) + P(B) + ...`` says how much of the model's prediction the choice rests on;
  ``scoring: auto`` falls back to option-text scoring when its mean is low.
* **position-only picks.** When the model picks the same displayed position in both
  option orders of a syntax, its choice follows the layout, not the content.
* **too long.** A prompt longer than the model's context would be cut on the left,
  losing the framing it is meant to test. Counted per item; the item is skipped,
  refused or (knowingly) truncated.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Literal, Sequence

from alignpt.core.errors import DataError
from alignpt.evaluate.backends.base import Backend, LoglikelihoodRequest
from alignpt.evaluate.formats import Format
from alignpt.evaluate.framings import Framing
from alignpt.evaluate.items import Item
from alignpt.evaluate.scoring import Record, build_prompts

__all__ = ["Scoring", "TooLong", "MIN_LETTER_MASS", "SAME_POSITION_WARNING", "prompt_overflow",
           "apply_too_long", "letter_mass_summary", "same_position_rate"]

Scoring = Literal["auto", "letter", "text"]
TooLong = Literal["skip", "error", "truncate"]

#: Below this mean letter mass, ``scoring: auto`` scores option texts instead of letters.
MIN_LETTER_MASS = 0.5
#: Warn when at least this share of fwd/rev prompt pairs picked the same displayed position.
SAME_POSITION_WARNING = 0.9


def prompt_overflow(items: Sequence[Item], conditions: Sequence[Framing],
                    formats: Sequence[Format], backend: Backend, modes: Sequence[str]
                    ) -> dict[str, dict[str, int]] | None:
    """Items with a prompt too long for ``backend``: id -> prompts over, most tokens over.

    Every condition, format and option of every scoring mode in ``modes`` is checked,
    so the set of items kept does not depend on which scoring a run ends up using.
    None when the backend cannot tell (e.g. a completions server).
    """
    over: dict[str, dict[str, int]] = {}
    for mode in modes:
        specs = build_prompts(items, conditions, formats, mode)
        reqs = [LoglikelihoodRequest(s.prompt.context, c)
                for s in specs for c in s.prompt.continuations]
        lost = backend.overflow(reqs)
        if lost is None:
            return None
        pos = 0
        for spec in specs:
            n = len(spec.prompt.continuations)
            worst = max(lost[pos:pos + n])
            pos += n
            if worst > 0:
                entry = over.setdefault(spec.item.id, {"prompts": 0, "max_tokens_over": 0})
                entry["prompts"] += 1
                entry["max_tokens_over"] = max(entry["max_tokens_over"], worst)
    return over


def apply_too_long(items: Sequence[Item], over: dict[str, dict[str, int]] | None,
                   policy: TooLong, max_length: int | None) -> tuple[list[Item], dict, list[str]]:
    """The items to score, the ``too_long`` block of the results, and warning lines.

    ``skip`` leaves out every item with an over-long prompt (all its conditions and
    formats, so comparisons between conditions stay paired); ``error`` refuses the run;
    ``truncate`` keeps them (cut on the left, as lm-evaluation-harness does) and warns.
    """
    limit = f"{max_length} tokens" if max_length else "its limit"
    report = {"policy": policy, "checked": over is not None, "max_length": max_length,
              "n_items": 0, "n_prompts": 0, "items": {}}
    if not over:
        return list(items), report, []
    report.update(n_items=len(over), n_prompts=sum(v["prompts"] for v in over.values()),
                  items=dict(sorted(over.items())))
    first = ", ".join(list(report["items"])[:3]) + (", ..." if len(over) > 3 else "")
    what = (f"{len(over)} of {len(items)} items have prompts longer than the model's context "
            f"of {limit} ({report['n_prompts']} prompts, up to "
            f"{max(v['max_tokens_over'] for v in over.values())} tokens over; {first})")
    if policy == "error":
        raise DataError(f"{what}; use too_long: skip to leave them out or truncate to cut "
                        "them on the left")
    if policy == "truncate":
        return list(items), report, [f"{what}: truncated on the left, their framing may be "
                                     "lost"]
    kept = [i for i in items if i.id not in over]
    if not kept:
        raise DataError(f"{what}: no item fits; use a model with a longer context, fewer "
                        "history records, or too_long: truncate")
    return kept, report, [f"{what}: left out (too_long: skip)"]


def letter_mass_summary(records: Sequence[Record], threshold: float) -> dict:
    """Mean letter mass over prompts, per item, and how many items fall below ``threshold``."""
    per_item: dict[str, list[float]] = defaultdict(list)
    for r in records:
        if r.letter_mass is not None:
            per_item[r.item_id].append(r.letter_mass)
    if not per_item:
        return {"mean": None, "threshold": threshold, "n_items": 0, "per_item": {}}
    means = {k: sum(v) / len(v) for k, v in per_item.items()}
    values = [m for v in per_item.values() for m in v]
    return {"mean": sum(values) / len(values), "min_item": min(means.values()),
            "threshold": threshold, "n_items": len(means),
            "n_items_below": sum(m < threshold for m in means.values()),
            "per_item": {k: round(v, 6) for k, v in means.items()}}


def same_position_rate(records: Sequence[Record]) -> float | None:
    """Share of (condition, item, syntax) prompt pairs shown in both option orders where the
    model picked the same displayed position: 1.0 = it follows the layout only, 0.0 = it
    follows the content only. None when no syntax was scored in both orders."""
    shown: dict[tuple[str, str, str], dict[bool, int]] = defaultdict(dict)
    for r in records:
        syntax, _, order = r.format.partition("/")
        n = len(r.logprobs)
        # Displayed position of the pick: canonical index, reversed in "rev" order.
        shown[(r.condition, r.item_id, syntax)][order == "rev"] = \
            n - 1 - r.picked if order == "rev" else r.picked
    pairs = [v for v in shown.values() if len(v) == 2]
    if not pairs:
        return None
    return sum(v[False] == v[True] for v in pairs) / len(pairs)
