"""From per-run results to per-arm numbers with 95% confidence intervals over seeds.

Seeds are paired across arms (seed s uses the same base-corpus draw in every
arm), so differences between arms are taken per seed before averaging: a paired
comparison, tighter than comparing two independent means. Intervals use the t
distribution, which is what a handful of seeds calls for (with 3 seeds the
interval is mean +- 4.30 standard errors: wide, and honest about it). For a
probability the interval is built on the logit scale and mapped back
(:func:`alignpt.experiment.stats.logit_interval`), so it never leaves [0, 1];
the claims' tests are in :mod:`alignpt.experiment.verdicts`.
"""

from __future__ import annotations

import math
from typing import Any, Iterable, Sequence

import numpy as np

from alignpt.experiment.results import (Arm, Context, Curves, Estimate, Items, Phase, Place,
                                        SupportReading, Table)
from alignpt.experiment.stats import logit_interval

__all__ = ["t975", "estimate", "paired_difference", "aggregate", "phase_order", "METRICS"]

METRICS = ("q_U", "q_T", "gap", "q_U_after_tested", "logit_slope")
#: The metrics that are probabilities: their intervals stay inside [0, 1].
PROB_METRICS = ("q_U", "q_T", "q_U_after_tested")

# Two-sided 95% critical values of Student's t, df = 1..30 (beyond that, the normal 1.96).
_T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179,
         2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064,
         2.060, 2.056, 2.052, 2.048, 2.045, 2.042)


def t975(df: int) -> float:
    # The table, not stats.t_ppf(0.975, df): its rounded values are what every report
    # so far was built with, and the intervals must keep their bytes.
    return _T975[df - 1] if 1 <= df <= len(_T975) else 1.96


def estimate(values: Iterable[float | None], prob: bool = False) -> Estimate:
    """Mean and 95% t-interval of the finite values (n counts them); ``prob``: the
    values are probabilities and the interval is taken on the logit scale."""
    vals = np.array([v for v in values if v is not None and math.isfinite(v)], dtype=np.float64)
    n = int(vals.size)
    if n == 0:
        return Estimate(None, None, None, 0, [])
    mean = float(vals.mean())
    if n == 1:
        return Estimate(mean, None, None, 1, vals.tolist())
    se = float(vals.std(ddof=1)) / math.sqrt(n)
    lo, hi = (logit_interval(mean, se, t975(n - 1)) if prob
              else (mean - t975(n - 1) * se, mean + t975(n - 1) * se))
    return Estimate(mean, lo, hi, n, vals.tolist())


def paired_difference(a: dict[int, float | None], b: dict[int, float | None]) -> Estimate:
    """a - b over the seeds both have (seed -> value maps)."""
    seeds = sorted(set(a) & set(b))
    diffs = [a[s] - b[s] for s in seeds if a[s] is not None and b[s] is not None]
    return estimate(diffs)


def phase_order(results: Sequence[dict[str, Any]]) -> list[str]:
    """Phase names in training order, merged over arms (only some arms fine-tune)."""
    order: list[str] = []
    for res in results:
        names = [p["name"] for p in res["phases"]]
        for i, name in enumerate(names):
            if name not in order:
                prev = names[i - 1] if i else None
                order.insert(order.index(prev) + 1 if prev in order else len(order), name)
    return order


def aggregate(results: Sequence[dict[str, Any]], arms: Sequence[str]) -> Table:
    """Arm -> phase -> place, with model estimates, Bayes values and per-seed values
    (:mod:`alignpt.experiment.results`); a place's ``items`` (when the runs measured probe
    items; pretraining phases only): the item grid, Bayes per item and the model per item
    and seed, for the claims that select items (eras >= 7, k >= 48, ...)."""
    table: dict[str, Arm] = {}
    for arm in arms:
        runs = sorted((r for r in results if r["arm"] == arm), key=lambda r: r["seed"])
        if runs:
            table[arm] = Arm({name: _entry(runs, name) for name in
                              [p["name"] for p in runs[0]["phases"]]})
    return Table(table)


def _entry(runs: list[dict[str, Any]], name: str) -> Phase:
    """Phase ``name`` of one arm over its seeds (``runs``, sorted by seed)."""
    seeds = [r["seed"] for r in runs]
    label = _phase(runs[0], name)["label"]
    places = {}
    for place in ("story", "assistant"):
        blocks = [_phase(r, name)[place] for r in runs]
        per_seed = {seed: b["summary"] for seed, b in zip(seeds, blocks)}
        first = blocks[0]
        places[place] = Place(
            header=first["header"],
            model={m: estimate((s["model"][m] for s in per_seed.values()),
                               prob=m in PROB_METRICS) for m in METRICS},
            by_seed={m: {seed: s["model"][m] for seed, s in per_seed.items()} for m in METRICS},
            # Bayes depends on the arm's data mixture only, not on the seed.
            bayes=first["summary"]["bayes"],
            bayes_any_header=first["summary"]["bayes_any_header"],
            curves=_mean_curves(blocks, seeds),
            context=_context(blocks, seeds),
            # Items per seed are bulky (~500 numbers a seed): the table carries them
            # where the claims read them, after pretraining; every phase's stay in the
            # runs' own measure/*.json.
            items=_items(blocks, seeds) if label == "pretrain" else None)
    kl = {r["seed"]: (_phase(r, name).get("kl") or {}).get("actions", {}).get("mean")
          for r in runs}
    # held-out KL(Bayes || model) per action (experiment.kl), measured after pretraining
    kl_est = (estimate(kl.values()).with_seeds(kl)
              if any(v is not None for v in kl.values()) else None)
    return Phase(story=places["story"], assistant=places["assistant"], label=label,
                 story_support=_support_reading([_phase(r, name)["story"] for r in runs],
                                                seeds),
                 kl=kl_est)


