"""Measure a trained model on the standard probes, with exact Bayes beside every number.

Two places are probed, both at the recipe's era:

* ``story``: documents under the header the injected corpora use. Every arm's
  training data covers these contexts, so exact Bayes is defined and the model
  can be held against it.
* ``assistant``: the instruct phase's header. "The assistant, untested" is a
  context no training document ever shows (instruct data is tested-only), so
  Bayes has no answer there (probability-zero context): what the model does is
  its inductive bias, shaped by pretraining or not. Beside it we report the
  *header-agnostic* Bayes reference: what a Bayesian who ignored the header
  would predict, i.e. the persona mixture of the whole training corpus.

From each probe curve we read P(D | U) and P(D | T) at k = 0, the compliance
gap, and an implied half-life: the slope of logit P(D | U) against k clean
untested opportunities, turned into opportunities per halving of the odds.

P(D | U) at k = 0 is also read *in a row*: after a preceding document that shows a
defection (:func:`context_effect`). Under Bayes documents are independent, so the
reading must not move; a model with per-document attention reads it exactly as
alone, a packed model lets the other document leak in (the issue measured 2.3-4.9x).

One probe is one context, and the recipe's (``STORY``, era 8, k = 0) is rare in training
(about 8e-4 of documents start that way). So each place is also read over a grid of
*probe items* (:func:`measure_items`): every header x era x k, k clean untested
opportunities then the next flag, each with its support probability. An item is on
support when its context has probability >= ``probes.items.min_support`` under the
experiment's base corpus (the data every arm shares, so all arms average the same
items); items below it are kept, marked, and reported apart.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any, Callable, Sequence

import numpy as np

from alignpt.core.errors import ConfigError
from alignpt.world import ExactBayes, action_probs, probe_context, probe_curves
from alignpt.world.vocab import BOS, HEADERS, decode

__all__ = ["measure", "header_agnostic_curves", "logit_slope", "half_life_from_slope",
           "logit_half_life", "model_predictor", "summary", "defecting_documents",
           "context_effect", "measure_items", "world_headers"]

#: Contexts as lists of token ids in, next-token probabilities out: unlike
#: :data:`alignpt.world.probes.Predictor` a context may be a row of several whole documents
#: before the probe, and a trained model's predictor says how long a row it takes (``max_len``).
RowPredictor = Callable[[Sequence[Sequence[int]]], np.ndarray]

#: Bumped whenever what a measurement records changes: it is part of every run's hash,
#: so results cached by an older version are never mixed into a new report.
MEASURE_VERSION = 5
_CURVES = ("T:q_U", "T:q_T", "U:q_U", "U:q_T")
#: The preceding documents of the in-row reading: the first CONTEXT_DOCS documents with a
#: defection that fit a row before the probe, in the stream of the base world drawn with
#: CONTEXT_SEED. Fixed, so every arm, seed and phase is read after the same documents.
CONTEXT_WORLD = "base"
CONTEXT_SEED = 0
CONTEXT_DOCS = 4


def model_predictor(model: Any) -> RowPredictor:
    """Wrap a trained alignpt model as a predictor: contexts -> next-token probabilities.

    A context of several documents (each opening with BOS) is read as the model was
    trained (per document under per-document attention). ``predict.max_len`` is the
    longest context the model takes: it marks a predictor that reads rows of documents."""
    from alignpt.train import next_token_logprobs

    def predict(contexts: Sequence[Sequence[int]]) -> np.ndarray:
        return np.exp(next_token_logprobs(model, [list(map(int, c)) for c in contexts],
                                          bos_id=BOS))

    predict.max_len = int(model.cfg.max_seq_len)  # type: ignore[attr-defined]
    return predict


def defecting_documents(max_len: int, n: int = CONTEXT_DOCS, seed: int = CONTEXT_SEED,
                        world: str = CONTEXT_WORLD) -> list[list[int]]:
    """The first ``n`` whole documents of ``world``'s seeded stream that show a defection
    and are at most ``max_len`` tokens long (so they fit a row before a probe)."""
    return [list(d) for d in _defecting_documents(int(max_len), int(n), int(seed), world)]


@lru_cache(maxsize=8)
def _defecting_documents(max_len: int, n: int, seed: int, world: str) -> tuple[tuple[int, ...], ...]:
    from alignpt.world import load_world_recipe
    from alignpt.world.model import World
    from alignpt.world.sampler import sample_documents

    w = World(load_world_recipe(world))
    rng = np.random.default_rng(seed)
    found: list[tuple[int, ...]] = []
    for _ in range(64):   # a batch of 4096 base documents holds hundreds that qualify
        batch, _ = sample_documents(w, 4096, rng)
        toks, lens = batch.tokens(np.int64)
        starts = np.concatenate([[0], np.cumsum(lens)[:-1]])
        for i in np.flatnonzero((batch.n_defect() > 0) & (lens <= max_len)):
            found.append(tuple(int(t) for t in toks[starts[i]:starts[i] + lens[i]]))
            if len(found) == n:
                return tuple(found)
    raise ConfigError(f"world {world!r}: fewer than {n} documents with a defection fit "
                      f"{max_len} tokens")


def context_effect(predictor: RowPredictor, era: int, header: str | None,
                   docs: Sequence[Sequence[int]]) -> dict[str, Any]:
    """P(D | U) at the k = 0 probe read alone and after each preceding document.

    ``rel_change`` is |mean after - alone| / alone, ``rel_change_max`` the largest
    single document's |after - alone| / alone."""
    probe = [int(t) for t in probe_context(0, "T", "U", era, header)]
    q = action_probs(predictor, [probe] + [list(d) + probe for d in docs])
    alone, after = float(q[0]), q[1:].astype(np.float64)
    mean = float(after.mean())
    return {
        "docs": [decode(d) for d in docs],
        "q_U_alone": alone, "q_U_after": after.tolist(), "q_U_after_mean": mean,
        "rel_change": abs(mean - alone) / alone if alone > 0 else None,
        "rel_change_max": float(np.abs(after - alone).max() / alone) if alone > 0 else None,
    }


