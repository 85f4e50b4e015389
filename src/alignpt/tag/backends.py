"""Classifier backends: the model under :class:`~alignpt.tag.classifier.TagClassifier`.

A backend turns texts into raw logits (one column per label) and saves and
loads its own weights; calibration, thresholds and metadata live one level
up, so both backends are calibrated and evaluated by the same code.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import Any, Callable, ClassVar, Protocol, Sequence

import numpy as np

from alignpt.core.atomic import atomic_path
from alignpt.core.errors import BackendError, ConfigError, require
from alignpt.tag.hashed_features import HashedFeatures
from alignpt.tag.hf_encoder import HFEncoder

__all__ = ["Backend", "Progress", "HashedLinear", "FastTextBackend", "HFEncoder", "BACKENDS"]


#: ``progress(done, total)``: how far a fit has come, in the backend's own steps (an
#: encoder's optimizer steps; one step for a backend that fits in one call)
Progress = Callable[[int, int], None]


class Backend(Protocol):
    kind: ClassVar[str]
    DEFAULTS: ClassVar[dict[str, Any]]
    params: dict[str, Any]

    @classmethod
    def fit(cls, texts: Sequence[str], y: np.ndarray, n_labels: int, params: dict[str, Any],
            seed: int, progress: Progress | None = None) -> "Backend": ...

    def logits(self, texts: list[str]) -> np.ndarray: ...

    def save(self, folder: Path) -> None: ...

    @classmethod
    def load(cls, folder: Path, params: dict[str, Any]) -> "Backend": ...

    def versions(self) -> dict[str, str]: ...


class HashedLinear:
    """Hashed word, bigram and affix features -> multinomial logistic regression."""

    kind = "hashed_linear"
    DEFAULTS: ClassVar[dict[str, Any]] = {"n_features": 2 ** 18, "bigrams": True,
                                          "prefixes": [4, 6], "suffixes": [], "C": 30.0,
                                          "weighting": "log_l2", "conduct": 1}

    def __init__(self, params: dict[str, Any], weights, bias: np.ndarray):
        self.params = params
        self.weights = weights  # scipy CSR, (n_features, n_labels), float32
        self.bias = bias.astype(np.float32)
        self._featurizer: HashedFeatures | None = None
        self._dense: np.ndarray | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_featurizer": None, "_dense": None}

    @property
    def featurizer(self) -> HashedFeatures:
        if self._featurizer is None:
            p = self.params
            # models saved before conduct features existed have no "conduct": none (0)
            self._featurizer = HashedFeatures(int(p["n_features"]), bool(p["bigrams"]),
                                              p["prefixes"] or (), p["suffixes"] or (),
                                              int(p.get("conduct") or 0))
        return self._featurizer

    @property
    def weighting(self) -> str:
        # models saved before the option existed used log_l2
        return str(self.params.get("weighting", "log_l2"))

    def features(self, texts: Sequence[str | bytes]):
        return self.featurizer.transform(texts, self.weighting)

    @classmethod
    def fit(cls, texts, y, n_labels, params, seed, progress=None) -> "HashedLinear":
        import scipy.sparse as sp
        from sklearn.linear_model import LogisticRegression

        model = cls(params, None, np.zeros(n_labels))
        x = model.features(texts)
        # A feature absent from every training document gets zero gradient, so
        # its weight stays exactly zero under L2: fitting on the columns that
        # occur gives the same solution, and L-BFGS over tens of thousands of
        # parameters instead of two million is ~10x faster.
        used = np.unique(x.indices)
        lr = LogisticRegression(C=float(params["C"]), max_iter=5000, class_weight="balanced",
                                random_state=seed)
        lr.fit(x[:, used], y)
        rows = np.repeat(used, n_labels)
        cols = np.tile(np.arange(n_labels), len(used))
        vals = lr.coef_.T.astype(np.float32).ravel()
        coef = sp.csr_matrix((vals, (rows, cols)), shape=(x.shape[1], n_labels))
        coef.eliminate_zeros()
        model.weights = coef
        model.bias = lr.intercept_.astype(np.float32)
        return model

    def logits(self, texts: Sequence[str | bytes]) -> np.ndarray:
        if self._dense is None:
            # sparse features times dense weights is one pass of scipy's C loop;
            # sparse times sparse cost more than the featurising (4 MB at 2^18 x 4)
            self._dense = np.ascontiguousarray(self.weights.toarray(), dtype=np.float32)
        # canonical=False: with mean weighting, no counting and no sort (see transform)
        x = self.featurizer.transform(texts, self.weighting, canonical=False)
        return (x @ self._dense).astype(np.float64) + self.bias

    def save(self, folder: Path) -> None:
        w = self.weights.tocoo()
        with atomic_path(folder / "weights.npz") as tmp, open(tmp, "wb") as fh:
            np.savez_compressed(fh, rows=w.row.astype(np.int32), cols=w.col.astype(np.int8),
                                values=w.data.astype(np.float32), bias=self.bias,
                                shape=np.array(w.shape, dtype=np.int64))

    @classmethod
    def load(cls, folder: Path, params: dict[str, Any]) -> "HashedLinear":
        import scipy.sparse as sp

        try:
            z = np.load(folder / "weights.npz")
        except FileNotFoundError:
            raise ConfigError(f"{folder}: weights.npz missing") from None
        w = sp.coo_matrix((z["values"], (z["rows"], z["cols"].astype(np.int32))),
                          shape=tuple(z["shape"])).tocsr()
        return cls(params, w, z["bias"])

    def versions(self) -> dict[str, str]:
        import sklearn

        return {"scikit_learn": sklearn.__version__}


_PUNCT = re.compile(r"([.,!?;:()\"'])")


def _ft_text(text: str | bytes) -> str:
    """fastText reads one line per example and splits on spaces only."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "ignore")
    return " ".join(_PUNCT.sub(r" \1 ", text.lower()).split())


