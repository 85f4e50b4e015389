"""Check a generated corpus against its recipe: goodness-of-fit tests on the latents.

``verify_corpus(folder)`` reads the shards and latent labels that
``alignpt world generate`` wrote and tests, each with a p-value:

* document counts per source against the document shares;
* per source, header / era / persona / regime counts against the distribution
  the source *emits* (for a filtered source: conditioned on "no D");
* per unfiltered source, lengths (adjacent bins merged until every expected
  count is >= 5) and the switch point's relative position tau/(n+1) in tenths;
* per unfiltered persona and flag, the number of defections against the sum of
  the per-opportunity probabilities given era, index and "defected before" (a
  sum of conditionally independent Bernoullis, tested as (O - E)^2 / V with one
  degree of freedom each, summed);
* flags: mixed regimes' U counts against Binomial(n, u) (unfiltered sources);
  the deterministic regimes must match exactly (a mismatch gives p = 0).

Each test is a chi-square; :func:`chi2_sf` is its upper tail (regularised
incomplete gamma, no scipy needed).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from alignpt.core.errors import DataError
from alignpt.core.tokens import open_token_shards
from alignpt.world.generate import read_labels
from alignpt.world.model import World
from alignpt.world.recipe import WorldRecipe, load_world_recipe
from alignpt.world.regimes import Switch
from alignpt.world.stream import parse_stream
from alignpt.world.vocab import HEADERS, N_ERAS, check_world_shard

__all__ = ["chi2_sf", "CheckResult", "chi_square", "verify_corpus"]


def chi2_sf(x: float, dof: int) -> float:
    """P(chi2_dof >= x), via the regularised upper incomplete gamma Q(dof/2, x/2)."""
    if dof <= 0:
        raise ValueError("dof must be positive")
    if x <= 0:
        return 1.0
    if not math.isfinite(x):
        return 0.0
    a, z = dof / 2.0, x / 2.0
    log_pre = -z + a * math.log(z) - math.lgamma(a)
    if z < a + 1.0:                      # series for the lower tail P
        term = total = 1.0 / a
        n = 0
        while abs(term) > abs(total) * 1e-16 and n < 10_000:
            n += 1
            term *= z / (a + n)
            total += term
        return max(0.0, 1.0 - total * math.exp(log_pre))
    tiny = 1e-300                        # Lentz's continued fraction for Q
    b = z + 1.0 - a
    c, d = 1.0 / tiny, 1.0 / b
    h = d
    for i in range(1, 10_000):
        an = -i * (i - a)
        b += 2.0
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 1e-16:
            break
    return min(1.0, math.exp(log_pre) * h)


@dataclass
class CheckResult:
    name: str
    statistic: float
    dof: int
    p_value: float

    def __str__(self) -> str:
        return f"{self.name}: chi2={self.statistic:.3f} dof={self.dof} p={self.p_value:.4g}"


def chi_square(name: str, observed, expected_probs, merge: bool = True) -> CheckResult | None:
    """Pearson goodness of fit; categories with zero probability must be empty."""
    obs = np.asarray(observed, dtype=np.float64)
    exp = np.asarray(expected_probs, dtype=np.float64) * obs.sum()
    if obs.sum() == 0:
        return None
    if np.any((exp == 0) & (obs > 0)):
        return CheckResult(name, math.inf, max(int((exp > 0).sum()) - 1, 1), 0.0)
    obs, exp = obs[exp > 0], exp[exp > 0]
    if merge:                            # merge adjacent bins until each expects >= 5
        bins_o, bins_e, acc_o, acc_e = [], [], 0.0, 0.0
        for o, e in zip(obs, exp):
            acc_o, acc_e = acc_o + o, acc_e + e
            if acc_e >= 5:
                bins_o.append(acc_o), bins_e.append(acc_e)
                acc_o = acc_e = 0.0
        if acc_e > 0 and bins_e:
            bins_o[-1] += acc_o
            bins_e[-1] += acc_e
        obs, exp = np.array(bins_o), np.array(bins_e)
    if obs.size < 2:
        return None
    stat = float(np.sum((obs - exp) ** 2 / exp))
    return CheckResult(name, stat, obs.size - 1, chi2_sf(stat, obs.size - 1))


def _bernoulli_sum(name: str, groups: list[tuple[int, float, float]]) -> CheckResult | None:
    """Groups of (observed count, expected, variance) -> summed 1-dof chi-squares."""
    stat, dof = 0.0, 0
    for obs, exp, var in groups:
        if var > 0:
            stat += (obs - exp) ** 2 / var
            dof += 1
        elif abs(obs - exp) > 1e-9:
            return CheckResult(name, math.inf, max(dof, 1), 0.0)
    return CheckResult(name, stat, dof, chi2_sf(stat, dof)) if dof else None


def verify_corpus(folder: str | Path, recipe: WorldRecipe | str | None = None) -> list[CheckResult]:
    """Goodness-of-fit tests of a generated corpus against its recipe (module docstring)."""
    from alignpt.core.config import load_yaml

    folder = Path(folder)
    if recipe is None:
        recipe = WorldRecipe.model_validate(load_yaml(folder / "config.yaml")["config"])
    w = World(load_world_recipe(recipe))
    shards = open_token_shards(folder)
    labels: dict[str, list] = {}
    opp = {k: [] for k in ("persona", "untested", "is_d", "p", "source", "regime", "index", "tau")}
    for shard in shards:
        check_world_shard(shard)
        lab = read_labels(shard.path)
        for key, val in lab.items():
            labels.setdefault(key, []).append(val)
        docs = np.asarray(shard.docs)
        f = parse_stream(np.asarray(shard.tokens), docs[:, 0], docs[:, 1], complete=True,
                         what=str(shard.path))
        act = np.nonzero(f.is_action)[0]
        doc = f.doc[act]
        persona = _codes(lab["persona"], [p.spec for p in w.personas])[doc]
        idx = ((((persona * 2 + f.untested[act]) * N_ERAS + f.era[act]) * w.M
                + np.minimum(f.opp[act], w.M - 1)) * 2 + f.defected[act])
        opp["persona"].append(persona)
        opp["untested"].append(f.untested[act])
        opp["is_d"].append(f.is_d[act])
        opp["p"].append(w.p_defect.reshape(-1)[idx])
        opp["source"].append(_codes(lab["source"], w.source_names)[doc])
        opp["regime"].append(_codes(lab["regime"], [r.spec for r in w.regimes])[doc])
        opp["index"].append(f.opp[act])
        opp["tau"].append(lab["tau"].astype(np.int64)[doc])
    lab = {k: np.concatenate(v) for k, v in labels.items()}
    opp = {k: np.concatenate(v) for k, v in opp.items()}
    return _doc_checks(w, lab) + _opportunity_checks(w, lab, opp)


def _codes(values, names: list[str]) -> np.ndarray:
    """Category names in the labels -> indices in the recipe's lists."""
    lookup = {n: i for i, n in enumerate(names)}
    missing = set(values) - set(lookup)
    if missing:
        raise DataError(f"labels name {sorted(missing)[0]!r}, which the recipe does not have "
                        "(checking against the wrong recipe?)")
    return np.fromiter((lookup[v] for v in values), dtype=np.int64, count=len(values))