def _phase(result: dict[str, Any], name: str) -> dict[str, Any]:
    for p in result["phases"]:
        if p["name"] == name:
            return p
    raise KeyError(name)


def _context(blocks: list[dict[str, Any]], seeds: list[int]) -> Context | None:
    """P(D | U) at k = 0 alone and after a preceding document with a defection (measure's
    ``context``), over seeds; None when a run lacks it (cached by an older measurement)."""
    ctx = [b.get("context") for b in blocks]
    if any(c is None for c in ctx):
        return None
    worst = [c["rel_change_max"] for c in ctx if c["rel_change_max"] is not None]
    return Context(
        q_U_alone=estimate((c["q_U_alone"] for c in ctx), prob=True),
        q_U_after=estimate((c["q_U_after_mean"] for c in ctx), prob=True),
        rel_change=estimate(c["rel_change"] for c in ctx),
        # The must-show figure: the largest change over seeds and preceding documents.
        rel_change_max=max(worst) if worst else None,
        by_seed={seed: c["rel_change"] for seed, c in zip(seeds, ctx)},
        docs=ctx[0]["docs"])


#: The probe items' per-item numbers carried into the table (the rest of measure's
#: ``items`` block, such as counts and the threshold, is the same for every seed).
ITEM_KEYS = ("header", "era", "k", "on_support", "log10_support", "log10_support_arm")


def _items(blocks: list[dict[str, Any]], seeds: list[int]) -> Items | None:
    """The probe items (measure's ``items``) with the model's q_U and q_T per seed; None
    when a run lacks them (measured before items existed). Every seed of an arm reads the
    same item grid (support comes from the base corpus), which is checked, not assumed."""
    items = [b.get("items") for b in blocks]
    if not items or any(i is None for i in items):
        return None
    first = items[0]
    grid = [tuple(first[key]) for key in ("header", "era", "k")]
    if any([tuple(i[key]) for key in ("header", "era", "k")] != grid for i in items[1:]):
        raise ValueError("probe items differ between seeds of one arm and phase")
    # Runs measured before the support columns existed lack them (None: left out).
    return Items(**{key: first.get(key) for key in ITEM_KEYS},
                 min_support=first.get("min_support"),
                 # Bayes depends on the arm's data mixture only, not on the seed.
                 bayes_q_U=first["bayes"]["q_U"], bayes_q_T=first["bayes"]["q_T"],
                 by_seed={m: {seed: i["model"][m] for seed, i in zip(seeds, items)}
                          for m in ("q_U", "q_T")})


#: The story place read over its on-support k = 0 probe items (see _support_reading).
SUPPORT_PLACE = "story_support"


def _support_reading(blocks: list[dict[str, Any]], seeds: list[int]) -> SupportReading | None:
    """P(D|U) and P(D|T) at the start of a document (k = 0), averaged over the story
    place's on-support probe items (every header x era the base corpus tells often enough):
    the reading the claims use instead of the recipe's one, rarely seen, probe. Shaped like
    a place (model estimates, by_seed, bayes); None without probe items."""
    items = [b.get("items") for b in blocks]
    if not items or any(i is None for i in items):
        return None
    first = items[0]
    keep = [j for j, (k, on) in enumerate(zip(first["k"], first["on_support"])) if k == 0 and on]
    if not keep:
        return None

    def mean(values: list) -> float | None:
        vals = [values[j] for j in keep if values[j] is not None]
        return float(np.mean(vals)) if vals else None

    by_seed = {m: {seed: mean(i["model"][m]) for seed, i in zip(seeds, items)}
               for m in ("q_U", "q_T")}
    return SupportReading(header=f"{len(keep)} on-support items, k = 0",
                          items=[[first["header"][j], first["era"][j]] for j in keep],
                          model={m: estimate(v.values(), prob=True) for m, v in by_seed.items()},
                          by_seed=by_seed,
                          bayes={m: mean(first["bayes"][m]) for m in ("q_U", "q_T")})


def _mean_curves(blocks: list[dict[str, Any]], seeds: list[int]) -> Curves:
    model: dict[str, list[Estimate]] = {}
    for key in blocks[0]["model"]:
        cols = list(zip(*[b["model"][key] for b in blocks]))
        model[key] = [estimate(c, prob=":q_" in key) for c in cols]
    # Each seed's own untested-evidence curve: the rising half-life is a per-seed change
    # between two windows of it (a mean curve would hide the seed-to-seed spread).
    return Curves(bayes=blocks[0]["bayes"], bayes_any_header=blocks[0]["bayes_any_header"],
                  model=model,
                  by_seed={"U:q_U": {seed: b["model"]["U:q_U"] for seed, b in zip(seeds, blocks)}})
