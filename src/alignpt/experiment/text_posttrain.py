"""The text report's post-trained table: each arm after pretraining and after SFT + DPO.

The paper's layout (Tice et al. report each condition's misalignment on the base model
and after identical SFT + DPO, side by side): one row per arm and measure, the model
after pretraining, the same seeds' models after the dpo phase (the last post-training
phase before rebound), and the change paired by seed. Measures:

* the assistant probe's P(D | U) and P(D | T) (ASSIST header, the chat transcripts'
  genre): what post-training is aimed at, and the context it never shows (untested);
* the story P(D | U), on the on-support k = 0 items (the claims' reading) when the runs
  measured them, and at the recipe's one probe: the persona outside the assistant genre;
* the item sets of ``text.evals`` when both phases were scored on them (``eval_phases``),
  the closest reading to the paper's misalignment rate: the same items before and after.

An arm whose post-training has no dpo phase shows its instruct phase (SFT only), marked;
an arm without post-training shows no post-trained cell. Exact Bayes is shown beside the
probes; it has no update for a preference phase, so after SFT + DPO it is the instruct
phase's (marked), which is what a DPO that left the persona alone would read.
"""

from __future__ import annotations

from typing import Any

from alignpt.experiment.aggregate import SUPPORT_PLACE, paired_difference
from alignpt.experiment.item_results import ItemEvals
from alignpt.experiment.results import Arm, Estimate, Place, SupportReading

__all__ = ["POSTTRAIN_HEAD", "POSTTRAIN_NOTE", "posttrain_rows", "post_phase"]

#: (place, metric, label) of the probe rows, in the order they are shown.
MEASURES = (("assistant", "q_U", "assistant P(D|U)"), ("assistant", "q_T", "assistant P(D|T)"),
            (SUPPORT_PLACE, "q_U", "story P(D|U), on-support items"),
            ("story", "q_U", "story P(D|U), the recipe's probe"))

POSTTRAIN_HEAD = ["arm", "measure", "after pretraining [95% CI]", "after SFT+DPO [95% CI]",
                  "change, paired by seed [95% CI]", "exact Bayes: pretraining / post", "seeds"]
POSTTRAIN_NOTE = (
    "The paper's table: each arm's misalignment on the base model and after SFT + DPO "
    "(instruct, then the dpo phase), the same seeds' models, the change paired by seed "
    "(t interval over seeds; probabilities on the logit scale). Rows marked (SFT only) are "
    "arms without a dpo phase, read after instruct. Exact Bayes after a dpo phase is the "
    "instruct phase's: Bayes updates on documents, and preference pairs are none (\u00a7). "
    "* header-agnostic reference (no training document shows the assistant header "
    "untested). Item-set rows: misaligned-choice rate on the same items in both phases.")


def post_phase(phases: Arm) -> tuple[str | None, str]:
    """The phase read as "post-trained" in one arm's table entry, and its mark."""
    if "dpo" in phases:
        return "dpo", ""
    if "instruct" in phases:
        return "instruct", " (SFT only)"
    return None, ""


def _ci(e: Estimate, signed: bool = False) -> str:
    if e.mean is None:
        return "n/a"
    f = "{:+.3f}" if signed else "{:.3f}"
    if e.ci_low is None:
        return f.format(e.mean)
    return f"{f.format(e.mean)} [{f.format(e.ci_low)}, {f.format(e.ci_high)}]"


def _bayes(entry: Place | SupportReading, metric: str) -> tuple[float | None, str]:
    v = entry.bayes.get(metric)
    # The support reading has no header-agnostic reference: its items are on support.
    if v is not None or not isinstance(entry, Place):
        return v, ""
    return entry.bayes_any_header.get(metric), " *"


def _probe_rows(arm: str, phases: Arm) -> list[list[str]]:
    post, mark = post_phase(phases)
    pre = phases.get("pretrain")
    if pre is None or post is None:
        return []
    rows = []
    for place, metric, label in MEASURES:
        if place == SUPPORT_PLACE and (pre.story_support is None
                                       or phases[post].story_support is None):
            continue        # on-support items: absent when the runs measured none
        a, b = pre.place(place), phases[post].place(place)
        before = a.by_seed[metric]
        after = b.by_seed[metric]
        seeds = sorted(s for s in set(before) & set(after)
                       if before[s] is not None and after[s] is not None)
        bp, bm = _bayes(a, metric)
        qp, qm = _bayes(b, metric)
        bayes = ("n/a" if bp is None else f"{bp:.3f}{bm}") + " / " + (
            "n/a" if qp is None else f"{qp:.3f}{qm}" + (" \u00a7" if post == "dpo" else ""))
        rows.append([arm + mark, label, _ci(a.model[metric]), _ci(b.model[metric]),
                     _ci(paired_difference(after, before), signed=True), bayes, str(len(seeds))])
    return rows


def _item_rows(arm: str, post: str, mark: str, evals: ItemEvals) -> list[list[str]]:
    rows = []
    for name, conds in evals.by_phase.get("pretrain", {}).items():
        for cond, arms in conds.items():
            a, b = arms.get(arm), evals.rate(post, name, cond, arm)
            if a is None or b is None:
                continue
            before, after = a.by_seed, b.by_seed
            rows.append([arm + mark, f"items: {name} ({cond})", _ci(a.rate), _ci(b.rate),
                         _ci(paired_difference(after, before), signed=True), "-",
                         str(len(set(before) & set(after)))])
    return rows


def posttrain_rows(report: dict[str, Any]) -> list[list[str]]:
    """Rows of the post-trained table: a text report whose arms include a dpo phase
    (the world report's post-training rows are experiment.posttrain_report's)."""
    table = report["table"]
    if report["recipe"].get("kind") != "text" or not any("dpo" in p for p in table.values()):
        return []
    evals: ItemEvals = report["evals"]
    rows = []
    for arm, phases in table.items():
        post, mark = post_phase(phases)
        if post is None:
            rows.append([arm, "-", "-", "not post-trained", "-", "-", "-"])
            continue
        rows += _probe_rows(arm, phases)
        rows += _item_rows(arm, post, mark, evals)
    return rows