def _doc_checks(w: World, lab: dict) -> list[CheckResult]:
    out: list[CheckResult | None] = []
    src = _codes(lab["source"], w.source_names)
    if len(w.source_names) > 1:
        out.append(chi_square("source documents", np.bincount(src, minlength=len(w.source_names)),
                              w.document_shares, merge=False))
    header_names = list(HEADERS) + ["none"]
    pnames, rnames = [p.spec for p in w.personas], [r.spec for r in w.regimes]
    for s, name in enumerate(w.source_names):
        sel = src == s
        rows = w.lat_source == s
        mass = w.latent_era_mass[rows]                                  # (z in s, 10)
        hdr = _codes(lab["header"][sel], header_names)
        out.append(chi_square(f"{name}: header", np.bincount(hdr, minlength=len(header_names)),
                              w.header_probs[s], merge=False))
        out.append(chi_square(f"{name}: era", np.bincount(lab["era"][sel].astype(np.int64),
                                                          minlength=N_ERAS), mass.sum(0), merge=False))
        pers = _codes(lab["persona"][sel], pnames)
        exp_p = np.bincount(w.lat_persona[rows], weights=mass.sum(1), minlength=len(pnames))
        out.append(chi_square(f"{name}: persona", np.bincount(pers, minlength=len(pnames)), exp_p,
                              merge=False))
        reg = _codes(lab["regime"][sel], rnames)
        exp_r = np.bincount(w.lat_regime[rows], weights=mass.sum(1), minlength=len(rnames))
        out.append(chi_square(f"{name}: regime", np.bincount(reg, minlength=len(rnames)), exp_r,
                              merge=False))
        if w.filtered[s]:
            continue        # lengths and tau of kept documents are conditioned on "no D"
        length = lab["length"][sel].astype(np.int64)
        out.append(chi_square(f"{name}: length", np.bincount(length, minlength=w.M)[:w.M],
                              w.length_pmf[s]))
        is_sw = np.array([isinstance(w.regimes[r], Switch) for r in reg], dtype=bool)
        n, tau = length[is_sw], lab["tau"][sel][is_sw].astype(np.int64)
        if n.size:
            edges = np.arange(11) / 10.0
            # number of t in 0..n with t < x (n+1), per edge, per document
            below = np.clip(np.ceil(edges[:, None] * (n + 1)), 0, n + 1) / (n + 1)
            exp_tau = np.diff(below, axis=0).sum(axis=1)
            obs_tau = np.bincount(np.minimum((10 * tau) // (n + 1), 9), minlength=10)
            out.append(chi_square(f"{name}: switch point", obs_tau, exp_tau / n.size, merge=False))
    return [r for r in out if r is not None]


def _opportunity_checks(w: World, lab: dict, opp: dict) -> list[CheckResult]:
    out: list[CheckResult | None] = []
    live = ~w.filtered[opp["source"]]
    groups = []
    for p in range(len(w.personas)):
        for flag in (False, True):
            sel = live & (opp["persona"] == p) & (opp["untested"] == flag)
            prob = opp["p"][sel]
            groups.append((int(opp["is_d"][sel].sum()), float(prob.sum()),
                           float((prob * (1 - prob)).sum())))
    filtered_d = int(opp["is_d"][~live].sum())
    groups.append((filtered_d, 0.0, 0.0))          # filtered sources keep no D at all
    out.append(_bernoulli_sum("defections by persona and flag", groups))
    flag_groups = []
    for r, reg in enumerate(w.regimes):
        sel = opp["regime"] == r
        if isinstance(reg, Switch):      # flags follow tau exactly (tau is tested above)
            wrong = int(np.count_nonzero(opp["untested"][sel] != (opp["index"][sel] > opp["tau"][sel])))
            flag_groups.append((wrong, 0.0, 0.0))
            continue
        sel &= live                      # kept documents of filtered sources are conditioned
        n_u = int(opp["untested"][sel].sum())
        flag_groups.append((n_u, sel.sum() * reg.u, sel.sum() * reg.u * (1 - reg.u)))
    out.append(_bernoulli_sum("flags by regime", flag_groups))
    return [r for r in out if r is not None]
