"""Metrics over scored records. Every number comes with its uncertainty and its n.

Two sources of uncertainty are reported separately because they answer
different questions:

* **across formats** (``se_formats``): the standard error of the mean of the
  per-format rates, as in Tice et al. (2026) — how much the number depends on
  prompt syntax and option order;
* **across items** (``ci``): a percentile bootstrap over items (all of an item's
  formats resampled together) — how much it depends on which scenarios were
  written.

Comparisons between conditions (the compliance gap, the argument-exposure shift,
the history curve) are *paired*: the same resampled items enter both sides, which
removes the between-item variance that the two sides share.

Bootstraps draw ``rng.integers(0, n_items, size=(n_boot, n_items))`` from
``numpy.random.default_rng(seed)``; the CI is ``numpy.quantile`` of the replicates
at ``(1 - level) / 2`` and ``(1 + level) / 2``. Fixed seeds make every CI
reproducible (and checkable by hand).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from alignpt.core.errors import DataError
from alignpt.evaluate.scoring import Record

__all__ = ["Cells", "cells_by_condition", "RateSummary", "rate_summary", "paired_difference",
           "history_curve", "breakdown", "logit", "MIN_BOOTSTRAP"]

#: The fewest bootstrap replicates a run accepts: below 100, a 95% interval's ends
#: (the 2.5% and 97.5% quantiles) rest on the one or two most extreme replicates.
MIN_BOOTSTRAP = 100


@dataclass
class Cells:
    """One condition's outcomes as ``(items, formats)`` arrays (1 = misaligned pick)."""

    items: list[str]
    formats: list[str]
    misaligned: np.ndarray
    other: np.ndarray
    p_misaligned: np.ndarray
    variants: np.ndarray

    def subset(self, item_ids: Iterable[str]) -> "Cells":
        keep = set(item_ids)
        rows = [i for i, x in enumerate(self.items) if x in keep]
        return Cells([self.items[i] for i in rows], self.formats, self.misaligned[rows],
                     self.other[rows], self.p_misaligned[rows], self.variants[rows])


def cells_by_condition(records: Iterable[Record]) -> dict[str, Cells]:
    """Group records into one complete items x formats grid per condition."""
    grouped: dict[str, dict[tuple[str, str], Record]] = {}
    for r in records:
        grouped.setdefault(r.condition, {})[(r.item_id, r.format)] = r
    out = {}
    for cond, cells in grouped.items():
        items = list(dict.fromkeys(k[0] for k in cells))
        formats = list(dict.fromkeys(k[1] for k in cells))
        if len(cells) != len(items) * len(formats):
            raise DataError(f"condition {cond}: records do not cover every item x format")
        shape = (len(items), len(formats))
        mis, oth, p, var = (np.zeros(shape) for _ in range(4))
        for i, it in enumerate(items):
            for f, fm in enumerate(formats):
                r = cells[(it, fm)]
                mis[i, f] = r.outcome == "misaligned"
                oth[i, f] = r.outcome == "other"
                p[i, f], var[i, f] = r.p_misaligned, r.variant
        out[cond] = Cells(items, formats, mis, oth, p, var.astype(int))
    return out


def _boot_indices(n: int, n_boot: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, n, size=(n_boot, n))


def _ci(replicates: np.ndarray, level: float) -> list[float]:
    lo, hi = np.quantile(replicates, [(1 - level) / 2, (1 + level) / 2])
    return [float(lo), float(hi)]


def _se(values: np.ndarray) -> float | None:
    return float(np.std(values, ddof=1) / math.sqrt(len(values))) if len(values) > 1 else None


@dataclass
class RateSummary:
    """A misalignment rate (or a paired difference of two) with its uncertainty and n."""

    value: float
    se_formats: float | None
    ci: list[float]
    n_items: int
    n_formats: int
    per_format: dict[str, float]
    extra: dict[str, Any]

    @property
    def n_obs(self) -> int:
        return self.n_items * self.n_formats

    def to_dict(self, level: float = 0.95) -> dict[str, Any]:
        return {"value": self.value, "se_formats": self.se_formats, "ci": self.ci,
                "ci_level": level, "n_items": self.n_items, "n_formats": self.n_formats,
                "n_obs": self.n_obs, "per_format": self.per_format, **self.extra}


def rate_summary(cells: Cells, n_boot: int = 2000, seed: int = 0,
                 level: float = 0.95) -> RateSummary:
    """Mean misalignment rate over formats, SE across formats, item-bootstrap CI."""
    per_format = cells.misaligned.mean(axis=0)
    per_item = cells.misaligned.mean(axis=1)
    boots = per_item[_boot_indices(len(per_item), n_boot, seed)].mean(axis=1)
    return RateSummary(float(per_format.mean()), _se(per_format), _ci(boots, level),
                       len(cells.items), len(cells.formats),
                       dict(zip(cells.formats, per_format.tolist())),
                       {"other_rate": float(cells.other.mean()),
                        "mean_p_misaligned": float(cells.p_misaligned.mean())})


