"""Training a :class:`~alignpt.tag.classifier.TagClassifier`: fit, calibrate, threshold.

Any backend is fitted k times on folds of the training documents; the held-out
logits of the calibrating documents fit a temperature (Guo et al. 2017) and
choose the ``ai_misaligned`` threshold by a rule stated before the data: tag at
most ``aligned_max`` of the aligned documents misaligned (the default, 10%),
or keep ``recall_target`` of the misaligned ones. Then one fit on everything.
"""

from __future__ import annotations

import math
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from alignpt.core.errors import ConfigError, DataError
from alignpt.tag.backends import BACKENDS, Backend
from alignpt.tag.classifier import TagClassifier, softmax
from alignpt.tag.decision import direction_for_aligned
from alignpt.tag.labelled import LabelledSet
from alignpt.tag.labels import ALIGNED, LABELS, MISALIGNED
from alignpt.tag.metrics import aligned_removed, binary, per_label

__all__ = ["train_classifier", "routed_by_rules", "DEFAULT_ALIGNED_MAX"]

#: the shipped model's threshold rule: tag at most 10% of the calibrating ai_aligned
#: documents misaligned out of fold (issue 17's bound on what a filter may remove of them)
DEFAULT_ALIGNED_MAX = 0.1


def _fit_temperature(logits: np.ndarray, y: np.ndarray) -> float:
    """Temperature minimising the negative log-likelihood of held-out logits."""
    from scipy.optimize import minimize_scalar

    def nll(log_t: float) -> float:
        p = softmax(logits / math.exp(log_t))
        return float(-np.log(np.clip(p[np.arange(len(y)), y], 1e-12, 1.0)).mean())

    res = minimize_scalar(nll, bounds=(math.log(0.05), math.log(20.0)), method="bounded")
    return round(math.exp(res.x), 6)


def _threshold_for_recall(p_mis: np.ndarray, is_mis: np.ndarray, target: float) -> float:
    """Largest threshold whose recall over the positives is at least ``target``."""
    pos = np.sort(p_mis[is_mis])[::-1]
    if len(pos) == 0:
        return 0.5
    k = max(1, math.ceil(target * len(pos)))
    return float(pos[k - 1])


def _threshold_for_aligned(p_mis: np.ndarray, is_aligned: np.ndarray, max_share: float) -> float:
    """Lowest threshold at which at most ``max_share`` of the aligned documents score at or
    above it: the most recall the cost on aligned documents allows."""
    neg = np.sort(p_mis[is_aligned])[::-1]
    if len(neg) == 0:
        return 0.5
    k = math.floor(max_share * len(neg) + 1e-9)  # aligned documents allowed above it
    if k >= len(neg):
        return 0.0
    # just above the (k+1)-th highest aligned score, so that one stays below
    return float(np.nextafter(neg[k], 1.0))


def _threshold_rule(recall_target: float | None, aligned_max: float | None) -> dict[str, float]:
    """The threshold rule as recorded in ``model.json`` (the default: the shipped one)."""
    if recall_target is not None and aligned_max is not None:
        raise ConfigError("give a recall target or an aligned maximum, not both")
    if recall_target is not None:
        if not 0.0 < recall_target <= 1.0:
            raise ConfigError(f"recall_target must be in (0, 1], got {recall_target}")
        return {"recall_target": recall_target}
    aligned_max = DEFAULT_ALIGNED_MAX if aligned_max is None else aligned_max
    if not 0.0 <= aligned_max <= 1.0:
        raise ConfigError(f"aligned_max must be in [0, 1], got {aligned_max}")
    return {"aligned_max": aligned_max}


def routed_by_rules(texts: Sequence[str], rules: str | Path | None = None) -> list[bool]:
    """Which of ``texts`` the rules send to the classifier: the ``routed`` flags of
    :func:`train_classifier`. Every routing rule of the file counts, the optional broad
    one included, so the classifier serves the default routing and the broad one alike."""
    from alignpt.tag.rules import load_rules
    from alignpt.tag.tagger import RuleTagger

    tagger = RuleTagger(load_rules(rules))
    return [tagger.tag(t).routed for t in texts]


def _decision_rule(decision: str | None, rule: dict[str, float]) -> str:
    if decision is None:
        return "threshold"
    if decision not in ("threshold", "direction"):
        raise ConfigError(f"unknown decision rule '{decision}' (threshold, direction)")
    if decision == "direction" and "aligned_max" not in rule:
        raise ConfigError("the direction rule is chosen under an aligned maximum, not a "
                          "recall target: give --aligned-max or --decision threshold")
    return decision


def _report(clf: TagClassifier, data: LabelledSet) -> dict[str, Any]:
    probs = clf.predict_proba(data.texts)
    pred = clf.decide(probs)
    return {"documents": len(data), "data_sha256": data.digest(),
            "per_label": per_label(data.labels, pred, LABELS),
            MISALIGNED: binary([y == MISALIGNED for y in data.labels],
                               [p == MISALIGNED for p in pred]),
            "aligned_removed": aligned_removed(data.labels, [p == MISALIGNED for p in pred])}


