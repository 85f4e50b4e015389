"""Closed-form length, switch-point and "rest stays clean" factors for exact Bayes.

For a latent (source, persona, regime) and era, the probability of a prefix
with m flags seen factorises into the persona's action likelihood, the
regime's i.i.d. flag likelihood, and one more factor Phi(m) that carries
everything about the unseen rest of the document:

* the length: the document has not ended, n >= m (the survival S(m)), and
  for ``switch`` the switch point tau ~ U{0..n}, which couples to n;
* for a source with ``exclude_defecting`` (documents showing a D were dropped
  and refilled), the probability that opportunities m+1..n stay clean.

With c_T(i), c_U(i) the probabilities that opportunity i is clean under T or
U (1 for an unfiltered source), P(n) the length pmf and cbar = (1-u) c_T + u c_U
for an i.i.d. regime with untested share u, Phi satisfies backward recurrences
(no subtraction, so zero probabilities and long documents are safe in log
space)::

    iid:                Phi(m)   = P(m) + cbar(m+1) Phi(m+1)
    switch, U seen:     G(m)     = P(m)/(m+1) + c_U(m+1) G(m+1)      (tau fixed, rest is U)
    switch, only T:     Phi_T(m) = G(m) + c_T(m+1) Phi_T(m+1)        (tau = m, or tau > m)

The probability of the next token given the latent at a between-opportunity
position k follows from the same tables: EOS is the n = k term, a flag f the
term c_f(k+1) Phi(k+1) (times the flag probability for an i.i.d. regime).
"""

from __future__ import annotations

import numpy as np

from alignpt.world.regimes import (N_PATTERNS, PATTERN_ALL_T, PATTERN_ALL_U, PATTERN_NONE,
                                   PATTERN_OTHER, PATTERN_SWITCH, Regime)

__all__ = ["log", "backward", "regime_tables", "COND_EOS", "COND_T", "COND_U"]

COND_EOS, COND_T, COND_U = 0, 1, 2


def log(x) -> np.ndarray:
    """Natural log with log(0) = -inf and no warning."""
    with np.errstate(divide="ignore"):
        return np.log(np.asarray(x, dtype=np.float64))


def backward(log_a: np.ndarray, log_b: np.ndarray) -> np.ndarray:
    """Solve x(m) = a(m) + b(m+1) x(m+1) backwards in log space, x(M-1) = a(M-1).

    ``log_a``: (..., M); ``log_b``: (..., M) with b indexed by the opportunity
    (b(m+1) multiplies x(m+1)). Returns log x, shape (..., M).
    """
    log_a, log_b = np.broadcast_arrays(log_a, log_b)
    out = np.empty(log_a.shape)
    out[..., -1] = log_a[..., -1]
    for m in range(log_a.shape[-1] - 2, -1, -1):
        out[..., m] = np.logaddexp(log_a[..., m], log_b[..., m + 1] + out[..., m + 1])
    return out


def _shift(x: np.ndarray) -> np.ndarray:
    """x(m+1) aligned at m, with -inf past the end."""
    out = np.full(x.shape, -np.inf)
    out[..., :-1] = x[..., 1:]
    return out


def _safe_diff(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num - den in log space, -inf where the denominator state is impossible."""
    with np.errstate(invalid="ignore"):
        out = num - den
    return np.where(np.isneginf(den) | np.isnan(out), -np.inf, out)


def regime_tables(log_pmf: np.ndarray, log_cT: np.ndarray, log_cU: np.ndarray,
                  regime: Regime) -> tuple[np.ndarray, np.ndarray]:
    """Phi and next-token tables of one regime for a batch of (persona, era) rows.

    ``log_pmf``: (M,) log P(n) for n = 0..M-1 (P must vanish at M-1);
    ``log_cT``/``log_cU``: (B, M) log clean probability of opportunity i.
    Returns ``log_phi`` (B, N_PATTERNS, M) indexed by the flag pattern and the
    number m of flags seen (including, for i.i.d. regimes, the m*log(1-u) part
    of the flag likelihood; the n_U*logit(u) part is added per position), and
    ``log_cond`` (B, N_PATTERNS, M, 3): log P(EOS / T / U next | latent,
    pattern, k = m) at a between-opportunity position.
    """
    B, M = log_cT.shape
    log_pmf = np.broadcast_to(log_pmf, (B, M))
    log_phi = np.full((B, N_PATTERNS, M), -np.inf)
    log_cond = np.full((B, N_PATTERNS, M, 3), -np.inf)
    m = np.arange(M, dtype=np.float64)
    if regime.iid:
        u = regime.u
        log_qT, log_qU = log(1.0 - u), log(u)
        log_cbar = np.logaddexp(log_qT + log_cT, log_qU + log_cU)
        phi = backward(log_pmf, log_cbar)
        nxt = _shift(phi)
        cond = np.stack([_safe_diff(log_pmf, phi),
                         _safe_diff(log_qT + _shift(log_cT) + nxt, phi),
                         _safe_diff(log_qU + _shift(log_cU) + nxt, phi)], axis=-1)
        # The m*log(1-u) part of the flag likelihood q_T^{n_T} q_U^{n_U}; the rest,
        # n_U*(log u - log(1-u)), varies within a pattern and is added per position.
        flag_part = m * log_qT if 0.0 < u < 1.0 else 0.0
        for pat in regime.allowed_patterns:
            log_phi[:, pat] = phi + flag_part
            log_cond[:, pat] = cond
        return log_phi, log_cond
    # switch: tau ~ U{0..n}; every (n, tau) pair has probability P(n)/(n+1).
    log_eos = log_pmf - np.log(m + 1.0)
    g = backward(log_eos, log_cU)
    phi_t = backward(g, log_cT)
    g_next, t_next = _shift(g), _shift(phi_t)
    for pat in (PATTERN_NONE, PATTERN_ALL_T):
        log_phi[:, pat] = phi_t
        log_cond[:, pat] = np.stack([_safe_diff(log_eos, phi_t),
                                     _safe_diff(_shift(log_cT) + t_next, phi_t),
                                     _safe_diff(_shift(log_cU) + g_next, phi_t)], axis=-1)
    for pat in (PATTERN_ALL_U, PATTERN_SWITCH):
        log_phi[:, pat] = g
        log_cond[:, pat, :, COND_EOS] = _safe_diff(log_eos, g)
        log_cond[:, pat, :, COND_U] = _safe_diff(_shift(log_cU) + g_next, g)
    assert PATTERN_OTHER not in regime.allowed_patterns
    return log_phi, log_cond
