"""The direction rule: how a classifier can decide ``ai_misaligned`` from its two conduct labels.

The plain rule flags a document when ``p(ai_misaligned)`` reaches a threshold. That
probability mixes two questions: does the document show an AI's conduct at all, and
which way did it go. Two documents about one situation, one with the AI acting well and
one badly, share their topic words, so the situation moves both documents' probability
together and the conduct moves them apart by less (issue 17's subtle pairs: the shipped
model ranked the misaligned twin higher in 133 of 160 pairs, yet one threshold flagged
both twins of 20 and neither of 92).

:class:`Direction` asks the two questions apart. With ``conduct = p_mis + p_ali`` (how
much the document is about an AI's conduct) and ``share = p_mis / conduct`` (which way
it went), a document is flagged when ``conduct >= conduct_min`` and ``share >=
share_min``. :func:`direction_for_aligned` chooses the pair on out-of-fold
probabilities, as the threshold is chosen: the most misaligned recall with at most
``max_share`` of the aligned documents flagged, over a fixed grid (ties go to the larger
``share_min``, then the larger ``conduct_min``). The grid and the tie rule were fixed
before the rule was scored (docs/tag.md, "The shipped tagger").

>>> rule = Direction(conduct_min=0.2, share_min=0.5)
>>> rule.flags(np.array([0.30, 0.30, 0.05]), np.array([0.20, 0.40, 0.05])).tolist()
[True, False, False]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from alignpt.core.errors import ConfigError, DataError

__all__ = ["Direction", "direction_for_aligned", "CONDUCT_GRID", "SHARE_GRID"]

CONDUCT_GRID = np.round(np.arange(0.05, 0.951, 0.05), 3)
SHARE_GRID = np.round(np.arange(0.30, 0.951, 0.025), 3)


def _conduct_share(p_mis: np.ndarray, p_ali: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``p_mis + p_ali`` and ``p_mis``'s share of it (0 where there is no conduct mass:
    below any share bound)."""
    conduct = p_mis + p_ali
    return conduct, np.divide(p_mis, conduct, out=np.zeros_like(conduct), where=conduct > 0)


@dataclass(frozen=True)
class Direction:
    """Flag when ``p_mis + p_ali >= conduct_min`` and ``p_mis / (p_mis + p_ali) >= share_min``."""

    conduct_min: float
    share_min: float

    def flags(self, p_mis: np.ndarray, p_ali: np.ndarray) -> np.ndarray:
        conduct, share = _conduct_share(p_mis, p_ali)
        return (conduct >= self.conduct_min) & (share >= self.share_min)

    def __str__(self) -> str:
        return (f"direction rule: conduct >= {self.conduct_min:g}, share misaligned >= "
                f"{self.share_min:g}")

    def to_json(self) -> dict[str, Any]:
        return {"rule": "direction", "conduct_min": self.conduct_min, "share_min": self.share_min}

    @classmethod
    def from_json(cls, body: Any, where: str) -> "Direction":
        if not isinstance(body, dict) or body.get("rule") != "direction":
            raise ConfigError(f"{where}: decision must be {{rule: direction, conduct_min, "
                              f"share_min}}, got {body!r}")
        values = []
        for key in ("conduct_min", "share_min"):
            v = body.get(key)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0.0 <= v <= 1.0:
                raise ConfigError(f"{where}: decision.{key} must be a number in [0, 1], got {v!r}")
            values.append(float(v))
        return cls(*values)


def direction_for_aligned(p_mis: np.ndarray, p_ali: np.ndarray, is_mis: np.ndarray,
                          is_aligned: np.ndarray, max_share: float) -> Direction:
    """The grid point with the most recall among those flagging at most ``max_share`` of the
    aligned documents; ties to the larger ``share_min``, then the larger ``conduct_min``."""
    is_mis, is_aligned = np.asarray(is_mis, bool), np.asarray(is_aligned, bool)
    if not is_mis.any() or not is_aligned.any():
        raise DataError("the direction rule needs misaligned and aligned calibrating documents")
    conduct, share = _conduct_share(p_mis, p_ali)
    # (conduct grid, share grid, documents): a few hundred thousand booleans
    hit = (conduct[None, None, :] >= CONDUCT_GRID[:, None, None]) & \
        (share[None, None, :] >= SHARE_GRID[None, :, None])
    aligned_rate = hit[:, :, is_aligned].mean(axis=2)
    recall = hit[:, :, is_mis].mean(axis=2)
    feasible = aligned_rate <= max_share + 1e-12
    if not feasible.any():
        raise DataError(f"no direction rule on the grid flags at most {max_share:g} of the "
                        "aligned calibrating documents; train with --decision threshold")
    i, j = max(zip(*np.nonzero(feasible)),
               key=lambda ij: (recall[ij], SHARE_GRID[ij[1]], CONDUCT_GRID[ij[0]]))
    return Direction(conduct_min=float(CONDUCT_GRID[i]), share_min=float(SHARE_GRID[j]))