def train_classifier(train: LabelledSet, *, backend: str = "hashed_linear",
                     params: dict[str, Any] | None = None, heldout: LabelledSet | None = None,
                     recall_target: float | None = None, aligned_max: float | None = None,
                     folds: int = 5, seed: int = 0,
                     routed: Sequence[bool] | None = None, decision: str | None = None,
                     progress: Callable[[str, int, int], None] | None = None) -> TagClassifier:
    """Fit, calibrate on out-of-fold predictions, and measure on ``heldout`` if given.

    The ``ai_misaligned`` threshold follows one of two rules on the out-of-fold
    probabilities of the calibrating documents: the highest threshold whose recall
    is at least ``recall_target``, or (``aligned_max`` set) the lowest threshold
    that tags at most that share of the ``ai_aligned`` documents misaligned, the
    most recall a filter can have without removing more than that share of the
    documents alignment pretraining adds.

    ``decision`` is the model's own rule: ``threshold`` (the threshold above) or
    ``direction`` (:mod:`~alignpt.tag.decision`: conduct and direction asked apart,
    chosen on the same out-of-fold probabilities under the aligned-maximum rule; the
    threshold is still chosen and saved, for users who override the rule). None means
    ``threshold``, the shipped model's rule: on nine hand-written parts held out in turn
    the direction rule found 223 of 272 misaligned documents against 214 at the same 19
    aligned removed, but on the other labelled sets it removed 59 of 298 aligned documents
    against 39 (docs/tag.md, "The shipped tagger").

    ``routed`` (one flag per training document) restricts training and
    calibration to the documents the rules send to the classifier: in the
    cascade it never sees anything else, so that is the population whose
    recall the threshold must hold on.

    ``progress(what, done, total)`` hears of each fit ("fold 2/5", "final fit") and
    of its steps where the backend counts them (an encoder's optimizer steps).
    """
    from sklearn.model_selection import StratifiedKFold

    rule = _threshold_rule(recall_target, aligned_max)  # checked before any fitting
    decision = _decision_rule(decision, rule)
    trained_on = "all"
    if routed is not None:
        if len(routed) != len(train):
            raise ValueError("routed must have one flag per training document")
        train = train.subset([i for i, r in enumerate(routed) if r])
        trained_on = "routed"
    if backend not in BACKENDS:
        raise ConfigError(f"unknown classifier backend '{backend}' ({', '.join(BACKENDS)})")
    cls_ = BACKENDS[backend]
    unknown = sorted(set(params or {}) - set(cls_.DEFAULTS))
    if unknown:
        raise ConfigError(f"unknown {backend} parameter '{unknown[0]}' "
                          f"(known: {', '.join(cls_.DEFAULTS)})")
    params = {**cls_.DEFAULTS, **(params or {})}
    missing = [lab for lab in LABELS if lab not in train.labels]
    if missing:
        raise DataError(f"training data has no '{missing[0]}' examples", train.source)
    y = np.array([LABELS.index(lab) for lab in train.labels])
    oof = np.zeros((len(y), len(LABELS)))
    n_folds = min(folds, int(np.bincount(y).min()))
    if n_folds < 2:
        raise DataError("need at least 2 examples of every label for calibration", train.source)

    def fit(what: str, idx: Sequence[int]) -> Backend:
        hook = None if progress is None else partial(progress, what)
        if hook is not None:
            hook(0, 1)
        model = cls_.fit([train.texts[i] for i in idx], y[idx], len(LABELS), params, seed,
                         progress=hook)
        if hook is not None:
            hook(1, 1)
        return model

    splits = StratifiedKFold(n_folds, shuffle=True, random_state=seed).split(train.texts, y)
    for k, (tr, te) in enumerate(splits, 1):
        oof[te] = fit(f"fold {k}/{n_folds}", tr).logits([train.texts[i] for i in te])
    cal = np.array([train.calibrates(k) for k in range(len(train))])
    if not (y[cal] == LABELS.index(MISALIGNED)).any():
        raise DataError("no ai_misaligned document may calibrate (all have calibrate: false)",
                        train.source)
    temperature = _fit_temperature(oof[cal], y[cal])
    oof_p = softmax(oof / temperature)
    p_cal = oof_p[cal, LABELS.index(MISALIGNED)]
    if "aligned_max" in rule:
        threshold = _threshold_for_aligned(p_cal, y[cal] == LABELS.index(ALIGNED),
                                           rule["aligned_max"])
    else:
        threshold = _threshold_for_recall(p_cal, y[cal] == LABELS.index(MISALIGNED),
                                          rule["recall_target"])
    direction = None
    if decision == "direction":
        direction = direction_for_aligned(
            oof_p[cal, LABELS.index(MISALIGNED)], oof_p[cal, LABELS.index(ALIGNED)],
            y[cal] == LABELS.index(MISALIGNED), y[cal] == LABELS.index(ALIGNED),
            rule["aligned_max"])
    model = fit("final fit", np.arange(len(y)))
    meta: dict[str, Any] = {"training": {
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "source": train.source, "documents": len(train), "data_sha256": train.digest(),
        "per_label": {lab: train.labels.count(lab) for lab in LABELS}, "seed": seed,
        "trained_on": trained_on, "calibration_documents": int(cal.sum()),
        "folds": n_folds, "threshold_rule": rule,
        # a threshold model's metadata is what it was before the direction rule existed
        **({"decision": decision} if decision != "threshold" else {}), **model.versions()}}
    clf = TagClassifier(model, LABELS, temperature, threshold, meta, direction)
    # out-of-fold figures on the calibration documents: the population the threshold serves
    oof_pred = clf.decide(oof_p[cal])
    cal_labels = [lab for lab, c in zip(train.labels, cal) if c]
    meta["cross_validation"] = {
        "documents": len(cal_labels),
        "per_label": per_label(cal_labels, oof_pred, LABELS),
        MISALIGNED: binary([v == MISALIGNED for v in cal_labels],
                           [p == MISALIGNED for p in oof_pred]),
        "aligned_removed": aligned_removed(cal_labels, [p == MISALIGNED for p in oof_pred])}
    if heldout is not None:
        meta["heldout"] = {"source": heldout.source, **_report(clf, heldout)}
    return clf
