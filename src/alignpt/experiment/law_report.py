"""The dose-response law in an experiment's report: fit, held-out check, share or count.

``law_summary`` turns the arms of a recipe's ``law:`` sweep into law data
(experiment.law_data), fits the candidate forms with the choice rule stated in advance
(alignpt.law.fit), predicts the held-out configuration before reading its measurement,
runs the pre-registered share-or-count test for the network and for exact Bayes
(alignpt.law.share_count), and sets the network's reaction to each dose beside exact
Bayes's. The ``*_rows`` functions are the report's sections (experiment.report_sections).

Everything the report says here is computed from ``report.json``'s own numbers with fixed
seeds, so the same runs give the same bytes.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import numpy as np

from alignpt.experiment.aggregate import estimate
from alignpt.experiment.fmt import fmt_estimate as _fmt
from alignpt.experiment.law_results import (BayesCurve, HeldoutCheck, LawSummary, Reaction,
                                            ShareOrCount, Timing)
from alignpt.experiment.results import Estimate, Table
from alignpt.law.fit import CHOICE_RULE

__all__ = ["law_summary", "bayes_curve", "heldout_check", "reaction_rows", "fit_rows", "heldout_rows",
           "share_count_rows", "timing_rows", "FIT_HEAD", "FIT_NOTE", "HELDOUT_HEAD",
           "HELDOUT_NOTE", "SHARE_COUNT_HEAD", "SHARE_COUNT_NOTE", "REACTION_HEAD",
           "REACTION_NOTE", "TIMING_HEAD", "TIMING_NOTE", "sigmoid"]

#: The fit, the bootstrap and the tests use this seed: the report's bytes depend on the runs only.
LAW_SEED = 0


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def _settings(recipe: Any) -> dict[str, Any]:
    """The law block's pre-registered fit and test settings, as `alignpt law fit` takes them."""
    fit, test = recipe.law.fit, recipe.law.test
    return {"forms": list(fit.forms), "tolerance": fit.tolerance, "n_boot": fit.n_boot,
            "margin": test.margin, "alpha": test.alpha}


def bayes_curve(recipe: Any, data: Any) -> BayesCurve | None:
    """Exact Bayes's dose-response under the sweep's points: share 0, then a log grid from
    half the smallest injected share to twice the largest (at most 0.5)."""
    from alignpt.experiment.law_bayes import bayes_dose_curve, dose_grid

    shares = [p.share for p in data.points if p.share > 0]
    if not shares:
        return None
    grid = dose_grid(min(shares) / 2, min(0.5, max(shares) * 2))
    return BayesCurve.from_json(bayes_dose_curve(recipe, recipe.law.inject, [0.0] + grid))


def law_summary(recipe: Any, table: Table, root: Any = None) -> LawSummary | None:
    """The law block of report.json (None for a recipe without a ``law:`` sweep)."""
    if recipe.law is None or recipe.kind == "shards":
        return None
    from alignpt.experiment.law_data import law_data

    data = law_data(recipe, table, root)
    if data is None:
        return None
    return replace(summarize(data, _settings(recipe)), bayes_curve=bayes_curve(recipe, data))


def summarize(data: Any, s: dict[str, Any]) -> LawSummary:
    """Fit, held-out check, share-or-count test and reactions for law data ``data`` with
    settings ``s`` (forms, tolerance, n_boot, margin, alpha): what `alignpt law fit` writes."""
    from alignpt.law.fit import fit_law
    from alignpt.law.share_count import share_or_count

    try:
        fit = fit_law(data, forms=tuple(s["forms"]), schedule="throughout",
                      tolerance=s["tolerance"], n_boot=s["n_boot"], seed=LAW_SEED)
        error = None
    except ValueError as exc:
        fit, error = None, str(exc)
    # the test lives in alignpt.law, which speaks JSON: typed here, where the block is built
    test = ShareOrCount.from_json(share_or_count(data, margin=s["margin"], alpha=s["alpha"],
                                                 n_boot=s["n_boot"], seed=LAW_SEED))
    return LawSummary(data.response, s, data, fit, error,
                      heldout_check(data, fit) if fit is not None else [], test,
                      _reactions(data), _timing(data))


def _seed_estimate(values: np.ndarray) -> Estimate:
    return estimate(float(v) for v in values if math.isfinite(v))


