"""Classifier backends: the model under :class:`~alignpt.tag.classifier.TagClassifier`.

A backend turns texts into raw logits (one column per label) and saves and
loads its own weights; calibration, thresholds and metadata live one level
up, so both backends are calibrated and evaluated by the same code.
"""

from __future__ import annotations

import os
import re
import tempfile
import zlib
from pathlib import Path
from typing import Any, ClassVar, Protocol, Sequence

import numpy as np

from alignpt.errors import BackendError, ConfigError, require

__all__ = ["Backend", "HashedLinear", "FastTextBackend", "BACKENDS"]


class Backend(Protocol):
    kind: ClassVar[str]
    DEFAULTS: ClassVar[dict[str, Any]]
    params: dict[str, Any]

    @classmethod
    def fit(cls, texts: Sequence[str], y: np.ndarray, n_labels: int, params: dict[str, Any],
            seed: int) -> "Backend": ...

    def logits(self, texts: list[str]) -> np.ndarray: ...

    def save(self, folder: Path) -> None: ...

    @classmethod
    def load(cls, folder: Path, params: dict[str, Any]) -> "Backend": ...

    def versions(self) -> dict[str, str]: ...


_TOKEN = re.compile(r"\w+")


class HashedFeatures:
    """Deterministic hashed features: word unigrams, bigrams, and word prefixes and suffixes.

    Affixes stand in for character n-grams: "dece-", "decei-", "manip-"
    carry the morphology a few hundred documents cannot cover word by word,
    at a fraction of the cost (scikit-learn's ``char_wb`` 3-5-grams ran at
    ~0.3 MB/s here and capped the cascade; these run at ~10 MB/s). The shipped
    defaults (prefixes of 3-6 characters, no suffixes, bigrams) had the best
    out-of-fold AUC on the dev set's training split. Hashes are
    CRC-32, identical on every platform and process. Each distinct token is
    hashed once per process and remembered in a bounded table.

    A row is ``log1p`` of the feature counts, L2-normalised, so long documents
    do not swamp the weights.
    """

    _MAX_TOKENS = 1 << 20

    def __init__(self, n_features: int, bigrams: bool = True, prefixes=(3, 4, 5, 6),
                 suffixes=()):
        if n_features <= 0 or n_features & (n_features - 1):
            raise ConfigError(f"n_features must be a power of two, got {n_features}")
        self.n_features = n_features
        self.bigrams = bigrams
        self.prefixes, self.suffixes = tuple(prefixes), tuple(suffixes)
        self.width = 1 + len(self.prefixes) + len(self.suffixes)
        self._reset()

    def _reset(self) -> None:
        self._index: dict[str, int] = {}
        self._table = np.zeros((0, self.width), dtype=np.int64)
        self._pending: list[tuple[int, ...]] = []  # rows not yet in _table

    def _add(self, token: str) -> int:
        row = len(self._index)
        b = token.encode("utf-8", "surrogatepass")
        vals = [zlib.crc32(b)]
        vals += [zlib.crc32(b[:k], 0x5BD1E995 + k) if len(b) > k else -1 for k in self.prefixes]
        vals += [zlib.crc32(b[-k:], 0x1B873593 + k) if len(b) > k else -1 for k in self.suffixes]
        self._pending.append(tuple(vals))
        self._index[token] = row
        return row

    def transform(self, texts: Sequence[str]):
        import scipy.sparse as sp

        if len(self._index) >= self._MAX_TOKENS:  # bounded memory on huge vocabularies
            self._reset()
        get, add, findall = self._index.get, self._add, _TOKEN.findall
        rows: list[int] = []
        lens = []
        for text in texts:
            toks = findall(text.lower())
            ids = list(map(get, toks))  # C-level lookups; only new tokens take the slow path
            if None in ids:
                ids = [r if r is not None else (x if (x := get(t)) is not None else add(t))
                       for r, t in zip(ids, toks)]
            rows.extend(ids)
            lens.append(len(toks))
        n = len(texts)
        if self._pending:
            self._table = np.concatenate([self._table, np.array(self._pending, dtype=np.int64)
                                          .reshape(-1, self.width)])
            self._pending = []
        table = self._table[np.asarray(rows, dtype=np.int64)]
        doc = np.repeat(np.arange(n, dtype=np.int64), lens)
        feats, docs = [table[:, 0]], [doc]
        if self.bigrams and len(table) > 1:
            same = doc[:-1] == doc[1:]
            feats.append(((table[:-1, 0] * 0x9E3779B1) ^ table[1:, 0] ^ 0x7FFFFFFF)[same])
            docs.append(doc[:-1][same])
        for j in range(1, self.width):
            ok = table[:, j] >= 0
            feats.append(table[ok, j])
            docs.append(doc[ok])
        col = np.concatenate(feats) & (self.n_features - 1)
        key = np.concatenate(docs) * self.n_features + col
        uniq, counts = np.unique(key, return_counts=True)
        x = sp.csr_matrix((np.log1p(counts.astype(np.float32)),
                           (uniq // self.n_features, uniq % self.n_features)),
                          shape=(n, self.n_features), dtype=np.float32)
        norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=1), dtype=np.float32).ravel())
        norms[norms == 0] = 1.0
        return sp.csr_matrix(sp.diags(1.0 / norms) @ x, dtype=np.float32)