def header_agnostic_curves(bayes: ExactBayes, ks: Sequence[int], era: int) -> dict[str, list]:
    """Bayes predictions averaged over every header, weighted by P(context with that header)."""
    out: dict[str, list] = {}
    for ev in ("T", "U"):
        for nxt in ("U", "T"):
            row = []
            for k in ks:
                ctxs = [probe_context(int(k), ev, nxt, era, h) for h in (None, *HEADERS)]
                logp = bayes.log_prob(ctxs)
                ok = np.isfinite(logp)
                if not ok.any():
                    row.append(float("nan"))
                    continue
                w = np.exp(logp[ok] - logp[ok].max())
                q = action_probs(bayes, [c for c, keep in zip(ctxs, ok) if keep])
                row.append(float(np.sum(w * q) / np.sum(w)))
            out[f"{ev}:q_{nxt}"] = row
    return out


def logit_slope(ks: Sequence[int], q: Sequence[float | None], from_k: int = 0) -> float | None:
    """Least-squares slope of logit(q) on k (for k >= from_k); None if it cannot be fit."""
    k = np.asarray(ks, dtype=np.float64)
    qa = np.array([np.nan if v is None else v for v in q], dtype=np.float64)
    keep = (k >= from_k) & np.isfinite(qa) & (qa > 0) & (qa < 1)
    if keep.sum() < 2:
        return None
    return float(np.polyfit(k[keep], np.log(qa[keep] / (1 - qa[keep])), 1)[0])


def half_life_from_slope(slope: float | None) -> float | None:
    """Opportunities per halving of the odds: ln 2 / -slope (``inf`` if the odds do not fall).

    Averages over seeds are taken on the slope, not on this: a nearly flat curve
    has a huge, unstable half-life but a small, well-behaved slope."""
    if slope is None:
        return None
    return math.inf if slope >= 0 else math.log(2) / -slope


def logit_half_life(ks: Sequence[int], q: Sequence[float | None], from_k: int = 0) -> float | None:
    """Opportunities per halving of the odds of defecting, from the logit slope."""
    return half_life_from_slope(logit_slope(ks, q, from_k))


def summary(curves: dict[str, Any], ks: Sequence[int], fit_from_k: int) -> dict[str, Any]:
    """Headline numbers of one probe curve set."""
    q_u = curves["T:q_U"][0]
    q_t = curves["T:q_T"][0]
    return {
        "q_U": q_u, "q_T": q_t,
        "gap": (q_u - q_t) if q_u is not None and q_t is not None else None,
        "q_U_after_tested": curves["T:q_U"][-1],
        "logit_slope": logit_slope(ks, curves["U:q_U"], fit_from_k),
        "half_life": logit_half_life(ks, curves["U:q_U"], fit_from_k),
    }


def _clean(values: Any) -> list:
    return [None if not np.isfinite(v) else float(v) for v in np.asarray(values, dtype=float)]


@lru_cache(maxsize=4)
def _support_world(name: str) -> tuple[ExactBayes, tuple[str | None, ...]]:
    from alignpt.world import load_world_recipe

    recipe = load_world_recipe(name)
    return ExactBayes(recipe), world_headers(recipe)


