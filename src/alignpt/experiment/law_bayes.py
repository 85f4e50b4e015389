"""The ideal learner's dose-response: exact Bayes's P(D|U) as a function of the injected share.

Exact Bayes here knows the generating mixture: after pretraining on a corpus whose
injected share is ``s`` it predicts with the mixture ``(1 - s) base + s injected``
(:func:`alignpt.experiment.grid.bayes_recipe`). Its dose-response therefore depends on
the share alone: the corpus size, the absolute count of injected documents and the
model size do not enter. That is a property of this learner, stated rather than tested;
the network's law is what the sweep measures against it.

The reading is the claims' and the law's: the mean of P(D|U) over the story place's
on-support probe items at k = 0 (:func:`alignpt.experiment.aggregate._support_reading`),
computed with the same item grid and support world as the runs' measurements.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any, Sequence

import numpy as np

__all__ = ["bayes_reading", "bayes_dose_curve", "dose_grid"]


def dose_grid(low: float, high: float, points: int = 33) -> list[float]:
    """``points`` shares log-spaced from ``low`` to ``high`` (the curve drawn under the data)."""
    return [float(x) for x in np.geomspace(low, high, points)]


@lru_cache(maxsize=8)
def _support(name: str) -> tuple[Any, tuple[str | None, ...]]:
    from alignpt.experiment.measure import world_headers
    from alignpt.world import ExactBayes, load_world_recipe

    recipe = load_world_recipe(name)
    return ExactBayes(recipe), world_headers(recipe)


def bayes_reading(mixture: Any, items: dict[str, Any]) -> float | None:
    """Exact Bayes's mean P(D|U) over the on-support k = 0 story items under ``mixture`` (a
    world recipe); ``items``: the recipe's ``probes.items`` as JSON (support, headers,
    eras, min_support). None when no item is on support."""
    from alignpt.experiment.measure import measure_items
    from alignpt.world import ExactBayes

    support, support_headers = _support(items["support"])
    headers = ([None if h in (None, "none") else h for h in items["headers"]]
               if items.get("headers") else support_headers)
    bayes = ExactBayes(mixture)
    out = measure_items(bayes, bayes, support, headers, items["eras"], [0],
                        float(items["min_support"]))
    vals = [q for q, on in zip(out["bayes"]["q_U"], out["on_support"]) if on and q is not None]
    return float(np.mean(vals)) if vals else None


def bayes_dose_curve(recipe: Any, inject: str, shares: Sequence[float]) -> dict[str, Any]:
    """Exact Bayes's reading at each share of corpus ``inject`` injected into the recipe's
    base corpus (world recipes; a share of 0 is the base corpus itself)."""
    from alignpt.world import inject as mix, load_world_recipe

    items = recipe.probes.items.model_dump(mode="json")
    base = load_world_recipe(recipe.corpora["base"])
    injected = load_world_recipe(recipe.corpora[inject])
    q = [bayes_reading(mix(base, [(injected, s)]) if s > 0 else base, items) for s in shares]
    return {"share": [float(s) for s in shares], "q_U": q,
            "logit": [None if v is None else _logit(v) for v in q],
            "inject": inject, "reading": "on-support story items, k = 0"}


def _logit(p: float, eps: float = 1e-6) -> float:
    p = min(max(p, eps), 1.0 - eps)
    return math.log(p / (1.0 - p))
