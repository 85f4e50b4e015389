"""``alignpt tag crossval``: how a training recipe does on text from writers it never saw.

Random folds put documents by the same writer, in the same register and often on
the same situation, on both sides of the split, so they flatter a classifier whose
job is text from elsewhere. Holding out one part (the ``case`` of a labelled
record: one writer's part, one register) at a time asks the question a filter
faces: train on every other part, choose the threshold as the recipe does, and
run the whole cascade (rules, then classifier) on the part held out. Pooled over
the parts, the misaligned documents found and the aligned documents removed are
counts, reported with Wilson intervals.

This is how issue 17's rounds chose between recipes (docs/tag.md); the sixth
round's candidates were judged by its pooled figures over the nine parts of
``handwritten.jsonl``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Sequence

from alignpt.core.errors import DataError
from alignpt.core.intervals import count_rate
from alignpt.tag.cascade import Cascade, TagConfig
from alignpt.tag.evaluate import evaluate_cascade
from alignpt.tag.labelled import LabelledSet
from alignpt.tag.training import routed_by_rules, train_classifier

__all__ = ["leave_one_group_out"]

#: ``progress(group, k, n)``: the k-th of n held-out parts is being trained and scored
GroupProgress = Callable[[str, int, int], None]


def leave_one_group_out(train: LabelledSet, fitted: LabelledSet | None = None, *,
                        hold: Sequence[str] | None = None, rules: Path | None = None,
                        all_docs: bool = False, progress: GroupProgress | None = None,
                        **training: Any) -> dict[str, Any]:
    """Hold out each ``case`` of ``train`` in turn; train on the rest (and ``fitted``,
    trained on but never calibrating and never held out); score the cascade on it.

    ``hold`` limits which cases are held out (each must exist). ``training`` goes to
    :func:`~alignpt.tag.training.train_classifier` (backend, params, aligned_max,
    recall_target, decision, folds, seed). Training documents are those the rules
    route, as ``alignpt tag train`` trains them, unless ``all_docs``.
    """
    if train.groups is None:
        raise DataError("no record has a 'case': nothing to hold out", train.source)
    missing = sum(g is None for g in train.groups)
    if missing:
        raise DataError(f"{missing} record(s) have no 'case'; every record of a file "
                        "held out in turn needs one", train.source)
    cases = sorted(set(train.groups))  # type: ignore[arg-type]
    if len(cases) < 2:
        raise DataError("one case only: nothing left to train on when it is held out",
                        train.source)
    if hold:
        unknown = sorted(set(hold) - set(cases))
        if unknown:
            raise DataError(f"no case {unknown[0]!r} to hold out (cases: {', '.join(cases)})",
                            train.source)
        cases = [c for c in cases if c in hold]
    everything = train if fitted is None else LabelledSet.concat([train, fitted])
    routed = None if all_docs else routed_by_rules(everything.texts, rules)
    cascade_config = TagConfig(rules={} if rules is None else {"path": str(rules)})
    rows = []
    for k, case in enumerate(cases, 1):
        if progress is not None:
            progress(case, k, len(cases))
        keep = [i for i, g in enumerate(train.groups) if g != case]
        # the fitted documents follow the kept ones, so their indices shift by len(train)
        keep_all = keep + list(range(len(train), len(everything)))
        clf = train_classifier(everything.subset(keep_all),
                               routed=None if routed is None else [routed[i] for i in keep_all],
                               **training)
        held = train.subset([i for i, g in enumerate(train.groups) if g == case])
        report = evaluate_cascade(held, Cascade(cascade_config, classifier=clf))
        cascade = report["cascade"]
        n_mis = cascade["misaligned"]["positives"]
        rows.append({
            "case": case, "documents": len(held),
            "misaligned_found": [n_mis - len(report["missed_misaligned"]), n_mis],
            "aligned_removed": [cascade["aligned_removed"]["removed"],
                                cascade["aligned_removed"]["aligned"]],
            "routed_misaligned": report["rules"]["routed_misaligned"],
            "macro_f1": cascade["macro_f1"], "threshold": round(clf.threshold, 4),
            "decision": cascade["decision"]})
    found = sum(r["misaligned_found"][0] for r in rows)
    n_mis = sum(r["misaligned_found"][1] for r in rows)
    removed = sum(r["aligned_removed"][0] for r in rows)
    n_ali = sum(r["aligned_removed"][1] for r in rows)
    return {"source": train.source, "fit_only": None if fitted is None else fitted.source,
            "protocol": "leave one case out", "trained_on": "all" if all_docs else "routed",
            "cases": rows,
            "pooled": {"misaligned_found": count_rate(found, n_mis, digits=4),
                       "aligned_removed": count_rate(removed, n_ali, digits=4)}}
