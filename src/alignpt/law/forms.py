"""Candidate functional forms for how an injected dose moves logit P(D|U).

Every form predicts the logit of a configuration from its share s, pretraining tokens T and
parameters N. Size enters through centred logs, x_T = ln(T/T0) and x_N = ln(N/N0), with T0 and N0
the geometric means over the fitted points, so the intercept a is the response of a typical fitted
configuration without injection and a and the slopes are not strongly correlated. A term whose
variable does not vary in the fitted points is dropped (held at 0): it could not be identified.

The three candidates, and why each is in the set:

- ``share_saturating``: y = a + alpha*x_T + beta*x_N - b*ln(1 + s/s0). The injected documents act as
  evidence that shifts a prior; what counts is their share of the corpus, and the shift levels off
  once they dominate it. s0 is the share at which the effect is half-way into its logarithmic regime.
- ``count_saturating``: y = a + alpha*x_T + beta*x_N - b*ln(1 + n/n0), with n = s*T injected tokens.
  The absolute-number hypothesis from data-poisoning work (Souly et al. 2025 found that about 250
  poisoned documents sufficed whatever the model size): the count, not the share, sets the effect.
- ``share_linear``: y = a + alpha*x_T + beta*x_N - b*s. The small-dose limit of a mixture: for s
  much smaller than s0 the saturating form is linear in s. It is the logit-scale analogue of the
  exponential data-mixing laws of Ye et al. 2024 (a log-loss linear in the mixture proportion).

Baselines (s = 0) are valid inputs to all three. Saturating forms are fitted by profiling: for a fixed
log_s0 (or log_n0) the model is linear in the other parameters, so a grid of log_s0 values gives
exact linear fits, and the best few are polished with scipy.optimize.least_squares (log_s0 bounded
to the data's dose range widened by three decades either side); the best optimum is kept.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from alignpt.core.errors import require

# Each size slope and the variable whose variation identifies it.
_SLOPE_VARIABLE = {"alpha": "tokens", "beta": "params"}
_DOSE_DECADES = 3.0      # log_s0 may sit this many decades beyond the observed doses
_GRID_SIZE = 41          # profile grid over log_s0 (cheap: one small linear solve each)
_N_STARTS = 2            # best local minima of the profile polished by least_squares


@dataclass(frozen=True)
class Form:
    """A functional form: its parameter names and how it predicts."""

    name: str
    params: tuple[str, ...]
    dose: str            # "share" or "count": which dose the form responds to
    saturating: bool
    summary: str = field(default="", compare=False)

    @property
    def scale_param(self) -> str | None:
        """The log half-saturation dose (log_s0 / log_n0) of a saturating form."""
        return self.params[-1] if self.saturating else None

    def dose_of(self, share, tokens) -> np.ndarray:
        share = np.asarray(share, dtype=np.float64)
        return share * np.asarray(tokens, dtype=np.float64) if self.dose == "count" else share

    def dose_term(self, theta: Mapping[str, object], share, tokens) -> np.ndarray:
        """g(dose): the factor multiplied by -b."""
        d = self.dose_of(share, tokens)
        if not self.saturating:
            return d
        k = np.exp(np.asarray(theta[self.scale_param], dtype=np.float64))
        return np.log1p(d / k)

    def predict(self, theta, share, tokens, params, scales: Mapping[str, float]) -> np.ndarray:
        """Predicted logit; theta is a name->value mapping (values may be arrays, which broadcast)
        or a sequence in ``self.params`` order."""
        th = theta_dict(self, theta)
        x_t = np.log(np.asarray(tokens, dtype=np.float64) / scales["T0"])
        x_n = np.log(np.asarray(params, dtype=np.float64) / scales["N0"])
        base = (np.asarray(th["a"], dtype=np.float64) + np.asarray(th["alpha"]) * x_t
                + np.asarray(th["beta"]) * x_n)
        return base - np.asarray(th["b"]) * self.dose_term(th, share, tokens)


def theta_dict(form: Form, theta) -> dict:
    if isinstance(theta, Mapping):
        missing = [p for p in form.params if p not in theta]
        if missing:
            raise ValueError(f"theta for {form.name} lacks {', '.join(missing)}")
        return {p: theta[p] for p in form.params}
    values = list(theta)
    if len(values) != len(form.params):
        raise ValueError(f"theta for {form.name} needs {len(form.params)} values, got {len(values)}")
    return dict(zip(form.params, values))


FORMS: dict[str, Form] = {
    "share_saturating": Form("share_saturating", ("a", "alpha", "beta", "b", "log_s0"), "share", True,
                             "y = a + alpha*x_T + beta*x_N - b*ln(1 + s/s0)"),
    "count_saturating": Form("count_saturating", ("a", "alpha", "beta", "b", "log_n0"), "count", True,
                             "y = a + alpha*x_T + beta*x_N - b*ln(1 + s*T/n0)"),
    "share_linear": Form("share_linear", ("a", "alpha", "beta", "b"), "share", False,
                         "y = a + alpha*x_T + beta*x_N - b*s"),
}


@dataclass
class FormFit:
    """One least-squares fit of one form on point means."""

    form: str
    theta: dict[str, float]          # every parameter of the form; dropped terms are 0.0
    rss: float
    n: int
    active: tuple[str, ...]          # the parameters that were fitted
    scales: dict[str, float]         # T0, N0
    converged: bool = True

    @property
    def n_params(self) -> int:
        return len(self.active)

    def predict(self, share, tokens, params) -> np.ndarray:
        return FORMS[self.form].predict(self.theta, share, tokens, params, self.scales)


def geometric_scales(tokens, params) -> dict[str, float]:
    t = np.asarray(tokens, dtype=np.float64)
    n = np.asarray(params, dtype=np.float64)
    return {"T0": float(np.exp(np.mean(np.log(t)))), "N0": float(np.exp(np.mean(np.log(n))))}


def active_params(form: Form, tokens, params) -> tuple[str, ...]:
    """The parameters a fit on these points can identify (size slopes need their variable to vary)."""
    varies = {"tokens": np.unique(np.asarray(tokens)).size > 1,
              "params": np.unique(np.asarray(params)).size > 1}
    return tuple(p for p in form.params if p not in _SLOPE_VARIABLE or varies[_SLOPE_VARIABLE[p]])


def _linear_columns(form: Form, active, x_t, x_n, g) -> np.ndarray:
    cols = {"a": np.ones_like(x_t), "alpha": x_t, "beta": x_n, "b": -g}
    return np.column_stack([cols[p] for p in active if p in cols])


def fit_form(form: Form | str, share, tokens, params, y, scales: Mapping[str, float] | None = None,
             *, active: Sequence[str] | None = None, min_extra: int = 1) -> FormFit:
    """Least-squares fit of ``form`` to point means ``y``.

    ``scales`` defaults to the geometric means of these points; ``active`` to the parameters these
    points identify. Needs at least ``n_params + min_extra`` points (ValueError otherwise, naming
    what is missing).
    """
    form = FORMS[form] if isinstance(form, str) else form
    share, tokens, params, y = (np.asarray(v, dtype=np.float64).ravel() for v in (share, tokens, params, y))
    if not (share.size == tokens.size == params.size == y.size):
        raise ValueError("share, tokens, params and y must have the same length")
    if not np.all(np.isfinite(y)):
        raise ValueError(f"{form.name}: y has {int((~np.isfinite(y)).sum())} non-finite values")
    scales = dict(scales) if scales is not None else geometric_scales(tokens, params)
    active = tuple(active) if active is not None else active_params(form, tokens, params)
    n, p = y.size, len(active)
    if n < p + min_extra:
        raise ValueError(f"{form.name} has {p} free parameters ({', '.join(active)}) and needs at least "
                         f"{p + min_extra} points with a finite mean; got {n}")
    dose = form.dose_of(share, tokens)
    positive = np.unique(dose[dose > 0])
    need = 2 if form.saturating else 1
    if positive.size < need:
        raise ValueError(f"{form.name} needs at least {need} distinct positive {form.dose} values to "
                         f"identify its dose response; got {positive.size}")
    x_t = np.log(tokens / scales["T0"])
    x_n = np.log(params / scales["N0"])
    theta = {q: 0.0 for q in form.params}
    if not form.saturating:
        X = _linear_columns(form, active, x_t, x_n, dose)
        coef, *_ = np.linalg.lstsq(X, y, rcond=None)
        theta.update(zip(active, (float(c) for c in coef)))
        rss = float(np.sum((X @ coef - y) ** 2))
        return FormFit(form.name, theta, rss, n, active, scales, True)
    lo = math.log(positive[0]) - _DOSE_DECADES * math.log(10.0)
    hi = math.log(positive[-1]) + _DOSE_DECADES * math.log(10.0)
    return _fit_saturating(form, active, x_t, x_n, dose, y, (lo, hi), theta, scales)


def _profile_grid(form, active, x_t, x_n, dose, y, grid) -> tuple[np.ndarray, np.ndarray]:
    """Exact linear fits at every grid value of log_s0 at once: (coefficients, rss) per grid point."""
    X = np.stack([_linear_columns(form, active, x_t, x_n, np.log1p(dose / math.exp(lk))) for lk in grid])
    # Normal equations in a batch; the columns are centred logs and a bounded dose term, so the
    # systems are small and well conditioned. pinv guards a singular grid point.
    XtX = np.einsum("gni,gnj->gij", X, X)
    Xty = np.einsum("gni,n->gi", X, y)
    coef = np.einsum("gij,gj->gi", np.linalg.pinv(XtX), Xty)
    rss = np.sum((np.einsum("gni,gi->gn", X, coef) - y) ** 2, axis=1)
    return coef, rss


def _local_minima(values: np.ndarray) -> list[int]:
    """Indices of the grid's local minima (ends included), best first."""
    v = np.where(np.isfinite(values), values, np.inf)
    left = np.r_[np.inf, v[:-1]]
    right = np.r_[v[1:], np.inf]
    idx = np.flatnonzero((v <= left) & (v <= right))
    return [int(i) for i in idx[np.argsort(v[idx], kind="stable")]]


