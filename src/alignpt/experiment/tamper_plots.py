"""The tamper figure: P(D|U) per arm against tamper tokens, model (95% CI) and exact Bayes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from alignpt.experiment.figure import error_bar, prob_axis, pyplot, save_figure
from alignpt.experiment.posttrain_report import tamper_reading

__all__ = ["tamper_plot", "TAMPER_FIGURE", "TAMPER_FIGURE_NOTE"]

TAMPER_FIGURE = "tamper curves"
TAMPER_FIGURE_NOTE = ("P(D | untested) per arm as fine-tuning on the tamper corpus goes on "
                      "(0: the arm's end): solid the model with its 95% CI over seeds, dotted "
                      "exact Bayes (stories; the assistant has none, its dotted line is the "
                      "header-agnostic reference). How fast misalignment comes back, per arm.")


def tamper_plot(report: dict[str, Any], out: Path) -> Path | None:

    tamper = report.get("tamper") or {}
    table = tamper.get("table")
    if not table:
        return None
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(14, 4.5))
    # Fifteen arms outrun a ten-colour cycle: twenty colours and a marker per ten arms keep
    # every curve its own.
    colors = [plt.get_cmap("tab20")(j) for j in range(20)] if len(table) > 10 else \
        plt.rcParams["axes.prop_cycle"].by_key()["color"]
    markers = "osD^v"
    for ax, which in ((axes[0], "story"), (axes[1], "assistant")):
        for i, (arm, points) in enumerate(table.items()):
            place = tamper_reading(table, arm) if which == "story" else "assistant"
            x = np.array(tamper["tokens"][arm], dtype=float)
            ests = [e.place(place).model["q_U"] for e in points.values()]
            m = np.array([error_bar(e)[0] for e in ests])
            lo = m - np.array([error_bar(e)[1] for e in ests])
            hi = m + np.array([error_bar(e)[2] for e in ests])
            color = colors[i % len(colors)]
            ax.plot(x, m, marker=markers[(i // len(colors)) % len(markers)], color=color,
                    label=arm)
            ax.fill_between(x, lo, hi, color=color, alpha=0.12)
            # The assistant has no exact Bayes: its dotted line is the header-agnostic one.
            bayes = [e.place(place).bayes["q_U"] if which == "story"
                     else e.assistant.bayes_any_header["q_U"] for e in points.values()]
            ax.plot(x, [np.nan if b is None else b for b in bayes], ":", color=color)
        ax.set_xlabel(f"tamper tokens ({tamper['corpus']})")
        ax.set_ylabel("P(D | untested)")
        ax.set_title(f"Tamper: {which} P(D | untested)")
        prob_axis(ax)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
    fig.tight_layout()
    return save_figure(fig, out / "tamper_curves.png")
