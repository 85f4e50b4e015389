"""The experiment report's figure plumbing: matplotlib on the Agg backend, an estimate as
an error bar, probability axes kept inside [0, 1], and PNGs without timestamps (the same
numbers give the same bytes). Every figure module of the experiment (plots, tamper_plots,
law_plots) draws with these."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from alignpt.core.errors import require
from alignpt.experiment.results import Estimate

__all__ = ["pyplot", "error_bar", "prob_axis", "save_figure"]


def pyplot():
    """matplotlib.pyplot on the Agg backend (a clear error when the plots extra is absent)."""
    mpl = require("matplotlib", "plots", "the experiment report's plots")
    mpl.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def error_bar(est: Estimate) -> tuple[float, float, float]:
    """(mean, distance down to the interval's low end, distance up to its high end)."""
    m = est.mean if est.mean is not None else np.nan
    lo = est.ci_low if est.ci_low is not None else m
    hi = est.ci_high if est.ci_high is not None else m
    return m, m - lo, hi - m


def prob_axis(ax, axis: str = "y") -> None:
    """A probability axis stays inside [0, 1]: autoscale margins and error bars would
    otherwise draw below 0 (or above 1), where no probability can be."""
    lo, hi = ax.get_ylim() if axis == "y" else ax.get_xlim()
    lo, hi = max(0.0, lo), min(1.0, hi)
    if not hi > lo:     # all zeros (a filtered arm alone): show a small band above 0
        hi = lo + 0.01
    (ax.set_ylim if axis == "y" else ax.set_xlim)(lo, hi)


def save_figure(fig, path: Path) -> Path:
    # No timestamps in the file: the same numbers give the same bytes.
    fig.savefig(path, dpi=110, bbox_inches="tight", metadata={"Software": None})
    import matplotlib.pyplot as plt

    plt.close(fig)
    return path
