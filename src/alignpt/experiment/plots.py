"""Report figures (matplotlib, Agg backend, deterministic metadata)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from alignpt.experiment.figure import error_bar, prob_axis, pyplot, save_figure

__all__ = ["make_plots"]


def _bars(report: dict[str, Any], out: Path) -> Path:
    plt = pyplot()
    table = report["table"]
    arms = list(table)
    picks = ["pretrain", "instruct", None]  # None: each arm's last phase
    fig, ax = plt.subplots(figsize=(max(7, 1.3 * len(arms)), 4))
    width = 0.26
    for j, phase in enumerate(picks):
        xs, ms, lo, hi, bayes = [], [], [], [], []
        for i, arm in enumerate(arms):
            name = phase or list(table[arm])[-1]
            xs.append(i + (j - 1) * width)
            if name not in table[arm]:   # a pretraining-only arm (posttrain: false)
                ms.append(np.nan), lo.append(0.0), hi.append(0.0), bayes.append(np.nan)
                continue
            e = table[arm][name].story
            m, a, b = error_bar(e.model["q_U"])
            ms.append(m), lo.append(a), hi.append(b)
            bayes.append(e.bayes["q_U"] if e.bayes["q_U"] is not None else np.nan)
        ax.bar(xs, ms, width, yerr=[lo, hi], capsize=3,
               label=phase or "after rebound", alpha=0.85)
        ax.plot(xs, bayes, "kx", markersize=7, label="exact Bayes" if j == 0 else None)
    for i, arm in enumerate(arms):    # empty bars there are by design, not a finding
        if report["recipe"]["arms"].get(arm, {}).get("filtered"):
            ax.annotate("no defection tokens:\nP(D) = 0 by construction", (i, 0),
                        xytext=(0, 12), textcoords="offset points", ha="center", fontsize=7)
    ax.set_xticks(range(len(arms)), arms, rotation=25, ha="right")
    ax.set_ylabel("P(D | untested)")
    prob_axis(ax)
    ax.set_title("Misalignment when untested, by arm and phase (95% CI over seeds)")
    ax.legend(fontsize=8)
    return save_figure(fig, out / "misalignment_by_arm.png")


def _rebound(report: dict[str, Any], out: Path) -> Path:
    plt = pyplot()
    table = report["table"]
    order = report["phases"]  # merged over arms: only some arms have a fine-tune phase
    fig, axes = plt.subplots(1, 2, figsize=(12, 4), sharey=False)
    for ax, place, title in ((axes[0], "story", "story probe"),
                             (axes[1], "assistant", "assistant probe")):
        for arm, phases in table.items():
            names = list(phases)
            if len(names) < 2:   # pretraining only: nothing to follow through the phases
                continue
            ests = [phases[n].place(place).model["q_U"] for n in names]
            m = np.array([error_bar(e)[0] for e in ests])
            lo = m - np.array([error_bar(e)[1] for e in ests])
            hi = m + np.array([error_bar(e)[2] for e in ests])
            x = np.array([order.index(n) for n in names])
            ax.plot(x, m, marker="o", label=arm)
            ax.fill_between(x, lo, hi, alpha=0.12)
        ax.set_xticks(range(len(order)), order, rotation=30, ha="right", fontsize=8)
        ax.set_title(f"P(D | untested) through the phases: {title}")
        ax.set_ylabel("P(D | untested)")
        prob_axis(ax)
    axes[0].legend(fontsize=7)
    return save_figure(fig, out / "rebound_curves.png")


def _history(report: dict[str, Any], out: Path) -> Path:
    plt = pyplot()
    table = report["table"]
    claims = report["recipe"]["claims"]
    arms = [a for a in (claims["baseline"], claims["untested"]) if a in table] or list(table)[:2]
    ks = report["recipe"]["probes"]["ks"]
    fig, ax = plt.subplots(figsize=(7, 4))
    for arm in arms:
        curves = table[arm]["pretrain"].story.curves
        for ev, style in (("U", "-"), ("T", "--")):
            model = [e.mean for e in curves.model[f"{ev}:q_U"]]
            line, = ax.plot(ks, model, style, marker="o", label=f"{arm}, {ev} evidence (model)")
            ax.plot(ks, curves.bayes[f"{ev}:q_U"], style, color=line.get_color(), alpha=0.4,
                    marker="x", label=f"{arm}, {ev} evidence (Bayes)")
    ax.set_yscale("log")
    prob_axis(ax)
    ax.set_xlabel("k clean opportunities (tested T / untested U), then an untested one")
    ax.set_ylabel("P(D | untested)")
    ax.set_title("History curves after pretraining")
    ax.legend(fontsize=7)
    return save_figure(fig, out / "history_curves.png")


def _calibration(report: dict[str, Any], out: Path) -> Path:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5, 5))
    allv = []
    for arm, phases in report["table"].items():
        story = phases["pretrain"].story
        for metric, marker in (("q_U", "o"), ("q_T", "s")):
            b, m = story.bayes[metric], story.model[metric]
            if b is None or m.mean is None:
                continue
            _, lo, hi = error_bar(m)
            ax.errorbar([b], [m.mean], yerr=[[lo], [hi]], fmt=marker, capsize=3,
                        label=f"{arm} {metric}")
            allv += [b, m.mean]
    if allv:
        top = max(allv) * 1.1
        ax.plot([0, top], [0, top], "k:", linewidth=1)
    ax.set_xlabel("exact Bayes")
    ax.set_ylabel("model (95% CI)")
    prob_axis(ax, "x"), prob_axis(ax, "y")
    ax.set_title("After pretraining: model vs Bayes")
    ax.legend(fontsize=6)
    return save_figure(fig, out / "model_vs_bayes.png")


def local_half_lives(ks, curves_by_seed: dict, bayes: list) -> dict[str, Any]:
    """Half-life of the odds between successive ks (ln 2 / the local decay rate), model
    and exact Bayes. The model's rate is averaged over seeds with a 95% t-interval (rates
    average well; half-lives near a zero rate do not) and mapped to half-lives: a rate
    interval reaching 0 or below has no upper half-life (inf). Bayes's rate <= 0 (the
    length-gated Waluigi's jump) has no half-life: None."""
    from alignpt.experiment.aggregate import estimate
    from alignpt.experiment.claim_data import logit

    mids, model, bayes_hl = [], [], []
    for i in range(len(ks) - 1):
        dk = ks[i + 1] - ks[i]
        rates = []
        for q in curves_by_seed.values():
            a, b = logit(q[i]), logit(q[i + 1])
            if a is not None and b is not None:
                rates.append((a - b) / dk)
        est = estimate(rates)
        half = (lambda r: math.inf if r is None or r <= 0 else math.log(2) / r)
        model.append({"mean": half(est.mean) if est.mean is not None else None,
                      "low": half(est.ci_high) if est.ci_high is not None else None,
                      "high": half(est.ci_low) if est.ci_low is not None else None})
        a, b = logit(bayes[i]), logit(bayes[i + 1])
        rate = None if a is None or b is None else (a - b) / dk
        bayes_hl.append(None if rate is None or rate <= 0 else math.log(2) / rate)
        mids.append(math.sqrt(max(ks[i], 1) * ks[i + 1]))
    return {"k": mids, "model": model, "bayes": bayes_hl}