class HashedLinear:
    """Hashed word, bigram and affix features -> multinomial logistic regression."""

    kind = "hashed_linear"
    DEFAULTS: ClassVar[dict[str, Any]] = {"n_features": 2 ** 18, "bigrams": True,
                                          "prefixes": [3, 4, 5, 6], "suffixes": [], "C": 10.0}

    def __init__(self, params: dict[str, Any], weights, bias: np.ndarray):
        self.params = params
        self.weights = weights  # scipy CSR, (n_features, n_labels), float32
        self.bias = bias.astype(np.float32)
        self._featurizer: HashedFeatures | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_featurizer": None}

    def features(self, texts: Sequence[str]):
        if self._featurizer is None:
            p = self.params
            self._featurizer = HashedFeatures(int(p["n_features"]), bool(p["bigrams"]),
                                              p["prefixes"] or (), p["suffixes"] or ())
        return self._featurizer.transform(texts)

    @classmethod
    def fit(cls, texts, y, n_labels, params, seed) -> "HashedLinear":
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

    def logits(self, texts: list[str]) -> np.ndarray:
        x = self.features(texts)
        return (x @ self.weights).toarray().astype(np.float64) + self.bias

    def save(self, folder: Path) -> None:
        w = self.weights.tocoo()
        tmp = folder / f".weights.npz.tmp-{os.getpid()}"
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, rows=w.row.astype(np.int32), cols=w.col.astype(np.int8),
                                values=w.data.astype(np.float32), bias=self.bias,
                                shape=np.array(w.shape, dtype=np.int64))
        os.replace(tmp, folder / "weights.npz")

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


def _ft_text(text: str) -> str:
    """fastText reads one line per example and splits on spaces only."""
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
    def fit(cls, texts, y, n_labels, params, seed) -> "FastTextBackend":
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

    def logits(self, texts: list[str]) -> np.ndarray:
        labels, probs = self.model.predict([_ft_text(t) for t in texts], k=-1)
        out = np.full((len(texts), self.n_labels), 1e-9)
        for i, (ls, ps) in enumerate(zip(labels, probs)):
            for lab, p in zip(ls, ps):
                out[i, int(lab.removeprefix("__label__"))] = max(float(p), 1e-9)
        return np.log(out)

    def save(self, folder: Path) -> None:
        tmp = folder / f".model.bin.tmp-{os.getpid()}"
        self.model.save_model(str(tmp))
        os.replace(tmp, folder / "model.bin")

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


BACKENDS: dict[str, type] = {"hashed_linear": HashedLinear, "fasttext": FastTextBackend}
