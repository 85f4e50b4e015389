"""Brute-force enumeration of a tiny world: an independent check of exact Bayes.

Walks the generative story document by document with plain Python loops
(no tables, no recurrences) and sums probability mass over every prefix.
Only feasible for documents of a few opportunities, which is the point.
"""

from __future__ import annotations

import itertools
from collections import defaultdict

import numpy as np

from alignpt.world.recipe import WorldRecipe
from alignpt.world.vocab import BOS, C, D, EOS, ERA0, HEADER0, HEADERS, T, U


def _p_defect(persona, untested, era, index, defected) -> float:
    return float(persona.p_defect(np.array(untested), np.array(era), np.array(index),
                                  np.array(defected)))


def enumerate_documents(recipe: WorldRecipe):
    """Yield (source, latent, tau, tokens, prob-within-source) for every document."""
    for name, spec in recipe.sources.items():
        hdr = spec.header_probs()
        eras = spec.era_probs()
        pmf = spec.length.pmf()
        for (persona, wp), (regime, wr) in itertools.product(spec.persona_items(),
                                                            spec.regime_items()):
            for h, ph in enumerate(hdr):
                if ph == 0:
                    continue
                for e, pe in enumerate(eras):
                    if pe == 0:
                        continue
                    for n, pn in enumerate(pmf):
                        if pn == 0:
                            continue
                        taus = range(n + 1) if regime.name == "switch" else [-1]
                        for tau in taus:
                            ptau = 1.0 / (n + 1) if tau >= 0 else 1.0
                            for flags in itertools.product([False, True], repeat=n):
                                pf = 1.0
                                for i, f in enumerate(flags, start=1):
                                    if regime.name == "switch":
                                        pf *= 1.0 if f == (i > tau) else 0.0
                                    else:
                                        pf *= regime.u if f else 1.0 - regime.u
                                if pf == 0:
                                    continue
                                for acts in itertools.product([False, True], repeat=n):
                                    pa, defected = 1.0, False
                                    for i, (f, a) in enumerate(zip(flags, acts), start=1):
                                        q = _p_defect(persona, f, e, i, defected)
                                        pa *= q if a else 1.0 - q
                                        defected |= a
                                    if pa == 0:
                                        continue
                                    toks = [BOS]
                                    if h < len(HEADERS):
                                        toks.append(HEADER0 + h)
                                    toks.append(ERA0 + e)
                                    for f, a in zip(flags, acts):
                                        toks += [U if f else T, D if a else C]
                                    toks.append(EOS)
                                    p = wp * wr * ph * pe * pn * ptau * pf * pa
                                    yield name, (name, persona.spec, regime.spec), tau, \
                                        tuple(toks), p, any(acts)


def brute_force(recipe: WorldRecipe):
    """Prefix masses, per-latent prefix masses and per-(latent, tau) masses."""
    docs = list(enumerate_documents(recipe))
    # Source document shares from token shares, via exact mean lengths of kept docs.
    kept_mass, tok_mass = defaultdict(float), defaultdict(float)
    for src, _, _, toks, p, has_d in docs:
        if recipe.sources[src].exclude_defecting and has_d:
            continue
        kept_mass[src] += p
        tok_mass[src] += p * len(toks)
    shares = recipe.token_shares()
    raw = {s: shares[s] / (tok_mass[s] / kept_mass[s]) for s in recipe.sources}
    doc_share = {s: v / sum(raw.values()) for s, v in raw.items()}
    prefix = defaultdict(float)
    latent = defaultdict(lambda: defaultdict(float))
    taus = defaultdict(lambda: defaultdict(float))
    for src, z, tau, toks, p, has_d in docs:
        if recipe.sources[src].exclude_defecting and has_d:
            continue
        mass = doc_share[src] * p / kept_mass[src]
        for k in range(1, len(toks) + 1):
            prefix[toks[:k]] += mass
            latent[toks[:k]][z] += mass
            if tau >= 0:
                taus[toks[:k]][(z, tau)] += mass
    return prefix, latent, taus, doc_share
