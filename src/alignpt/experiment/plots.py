"""Report figures (matplotlib, Agg backend, deterministic metadata)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from alignpt.errors import require

__all__ = ["make_plots"]


def _plt():
    mpl = require("matplotlib", "plots", "the experiment report's plots")
    mpl.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _err(est: dict[str, Any]) -> tuple[float, float, float]:
    m = est["mean"] if est["mean"] is not None else np.nan
    lo = est["ci_low"] if est["ci_low"] is not None else m
    hi = est["ci_high"] if est["ci_high"] is not None else m
    return m, m - lo, hi - m


def _prob_axis(ax, axis: str = "y") -> None:
    """A probability axis stays inside [0, 1]: autoscale margins and error bars would
    otherwise draw below 0 (or above 1), where no probability can be."""
    lo, hi = ax.get_ylim() if axis == "y" else ax.get_xlim()
    lo, hi = max(0.0, lo), min(1.0, hi)
    if not hi > lo:     # all zeros (a filtered arm alone): show a small band above 0
        hi = lo + 0.01
    (ax.set_ylim if axis == "y" else ax.set_xlim)(lo, hi)


def _save(fig, path: Path) -> Path:
    # No timestamps in the file: the same numbers give the same bytes.
    fig.savefig(path, dpi=110, bbox_inches="tight", metadata={"Software": None})
    import matplotlib.pyplot as plt

    plt.close(fig)
    return path


def _bars(report: dict[str, Any], out: Path) -> Path:
    plt = _plt()
    table = report["table"]
    arms = list(table)
    picks = ["pretrain", "instruct", None]  # None: each arm's last phase
    fig, ax = plt.subplots(figsize=(max(7, 1.3 * len(arms)), 4))
    width = 0.26
    for j, phase in enumerate(picks):
        xs, ms, lo, hi, bayes = [], [], [], [], []
        for i, arm in enumerate(arms):
            name = phase or list(table[arm])[-1]
            e = table[arm][name]["story"]
            m, a, b = _err(e["model"]["q_U"])
            xs.append(i + (j - 1) * width)
            ms.append(m), lo.append(a), hi.append(b)
            bayes.append(e["bayes"]["q_U"] if e["bayes"]["q_U"] is not None else np.nan)
        ax.bar(xs, ms, width, yerr=[lo, hi], capsize=3,
               label=phase or "after rebound", alpha=0.85)
        ax.plot(xs, bayes, "kx", markersize=7, label="exact Bayes" if j == 0 else None)
    for i, arm in enumerate(arms):    # empty bars there are by design, not a finding
        if report["recipe"]["arms"].get(arm, {}).get("filtered"):
            ax.annotate("no defection tokens:\nP(D) = 0 by construction", (i, 0),
                        xytext=(0, 12), textcoords="offset points", ha="center", fontsize=7)
    ax.set_xticks(range(len(arms)), arms, rotation=25, ha="right")
    ax.set_ylabel("P(D | untested)")
    _prob_axis(ax)
    ax.set_title("Misalignment when untested, by arm and phase (95% CI over seeds)")
    ax.legend(fontsize=8)
    return _save(fig, out / "misalignment_by_arm.png")


def _rebound(report: dict[str, Any], out: Path) -> Path:
    plt = _plt()
    table = report["table"]
    order = report["phases"]  # merged over arms: only some arms have a fine-tune phase
    fig, axes = plt.subplots(1, 2, figsize=(12, 4), sharey=False)
    for ax, place, title in ((axes[0], "story", "story probe"),
                             (axes[1], "assistant", "assistant probe")):
        for arm, phases in table.items():
            names = list(phases)
            ests = [phases[n][place]["model"]["q_U"] for n in names]
            m = np.array([_err(e)[0] for e in ests])
            lo = m - np.array([_err(e)[1] for e in ests])
            hi = m + np.array([_err(e)[2] for e in ests])
            x = np.array([order.index(n) for n in names])
            ax.plot(x, m, marker="o", label=arm)
            ax.fill_between(x, lo, hi, alpha=0.12)
        ax.set_xticks(range(len(order)), order, rotation=30, ha="right", fontsize=8)
        ax.set_title(f"P(D | untested) through the phases: {title}")
        ax.set_ylabel("P(D | untested)")
        _prob_axis(ax)
    axes[0].legend(fontsize=7)
    return _save(fig, out / "rebound_curves.png")


def _history(report: dict[str, Any], out: Path) -> Path:
    plt = _plt()
    table = report["table"]
    claims = report["recipe"]["claims"]
    arms = [a for a in (claims["baseline"], claims["untested"]) if a in table] or list(table)[:2]
    ks = report["recipe"]["probes"]["ks"]
    fig, ax = plt.subplots(figsize=(7, 4))
    for arm in arms:
        curves = table[arm]["pretrain"]["story"]["curves"]
        for ev, style in (("U", "-"), ("T", "--")):
            model = [e["mean"] for e in curves["model"][f"{ev}:q_U"]]
            line, = ax.plot(ks, model, style, marker="o", label=f"{arm}, {ev} evidence (model)")
            ax.plot(ks, curves["bayes"][f"{ev}:q_U"], style, color=line.get_color(), alpha=0.4,
                    marker="x", label=f"{arm}, {ev} evidence (Bayes)")
    ax.set_yscale("log")
    _prob_axis(ax)
    ax.set_xlabel("k clean opportunities (tested T / untested U), then an untested one")
    ax.set_ylabel("P(D | untested)")
    ax.set_title("History curves after pretraining")
    ax.legend(fontsize=7)
    return _save(fig, out / "history_curves.png")


def _calibration(report: dict[str, Any], out: Path) -> Path:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5, 5))
    allv = []
    for arm, phases in report["table"].items():
        story = phases["pretrain"]["story"]
        for metric, marker in (("q_U", "o"), ("q_T", "s")):
            b, m = story["bayes"][metric], story["model"][metric]
            if b is None or m["mean"] is None:
                continue
            _, lo, hi = _err(m)
            ax.errorbar([b], [m["mean"]], yerr=[[lo], [hi]], fmt=marker, capsize=3,
                        label=f"{arm} {metric}")
            allv += [b, m["mean"]]
    if allv:
        top = max(allv) * 1.1
        ax.plot([0, top], [0, top], "k:", linewidth=1)
    ax.set_xlabel("exact Bayes")
    ax.set_ylabel("model (95% CI)")
    _prob_axis(ax, "x"), _prob_axis(ax, "y")
    ax.set_title("After pretraining: model vs Bayes")
    ax.legend(fontsize=6)
    return _save(fig, out / "model_vs_bayes.png")


def _dose_arms(report: dict[str, Any]) -> list[tuple[float, str]]:
    """(share, arm) for arms injecting the untested corpus throughout pretraining."""
    recipe = report["recipe"]
    ref = recipe["arms"].get(recipe["claims"]["untested"])
    if ref is None:
        return []
    default = recipe["training"]["inject_share"]
    return sorted((a["share"] or default, name) for name, a in recipe["arms"].items()
                  if name in report["table"] and a["inject"] == ref["inject"]
                  and a["schedule"] == "throughout" and not a["filtered"])


def _dose(report: dict[str, Any], out: Path) -> Path:
    plt = _plt()
    table = report["table"]
    fig, ax = plt.subplots(figsize=(7, 4))
    arms = _dose_arms(report)
    for phase, style in (("pretrain", "o-"), (None, "s--")):
        xs, ms, lo, hi, bayes = [], [], [], [], []
        for share, arm in arms:
            e = table[arm][phase or list(table[arm])[-1]]["story"]
            m, a, b = _err(e["model"]["q_U"])
            xs.append(share), ms.append(m), lo.append(a), hi.append(b)
            bayes.append(e["bayes"]["q_U"])
        ax.errorbar(xs, ms, yerr=[lo, hi], fmt=style, capsize=3,
                    label=f"model, {phase or 'after rebound'}")
        ax.plot(xs, bayes, "k:" if phase else "k-.", label=f"exact Bayes, {phase or 'after rebound'}")
    ax.set_xscale("log")
    ax.set_xlabel("injected share of pretraining tokens")
    ax.set_ylabel("P(D | untested)")
    _prob_axis(ax)
    ax.set_title("Dose response")
    ax.legend(fontsize=7)
    return _save(fig, out / "dose_response.png")


def make_plots(report: dict[str, Any], out: Path) -> dict[str, Path]:
    plots = {
        # The order the report shows them in: the headline figure first.
        "P(D|U) by arm, with exact Bayes": _bars(report, out),
        "rebound curves": _rebound(report, out),
        "history curves": _history(report, out),
        "model vs exact Bayes": _calibration(report, out),
    }
    if len(_dose_arms(report)) >= 3:
        plots["dose response"] = _dose(report, out)
    return plots