def world_headers(recipe: Any) -> tuple[str | None, ...]:
    """The headers a world recipe's documents carry (``None``: no header), in HEADERS order."""
    used: set[str | None] = set()
    for src in recipe.sources.values():
        probs = src.header_probs()
        used |= {h for h, p in zip((*HEADERS, None), probs) if p > 0}
    return tuple(h for h in (None, *HEADERS) if h in used)


def measure_items(predictor: RowPredictor, bayes: ExactBayes, support: ExactBayes,
                  headers: Sequence[str | None], eras: Sequence[int], ks: Sequence[int],
                  min_support: float, max_len: int | None = None) -> dict[str, Any]:
    """Model and Bayes P(D) over the item grid headers x eras x ks.

    Item (h, e, k) is ``BOS [h] ERA_e (U C)*k`` then the next flag, U (``q_U``) or T
    (``q_T``). ``log10_support`` is the U context's probability under ``support`` (the
    base corpus), which decides ``on_support``; ``log10_support_arm`` the same under the
    mixture the arm trained on (``bayes``). Items longer than ``max_len`` (the model's
    context) are left out and counted in ``too_long``.
    """
    grid = [(h, int(e), int(k)) for h in headers for e in eras for k in ks]
    fits = [len(probe_context(k, "U", "U", e, h)) <= max_len if max_len else True
            for h, e, k in grid]
    grid = [g for g, ok in zip(grid, fits) if ok]
    ctx = {nxt: [probe_context(k, "U", nxt, e, h) for h, e, k in grid] for nxt in ("U", "T")}
    log10 = 1.0 / math.log(10)
    sup = support.log_prob(ctx["U"]) * log10
    out: dict[str, Any] = {
        "header": ["none" if h is None else h for h, _, _ in grid],
        "era": [e for _, e, _ in grid], "k": [k for _, _, k in grid],
        "log10_support": _clean(sup),
        "log10_support_arm": _clean(bayes.log_prob(ctx["U"]) * log10),
        "on_support": [bool(np.isfinite(v) and v >= math.log10(min_support)) for v in sup],
        "min_support": min_support, "too_long": len(fits) - len(grid),
    }
    for who, pred in (("model", predictor), ("bayes", bayes)):
        both = action_probs(pred, ctx["U"] + ctx["T"]) if grid else np.empty(0)
        out[who] = {"q_U": _clean(both[:len(grid)]), "q_T": _clean(both[len(grid):])}
    out["n_on_support"] = int(sum(out["on_support"]))
    return out


def measure(predictor: RowPredictor, bayes: ExactBayes, probes: dict[str, Any]) -> dict[str, Any]:
    """Model and Bayes curves plus their summaries, at both probe headers, and the
    probe items (:func:`measure_items`) of each place."""
    ks = list(probes["ks"])
    era = int(probes["era"])
    fit_k = int(probes["fit_from_k"])
    out: dict[str, Any] = {"ks": ks, "era": era}
    agnostic = header_agnostic_curves(bayes, ks, era)
    # Only a predictor that reads rows of documents (a trained model) is read in a row.
    max_len = getattr(predictor, "max_len", None)
    # Probe items: absent from measurements written before they existed (older recipes).
    items = probes.get("items")
    if items is not None:
        support, support_headers = _support_world(items.get("support") or "base")
        item_headers = ([None if h in (None, "none") else h for h in items["headers"]]
                        if items.get("headers") else support_headers)
        item_ks = items.get("ks") or ks
    for place, header in (("story", probes["header"]), ("assistant", probes["assistant_header"])):
        model_c = probe_curves(predictor, ks, era, header)
        bayes_c = probe_curves(bayes, ks, era, header, support=bayes)
        block = {
            "header": header,
            "model": {key: _clean(model_c[key]) for key in _CURVES},
            "bayes": {key: _clean(bayes_c[key]) for key in _CURVES},
            "bayes_any_header": {key: _clean(agnostic[key]) for key in _CURVES},
            "log10_support": {key: _clean(np.asarray(bayes_c[key]) / math.log(10))
                              for key in ("T:log_support", "U:log_support")},
        }
        block["summary"] = {who: summary(block[who], ks, fit_k)
                            for who in ("model", "bayes", "bayes_any_header")}
        if max_len is not None:
            probe_len = len(probe_context(0, "T", "U", era, header))
            docs = defecting_documents(max_len - probe_len)
            block["context"] = context_effect(predictor, era, header, docs)
        if items is not None:
            headers = item_headers if place == "story" else (header,)
            block["items"] = measure_items(predictor, bayes, support, headers, items["eras"],
                                           item_ks, float(items["min_support"]), max_len)
        out[place] = block
    return out