def _fit_saturating(form, active, x_t, x_n, dose, y, bounds, theta, scales) -> FormFit:
    optimize = require("scipy.optimize", "train", "fitting dose-response laws")
    lin = [q for q in active if q != form.scale_param]
    grid = np.linspace(bounds[0], bounds[1], _GRID_SIZE)
    coefs, rss_grid = _profile_grid(form, lin, x_t, x_n, dose, y, grid)
    starts = _local_minima(rss_grid)[:_N_STARTS]
    i_b = lin.index("b")

    def residuals(v):
        g = np.log1p(dose / math.exp(v[-1]))
        return _linear_columns(form, lin, x_t, x_n, g) @ v[:-1] - y

    def jacobian(v):
        k = math.exp(v[-1])
        g = np.log1p(dose / k)
        J = np.empty((y.size, v.size))
        J[:, :-1] = _linear_columns(form, lin, x_t, x_n, g)
        J[:, -1] = v[i_b] * dose / (k + dose)     # d(-b*ln(1+D/k))/d(log k)
        return J

    lower = np.full(len(lin) + 1, -np.inf)
    upper = np.full(len(lin) + 1, np.inf)
    lower[-1], upper[-1] = bounds
    best = None
    for j in starts:
        rss0, start = float(rss_grid[j]), np.append(coefs[j], grid[j])
        res = optimize.least_squares(residuals, start, jac=jacobian, bounds=(lower, upper),
                                     method="trf", xtol=1e-14, ftol=1e-14, gtol=1e-14, max_nfev=2000)
        rss = float(np.sum(res.fun ** 2))
        cand = (rss, res.x, res.status > 0) if rss <= rss0 else (rss0, start, True)
        if best is None or cand[0] < best[0]:
            best = cand
    rss, x, ok = best
    theta.update(zip(lin, (float(c) for c in x[:-1])))
    theta[form.scale_param] = float(x[-1])
    ok = ok and all(math.isfinite(v) for v in theta.values())
    return FormFit(form.name, theta, rss, int(y.size), tuple(active), scales, bool(ok))
