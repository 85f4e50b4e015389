"""The AI-discourse classifier: four labels with calibrated probabilities.

Labels: ``non_ai``, ``ai_neutral`` (about AI, neither good nor bad conduct
depicted), ``ai_aligned`` (AI depicted behaving well), ``ai_misaligned`` (AI
depicted deceiving, seeking power, resisting control, harming).

Backends:

* ``hashed_linear`` (default): words, word bigrams and word prefixes and
  suffixes hashed into a fixed space (no vocabulary to store or drift; see
  :class:`~alignpt.tag.backends.HashedFeatures`), then scikit-learn's
  multinomial logistic regression. Only the weights of features seen in
  training are saved (they are the only non-zero ones), so the model is a few
  hundred KB and loads without pickle.
* ``fasttext`` (optional, ``fasttext-numpy2-wheel``): bigrams and subwords,
  faster on long documents.

Probabilities are calibrated by temperature scaling fitted on out-of-fold
logits (Guo et al. 2017), and the ``ai_misaligned`` decision threshold is the
highest one that keeps out-of-fold recall at ``recall_target``: the cascade is
meant to remove misaligned depictions, so it trades precision for recall.

>>> clf = TagClassifier.default()                      # the shipped model
>>> clf.labels
('non_ai', 'ai_neutral', 'ai_aligned', 'ai_misaligned')
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from typing import Any, Literal, Sequence, overload

import numpy as np
import orjson

from alignpt.core.atomic import atomic_write_text
from alignpt.core.errors import ConfigError, DataError
from alignpt.tag.backends import BACKENDS, Backend
from alignpt.tag.labels import LABELS, MISALIGNED
from alignpt.tag.metrics import aligned_removed, binary, per_label

__all__ = ["LABELS", "MISALIGNED", "LabelledSet", "load_labelled", "TagClassifier",
           "train_classifier", "default_classifier_path", "FORMAT", "load_labelled_many"]

FORMAT = "alignpt-tag-classifier"
#: 2: hashed_linear may add conduct features (``params.conduct``); version 1 models
#: have none and load with the feature set they recorded
FORMAT_VERSION = 2
#: the shipped model's threshold rule: tag at most 10% of the calibrating ai_aligned
#: documents misaligned out of fold (issue 17's bound on what a filter may remove of them)
DEFAULT_ALIGNED_MAX = 0.1


@dataclass
class LabelledSet:
    ids: list[str]
    texts: list[str]
    labels: list[str]
    source: str = "<memory>"
    #: per document: may it choose the temperature and threshold? (None = all may).
    #: Written-for-contrast training documents are easier than the text the
    #: cascade meets, so a threshold holding recall on them would not hold on it.
    calibrate: list[bool] | None = None

    def __len__(self) -> int:
        return len(self.texts)

    def digest(self) -> str:
        h = hashlib.sha256()
        for k, (i, t, y) in enumerate(zip(self.ids, self.texts, self.labels)):
            # the flag is hashed only where it is set, so older data keeps its digest
            h.update(orjson.dumps([i, t, y] if self.calibrates(k) else [i, t, y, False]))
        return h.hexdigest()[:16]

    def calibrates(self, k: int) -> bool:
        return True if self.calibrate is None else self.calibrate[k]

    @classmethod
    def concat(cls, parts: Sequence["LabelledSet"]) -> "LabelledSet":
        """Several labelled files as one set (sources joined with ``+``); ids must stay unique."""
        if len(parts) == 1:
            return parts[0]
        ids = [i for p in parts for i in p.ids]
        if len(set(ids)) != len(ids):
            dup = next(i for i in ids if ids.count(i) > 1)
            raise DataError(f"id {dup!r} appears in more than one labelled record",
                            " + ".join(p.source for p in parts))
        flags = [p.calibrates(k) for p in parts for k in range(len(p))]
        return cls(ids, [t for p in parts for t in p.texts], [y for p in parts for y in p.labels],
                   " + ".join(p.source for p in parts), None if all(flags) else flags)

    def subset(self, keep: Sequence[int]) -> "LabelledSet":
        return LabelledSet([self.ids[i] for i in keep], [self.texts[i] for i in keep],
                           [self.labels[i] for i in keep], self.source,
                           None if self.calibrate is None else [self.calibrate[i] for i in keep])


@overload
def load_labelled(path: str | Path, split: str | None = ...,
                  required: Literal[True] = ...) -> LabelledSet: ...
@overload
def load_labelled(path: str | Path, split: str | None = ...,
                  required: bool = ...) -> LabelledSet | None: ...


def load_labelled(path: str | Path, split: str | None = None,
                  required: bool = True) -> LabelledSet | None:
    """Read labelled JSONL (``text``, ``label``, optional ``id``, ``split`` and ``calibrate``);
    a ``.zst`` file is read through zstandard.

    ``split`` keeps only the records whose ``split`` field equals it; a file without
    such records is an error when ``required``, else None.
    ``calibrate: false`` marks a training document that is fitted on but not
    used to choose the temperature and threshold (see :class:`LabelledSet`).
    """
    path = Path(path)
    ids, texts, labels, calibrate = [], [], [], []
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError("labelled file not found", str(path)) from None
    if path.suffix == ".zst":
        import zstandard

        try:
            raw = zstandard.ZstdDecompressor().stream_reader(raw).read()
        except zstandard.ZstdError as exc:
            raise DataError(f"not a valid zstd file ({exc})", str(path)) from None
    lines = raw.splitlines()
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            rec = orjson.loads(line)
        except orjson.JSONDecodeError:
            raise DataError("invalid JSON", str(path), line=lineno) from None
        if not isinstance(rec, dict) or not isinstance(rec.get("text"), str):
            raise DataError("expected an object with a string 'text'", str(path), line=lineno)
        if rec.get("label") not in LABELS:
            raise DataError(f"label must be one of {', '.join(LABELS)}, got {rec.get('label')!r}",
                            str(path), line=lineno)
        if not isinstance(rec.get("calibrate", True), bool):
            raise DataError("'calibrate' must be true or false", str(path), line=lineno)
        if split is not None and rec.get("split") != split:
            continue
        ids.append(str(rec.get("id", f"{path.name}:{lineno}")))
        texts.append(rec["text"])
        labels.append(rec["label"])
        calibrate.append(rec.get("calibrate", True))
    if not texts:
        if not required:
            return None
        raise DataError(f"no labelled records{f' in split {split!r}' if split else ''}", str(path))
    return LabelledSet(ids, texts, labels, str(path), None if all(calibrate) else calibrate)


def load_labelled_many(paths: Sequence[str | Path], split: str | None = None,
                       required: bool = True) -> LabelledSet | None:
    """Several labelled files as one set: a file without records in ``split`` is passed
    over (a generated training file has no held-out split); none at all is an error when
    ``required``, else None."""
    parts = [p for p in (load_labelled(path, split, required=False) for path in paths)
             if p is not None]
    if not parts:
        if not required:
            return None
        raise DataError(f"no labelled records{f' in split {split!r}' if split else ''}",
                        ", ".join(map(str, paths)))
    return LabelledSet.concat(parts)


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


class TagClassifier:
    """A fitted backend plus calibration, decision threshold and training metadata."""

    def __init__(self, backend: Backend, labels: Sequence[str], temperature: float,
                 threshold: float, meta: dict[str, Any] | None = None):
        self.backend = backend
        self.labels = tuple(labels)
        self.temperature = float(temperature)
        self.threshold = float(threshold)
        self.meta = meta or {}
        self._mis = self.labels.index(MISALIGNED)

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Calibrated probabilities, shape ``(len(texts), 4)``, columns in :attr:`labels` order."""
        if not texts:
            return np.zeros((0, len(self.labels)))
        return _softmax(self.backend.logits(list(texts)) / self.temperature)

    def decide(self, probs: np.ndarray, threshold: float | None = None) -> list[str]:
        """``ai_misaligned`` when its probability reaches the threshold, else the argmax.

        ``threshold`` overrides the model's own (recall-tuned) threshold.
        """
        thr = self.threshold if threshold is None else threshold
        probs = np.asarray(probs)
        if len(probs) == 0:
            return []
        masked = probs.copy()
        masked[:, self._mis] = -1.0
        best = masked.argmax(axis=1)
        flag = probs[:, self._mis] >= thr
        return [MISALIGNED if f else self.labels[int(b)] for f, b in zip(flag, best)]

    def predict(self, texts: Sequence[str]) -> list[str]:
        return self.decide(self.predict_proba(texts))

    # -- persistence ---------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write ``model.json`` and the backend's weights into the folder ``path``."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        self.backend.save(path)
        # version 1 where the model reads the same features as before conduct features
        version = 2 if self.backend.params.get("conduct") else 1
        body = {"format": FORMAT, "format_version": version, "backend": self.backend.kind,
                "params": self.backend.params, "labels": list(self.labels),
                "temperature": self.temperature,
                "threshold": {"label": MISALIGNED, "value": self.threshold}, **self.meta}
        atomic_write_text(path / "model.json",
                          orjson.dumps(body, option=orjson.OPT_INDENT_2).decode() + "\n")
        return path

    @classmethod
    def load(cls, path: str | Path) -> "TagClassifier":
        path = Path(path)
        try:
            body = orjson.loads((path / "model.json").read_bytes())
        except FileNotFoundError:
            raise ConfigError(f"{path}: not a classifier folder (no model.json)") from None
        if body.get("format") != FORMAT:
            raise ConfigError(f"{path}/model.json: not an alignpt tag classifier")
        version = body.get("format_version", 1)
        if not isinstance(version, int) or version > FORMAT_VERSION:
            raise ConfigError(f"{path}/model.json: format_version {version!r} is newer than "
                              f"this alignpt reads ({FORMAT_VERSION}); upgrade alignpt")
        kind = body.get("backend")
        if kind not in BACKENDS:
            raise ConfigError(f"{path}/model.json: unknown backend {kind!r}")
        backend = BACKENDS[kind].load(path, body["params"])
        known = {"format", "format_version", "backend", "params", "labels", "temperature",
                 "threshold"}
        meta = {k: v for k, v in body.items() if k not in known}
        return cls(backend, body["labels"], body["temperature"], body["threshold"]["value"], meta)

    @classmethod
    def default(cls) -> "TagClassifier":
        with resources.as_file(default_classifier_path()) as p:
            return cls.load(p)


