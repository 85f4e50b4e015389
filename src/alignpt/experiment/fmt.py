"""One way to print an estimate in every report table: ``mean [low, high]``, or ``n/a``."""

from __future__ import annotations

import math

from alignpt.experiment.results import Estimate

__all__ = ["fmt_estimate"]


def fmt_estimate(est: Estimate | float | None, digits: int = 3) -> str:
    """An estimate (experiment.results.Estimate) or a plain number, to ``digits``
    decimals; ``n/a`` for a missing or NaN value."""
    if isinstance(est, Estimate):
        if est.mean is None:
            return "n/a"
        if est.ci_low is None:
            return f"{est.mean:.{digits}f}"
        return f"{est.mean:.{digits}f} [{est.ci_low:.{digits}f}, {est.ci_high:.{digits}f}]"
    if est is None or (isinstance(est, float) and math.isnan(est)):
        return "n/a"
    return f"{est:.{digits}f}"
