"""``alignpt world describe``: a recipe's corpus statistics and exact probe answers.

Everything here is exact (computed from the recipe, no sampling): token and
document shares, mean lengths, the persona and regime mix each source emits
(after filtering), and the standard probes with their support probability.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from alignpt.world.bayes import ExactBayes
from alignpt.world.model import World
from alignpt.world.probes import probe_curves
from alignpt.world.recipe import WorldRecipe, load_world_recipe
from alignpt.world.vocab import HEADERS, C, context_tokens

__all__ = ["describe_recipe", "render_description", "DEFAULT_KS"]

DEFAULT_KS = (0, 1, 2, 4, 8, 16, 32, 64)


def _modal_header_era(bayes: ExactBayes) -> tuple[str | None, int]:
    w = bayes.world
    s = w.lat_source
    joint = (w.document_shares[s][:, None, None] * w.header_probs[s][:, :, None]
             * w.latent_era_mass[:, None, :]).sum(axis=0)
    h, e = np.unravel_index(int(np.argmax(joint)), joint.shape)
    return (None if h == len(HEADERS) else HEADERS[h]), int(e)


def describe_recipe(recipe: WorldRecipe | str, ks: Sequence[int] = DEFAULT_KS,
                    era: int | None = None, header: str | None = "auto") -> dict:
    """Exact description of a recipe (see the module docstring). ``era=None`` and
    ``header="auto"`` probe at the corpus's most likely era and header."""
    recipe = load_world_recipe(recipe)
    bayes = ExactBayes(recipe)
    w: World = bayes.world
    modal_h, modal_e = _modal_header_era(bayes)
    header = modal_h if header == "auto" else header
    era = modal_e if era is None else era
    sources = []
    for k, name in enumerate(w.source_names):
        spec = recipe.sources[name]
        rows = w.lat_source == k
        mass = w.latent_era_mass[rows].sum(axis=1)
        sources.append({
            "name": name, "token_share": float(w.token_share[k]),
            "document_share": float(w.document_shares[k]),
            "mean_tokens": float(w.mean_doc_tokens[k]), "mean_opportunities": float(w.mean_length[k]),
            "length": f"{spec.length.min}-{spec.length.max} ({spec.length.dist})"
                      if spec.length.min != spec.length.max else str(spec.length.min),
            "eras": ",".join(str(e) for e in spec.eras), "header": ",".join(spec.header),
            "filtered": bool(w.filtered[k]), "kept": float(w.clean_prob[k]),
            "personas": {w.personas[p].spec: float(mass[w.lat_persona[rows] == p].sum())
                         for p in np.unique(w.lat_persona[rows])},
            "regimes": {w.regimes[r].spec: float(mass[w.lat_regime[rows] == r].sum())
                        for r in np.unique(w.lat_regime[rows])},
        })
    curves = probe_curves(bayes, ks, era=era, header=header, support=bayes)
    posts = {}
    for ev in ("T", "U"):
        ctx = [context_tokens([(ev == "U", C)] * int(k), era=era, header=header) for k in ks]
        posts[ev] = bayes.posterior(ctx).by_persona()
    return {"recipe": recipe.name, "description": recipe.description, "latents": w.n_latents,
            "era": era, "header": header or "none", "sources": sources, "probes": curves,
            "probe_posterior": posts}


def _fmt(x: float) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    return f"{x:.4f}" if abs(x) >= 1e-3 or x == 0 else f"{x:.2e}"


def render_description(desc: dict) -> list:
    """Rich tables for :func:`describe_recipe`'s output."""
    from rich.table import Table

    tables = []
    t = Table(title=f"world recipe '{desc['recipe']}' ({desc['latents']} latents)")
    for col in ("source", "token share", "doc share", "tokens/doc", "opportunities", "length", "kept"):
        t.add_column(col, justify="left" if col in ("source", "length") else "right")
    for s in desc["sources"]:
        t.add_row(s["name"], f"{s['token_share']:.3f}", f"{s['document_share']:.3f}",
                  f"{s['mean_tokens']:.1f}", f"{s['mean_opportunities']:.1f}", s["length"],
                  f"{s['kept']:.3f}" if s["filtered"] else "all")
    tables.append(t)
    t = Table(title="source formats")
    for col in ("source", "header", "eras", "regimes"):
        t.add_column(col)
    for s in desc["sources"]:
        t.add_row(s["name"], s["header"], s["eras"],
                  ", ".join(f"{r} {v:.2f}" for r, v in s["regimes"].items()))
    tables.append(t)
    names = sorted({p for s in desc["sources"] for p in s["personas"]})
    t = Table(title="persona mix each source emits (after filtering)")
    t.add_column("persona")
    for s in desc["sources"]:
        t.add_column(s["name"], justify="right")
    for p in names:
        t.add_row(p, *[_fmt(s["personas"].get(p, 0.0)) for s in desc["sources"]])
    tables.append(t)
    pr = desc["probes"]
    t = Table(title=f"exact probes at era {desc['era']}, header {desc['header']}: "
                    "P(D | k clean opportunities, next flag)")
    for col in ("k", "T-evidence: D|U", "D|T", "log10 support", "U-evidence: D|U", "D|T",
                "log10 support"):
        t.add_column(col, justify="right")
    l10 = 1.0 / math.log(10)
    for i, k in enumerate(pr["k"]):
        t.add_row(str(k), _fmt(pr["T:q_U"][i]), _fmt(pr["T:q_T"][i]),
                  f"{pr['T:log_support'][i] * l10:.1f}", _fmt(pr["U:q_U"][i]), _fmt(pr["U:q_T"][i]),
                  f"{pr['U:log_support'][i] * l10:.1f}")
    tables.append(t)
    post = desc["probe_posterior"]
    for ev, what in (("T", "tested"), ("U", "untested")):
        t = Table(title=f"persona posterior after k clean {what} opportunities")
        t.add_column("persona")
        for k in pr["k"]:
            t.add_column(f"k={k}", justify="right")
        for p, vals in post[ev].items():
            t.add_row(p, *[_fmt(v) for v in vals])
        tables.append(t)
    return tables
