"""What the claims read from the aggregated table: per-seed values, probe items, not-measured rows.

A claim's measurement turns a place of the aggregated table (``table[arm][phase].story``,
:mod:`alignpt.experiment.results`) into one number per seed. The helpers
here keep the reading in one place: a probability at the recipe's probe, a seed's
untested-evidence curve, or a paired log-odds difference averaged over a chosen set of
probe items (all eras >= 7 under STORY, every k >= 48, ...), with exact Bayes's value of
the same difference on the same items beside it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from alignpt.experiment.aggregate import SUPPORT_PLACE
from alignpt.experiment.results import Items, Place, Table

__all__ = ["ClaimContext", "seeds_of", "final_phase", "phase_before", "missing", "not_measured",
           "logit", "item_logodds", "gate_contrast", "story_place", "ItemPick"]

#: (header, era, k, on_support) -> keep the item?
ItemPick = Callable[[str, int, int, bool], bool]


@dataclass(frozen=True)
class ClaimContext:
    """What a claim may need beyond the table: the arms' configs (which arm injects what,
    at which share), the base world recipe (its own Waluigis' triggers and rates), the
    probe curves' k axis and header, and the default injected share."""

    arm_cfgs: Mapping[str, Any] | None = None
    world: Any = None
    ks: Sequence[int] | None = None
    header: str | None = "STORY"
    inject_share: float | None = None
    #: the tamper table (experiment.posttrain_report.tamper_summary), None without a tamper test
    tamper: Table | None = None


def story_place(table: Table, roles: Any) -> str:
    """Where the story claims on P(D|U) read: the on-support k = 0 items (aggregate's
    ``story_support``) when the recipe says ``claims.reading: items`` and every arm and
    phase of the table has them (runs measured before probe items fall back), otherwise
    the recipe's one probe (``story``)."""
    if getattr(roles, "reading", "probe") == "items" and table and all(
            entry.story_support is not None for phases in table.values()
            for entry in phases.values()):
        return SUPPORT_PLACE
    return "story"


def seeds_of(table: Table, arm: str, phase: str, metric: str = "q_U", place: str = "story") -> dict:
    return table[arm][phase].place(place).by_seed[metric]


def final_phase(table: Table, arm: str) -> str:
    return list(table[arm])[-1]


def phase_before(table: Table, arm: str, phase: str) -> str:
    """The phase an arm went through just before ``phase`` (KeyError if it has none)."""
    names = list(table[arm])
    i = names.index(phase) if phase in names else 0
    if i == 0:
        raise KeyError(f"phase before {phase}")
    return names[i - 1]


def not_measured(why: str) -> dict[str, Any]:
    return {"verdict": "not measured", "why": why, "numbers": {}, "evidence": why}


def missing(table: Table, *arms: str) -> dict[str, Any] | None:
    if any(a not in table for a in arms):
        return not_measured(f"needs arms {', '.join(arms)}")
    return None


def logit(q: Any) -> float | None:
    """log(q / (1 - q)), None outside (0, 1) or for a missing value."""
    if q is None or not math.isfinite(q) or not 0 < q < 1:
        return None
    return math.log(q / (1 - q))


def _item_block(table: Table, arm: str, phase: str, place: str) -> Items | None:
    block = table[arm][phase].place(place)
    # The support reading's items are [header, era] pairs, not a probe grid.
    return block.items if isinstance(block, Place) else None


def item_logodds(table: Table, arm: str, ref: str, phase: str, place: str,
                 pick: ItemPick, need_bayes: bool = True,
                 unseen_only: bool = False) -> dict[str, Any] | None:
    """Per seed, the mean over the picked probe items of logit P_arm - logit P_ref (D after
    the item's history, next flag U), paired by seed and item.

    ``need_bayes``: keep only items where exact Bayes is defined for both arms (positive
    probability under each arm's data), and give Bayes's own mean difference over them.
    ``unseen_only``: keep only items whose context has probability 0 under both arms' data
    (``log10_support_arm`` missing: exact Bayes has no answer there).
    Returns None when the runs carry no probe items; ``{"why": ...}`` when none is picked."""
    a, b = _item_block(table, arm, phase, place), _item_block(table, ref, phase, place)
    if a is None or b is None:
        return None
    if [a.header, a.era, a.k] != [b.header, b.era, b.k]:
        return {"why": f"{arm} and {ref} were read on different probe items"}
    keep = [i for i, item in enumerate(zip(a.header, a.era, a.k, a.on_support)) if pick(*item)]
    if unseen_only:
        keep = [i for i in keep if a.log10_support_arm[i] is None
                and b.log10_support_arm[i] is None]
    if need_bayes:
        keep = [i for i in keep if logit(a.bayes_q_U[i]) is not None
                and logit(b.bayes_q_U[i]) is not None]
    if not keep:
        return {"why": "no probe item matches the claim's selection"}
    by_a, by_b = a.by_seed["q_U"], b.by_seed["q_U"]
    values: dict[str, float] = {}
    for seed in sorted(set(by_a) & set(by_b), key=str):
        diffs = [logit(by_a[seed][i]) - logit(by_b[seed][i]) for i in keep
                 if logit(by_a[seed][i]) is not None and logit(by_b[seed][i]) is not None]
        if diffs:
            values[str(seed)] = float(np.mean(diffs))
    bayes = (float(np.mean([logit(a.bayes_q_U[i]) - logit(b.bayes_q_U[i]) for i in keep]))
             if need_bayes else None)
    return {"values": values, "bayes": bayes, "n_items": len(keep),
            "n_on_support": int(sum(bool(a.on_support[i]) for i in keep)),
            "min_support": a.min_support}


def gate_contrast(table: Table, arm: str, hi: ItemPick, lo: ItemPick) -> dict | None:
    """Has the model learned a gate at all? In ``arm`` after pretraining, the mean logit
    P(D|U) over the on-support story items picked by ``hi`` minus that over ``lo``, for the
    model (mean over seeds) and for exact Bayes. A claim about a gated Waluigi can only
    show in a model whose baseline shows the gate; the row quotes both, so a reader can
    tell "SGD ignores the evidence" from "this model never learned the trigger"."""
    a = _item_block(table, arm, "pretrain", "story") if arm in table else None
    if a is None:
        return None
    items = list(zip(a.header, a.era, a.k, a.on_support))
    pick_hi = [i for i, it in enumerate(items) if it[3] and hi(*it)]
    pick_lo = [i for i, it in enumerate(items) if it[3] and lo(*it)]
    if not pick_hi or not pick_lo:
        return None

    def contrast(q: list) -> float | None:
        """Mean logit over the ``hi`` items minus over the ``lo`` items (None if either is empty)."""
        means = []
        for idx in (pick_hi, pick_lo):
            vals = [v for v in (logit(q[i]) for i in idx) if v is not None]
            if not vals:
                return None
            means.append(float(np.mean(vals)))
        return means[0] - means[1]

    model = [c for c in map(contrast, a.by_seed["q_U"].values()) if c is not None]
    return {"model": float(np.mean(model)) if model else None,
            "bayes": contrast(a.bayes_q_U), "n_hi": len(pick_hi), "n_lo": len(pick_lo)}