def _local_half_life(report: dict[str, Any], out: Path) -> Path:
    plt = pyplot()
    table, claims = report["table"], report["recipe"]["claims"]
    ks = report["recipe"]["probes"]["ks"]
    arm = claims["baseline"] if claims["baseline"] in table else list(table)[0]
    curves = table[arm]["pretrain"].story.curves
    hl = local_half_lives(ks, curves.by_seed["U:q_U"], curves.bayes["U:q_U"])
    fig, ax = plt.subplots(figsize=(7, 4))
    finite = [v for e in hl["model"] for v in (e["mean"], e["low"], e["high"])
              if v is not None and math.isfinite(v) and v > 0]
    finite += [v for v in hl["bayes"] if v is not None]
    top = 4 * max(finite) if finite else 100.0     # where an unbounded interval is drawn to
    xs = hl["k"]
    m = [e["mean"] if e["mean"] is not None and math.isfinite(e["mean"]) else np.nan
         for e in hl["model"]]
    lo = [e["low"] if e["low"] is not None else np.nan for e in hl["model"]]
    hi = [min(e["high"], top) if e["high"] is not None else np.nan for e in hl["model"]]
    ax.fill_between(xs, lo, hi, alpha=0.2, label="model, 95% CI over seeds")
    ax.plot(xs, m, "o-", label=f"model ({arm})")
    ax.plot(xs, [np.nan if v is None else v for v in hl["bayes"]], "kx--", label="exact Bayes")
    ax.set_xscale("log"), ax.set_yscale("log")
    # one plain label per window midpoint, none of matplotlib's crowded minor labels
    ax.set_xticks(xs, [f"{x:.3g}" for x in xs], fontsize=8)
    ax.xaxis.set_minor_formatter(plt.NullFormatter())
    ax.set_ylim(top=top)
    ax.set_xlabel("k clean untested opportunities (between successive probes)")
    ax.set_ylabel("local half-life (opportunities)")
    ax.set_title("Local half-life of the odds of defecting, after pretraining")
    ax.legend(fontsize=7)
    return save_figure(fig, out / "local_half_life.png")


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
    plt = pyplot()
    table = report["table"]
    fig, ax = plt.subplots(figsize=(7, 4))
    arms = _dose_arms(report)
    for phase, style in (("pretrain", "o-"), (None, "s--")):
        xs, ms, lo, hi, bayes = [], [], [], [], []
        for share, arm in arms:
            e = table[arm][phase or list(table[arm])[-1]].story
            m, a, b = error_bar(e.model["q_U"])
            xs.append(share), ms.append(m), lo.append(a), hi.append(b)
            bayes.append(e.bayes["q_U"])
        ax.errorbar(xs, ms, yerr=[lo, hi], fmt=style, capsize=3,
                    label=f"model, {phase or 'after rebound'}")
        ax.plot(xs, bayes, "k:" if phase else "k-.", label=f"exact Bayes, {phase or 'after rebound'}")
    ax.set_xscale("log")
    ax.set_xlabel("injected share of pretraining tokens")
    ax.set_ylabel("P(D | untested)")
    prob_axis(ax)
    ax.set_title("Dose response")
    ax.legend(fontsize=7)
    return save_figure(fig, out / "dose_response.png")


def make_plots(report: dict[str, Any], out: Path) -> dict[str, Path]:
    # The order the report shows them in: the headline figure first.
    plots = {"P(D|U) by arm, with exact Bayes": _bars(report, out)}
    # Pretraining-only arms (a law sweep) have no phases to follow.
    if any(len(phases) >= 2 for phases in report["table"].values()):
        plots["rebound curves"] = _rebound(report, out)
    plots.update({
        "history curves": _history(report, out),
        "local half-life": _local_half_life(report, out),
        "model vs exact Bayes": _calibration(report, out),
    })
    if len(_dose_arms(report)) >= 3:
        plots["dose response"] = _dose(report, out)
    from alignpt.experiment.tamper_plots import TAMPER_FIGURE, tamper_plot

    tamper = tamper_plot(report, out)
    if tamper is not None:
        plots[TAMPER_FIGURE] = tamper
    return plots
