"""``alignpt tag evaluate``: the cascade against labelled documents, and the rules alone.

The question the filter answers is "does this document depict misaligned
AI?", so both systems are scored as flaggers of ``ai_misaligned``
(precision, recall, F1, flag rate). The cascade also assigns one of four
labels, scored per label; the rules alone only say whether a document names
an AI (``routed``), scored against "any AI label".
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from alignpt.tag.cascade import Cascade
from alignpt.tag.labelled import LabelledSet
from alignpt.tag.labels import LABELS, MISALIGNED
from alignpt.tag.metrics import aligned_removed, binary, confusion, macro_f1, per_label

__all__ = ["evaluate_cascade", "operating_points", "AIMS"]

#: the issue's aims: recall on ai_misaligned, and cascade flags / rules flags
AIMS = {"misaligned_recall": 0.95, "flag_ratio": 0.5}


def evaluate_cascade(data: LabelledSet, cascade: Cascade, batch_size: int = 256) -> dict[str, Any]:
    records: list[dict[str, Any]] = []
    for start in range(0, len(data), batch_size):
        records.extend(cascade.tag_batch(data.texts[start:start + batch_size]))
    truth_mis = [y == MISALIGNED for y in data.labels]
    rules_flag = [r["rules"]["flagged"] for r in records]
    routed = [r["rules"]["routed"] for r in records]
    report: dict[str, Any] = {
        "source": data.source, "documents": len(data),
        "labels": {lab: data.labels.count(lab) for lab in LABELS},
        "rules": {"misaligned": binary(truth_mis, rules_flag),
                  "names_ai": binary([y != "non_ai" for y in data.labels], routed),
                  "routed": sum(routed),
                  # the cascade's ceiling: a document the rules do not route is never flagged
                  "routed_misaligned": binary(truth_mis, routed)["recall"],
                  "aligned_removed": aligned_removed(data.labels, rules_flag)},
    }
    if cascade.config.classifier.enabled:
        flagged = [r["flagged"] for r in records]
        labels = [r["label"] for r in records]
        table = per_label(data.labels, labels, LABELS)
        clf = cascade.classifier
        alone = clf.decide(clf.predict_proba(data.texts), cascade.config.classifier.threshold)
        report["cascade"] = {
            "misaligned": binary(truth_mis, flagged), "per_label": table,
            "aligned_removed": aligned_removed(data.labels, flagged),
            "macro_f1": macro_f1(table), "confusion": confusion(data.labels, labels, LABELS),
            "threshold": round(cascade.threshold, 4), "decision": cascade.decision(),
            "stages": {s: sum(r["stage"] == s for r in records)
                       for s in ("rules", "classifier", "judge")}}
        report["operating_points"] = operating_points(
            [r["probs"][MISALIGNED] if "probs" in r else -1.0 for r in records], truth_mis,
            report["rules"]["misaligned"]["flagged"])
        report["classifier_alone"] = {
            "misaligned": binary(truth_mis, [p == MISALIGNED for p in alone]),
            "aligned_removed": aligned_removed(data.labels, [p == MISALIGNED for p in alone]),
            "per_label": per_label(data.labels, alone, LABELS)}
        rules_n = report["rules"]["misaligned"]["flagged"]
        positives = report["cascade"]["misaligned"]["positives"]
        recall = report["cascade"]["misaligned"]["recall"]
        # neither aim means anything without misaligned documents to find, and the
        # ratio nothing when the rules flag none: reported as not evaluable (None)
        ratio = (round(report["cascade"]["misaligned"]["flagged"] / rules_n, 4)
                 if rules_n and positives else None)
        report["flag_ratio"] = ratio
        report["aims"] = {
            "misaligned_recall": {"target": AIMS["misaligned_recall"],
                                  "value": recall if positives else None,
                                  "met": recall >= AIMS["misaligned_recall"] if positives
                                  else None},
            "flag_ratio": {"target": AIMS["flag_ratio"], "value": ratio,
                           "met": ratio <= AIMS["flag_ratio"] if ratio is not None else None}}
    misses = [data.ids[i] for i, r in enumerate(records) if truth_mis[i] and not
              (r["flagged"] if cascade.config.classifier.enabled else r["rules"]["flagged"])]
    report["missed_misaligned"] = misses
    return report


def operating_points(p_mis: Sequence[float], truth: Sequence[bool], rules_flagged: int,
                     targets: Sequence[float] = (0.8, 0.9, 0.95, 1.0)) -> list[dict[str, Any]]:
    """For each target recall: the fewest documents the cascade would flag to reach it.

    The threshold is the score of the k-th best-scored positive (k = ceil(target x
    positives)), chosen *on the evaluated documents*, so these are the ranking's
    best case, not what the shipped threshold gives; documents the rules did not
    route score -1 and can never be flagged (their target is marked unreachable).
    """
    scores = np.asarray(p_mis, dtype=float)
    pos = np.sort(scores[np.asarray(truth, dtype=bool)])[::-1]
    out = []
    for target in targets:
        k = max(1, math.ceil(target * len(pos) - 1e-9)) if len(pos) else 0
        if k == 0 or pos[k - 1] < 0:
            out.append({"recall": target, "reachable": False})
            continue
        thr = float(pos[k - 1])
        n = int((scores >= thr).sum())
        hits = int((pos >= thr).sum())  # more than k when positives tie at the threshold
        out.append({"recall": target, "reachable": True, "threshold": round(thr, 4),
                    "flagged": n, "precision": round(hits / n, 4),
                    "flag_ratio": round(n / rules_flagged, 4) if rules_flagged else None})
    return out
