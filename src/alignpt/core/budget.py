"""Token budgets as recipes write them, shared by mix recipes and training plans.

A count (``8M``, ``200k``), a window inside a phase (``first 20%``) and the exact split of a
total by weights mean the same in ``alignpt mix`` and ``alignpt train``: one home here, in
the plumbing below both, so that the mix stage does not import the trainer's plan to read
them (docs/architecture.md). :mod:`alignpt.train.config` and :mod:`alignpt.train.phases`
use and re-export them as part of the plan's vocabulary.
"""

from __future__ import annotations

import math
import re
from fractions import Fraction
from typing import Any, Sequence

from pydantic import Field, model_validator

from alignpt.core.config import StrictModel

__all__ = ["parse_count", "WindowConfig", "apportion"]

_SUFFIX = {"k": 10**3, "m": 10**6, "b": 10**9, "g": 10**9, "t": 10**12}


def parse_count(value: Any) -> int:
    """``8M`` -> 8_000_000, ``1.5k`` -> 1500, ``2e6`` -> 2_000_000; must come out whole."""
    if isinstance(value, bool):
        raise ValueError("expected a count, got a boolean")
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError(f"{value} is not a whole number")
        return int(value)
    text = str(value).strip().replace("_", "").replace(",", "")
    m = re.fullmatch(r"([0-9]*\.?[0-9]+(?:e[0-9]+)?)\s*([kmbgt]?)", text, flags=re.I)
    if not m:
        raise ValueError(f"cannot read {value!r} as a count (e.g. 8M, 200k, 1.5B)")
    number = float(m.group(1)) * _SUFFIX.get(m.group(2).lower(), 1)
    if not math.isclose(number, round(number), rel_tol=0, abs_tol=1e-6):
        raise ValueError(f"{value!r} is not a whole number of tokens")
    return int(round(number))


class WindowConfig(StrictModel):
    """Where in its phase a source's tokens go, as fractions of the phase's steps.

    YAML accepts ``throughout``, ``first 20%``, ``last 10%``, ``{first: 0.2}``,
    ``{last: 0.1}`` or ``{start: 0.3, end: 0.5}``. Bounds are rounded outwards to
    whole steps. A "separate phase" is simply its own phase in the plan.
    """

    start: float = Field(0.0, ge=0.0, le=1.0)
    end: float = Field(1.0, ge=0.0, le=1.0)

    @model_validator(mode="before")
    @classmethod
    def _parse(cls, v: Any) -> Any:
        if isinstance(v, str):
            text = v.strip().lower()
            if text in ("throughout", "all", "uniform"):
                return {"start": 0.0, "end": 1.0}
            m = re.fullmatch(r"(first|last)\s+([0-9.]+)\s*(%?)", text)
            if not m:
                raise ValueError(f"cannot read window {v!r} (throughout, first 20%, last 10%)")
            frac = float(m.group(2)) / (100.0 if m.group(3) else 1.0)
            v = {m.group(1): frac}
        if isinstance(v, dict) and ("first" in v or "last" in v):
            if len(v) != 1:
                raise ValueError("a window is one of first / last / start+end")
            (k, frac), = v.items()
            frac = float(frac)
            return {"start": 0.0, "end": frac} if k == "first" else {"start": 1.0 - frac, "end": 1.0}
        return v

    @model_validator(mode="after")
    def _check(self) -> "WindowConfig":
        if self.end <= self.start:
            raise ValueError(f"window end {self.end} must be after start {self.start}")
        return self

    @property
    def full(self) -> bool:
        return self.start == 0.0 and self.end == 1.0


def apportion(total: int, weights: Sequence[Fraction | int | float]) -> list[int]:
    """Split ``total`` into integers proportional to ``weights`` (largest remainder).

    Exact rational arithmetic; ties go to the earlier weight. Each part is at most
    ``ceil(total * w / sum(w))``.

    >>> apportion(10, [1, 1, 1])
    [4, 3, 3]
    """
    ws = [Fraction(w) if not isinstance(w, float) else Fraction(str(w)) for w in weights]
    wsum = sum(ws)
    if total == 0 or wsum == 0:
        return [0] * len(ws)
    ideal = [total * w / wsum for w in ws]
    parts = [int(x) for x in ideal]  # floor: all non-negative
    left = total - sum(parts)
    order = sorted(range(len(ws)), key=lambda i: (-(ideal[i] - parts[i]), i))
    for i in order[:left]:
        parts[i] += 1
    return parts
