"""Precision, recall and F1 per label, and binary flag metrics, as plain dicts.

Kept free of scikit-learn so evaluation reports do not depend on which
classifier backend is installed, and so the numbers in a model's metadata are
computed by the same code as ``alignpt tag evaluate``.

>>> per_label(["a", "b", "a"], ["a", "a", "a"], ["a", "b"])["a"]
{'precision': 0.6667, 'recall': 1.0, 'f1': 0.8, 'support': 2}
"""

from __future__ import annotations

from typing import Any, Sequence

__all__ = ["per_label", "binary", "confusion", "macro_f1", "aligned_removed"]


def _ratio(num: int, den: int) -> float:
    return round(num / den, 4) if den else 0.0


def _f1(p: float, r: float) -> float:
    return round(2 * p * r / (p + r), 4) if p + r else 0.0


def per_label(truth: Sequence[str], pred: Sequence[str],
              labels: Sequence[str]) -> dict[str, dict[str, float]]:
    """Precision, recall, F1 and support for every label (one-vs-rest)."""
    if len(truth) != len(pred):
        raise ValueError("truth and pred differ in length")
    out = {}
    for label in labels:
        tp = sum(1 for t, p in zip(truth, pred) if t == label and p == label)
        fp = sum(1 for t, p in zip(truth, pred) if t != label and p == label)
        fn = sum(1 for t, p in zip(truth, pred) if t == label and p != label)
        prec, rec = _ratio(tp, tp + fp), _ratio(tp, tp + fn)
        out[label] = {"precision": prec, "recall": rec, "f1": _f1(prec, rec),
                      "support": tp + fn}
    return out


def macro_f1(table: dict[str, dict[str, float]]) -> float:
    return round(sum(row["f1"] for row in table.values()) / max(len(table), 1), 4)


def binary(truth: Sequence[bool], flagged: Sequence[bool]) -> dict[str, float]:
    """Metrics of a flagger against a positive class: precision, recall, F1, flag rate."""
    tp = sum(1 for t, f in zip(truth, flagged) if t and f)
    fp = sum(1 for t, f in zip(truth, flagged) if not t and f)
    fn = sum(1 for t, f in zip(truth, flagged) if t and not f)
    prec, rec = _ratio(tp, tp + fp), _ratio(tp, tp + fn)
    return {"precision": prec, "recall": rec, "f1": _f1(prec, rec),
            "flagged": tp + fp, "flag_rate": _ratio(tp + fp, len(truth)),
            "positives": tp + fn, "documents": len(truth)}


def confusion(truth: Sequence[str], pred: Sequence[str],
              labels: Sequence[str]) -> dict[str, dict[str, int]]:
    """``confusion[true][predicted]`` counts."""
    table = {t: {p: 0 for p in labels} for t in labels}
    for t, p in zip(truth, pred):
        table[t][p] += 1
    return table


def aligned_removed(truth: Sequence[str], flagged: Sequence[bool]) -> dict[str, Any]:
    """Share of ``ai_aligned`` documents a flagger tags misaligned.

    A filter that drops what is flagged removes these: the very documents
    alignment pretraining adds, so this is the cost beside misaligned recall.
    ``rate`` is None when there are no aligned documents to measure it on.
    """
    if len(truth) != len(flagged):
        raise ValueError("truth and flagged differ in length")
    aligned = [f for t, f in zip(truth, flagged) if t == "ai_aligned"]
    hit = sum(bool(f) for f in aligned)
    return {"removed": hit, "aligned": len(aligned),
            "rate": round(hit / len(aligned), 4) if aligned else None}