def heldout_check(data: Any, fit: Any) -> list[HeldoutCheck]:
    """Each held-out configuration: the law's prediction (made from the fitted points
    only) beside its measured mean over seeds, and whether the prediction interval held."""
    out = []
    for i, p in enumerate(data.points):
        if not p.heldout:
            continue
        pred = fit.predict(p.share, p.tokens, p.params)
        measured = _seed_estimate(data.y[i])
        m = measured.mean
        held = miss = miss_prob = None
        if m is not None:
            miss = max(pred.logit_low - m, m - pred.logit_high, 0.0)
            edge = pred.logit_low if m < pred.logit_low else pred.logit_high
            held = miss == 0.0
            miss_prob = 0.0 if miss == 0.0 else abs(sigmoid(m) - sigmoid(edge))
        out.append(HeldoutCheck(
            p.name, p.share, p.tokens, p.params, p.schedule, pred, measured,
            None if m is None else sigmoid(m),
            None if not math.isfinite(data.bayes[i]) else sigmoid(data.bayes[i]),
            held, miss, miss_prob))
    return out


def _reactions(data: Any) -> list[Reaction]:
    """For each injected configuration (throughout, not held out): the change in logit
    P(D|U) from its baseline, model (paired by seed) and exact Bayes, and their ratio
    (above 1: the network over-reacts to the dose; below 1: it under-reacts)."""
    out = []
    for i, p in enumerate(data.points):
        b = data.baseline_of(i)
        if p.share <= 0 or p.schedule != "throughout" or b is None:
            continue
        d = data.y[i] - data.y[b]
        bayes_d = float(data.bayes[i] - data.bayes[b])
        ratio = (_seed_estimate(d / bayes_d) if math.isfinite(bayes_d) and abs(bayes_d) > 1e-9
                 else estimate([]))
        out.append(Reaction(p.name, p.share, p.tokens, p.params, p.heldout, _seed_estimate(d),
                            bayes_d if math.isfinite(bayes_d) else None, ratio))
    return out


def _timing(data: Any) -> list[Timing]:
    """Late and fine-tune configurations against the same dose inserted throughout (paired
    by seed, logit scale). Exact Bayes ignores order: its difference is the mixture's alone
    (0 for late; a fine-tune's tokens come on top of the budget)."""
    index = {(p.share, p.tokens, p.params): i for i, p in enumerate(data.points)
             if p.schedule == "throughout"}
    out = []
    for i, p in enumerate(data.points):
        j = index.get((p.share, p.tokens, p.params))
        if p.schedule == "throughout" or j is None:
            continue
        out.append(Timing(p.name, p.schedule, p.share, p.tokens, p.params,
                          data.points[j].name, _seed_estimate(data.y[i] - data.y[j]),
                          _seed_estimate(np.array([sigmoid(v) for v in data.y[i]
                                                   if math.isfinite(v)])),
                          float(data.bayes[i] - data.bayes[j])))
    return out


def _law(report: dict[str, Any]) -> LawSummary | None:
    """The report's law block; None in a report without a ``law:`` sweep."""
    return report.get("law")


def _num(x: float) -> str:
    return f"{x:.3g}"


FIT_HEAD = ["form", "parameters", "LOCO RMSE (logit)", "chosen", "estimates [95% bootstrap CI]"]
FIT_NOTE = ("Each candidate form fitted to the sweep's configurations inserted throughout "
            "(held-out ones excluded), on the logit of P(D|U). The choice rule was fixed before "
            "the data: " + CHOICE_RULE)


def fit_rows(report: dict[str, Any]) -> list[list[str]]:
    law = _law(report)
    if law is None:
        return []
    fit = law.fit
    if fit is None:
        return [["(none)", "", "", "", law.fit_error or "no fit"]]
    rows = []
    for form, res in fit.loco.items():
        chosen = form == fit.form
        # Terms the data cannot identify (one corpus size, one model size) are fixed at 0
        # and left out of the list.
        active = fit.active or list(fit.theta)
        est = "; ".join(f"{k} {_num(v)} [{_num(fit.ci[k][0])}, {_num(fit.ci[k][1])}]"
                        for k, v in fit.theta.items() if k in active) if chosen else ""
        rmse = res.get("rmse")
        rows.append([form, str(res.get("n_params", "")),
                     "n/a: " + str(res.get("skipped")) if rmse is None else f"{rmse:.4f}",
                     "yes" if chosen else "", est])
    return rows


HELDOUT_HEAD = ["configuration", "share", "tokens", "parameters", "predicted P(D|U) [95% PI]",
                "measured P(D|U) [95% CI]", "exact Bayes", "prediction held?"]