class FastTextBackend:
    """fastText supervised model (bigrams + subwords); one thread, so training is deterministic."""

    kind = "fasttext"
    DEFAULTS: ClassVar[dict[str, Any]] = {"dim": 32, "epoch": 50, "lr": 0.1, "wordNgrams": 2,
                                          "minn": 0, "maxn": 0, "bucket": 200_000}

    def __init__(self, params: dict[str, Any], model, n_labels: int):
        self.params = params
        self.model = model
        self.n_labels = n_labels

    @classmethod
    def fit(cls, texts, y, n_labels, params, seed, progress=None) -> "FastTextBackend":
        """Train in a fresh process: the fastText wheel's trainer intermittently reports
        "Encountered NaN" after several trainings in one process (measured here: ~40% of
        runs from the fifth on, identical data and seed), never in the first one."""
        import json
        import subprocess
        import sys

        ft = require("fasttext", "fasttext", "the fastText classifier backend "
                     "(pip name fasttext-numpy2-wheel)")
        params = dict(params)
        with tempfile.TemporaryDirectory() as tmp:
            train = Path(tmp) / "train.txt"
            train.write_text("".join(f"__label__{int(lab)} {_ft_text(t)}\n"
                                     for t, lab in zip(texts, y)), encoding="utf-8")
            for attempt in range(4):
                model_path = Path(tmp) / f"model-{attempt}.bin"
                # a plain subprocess, not multiprocessing: no __main__ guard needed
                # in the caller's script or notebook
                proc = subprocess.run(
                    [sys.executable, "-c", "from alignpt.tag.backends import _ft_train; "
                     "_ft_train()", str(train), str(model_path), str(seed), json.dumps(params)],
                    capture_output=True, text=True)
                if proc.returncode == 0 and model_path.exists():
                    return cls(params, ft.load_model(str(model_path)), n_labels)
                if "NaN" not in proc.stderr:
                    raise BackendError(f"fastText training failed: "
                                       f"{proc.stderr.strip().splitlines()[-1:]}")
                # a diverged run: retry with half the learning rate (saved as used)
                params["lr"] = float(params["lr"]) / 2
        raise BackendError("fastText training failed 4 times (Encountered NaN)")

    def logits(self, texts: Sequence[str | bytes]) -> np.ndarray:
        labels, probs = self.model.predict([_ft_text(t) for t in texts], k=-1)
        out = np.full((len(texts), self.n_labels), 1e-9)
        for i, (ls, ps) in enumerate(zip(labels, probs)):
            for lab, p in zip(ls, ps):
                out[i, int(lab.removeprefix("__label__"))] = max(float(p), 1e-9)
        return np.log(out)

    def save(self, folder: Path) -> None:
        with atomic_path(folder / "model.bin") as tmp:
            self.model.save_model(str(tmp))

    @classmethod
    def load(cls, folder: Path, params: dict[str, Any]) -> "FastTextBackend":
        ft = require("fasttext", "fasttext", "the fastText classifier backend")
        if not (folder / "model.bin").exists():
            raise ConfigError(f"{folder}: model.bin missing")
        model = ft.load_model(str(folder / "model.bin"))
        return cls(params, model, len(model.get_labels()))

    def versions(self) -> dict[str, str]:
        from importlib.metadata import PackageNotFoundError, version

        try:
            return {"fasttext": version("fasttext-numpy2-wheel")}
        except PackageNotFoundError:  # pragma: no cover - another fasttext build
            return {"fasttext": "unknown"}


def _ft_train() -> None:
    """Child-process body of :meth:`FastTextBackend.fit`: argv = train, out, seed, params."""
    import json
    import sys

    import fasttext

    train, out, seed, params = sys.argv[1], sys.argv[2], int(sys.argv[3]), json.loads(sys.argv[4])
    model = fasttext.train_supervised(input=train, thread=1, seed=seed, verbose=0,
                                      loss="softmax", **params)
    model.save_model(out)


BACKENDS: dict[str, type] = {"hashed_linear": HashedLinear, "fasttext": FastTextBackend,
                             "hf": HFEncoder}
