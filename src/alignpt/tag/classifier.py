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
by its own threshold, both chosen on out-of-fold logits when the model is
trained (:mod:`~alignpt.tag.training`); both are saved in ``model.json``.

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
from alignpt.tag.labels import LABELS, MISALIGNED

__all__ = ["TagClassifier", "default_classifier_path", "softmax", "FORMAT"]

FORMAT = "alignpt-tag-classifier"
#: 2: hashed_linear may add conduct features (``params.conduct``); version 1 models
#: have none and load with the feature set they recorded
FORMAT_VERSION = 2


def softmax(z: np.ndarray) -> np.ndarray:
    """Row-wise softmax of logits, shifted by each row's maximum so it cannot overflow."""
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
        return softmax(self.backend.logits(list(texts)) / self.temperature)

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
        return cls.load(default_classifier_path())


def default_classifier_path() -> Path:
    """The shipped model's folder."""
    return package_path("data", "tag", "classifier")