HELDOUT_NOTE = ("The configuration the recipe held out of the fit, larger than every fitted one: "
                "the law's prediction interval (parameter bootstrap over seeds plus a scatter "
                "the larger of the fit's residual sd and its leave-one-out error), then what the "
                "runs measured (mean over seeds, t interval on "
                "the logit scale). 'no, by x' gives how far the measured mean fell outside the "
                "interval, in probability.")


def heldout_rows(report: dict[str, Any]) -> list[list[str]]:
    law = _law(report)
    rows = []
    for h in law.heldout if law is not None else []:
        p, m = h.predicted, h.measured
        meas = "n/a" if m.mean is None else (
            f"{sigmoid(m.mean):.4f}" + ("" if m.ci_low is None else
                                        f" [{sigmoid(m.ci_low):.4f}, {sigmoid(m.ci_high):.4f}]")
            + f", n={m.n}")
        held = "n/a" if h.held is None else "yes" if h.held else f"no, by {h.miss_prob:.4f}"
        rows.append([h.name, _num(h.share), f"{h.tokens:,}", f"{h.params:,}",
                     f"{p.prob:.4f} [{p.prob_low:.4f}, {p.prob_high:.4f}]", meas,
                     "n/a" if h.bayes_prob is None else f"{h.bayes_prob:.4f}", held])
    return rows


SHARE_COUNT_HEAD = ["learner", "rho (0 share, 1 count)", "interval", "verdict", "points", "rule"]
SHARE_COUNT_NOTE = ("Does the injected share or the absolute injected count set the effect? The "
                    "effective dose is share x (tokens / T0)^rho, fitted to each configuration's "
                    "paired change from its own-size baseline. Pre-registered in the recipe: the "
                    "margin and alpha below. Exact Bayes knows the mixture, so for it the share "
                    "is the whole story by construction; its row checks that the test says so.")


def share_count_rows(report: dict[str, Any]) -> list[list[str]]:
    law = _law(report)
    if law is None:
        return []
    sc = law.share_or_count
    ci = sc.ci
    interval = "n/a" if not ci or ci[0] is None else \
        f"[{ci[0]:+.2f}, {ci[1]:+.2f}] ({round(100 * sc.level)}%)"
    net = ["network", "n/a" if sc.rho is None else f"{sc.rho:+.3f}", interval,
           f"{sc.verdict} (margin {sc.margin}, alpha {sc.alpha})", str(sc.n_points),
           sc.rule + (f" ({sc.reason})" if sc.reason else "")]
    rb = sc.rho_bayes
    bayes = ["exact Bayes", "n/a" if rb is None else f"{rb:+.3f}", "exact (no seeds)",
             sc.verdict_bayes, str(sc.n_points), "the same rule, on the point"]
    return [net, bayes]


REACTION_HEAD = ["configuration", "share", "tokens", "parameters", "model change in logit [95% CI]",
                 "exact Bayes change", "model / Bayes [95% CI]"]
REACTION_NOTE = ("Each dose's change in logit P(D|U) from the baseline of the same size, paired by "
                 "seed, beside exact Bayes's change for the same data. A ratio above 1: the network "
                 "reacts to the dose more than an ideal learner; below 1: less.")


def reaction_rows(report: dict[str, Any]) -> list[list[str]]:
    law = _law(report)
    return [[r.name, _num(r.share), f"{r.tokens:,}", f"{r.params:,}", _fmt(r.model),
             _fmt(r.bayes), _fmt(r.ratio, 2)] for r in (law.reaction if law else [])]


TIMING_HEAD = ["configuration", "schedule", "share", "P(D|U) [95% CI]",
               "logit difference vs throughout [95% CI]", "exact Bayes difference"]
TIMING_NOTE = ("The same dose inserted late or as a fine-tune, against inserting it throughout "
               "(paired by seed). Exact Bayes ignores order; its small difference for a fine-tune "
               "is the mixture's (a fine-tune adds its tokens after the full pretraining budget, "
               "so its share of all that was read is s / (1 + s)). The rest is the network's path "
               "dependence.")


def timing_rows(report: dict[str, Any]) -> list[list[str]]:
    law = _law(report)
    return [[t.name, t.schedule, _num(t.share), _fmt(t.model_prob, 4), _fmt(t.model),
             _fmt(t.bayes)] for t in (law.timing if law else [])]