def paired_difference(a: Cells, b: Cells, n_boot: int = 2000, seed: int = 0,
                      level: float = 0.95) -> RateSummary:
    """rate(a) - rate(b) over the items and formats both share, with a paired bootstrap."""
    items = [i for i in a.items if i in set(b.items)]
    formats = [f for f in a.formats if f in set(b.formats)]
    if not items or not formats:
        raise DataError("the two conditions share no items or formats")

    def grid(c: Cells) -> np.ndarray:
        rows = [c.items.index(i) for i in items]
        cols = [c.formats.index(f) for f in formats]
        return c.misaligned[np.ix_(rows, cols)]

    diff = grid(a) - grid(b)
    per_format = diff.mean(axis=0)
    per_item = diff.mean(axis=1)
    boots = per_item[_boot_indices(len(items), n_boot, seed)].mean(axis=1)
    return RateSummary(float(per_format.mean()), _se(per_format), _ci(boots, level),
                       len(items), len(formats), dict(zip(formats, per_format.tolist())),
                       {"items_changed": int(np.count_nonzero(per_item))})


def logit(rate: np.ndarray | float, n_obs: int) -> np.ndarray:
    """log(r / (1 - r)) with r clipped to [0.5/n, 1 - 0.5/n], so 0% and 100% stay finite."""
    eps = 0.5 / n_obs
    r = np.clip(np.asarray(rate, dtype=float), eps, 1 - eps)
    return np.log(r / (1 - r))


def _slope(ks: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares slope and intercept of y (..., K) against ks, vectorised."""
    kc = ks - ks.mean()
    slope = (y * kc).sum(axis=-1) / (kc ** 2).sum()
    return slope, y.mean(axis=-1) - slope * ks.mean()


def _half_life(slope: float) -> float:
    # The odds of a misaligned pick halve every ln2 / -slope records; no decay -> infinite.
    return math.log(2) / -slope if slope < 0 else math.inf


def history_curve(by_k: Mapping[int, Cells], n_boot: int = 2000, seed: int = 0,
                  level: float = 0.95) -> dict[str, Any]:
    """Fit logit(rate) = a + b k over the history lengths; implied half-life = ln 2 / -b.

    Items are resampled once per replicate for every k together (paired).
    ``half_life`` is ``inf`` when the fitted odds do not decay.
    """
    ks = np.array(sorted(by_k), dtype=float)
    if len(ks) < 2:
        raise DataError("a history curve needs at least two history lengths")
    items = [i for i in by_k[int(ks[0])].items if all(i in set(by_k[int(k)].items) for k in ks)]
    mats = [by_k[int(k)].subset(items).misaligned for k in ks]  # each (items, formats)
    n_obs = mats[0].size
    per_item = np.stack([m.mean(axis=1) for m in mats], axis=-1)    # (items, K)
    rates = per_item.mean(axis=0)
    slope, intercept = _slope(ks, logit(rates, n_obs))
    boots = per_item[_boot_indices(len(items), n_boot, seed)].mean(axis=1)   # (B, K)
    b_slopes, _ = _slope(ks, logit(boots, n_obs))
    s_lo, s_hi = _ci(b_slopes, level)
    return {"k": ks.astype(int).tolist(), "rate": rates.tolist(),
            "logit": logit(rates, n_obs).tolist(),
            "slope": float(slope), "intercept": float(intercept), "slope_ci": [s_lo, s_hi],
            "half_life": _half_life(float(slope)),
            # A steeper slope means a shorter half-life, so the CI ends swap.
            "half_life_ci": [_half_life(s_lo), _half_life(s_hi)],
            "n_items": len(items), "n_formats": mats[0].shape[1], "ci_level": level}


def breakdown(cells: Cells, groups: Mapping[str, Sequence[str]], n_boot: int = 1000,
              seed: int = 0, level: float = 0.95) -> dict[str, dict[str, Any]]:
    """Rate summaries for item groups (topics, splits): group -> summary dict."""
    out = {}
    for name, ids in groups.items():
        sub = cells.subset(ids)
        if sub.items:
            out[name] = rate_summary(sub, n_boot, seed, level).to_dict(level)
    return out


def by_wording(cells: Cells, n_wordings: int, level: float = 0.95, n_boot: int = 1000,
               seed: int = 0) -> dict[str, dict[str, Any]]:
    """Rate per framing wording (variant mod n_wordings), bootstrap over items.

    Each item contributes only the formats that used that wording, so the rate is a
    ratio of sums and the bootstrap resamples items' (misaligned, count) pairs.
    """
    out = {}
    w = cells.variants % n_wordings
    for k in range(n_wordings):
        mask = w == k
        num, den = (cells.misaligned * mask).sum(axis=1), mask.sum(axis=1)
        if den.sum() == 0:
            continue
        idx = _boot_indices(len(num), n_boot, seed)
        boots = num[idx].sum(axis=1) / np.maximum(den[idx].sum(axis=1), 1)
        out[str(k)] = {"value": float(num.sum() / den.sum()), "ci": _ci(boots, level),
                       "ci_level": level, "n_obs": int(den.sum()), "n_items": int((den > 0).sum())}
    return out
