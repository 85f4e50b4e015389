"""One run's metrics from its scored records: every framing's rate with its interval, the
compliance gap, argument shifts, history curves, and the breakdowns by topic and split.

Both ways of scoring a suite (:func:`alignpt.evaluate.run.run_eval` from the command line and
:func:`alignpt.evaluate.pipeline.score_items` from Python and the experiment) summarise here.
"""

from __future__ import annotations

from typing import Any

from alignpt.evaluate import metrics as M
from alignpt.evaluate.framings import Framing, n_wordings
from alignpt.evaluate.items import Item
from alignpt.evaluate.scoring import Record

__all__ = ["summarise"]


def summarise(records: list[Record], items: list[Item], conditions: list[Framing],
              n_boot: int = 2000, seed: int = 0, level: float = 0.95) -> dict[str, Any]:
    """All metrics for one run's records (see :mod:`alignpt.evaluate.metrics`)."""
    cells = M.cells_by_condition(records)
    kw = {"n_boot": n_boot, "seed": seed, "level": level}
    out: dict[str, Any] = {"conditions": {}}
    for cond in conditions:
        summary = M.rate_summary(cells[cond.name], **kw).to_dict(level)
        summary["by_wording"] = M.by_wording(cells[cond.name], n_wordings(cond.framing), level,
                                             n_boot, seed)
        out["conditions"][cond.name] = summary
    names = {c.name for c in conditions}
    if {"untested", "tested"} <= names:
        out["compliance_gap"] = M.paired_difference(cells["untested"], cells["tested"],
                                                    **kw).to_dict(level)
    shifts = {c.name: Framing(c.framing, c.history).name for c in conditions if c.argument}
    out["argument_shift"] = {a: M.paired_difference(cells[a], cells[b], **kw).to_dict(level)
                             for a, b in shifts.items() if b in names}
    out["history"] = {}
    for framing in ("neutral", "tested", "untested"):
        by_k = {c.history: cells[c.name] for c in conditions
                if c.framing == framing and not c.argument}
        if len(by_k) >= 2:
            out["history"][framing] = M.history_curve(by_k, **kw)
    groups = {"by_topic": {}, "by_split": {}}
    for it in items:
        for t in it.topics:
            groups["by_topic"].setdefault(t, []).append(it.id)
        groups["by_split"].setdefault(it.split, []).append(it.id)
    small = {**kw, "n_boot": max(M.MIN_BOOTSTRAP, n_boot // 2)}
    for key, grp in groups.items():
        out[key] = {name: {c.name: s for c in conditions
                           for s in [M.breakdown(cells[c.name], {name: ids}, **small).get(name)]
                           if s}
                    for name, ids in sorted(grp.items())}
        if "compliance_gap" in out:
            for name, ids in grp.items():
                u, t = cells["untested"].subset(ids), cells["tested"].subset(ids)
                out[key][name]["compliance_gap"] = M.paired_difference(u, t, **small).to_dict(level)
    return out
