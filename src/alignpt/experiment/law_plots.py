"""The law's figures: dose-response by corpus size, model size and timing, each with the
fitted law and exact Bayes; and the law's predictions against what the runs measured."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from alignpt.experiment.aggregate import estimate
from alignpt.experiment.figure import prob_axis, pyplot, save_figure
from alignpt.experiment.law_results import LawSummary
from alignpt.experiment.results import Estimate

__all__ = ["law_plots", "LAW_FIGURES"]

LAW_FIGURES = {
    "dose-response law": "P(D | untested) after pretraining against the injected share: points "
    "the model (95% CI over seeds; at the left edge, share 0, the baseline of that size), solid "
    "lines the fitted law, the dotted black line exact Bayes (the same for every size: it "
    "depends on the share alone), open markers the held-out configuration.",
    "law: predicted vs measured": "Each configuration's law prediction against its measured "
    "mean (95% CI). Fitted points sit near the diagonal by construction; the held-out point, "
    "with its 95% prediction interval, is the test.",
}


def _prob_est(y: np.ndarray) -> Estimate:
    return estimate((1.0 / (1.0 + math.exp(-v)) for v in y if math.isfinite(v)), prob=True)


def _groups(data: Any) -> list[tuple[str, list[int]]]:
    """Panels: throughout points grouped by (tokens, params), then one panel of timings."""
    by: dict[tuple[int, int], list[int]] = {}
    for i, p in enumerate(data.points):
        if p.schedule == "throughout":
            by.setdefault((p.tokens, p.params), []).append(i)
    panels = []
    tokens = sorted({t for t, _ in by})
    params = sorted({n for _, n in by})
    common_n = max(params, key=lambda n: sum(len(v) for (t, m), v in by.items() if m == n))
    common_t = max(tokens, key=lambda t: sum(len(v) for (m, n), v in by.items() if m == t))
    panels.append(("by corpus size (parameters %s)" % f"{common_n:,}",
                   [i for (t, n), v in by.items() if n == common_n for i in v]))
    if len(params) > 1:
        panels.append(("by model size (%s tokens)" % f"{common_t:,}",
                       [i for (t, n), v in by.items() if t == common_t for i in v]))
    timed = [i for i, p in enumerate(data.points) if p.schedule != "throughout"]
    if timed:
        ref = {(data.points[i].tokens, data.points[i].params) for i in timed}
        panels.append(("by timing", timed + [i for (t, n), v in by.items() if (t, n) in ref
                                             for i in v]))
    return panels


def _dose_figure(law: LawSummary, data: Any, fit: Any, out: Path) -> Path:

    plt = pyplot()
    panels = _groups(data)
    fig, axes = plt.subplots(1, len(panels), figsize=(6.2 * len(panels), 4.4), squeeze=False)
    shares = [p.share for p in data.points if p.share > 0]
    lo_s, hi_s = min(shares) / 3, max(shares) * 2
    grid = np.geomspace(lo_s * 1.5, hi_s, 40)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, (title, idx) in zip(axes[0], panels):
        keys = sorted({(data.points[i].tokens, data.points[i].params, data.points[i].schedule)
                       for i in idx})
        for c, key in enumerate(keys):
            color = colors[c % len(colors)]
            members = [i for i in idx if (data.points[i].tokens, data.points[i].params,
                                          data.points[i].schedule) == key]
            label = f"{key[0]:,} tok, {key[1]:,} par" + ("" if key[2] == "throughout"
                                                         else f", {key[2]}")
            for i in members:
                p, e = data.points[i], _prob_est(data.y[i])
                if e.mean is None:
                    continue
                x = p.share if p.share > 0 else lo_s
                err = [[e.mean - (e.ci_low or e.mean)], [(e.ci_high or e.mean) - e.mean]]
                ax.errorbar([x], [e.mean], yerr=err, fmt="o", capsize=3, color=color,
                            mfc="none" if p.heldout else color, label=label)
                label = None
            if fit is not None and key[2] == "throughout":
                ax.plot(grid, [fit.predict(float(s), key[0], key[1]).prob for s in grid],
                        "-", color=color, alpha=0.8)
        curve = law.bayes_curve
        if curve:
            xs = [s if s > 0 else lo_s for s in curve.share]
            ax.plot(xs, [np.nan if q is None else q for q in curve.q_U], "k:",
                    label="exact Bayes")
        ax.set_xscale("log")
        ax.set_xlabel("injected share of pretraining tokens (left edge: 0)")
        ax.set_ylabel("P(D | untested)")
        ax.set_title(title)
        prob_axis(ax)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return save_figure(fig, out / "law_dose_response.png")


def _prediction_figure(law: LawSummary, data: Any, fit: Any, out: Path) -> Path:

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 5))
    held_style = iter([("D", "C3"), ("s", "C1"), ("^", "C2"), ("v", "C4")] * 8)
    for i, p in enumerate(data.points):
        if p.schedule != "throughout":
            continue
        e = _prob_est(data.y[i])
        if e.mean is None:
            continue
        pred = fit.predict(p.share, p.tokens, p.params)
        xerr = [[e.mean - (e.ci_low or e.mean)], [(e.ci_high or e.mean) - e.mean]]
        if p.heldout:
            marker, color = next(held_style)
            ax.errorbar([e.mean], [pred.prob], xerr=xerr,
                        yerr=[[pred.prob - pred.prob_low], [pred.prob_high - pred.prob]],
                        fmt=marker, color=color, capsize=4, label=f"held out: {p.name}")
        else:
            ax.errorbar([e.mean], [pred.prob], xerr=xerr, fmt="o", color="C0", alpha=0.7,
                        capsize=2, label="fitted configurations" if i == 0 else None)
    lo, hi = ax.get_xlim()
    ax.plot([lo, hi], [lo, hi], "k:", lw=1)
    ax.set_xlabel("measured P(D | untested)")
    ax.set_ylabel("law's prediction")
    ax.set_title(f"Law ({fit.form}): predicted vs measured")
    prob_axis(ax)
    prob_axis(ax, "x")
    handles, labels = ax.get_legend_handles_labels()
    seen = dict(zip(labels, handles))
    ax.legend(seen.values(), seen.keys(), fontsize=7)
    return save_figure(fig, out / "law_predicted_vs_measured.png")


def law_plots(report: dict[str, Any], out: Path) -> dict[str, Path]:
    """The law's figures, by name (none without a law block)."""
    law: LawSummary | None = report.get("law")
    if law is None:
        return {}
    data, fit = law.data, law.fit
    plots = {"dose-response law": _dose_figure(law, data, fit, out)}
    if fit is not None:
        plots["law: predicted vs measured"] = _prediction_figure(law, data, fit, out)
    return plots
