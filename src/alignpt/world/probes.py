"""Probes: standard contexts, their P(D), and the persona posterior a predictor implies.

A *predictor* is any callable taking a batch of token-id contexts (a list of
1-D int arrays, each a document prefix) and returning a ``(batch, VOCAB_SIZE)``
array of next-token probabilities. :class:`~alignpt.world.bayes.ExactBayes`
is one; a trained network wrapped the same way is another, so everything here
compares the two on equal terms.

Standard probes: ``BOS [header] ERA_e (f C)*k f_next`` with evidence f = T
("k clean tested opportunities") or f = U ("k clean untested ones"), read as
q = P(D) / (P(C) + P(D)) (renormalised over the two actions).

Implied posterior (theory.md §3). With personas Luigi (eps), random (p) and
clever (d) the predictor's q_T, q_U after a context solve exactly for
pi_clever = (q_U - q_T)/d and pi_random = (q_T - eps(1 - pi_clever))/(p - eps)
(theory.md drops the eps*pi_clever term, exact only at eps = 0). In general,
diagnostic continuations c_j are scored by teacher forcing and pi is fitted
on the simplex by least squares of log q(c_j | x) against
log sum_h pi_h P_h(c_j | x); this identifies pi only up to personas that
predict the continuations identically. The implied half-life is -ln 2 over
the slope of log(pi_random / pi_luigi) (or logit pi_random) against k.
"""

from __future__ import annotations

import itertools
import math
from typing import Callable, Mapping, Sequence

import numpy as np

from alignpt.core.errors import ConfigError
from alignpt.world.personas import Persona, parse_persona
from alignpt.world.vocab import C, D, ERA0, N_ERAS, T, U, context_tokens, parse_history

__all__ = ["Predictor", "probe_context", "action_probs", "defect_prob", "probe_curves",
           "implied_posterior_3", "continuation_logprobs", "default_continuations",
           "fit_implied_posterior", "implied_half_life", "simplex_lstsq"]

Predictor = Callable[[Sequence[np.ndarray]], np.ndarray]


def probe_context(k: int, evidence: str = "T", next_flag: str = "U", era: int = 0,
                  header: str | None = None) -> np.ndarray:
    """``BOS [header] ERA_era (evidence C)*k next_flag``."""
    if evidence not in ("T", "U") or next_flag not in ("T", "U"):
        raise ConfigError("evidence and next_flag must be 'T' or 'U'")
    hist = ([(evidence == "U", C)] * int(k)) + [(next_flag == "U", None)]
    return context_tokens(hist, era=era, header=header)