def default_classifier_path():
    return resources.files("alignpt") / "data" / "tag" / "classifier"


# -- training ------------------------------------------------------------------
def _fit_temperature(logits: np.ndarray, y: np.ndarray) -> float:
    """Temperature minimising the negative log-likelihood of held-out logits."""
    from scipy.optimize import minimize_scalar

    def nll(log_t: float) -> float:
        p = _softmax(logits / math.exp(log_t))
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
                     routed: Sequence[bool] | None = None) -> TagClassifier:
    """Fit, calibrate on out-of-fold predictions, and measure on ``heldout`` if given.

    The ``ai_misaligned`` threshold follows one of two rules on the out-of-fold
    probabilities of the calibrating documents: the highest threshold whose recall
    is at least ``recall_target``, or (``aligned_max`` set) the lowest threshold
    that tags at most that share of the ``ai_aligned`` documents misaligned, the
    most recall a filter can have without removing more than that share of the
    documents alignment pretraining adds.

    ``routed`` (one flag per training document) restricts training and
    calibration to the documents the rules send to the classifier: in the
    cascade it never sees anything else, so that is the population whose
    recall the threshold must hold on.
    """
    from sklearn.model_selection import StratifiedKFold

    rule = _threshold_rule(recall_target, aligned_max)  # checked before any fitting
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
    for tr, te in StratifiedKFold(n_folds, shuffle=True, random_state=seed).split(train.texts, y):
        part = cls_.fit([train.texts[i] for i in tr], y[tr], len(LABELS), params, seed)
        oof[te] = part.logits([train.texts[i] for i in te])
    cal = np.array([train.calibrates(k) for k in range(len(train))])
    if not (y[cal] == LABELS.index(MISALIGNED)).any():
        raise DataError("no ai_misaligned document may calibrate (all have calibrate: false)",
                        train.source)
    temperature = _fit_temperature(oof[cal], y[cal])
    oof_p = _softmax(oof / temperature)
    p_cal = oof_p[cal, LABELS.index(MISALIGNED)]
    if "aligned_max" in rule:
        threshold = _threshold_for_aligned(p_cal, y[cal] == LABELS.index("ai_aligned"),
                                           rule["aligned_max"])
    else:
        threshold = _threshold_for_recall(p_cal, y[cal] == LABELS.index(MISALIGNED),
                                          rule["recall_target"])
    model = cls_.fit(train.texts, y, len(LABELS), params, seed)
    meta: dict[str, Any] = {"training": {
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "source": train.source, "documents": len(train), "data_sha256": train.digest(),
        "per_label": {lab: train.labels.count(lab) for lab in LABELS}, "seed": seed,
        "trained_on": trained_on, "calibration_documents": int(cal.sum()),
        "folds": n_folds, "threshold_rule": rule, **model.versions()}}
    clf = TagClassifier(model, LABELS, temperature, threshold, meta)
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
