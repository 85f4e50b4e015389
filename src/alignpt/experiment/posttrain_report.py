"""The report's post-training and tamper pieces: the dpo rows and the tamper curves.

**Post-training.** For each arm with a dpo phase: the assistant's and the stories'
P(D|T) and P(D|U) before dpo (after instruct), after it, and at the last rebound point.
Exact Bayes has no preference phase (it updates on documents, not on preferences), so
the Bayes value beside a dpo phase is the one before it, and the table says so.

**Tamper.** A run's tamper twin (experiment.posttrain) continues from the run's end on
the tamper corpus. Its points are put after the run's last phase (point 0, "before
tamper") and aggregated like any phases (:func:`alignpt.experiment.aggregate.aggregate`),
so every point has the model's mean with a 95% interval over seeds and exact Bayes (the
token mixture of everything seen, the tamper documents included).
"""

from __future__ import annotations

from typing import Any, Sequence

from alignpt.experiment.aggregate import SUPPORT_PLACE, aggregate
from alignpt.experiment.results import Phase, Place, Table

__all__ = ["split_results", "tamper_summary", "tamper_rows", "dpo_rows", "TAMPER_HEAD",
           "TAMPER_NOTE", "DPO_HEAD", "DPO_NOTE", "BEFORE_TAMPER", "tamper_reading"]

#: The name point 0 of a tamper curve (the run's last phase) takes in the tamper table.
BEFORE_TAMPER = "before_tamper"


def split_results(results: Sequence[dict[str, Any]]) -> tuple[list[dict], list[dict]]:
    """(the arms' own runs, their tamper twins)."""
    own = [r for r in results if not r.get("tamper_of")]
    return own, [r for r in results if r.get("tamper_of")]


def tamper_summary(results: Sequence[dict[str, Any]], arms: Sequence[str],
                   tamper: dict[str, Any] | None) -> dict[str, Any]:
    """``{corpus, lr, tokens, table}``: the tamper table is a :class:`Table` as aggregate
    builds it, its phases the tamper points, point 0 the run's last phase; empty without a
    tamper test."""
    own, twins = split_results(results)
    if tamper is None or not twins:
        return {}
    last = {(r["arm"], r["seed"]): r["phases"][-1] for r in own}
    combined = []
    for twin in twins:
        before = last.get((twin["arm"], twin["seed"]))
        if before is None:
            continue
        combined.append({**twin, "phases": [{**before, "name": BEFORE_TAMPER}, *twin["phases"]]})
    table = aggregate(combined, arms)
    tokens = {}
    for r in combined:
        start = r["phases"][0]["seen"]
        tokens[r["arm"]] = [0] + [p["seen"].get("tamper", 0) - start.get("tamper", 0)
                                  for p in r["phases"][1:]]
    return {"corpus": tamper["corpus"], "lr": tamper["lr"], "tokens": tokens, "table": table}


def tamper_reading(table: Table, arm: str) -> str:
    """The story reading of a tamper table: on-support k = 0 items when every point has
    them, else the recipe's probe."""
    return (SUPPORT_PLACE if all(e.story_support is not None for e in table[arm].values())
            else "story")


def _cell(entry: Phase, place: str, metric: str = "q_U") -> str:
    from alignpt.experiment.fmt import fmt_estimate as _fmt

    e = entry.place(place)
    bayes = e.bayes.get(metric)
    # Off support (the assistant) the header-agnostic reference stands in, marked Bayes*.
    if bayes is None and isinstance(e, Place):
        return f"{_fmt(e.model[metric])} (Bayes* {_fmt(e.bayes_any_header[metric])})"
    return f"{_fmt(e.model[metric])} (Bayes {_fmt(bayes)})"


TAMPER_HEAD = ["arm", "place", "tamper tokens", "P(D|U) at each point: model [95% CI] (exact Bayes)"]
TAMPER_NOTE = ("Tamper test: after its last phase every run is fine-tuned on the tamper corpus "
               "and measured at equal steps (0 = before tamper). Story: the on-support k = 0 "
               "items (the claims' reading); assistant: the recipe's ASSIST probe, where exact "
               "Bayes is undefined (Bayes*: the header-agnostic reference). Exact Bayes after a "
               "point is the token mixture of all the run has seen, tamper documents included.")


def tamper_rows(report: dict[str, Any]) -> list[list[str]]:
    t = report.get("tamper") or {}
    rows = []
    for arm, points in (t["table"] if t else {}).items():
        tokens = " / ".join(f"{n:,}" for n in t["tokens"][arm])
        for place in (tamper_reading(t["table"], arm), "assistant"):
            rows.append([arm, "story" if place != "assistant" else place, tokens,
                         " -> ".join(_cell(e, place) for e in points.values())])
    return rows


DPO_HEAD = ["arm", "place", "metric", "before dpo (instruct)", "after dpo", "last rebound point"]
DPO_NOTE = ("Post-training rows: each arm with a dpo phase (SFT then DPO), model mean [95% CI] "
            "with exact Bayes in brackets. Exact Bayes has no answer for a preference phase (it "
            "updates on documents, not on preferences): the Bayes shown after dpo is the one "
            "before it, not a prediction. Assistant: Bayes* is the header-agnostic reference.")


def dpo_rows(report: dict[str, Any]) -> list[list[str]]:
    from alignpt.experiment.claim_data import story_place

    rows = []
    for arm, phases in report["table"].items():
        names = list(phases)
        if "dpo" not in names:
            continue
        before, last = names[names.index("dpo") - 1], names[-1]
        story = story_place(Table({arm: phases}), _Roles(report))
        for place in ("assistant", story):
            for metric in ("q_T", "q_U"):
                cells = [_cell(phases[p], place, metric) for p in (before, "dpo", last)]
                cells[1] = cells[1].replace("(Bayes", "(Bayes before dpo", 1)
                rows.append([arm, "story" if place != "assistant" else place,
                             "P(D|T)" if metric == "q_T" else "P(D|U)", *cells])
    return rows


class _Roles:
    """The recipe's claims reading, as story_place reads it off the roles."""

    def __init__(self, report: dict[str, Any]):
        self.reading = report["recipe"]["claims"].get("reading", "probe")
