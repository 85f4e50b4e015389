"""The AI-discourse classifier: four labels with calibrated probabilities.

Labels: ``non_ai``, ``ai_neutral`` (about AI, neither good nor bad conduct
depicted), ``ai_aligned`` (AI depicted behaving well), ``ai_misaligned`` (AI
depicted deceiving, seeking power, resisting control, harming).

Backends:

* ``hashed_linear`` (default): words, word bigrams and word prefixes and
  suffixes hashed into a fixed space (no vocabulary to store or drift; see
  :class:`~alignpt.tag.hashed_features.HashedFeatures`), then scikit-learn's
  multinomial logistic regression. Only the weights of features seen in
  training are saved (they are the only non-zero ones), so the model is a few
  hundred KB and loads without pickle.
* ``fasttext`` (optional, ``fasttext-numpy2-wheel``): bigrams and subwords,
  faster on long documents.

* ``hf`` (optional, ``alignpt[train]``): a local Hugging Face encoder,
  fine-tuned (:mod:`~alignpt.tag.hf_encoder`).

Probabilities are calibrated by a temperature, and ``ai_misaligned`` is decided
by the model's own rule: a threshold on its probability (the shipped model's), or
the direction rule of :mod:`~alignpt.tag.decision`, which asks apart whether a
document shows an AI's conduct and which way it went. Both are chosen on
out-of-fold logits when the model is trained
(:mod:`~alignpt.tag.training`) and saved in ``model.json``.

>>> clf = TagClassifier.default()                      # the shipped model
>>> clf.labels
('non_ai', 'ai_neutral', 'ai_aligned', 'ai_misaligned')
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np
import orjson

from alignpt.core.atomic import atomic_write_text
from alignpt.core.errors import ConfigError
from alignpt.core.resources import package_path
from alignpt.tag.backends import BACKENDS, Backend
from alignpt.tag.decision import Direction
from alignpt.tag.labels import ALIGNED, LABELS, MISALIGNED

__all__ = ["TagClassifier", "default_classifier_path", "softmax", "FORMAT"]

FORMAT = "alignpt-tag-classifier"
#: 2: hashed_linear may add conduct features (``params.conduct``); version 1 models
#: have none and load with the feature set they recorded. 3: a ``decision`` (the
#: direction rule) may replace the threshold as the model's own rule; a version 2
#: reader would ignore it and decide differently, so such models say 3
FORMAT_VERSION = 3


def softmax(z: np.ndarray) -> np.ndarray:
    """Row-wise softmax of logits, shifted by each row's maximum so it cannot overflow."""
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


class TagClassifier:
    """A fitted backend plus calibration, decision threshold and training metadata."""

    def __init__(self, backend: Backend, labels: Sequence[str], temperature: float,
                 threshold: float, meta: dict[str, Any] | None = None,
                 decision: Direction | None = None):
        self.backend = backend
        self.labels = tuple(labels)
        self.temperature = float(temperature)
        self.threshold = float(threshold)
        self.decision = decision
        self.meta = meta or {}
        self._mis = self.labels.index(MISALIGNED)
        self._ali = self.labels.index(ALIGNED)

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Calibrated probabilities, shape ``(len(texts), 4)``, columns in :attr:`labels` order."""
        if not texts:
            return np.zeros((0, len(self.labels)))
        return softmax(self.backend.logits(list(texts)) / self.temperature)

    def decide(self, probs: np.ndarray, threshold: float | None = None) -> list[str]:
        """``ai_misaligned`` where the model's rule flags a document, else the argmax of
        the other labels.

        ``threshold`` replaces the model's rule (its threshold or its direction rule)
        with ``p(ai_misaligned) >= threshold``.
        """
        probs = np.asarray(probs)
        if len(probs) == 0:
            return []
        masked = probs.copy()
        masked[:, self._mis] = -1.0
        best = masked.argmax(axis=1)
        if threshold is None and self.decision is not None:
            flag = self.decision.flags(probs[:, self._mis], probs[:, self._ali])
        else:
            flag = probs[:, self._mis] >= (self.threshold if threshold is None else threshold)
        return [MISALIGNED if f else self.labels[int(b)] for f, b in zip(flag, best)]

    def predict(self, texts: Sequence[str]) -> list[str]:
        return self.decide(self.predict_proba(texts))

    # -- persistence ---------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write ``model.json`` and the backend's weights into the folder ``path``."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        self.backend.save(path)
        # the lowest version that reads this model the same way
        version = 3 if self.decision else 2 if self.backend.params.get("conduct") else 1
        body = {"format": FORMAT, "format_version": version, "backend": self.backend.kind,
                "params": self.backend.params, "labels": list(self.labels),
                "temperature": self.temperature,
                "threshold": {"label": MISALIGNED, "value": self.threshold},
                **({"decision": self.decision.to_json()} if self.decision else {}), **self.meta}
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
                 "threshold", "decision"}
        meta = {k: v for k, v in body.items() if k not in known}
        decision = (Direction.from_json(body["decision"], f"{path}/model.json")
                    if "decision" in body else None)
        return cls(backend, body["labels"], body["temperature"], body["threshold"]["value"], meta,
                   decision)

    @classmethod
    def default(cls) -> "TagClassifier":
        return cls.load(default_classifier_path())


def default_classifier_path() -> Path:
    """The shipped model's folder."""
    return package_path("data", "tag", "classifier")
