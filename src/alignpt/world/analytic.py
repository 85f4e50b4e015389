"""Closed forms: half-lives, odds factors, and the bare persona-prior posterior.

A random Waluigi (defects with probability p at every opportunity) against a
Luigi (error rate eps): each clean opportunity multiplies the odds W:L by
(1-p)/(1-eps), so the odds halve every

    k_1/2 = ln 2 / -ln((1-p)/(1-eps))   opportunities   (69.0 at p = 0.01, eps = 0),

cutting them by a factor X takes ln X / -ln((1-p)/(1-eps)) (687 at X = 1e3), and
one defection multiplies them by p/eps (infinite at eps = 0).

The *bare persona prior* mode is the discussion's own model: a prior over
personas and a history of (flag, action) pairs, nothing else (no sources, no
length or era evidence; flags carry no information about the persona). Its
posterior is pi_h * prod_i P_h(a_i | f_i, era, i, defected before i),
normalised. :func:`bare_recipe` builds the same model as a world recipe, and
the tests check that exact Bayes on it agrees with these closed forms.
"""

from __future__ import annotations

import math
from typing import Mapping, Sequence

import numpy as np

from alignpt.core.errors import ConfigError
from alignpt.world.personas import Persona, parse_prior
from alignpt.world.recipe import WorldRecipe
from alignpt.world.vocab import D, N_ERAS, parse_history

__all__ = ["half_life", "opportunities_to_cut", "odds_factor_of_defection", "bare_recipe",
           "bare_posterior", "bare_p_defect", "bare_curve", "as_prior"]


def _decay(p: float, eps: float) -> float:
    if not (0.0 <= eps < 1.0 and 0.0 <= p < 1.0):
        raise ConfigError(f"need 0 <= p < 1 and 0 <= eps < 1, got p={p}, eps={eps}")
    if p <= eps:
        raise ConfigError(f"p ({p}) must exceed eps ({eps}): otherwise clean evidence does not "
                          "favour Luigi and there is no half-life")
    return -math.log((1.0 - p) / (1.0 - eps))


def half_life(p: float, eps: float = 0.0) -> float:
    """Clean opportunities that halve the odds random-Waluigi : Luigi."""
    return math.log(2.0) / _decay(p, eps)


def opportunities_to_cut(factor: float, p: float, eps: float = 0.0) -> float:
    """Clean opportunities that cut the odds by ``factor`` (e.g. 1e3 -> 687.3 at p = 0.01)."""
    if not factor > 1.0:
        raise ConfigError(f"factor must exceed 1, got {factor}")
    return math.log(factor) / _decay(p, eps)


def odds_factor_of_defection(p: float, eps: float) -> float:
    """Factor by which one defection multiplies the odds W:L: p/eps (inf at eps = 0)."""
    if not (0.0 <= eps <= 1.0 and 0.0 <= p <= 1.0):
        raise ConfigError(f"need probabilities, got p={p}, eps={eps}")
    return math.inf if eps == 0.0 else p / eps


def as_prior(prior: str | Mapping[Persona | str, float]) -> dict[Persona, float]:
    if isinstance(prior, str):
        return parse_prior(prior)
    text = ",".join(f"{p.spec if isinstance(p, Persona) else p}={w}" for p, w in prior.items())
    return parse_prior(text)


def bare_recipe(prior: str | Mapping, n_max: int = 1000) -> WorldRecipe:
    """The bare prior as a world: one source, fixed length ``n_max`` (no length
    evidence before it), all eras equally likely, flags U or T with probability 1/2
    (independent of the persona, so they carry no evidence)."""
    personas = {p.spec: w for p, w in as_prior(prior).items()}
    return WorldRecipe.model_validate({
        "name": "bare", "sources": {"bare": {
            "share": 1.0, "length": n_max, "personas": personas,
            "regimes": {"mixed(u=0.5)": 1.0}}}})


def _history_arrays(history) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    items = parse_history(history) if isinstance(history, str) else list(history)
    done = [(u, a) for u, a in items if a is not None]
    untested = np.array([u for u, _ in done], dtype=bool)
    is_d = np.array([a == D for _, a in done], dtype=bool)
    index = np.arange(1, len(done) + 1)
    defected = np.concatenate([[False], np.cumsum(is_d)[:-1] > 0]) if done else np.zeros(0, bool)
    return untested, is_d, index, defected


def bare_posterior(prior, history="", era: int = 0) -> dict[str, float]:
    """Persona spec -> posterior mass after a history (actions only; see module docstring)."""
    pri = as_prior(prior)
    if not 0 <= era < N_ERAS:
        raise ConfigError(f"era must be in 0..{N_ERAS - 1}")
    untested, is_d, index, defected = _history_arrays(history)
    era_arr = np.full(index.shape, era)
    logw = []
    for persona, w in pri.items():
        q = persona.p_defect(untested, era_arr, index, defected)
        with np.errstate(divide="ignore"):
            logw.append(math.log(w) + float(np.sum(np.log(np.where(is_d, q, 1.0 - q)))))
    logw = np.array(logw)
    if not np.isfinite(logw).any():
        raise ConfigError("the history has probability 0 under every persona in the prior")
    post = np.exp(logw - logw.max())
    post /= post.sum()
    return {p.spec: float(x) for p, x in zip(pri, post)}


def bare_p_defect(prior, history="", untested: bool = True, era: int = 0) -> float:
    """P(D at the next opportunity | history, its flag) in the bare model."""
    pri = as_prior(prior)
    post = bare_posterior(pri, history, era)
    _, is_d, index, _ = _history_arrays(history)
    k = index.size + 1
    defected = np.array(bool(is_d.any()))
    return float(sum(post[p.spec] * float(p.p_defect(np.array(untested), np.array(era), np.array(k),
                                                         defected)) for p in pri))


def bare_curve(prior, k_max: int, era: int = 0, ks: Sequence[int] | None = None) -> dict:
    """For k clean tested (``"T"``) or untested (``"U"``) opportunities: P(D | next U),
    P(D | next T) and the persona posterior, as arrays over k (vectorised closed form)."""
    pri = as_prior(prior)
    ks = np.arange(k_max + 1) if ks is None else np.asarray(ks)
    out: dict = {"k": ks}
    specs = [p.spec for p in pri]
    logp = np.log(np.array(list(pri.values())))
    kmax = int(ks.max()) + 1
    idx = np.arange(1, kmax + 1)
    era_arr = np.full(idx.shape, era)
    no = np.zeros(idx.shape, dtype=bool)
    for evidence in ("T", "U"):
        flags = np.full(idx.shape, evidence == "U")
        with np.errstate(divide="ignore"):
            clean = np.stack([np.concatenate([[0.0], np.cumsum(np.log1p(-p.p_defect(flags, era_arr, idx, no)))])
                              for p in pri])                                # (H, kmax+1)
        logw = logp[:, None] + clean[:, ks]
        post = np.exp(logw - logw.max(axis=0))
        post /= post.sum(axis=0)
        for nxt in ("U", "T"):
            nxt_flag = np.full(ks.shape, nxt == "U")
            pd = np.stack([p.p_defect(nxt_flag, np.full(ks.shape, era), ks + 1, np.zeros(ks.shape, bool))
                           for p in pri])
            out[f"{evidence}:p_defect_{nxt}"] = (post * pd).sum(axis=0)
        out[f"{evidence}:posterior"] = {s: post[i] for i, s in enumerate(specs)}
    return out
