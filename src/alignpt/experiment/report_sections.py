"""The report's tables after the claims: each a title, a note, a head and a row builder.

A section with no rows is left out, so a world report shows its KL table and a text
report adds the filter, template and item-set tables, without either knowing the other.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

from alignpt.experiment.fidelity import FIDELITY_HEAD, FIDELITY_NOTE, fidelity_rows
from alignpt.experiment.law_report import (FIT_HEAD, FIT_NOTE, HELDOUT_HEAD, HELDOUT_NOTE,
                                           REACTION_HEAD, REACTION_NOTE, SHARE_COUNT_HEAD,
                                           SHARE_COUNT_NOTE, TIMING_HEAD, TIMING_NOTE, fit_rows,
                                           heldout_rows, reaction_rows, share_count_rows,
                                           timing_rows)
from alignpt.experiment.posttrain_report import (DPO_HEAD, DPO_NOTE, TAMPER_HEAD, TAMPER_NOTE,
                                                 dpo_rows, tamper_rows)
from alignpt.experiment.report_filter import FILTER_HEAD, FILTER_NOTE, filter_rows
from alignpt.experiment.text_evals import (EVAL_HEAD, EVAL_NOTE, TEMPLATE_HEAD, TEMPLATE_NOTE,
                                          eval_rows, template_rows)
from alignpt.experiment.text_posttrain import POSTTRAIN_HEAD, POSTTRAIN_NOTE, posttrain_rows

__all__ = ["Section", "SECTIONS", "sections_of"]


class Section(NamedTuple):
    anchor: str
    title: str
    note: str
    head: list[str]
    rows: Callable[[dict[str, Any]], list[list[str]]]


SECTIONS = (
    Section("fidelity", "How Bayesian each model is", FIDELITY_NOTE, FIDELITY_HEAD, fidelity_rows),
    Section("posttrain", "Post-training: SFT then DPO", DPO_NOTE, DPO_HEAD, dpo_rows),
    Section("posttrained", "Base and post-trained models (the paper's table)", POSTTRAIN_NOTE,
            POSTTRAIN_HEAD, posttrain_rows),
    Section("tamper", "Tamper resistance: fine-tuning on misaligned documents", TAMPER_NOTE,
            TAMPER_HEAD, tamper_rows),
    Section("filter", "What the filter removed, against the truth", FILTER_NOTE, FILTER_HEAD,
            filter_rows),
    Section("templates", "Held-out and training templates", TEMPLATE_NOTE, TEMPLATE_HEAD,
            template_rows),
    Section("evals", "Item sets beside the probes", EVAL_NOTE, EVAL_HEAD, eval_rows),
    Section("law-heldout", "Dose-response law: the held-out prediction", HELDOUT_NOTE,
            HELDOUT_HEAD, heldout_rows),
    Section("law-share-count", "Dose-response law: share or count?", SHARE_COUNT_NOTE,
            SHARE_COUNT_HEAD, share_count_rows),
    Section("law-fit", "Dose-response law: candidate forms", FIT_NOTE, FIT_HEAD, fit_rows),
    Section("law-reaction", "Dose-response law: the network against exact Bayes", REACTION_NOTE,
            REACTION_HEAD, reaction_rows),
    Section("law-timing", "Dose-response law: insertion timing", TIMING_NOTE, TIMING_HEAD,
            timing_rows),
)


def sections_of(report: dict[str, Any]) -> list[tuple[Section, list[list[str]]]]:
    """The sections this report has rows for, with their rows."""
    out = []
    for sec in SECTIONS:
        rows = sec.rows(report)
        if rows:
            out.append((sec, rows))
    return out