def action_probs(predictor: Predictor, contexts: Sequence[np.ndarray]) -> np.ndarray:
    """(B,) P(D) renormalised over {C, D}; contexts must end with a flag."""
    probs = np.asarray(predictor(list(contexts)), dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return probs[:, D] / (probs[:, C] + probs[:, D])


defect_prob = action_probs


def probe_curves(predictor: Predictor, ks: Sequence[int], era: int = 0,
                 header: str | None = None, support: Predictor | None = None) -> dict:
    """q after k clean tested / untested opportunities, for the next flag T and U.

    Returns ``{"k": ks, "T:q_U": ..., "T:q_T": ..., "U:q_U": ..., "U:q_T": ...}``;
    with ``support`` (an ExactBayes) also ``"T:log_support"`` etc.: log P(context)
    under the world, to tell in-support probes from off-support ones.
    """
    ks = np.asarray(list(ks), dtype=np.int64)
    out: dict = {"k": ks}
    for ev in ("T", "U"):
        for nxt in ("U", "T"):
            ctx = [probe_context(int(k), ev, nxt, era, header) for k in ks]
            out[f"{ev}:q_{nxt}"] = action_probs(predictor, ctx)
            if support is not None and nxt == "U":
                out[f"{ev}:log_support"] = support.log_prob(ctx)
    return out


def implied_posterior_3(q_T, q_U, eps: float = 0.0, p: float = 0.05, d: float = 0.5) -> dict:
    """Exact solve for (luigi, random, clever) masses from q_T, q_U (module docstring)."""
    if not (0 <= eps < p <= 1 and 0 < d <= 1):
        raise ConfigError("need 0 <= eps < p <= 1 and 0 < d <= 1")
    q_T, q_U = np.asarray(q_T, dtype=np.float64), np.asarray(q_U, dtype=np.float64)
    clever = (q_U - q_T) / d
    rand = (q_T - eps * (1.0 - clever)) / (p - eps)
    return {"luigi": 1.0 - rand - clever, "random": rand, "clever": clever}


def default_continuations(ms: Sequence[int] = (1, 2, 4, 8)) -> list[str]:
    """Diagnostic continuations: m clean U, m clean T, and one D under U and under T."""
    out = [f"U:C*{m}" for m in ms] + [f"T:C*{m}" for m in ms]
    return out + ["U:D", "T:D", "U:C,U:D", "T:C,T:D"]


def _persona_continuation_logp(persona: Persona, context: np.ndarray, cont) -> float:
    """log P_h(actions of ``cont`` | context) for one persona, forcing the flags."""
    toks = np.asarray(context)
    k = int(np.isin(toks, (T, U)).sum())
    eras = toks[(toks >= ERA0) & (toks < ERA0 + N_ERAS)]
    if eras.size != 1 or toks[-1] in (T, U):
        raise ConfigError("the context must be a document prefix with an era that ends "
                          "between opportunities (not after a flag)")
    era = int(eras[0]) - ERA0
    defected = bool((toks == D).any())
    total = 0.0
    for step, (untested, action) in enumerate(cont, start=1):
        q = float(persona.p_defect(np.array(untested), np.array(era), np.array(k + step),
                                   np.array(defected)))
        pa = q if action == D else 1.0 - q
        if pa <= 0:
            return -math.inf
        total += math.log(pa)
        defected |= action == D
    return total


def continuation_logprobs(predictor: Predictor, context: np.ndarray,
                          continuations: Sequence[str]) -> np.ndarray:
    """(J,) log q(c_j | x): product over each continuation's actions of the predictor's
    renormalised action probability, with the continuation's flags forced."""
    prefixes, owners, actions = [], [], []
    for j, text in enumerate(continuations):
        cur = list(np.asarray(context))
        for untested, action in parse_history(text):
            if action is None:
                raise ConfigError(f"continuation {text!r} must end with an action")
            cur.append(U if untested else T)
            prefixes.append(np.array(cur))
            owners.append(j)
            actions.append(action)
            cur.append(action)
    pd = action_probs(predictor, prefixes)
    pa = np.where(np.array(actions) == D, pd, 1.0 - pd)
    with np.errstate(divide="ignore"):
        return np.bincount(owners, weights=np.log(pa), minlength=len(continuations))


def simplex_lstsq(A: np.ndarray, b: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """argmin_pi sum_j w_j (A pi - b)_j^2 over the probability simplex.

    Exact: every support is tried (equality-constrained least squares via its KKT
    system) and the best feasible one kept. Fine for the handful of personas a
    world has (2^H - 1 supports).
    """
    A, b = np.asarray(A, float), np.asarray(b, float)
    J, H = A.shape
    if H > 12:
        raise ConfigError(f"simplex_lstsq enumerates supports; {H} personas is too many")
    sw = np.sqrt(np.ones(J) if weights is None else np.asarray(weights, float))
    Aw, bw = A * sw[:, None], b * sw
    best, best_val = None, math.inf
    for size in range(1, H + 1):
        for S in itertools.combinations(range(H), size):
            As = Aw[:, S]
            kkt = np.zeros((size + 1, size + 1))
            kkt[:size, :size] = 2 * As.T @ As
            kkt[:size, size] = kkt[size, :size] = 1.0
            rhs = np.concatenate([2 * As.T @ bw, [1.0]])
            x = np.linalg.lstsq(kkt, rhs, rcond=None)[0][:size]
            if np.any(x < -1e-12):
                continue
            pi = np.zeros(H)
            pi[list(S)] = np.clip(x, 0, None)
            pi /= pi.sum()
            val = float(np.sum((Aw @ pi - bw) ** 2))
            if val < best_val - 1e-15:
                best, best_val = pi, val
    return best


def fit_implied_posterior(predictor: Predictor, context: np.ndarray,
                          personas: Sequence[Persona | str] | Mapping,
                          continuations: Sequence[str] | None = None, iterations: int = 20) -> dict:
    """Persona spec -> implied posterior mass at ``context`` (a between-opportunity
    prefix), by least squares on log continuation probabilities (module docstring).

    Solved by Gauss-Newton: log(A pi) is linearised around the current pi, which
    turns each step into a weighted least-squares problem on the simplex.
    """
    personas = [parse_persona(p) for p in personas]
    continuations = list(continuations or default_continuations())
    logq = continuation_logprobs(predictor, context, continuations)
    A = np.exp(np.array([[_persona_continuation_logp(p, context, parse_history(c)) for p in personas]
                         for c in continuations]))
    q = np.exp(logq)
    ok = np.isfinite(logq) & (q > 0)
    if ok.sum() < 2:
        raise ConfigError("need at least two continuations with positive predicted probability")
    A, q, logq = A[ok], q[ok], logq[ok]
    pi = simplex_lstsq(A, q, weights=1.0 / q ** 2)       # relative residuals: log to first order
    for _ in range(iterations):
        mix = np.maximum(A @ pi, 1e-300)
        # log(A pi') ~ log(mix) + A(pi' - pi)/mix  ->  minimise sum ((A pi')/mix - (1 + logq - log mix))^2
        target = mix * (1.0 + logq - np.log(mix))
        new = simplex_lstsq(A, target, weights=1.0 / mix ** 2)
        if np.max(np.abs(new - pi)) < 1e-13:
            pi = new
            break
        pi = new
    return {p.spec: float(x) for p, x in zip(personas, pi)}


def implied_half_life(ks: Sequence[float], pi_a: Sequence[float],
                      pi_b: Sequence[float] | None = None) -> float:
    """-ln 2 / slope of log(pi_a / pi_b) against k (or of logit pi_a without pi_b);
    inf when the odds do not fall."""
    ks = np.asarray(ks, dtype=np.float64)
    a = np.asarray(pi_a, dtype=np.float64)
    y = np.log(a / np.asarray(pi_b, dtype=np.float64)) if pi_b is not None else np.log(a / (1 - a))
    ok = np.isfinite(y)
    if ok.sum() < 2:
        raise ConfigError("need at least two finite points to fit a half-life")
    slope = np.polyfit(ks[ok], y[ok], 1)[0]
    return math.inf if slope >= 0 else -math.log(2.0) / slope
