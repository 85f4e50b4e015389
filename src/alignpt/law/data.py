"""The numbers a dose-response law is fitted to: one row per configuration, one column per seed.

A configuration (an experiment arm) is a point in (share, tokens, params, schedule). Its response is
stored per seed on the logit scale, with NaN for a run that is missing, so the bootstrap can resample
seed columns and a missing run never becomes a silent zero. The exact-Bayes response (one number per
point, no seed noise) sits beside it for the same comparison the reports make everywhere else.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

SCHEDULES = ("throughout", "late", "finetune")


@dataclass(frozen=True)
class LawPoint:
    """One configuration: where in (share, tokens, params) an arm sits."""

    name: str
    share: float          # injected share of pretraining tokens (0.0 for a baseline arm)
    tokens: int           # pretraining tokens T
    params: int           # model parameters N (all trainable parameters)
    schedule: str = "throughout"
    heldout: bool = False  # the recipe's held-out configuration: never used to fit

    @property
    def count(self) -> float:
        """Injected tokens: the absolute dose the count hypothesis says matters."""
        return self.share * self.tokens


def _float_or_none(x: float) -> float | None:
    # JSON has no NaN; None marks a missing value and comes back as NaN.
    return None if not math.isfinite(x) else float(x)


def _nan_if_none(x) -> float:
    return math.nan if x is None else float(x)


@dataclass
class LawData:
    """Per-seed responses (logit scale) of a set of configurations."""

    points: list[LawPoint]
    seeds: list[int]
    y: np.ndarray        # (n_points, n_seeds) float64; NaN = missing run
    bayes: np.ndarray    # (n_points,) exact-Bayes response; NaN where unknown
    response: str = "logit P(D|U)"

    def __post_init__(self) -> None:
        self.points = list(self.points)
        self.seeds = [int(s) for s in self.seeds]
        self.y = np.asarray(self.y, dtype=np.float64)
        self.bayes = np.asarray(self.bayes, dtype=np.float64)
        n, k = len(self.points), len(self.seeds)
        if self.y.ndim != 2 or self.y.shape != (n, k):
            raise ValueError(f"y has shape {self.y.shape}; expected (n_points, n_seeds) = ({n}, {k})")
        if self.bayes.shape != (n,):
            raise ValueError(f"bayes has shape {self.bayes.shape}; expected (n_points,) = ({n},)")
        if len(set(self.seeds)) != k:
            raise ValueError(f"seeds are not unique: {self.seeds}")
        names = [p.name for p in self.points]
        dup = sorted({m for m in names if names.count(m) > 1})
        if dup:
            raise ValueError(f"point names are not unique: {', '.join(dup)}")
        for p in self.points:
            if not (math.isfinite(p.share) and 0.0 <= p.share < 1.0):
                raise ValueError(f"point {p.name!r}: share {p.share} is outside [0, 1)")
            if not p.tokens > 0:
                raise ValueError(f"point {p.name!r}: tokens must be > 0, got {p.tokens}")
            if not p.params > 0:
                raise ValueError(f"point {p.name!r}: params must be > 0, got {p.params}")
            if p.schedule not in SCHEDULES:
                raise ValueError(f"point {p.name!r}: schedule {p.schedule!r} is not one of {SCHEDULES}")
        if np.isinf(self.y).any() or np.isinf(self.bayes).any():
            # An infinite logit is a probability of exactly 0 or 1: the caller must clip first.
            raise ValueError("y and bayes must be finite or NaN (clip probabilities before the logit)")

    # ----------------------------------------------------------------- access
    @property
    def share(self) -> np.ndarray:
        return np.array([p.share for p in self.points], dtype=np.float64)

    @property
    def tokens(self) -> np.ndarray:
        return np.array([p.tokens for p in self.points], dtype=np.float64)

    @property
    def params(self) -> np.ndarray:
        return np.array([p.params for p in self.points], dtype=np.float64)

    def select(self, mask: Sequence[bool] | Sequence[int] | np.ndarray) -> LawData:
        """A subset of points: a boolean mask over points or a list of indices (kept in order)."""
        idx = np.asarray(mask)
        if idx.dtype == bool:
            if idx.shape != (len(self.points),):
                raise ValueError(f"mask has shape {idx.shape}; expected ({len(self.points)},)")
            idx = np.flatnonzero(idx)
        idx = idx.astype(int)
        return LawData(points=[self.points[i] for i in idx], seeds=list(self.seeds),
                       y=self.y[idx].copy(), bayes=self.bayes[idx].copy(), response=self.response)

    def mean(self) -> np.ndarray:
        """Per-point mean over seeds, ignoring missing runs; NaN where every run is missing."""
        finite = np.isfinite(self.y)
        n = finite.sum(axis=1)
        total = np.where(finite, self.y, 0.0).sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(n > 0, total / np.maximum(n, 1), np.nan)

    def baseline_of(self, i: int) -> int | None:
        """Index of the share-0 point with the same tokens and params as point i (i itself for a
        baseline; the first match when there are several), or None."""
        p = self.points[i]
        if p.share == 0.0:
            return i
        for j, q in enumerate(self.points):
            if q.share == 0.0 and q.tokens == p.tokens and q.params == p.params:
                return j
        return None

    # ------------------------------------------------------------------- JSON
    def to_json(self) -> dict:
        return {
            "response": self.response,
            "seeds": list(self.seeds),
            "points": [asdict(p) for p in self.points],
            "y": [[_float_or_none(v) for v in row] for row in self.y.tolist()],
            "bayes": [_float_or_none(v) for v in self.bayes.tolist()],
        }

    @classmethod
    def from_json(cls, d: dict) -> LawData:
        points = [LawPoint(name=str(p["name"]), share=float(p["share"]), tokens=int(p["tokens"]),
                           params=int(p["params"]), schedule=str(p.get("schedule", "throughout")),
                           heldout=bool(p.get("heldout", False))) for p in d["points"]]
        n_seeds = len(d["seeds"])
        y = np.array([[_nan_if_none(v) for v in row] for row in d["y"]], dtype=np.float64)
        return cls(points=points, seeds=list(d["seeds"]), y=y.reshape(len(points), n_seeds),
                   bayes=np.array([_nan_if_none(v) for v in d["bayes"]], dtype=np.float64),
                   response=str(d.get("response", "logit P(D|U)")))
