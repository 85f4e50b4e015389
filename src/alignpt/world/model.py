"""A recipe compiled to arrays: the one numeric description that generation and
exact Bayes share, so the sampler and the posterior cannot drift apart.

Indices used throughout:

* sources s (recipe order), personas p and regimes r (each the list of
  distinct specs across all sources, in order of first appearance);
* latents z = (s, p, r) with positive prior mass, the unit exact Bayes sums over;
* opportunity index i from 1, table length M = longest document + 2 (so index
  M-1 is always past the end and carries probability 0).

Token share vs document share: a recipe gives each source a share of *tokens*
rho_s. Documents are drawn i.i.d. with document shares

    w_s = (rho_s / L_s) / sum_t (rho_t / L_t),   L_s = 3 + P_s(header) + 2 E_s[n]

(BOS, ERA, EOS, the optional header and two tokens per opportunity), which is
what makes the expected token share of source s equal rho_s. For a source with
``exclude_defecting``, E_s[n] is the mean length of the documents it *keeps*
(long documents are rejected more often), computed exactly from the tables.
"""

from __future__ import annotations

from functools import cached_property

import numpy as np

from alignpt.core.errors import ConfigError
from alignpt.world.personas import Persona
from alignpt.world.recipe import WorldRecipe, load_world_recipe
from alignpt.world.regimes import PATTERN_NONE, Regime
from alignpt.world.tables import log, regime_tables
from alignpt.world.vocab import HEADERS, N_ERAS

__all__ = ["World", "compile_world"]


class World:
    """Numeric form of a :class:`~alignpt.world.recipe.WorldRecipe` (see module docstring)."""

    def __init__(self, recipe: WorldRecipe):
        self.recipe = recipe
        self.source_names = list(recipe.sources)
        srcs = list(recipe.sources.values())
        self.personas: list[Persona] = []
        self.regimes: list[Regime] = []
        for spec in srcs:
            for persona, _ in spec.persona_items():
                if persona not in self.personas:
                    self.personas.append(persona)
            for regime, _ in spec.regime_items():
                if regime not in self.regimes:
                    self.regimes.append(regime)
        S, P, R = len(srcs), len(self.personas), len(self.regimes)
        self.M = recipe.max_length + 2
        self.token_share = np.array([recipe.token_shares()[n] for n in self.source_names])
        self.header_probs = np.stack([s.header_probs() for s in srcs])          # (S, H+1)
        self.era_probs = np.stack([s.era_probs() for s in srcs])                # (S, 10)
        self.length_pmf = np.stack([s.length.pmf(self.M) for s in srcs])        # (S, M)
        self.filtered = np.array([s.exclude_defecting for s in srcs])
        self.persona_probs = np.zeros((S, P))
        self.regime_probs = np.zeros((S, R))
        for k, spec in enumerate(srcs):
            for persona, w in spec.persona_items():
                self.persona_probs[k, self.personas.index(persona)] += w
            for regime, w in spec.regime_items():
                self.regime_probs[k, self.regimes.index(regime)] += w
        self.stateful = any(p.stateful for p in self.personas)
        self.p_defect = self._defect_table()
        zs, zp, zr = np.nonzero(self.persona_probs[:, :, None] * self.regime_probs[:, None, :])
        self.lat_source, self.lat_persona, self.lat_regime = zs, zp, zr
        for k in np.nonzero(self.filtered)[0]:
            if not self.clean_prob[k] > 1e-9:
                raise ConfigError(f"source '{self.source_names[k]}': exclude_defecting keeps "
                                  f"almost no document (P(no defection) = {self.clean_prob[k]:.3g})")

    # -- persona table -------------------------------------------------
    def _defect_table(self) -> np.ndarray:
        """P(D) as (P, flag 0=T/1=U, era, index i, defected-before 0/1)."""
        f, e, i, s = np.meshgrid(np.array([False, True]), np.arange(N_ERAS), np.arange(self.M),
                                 np.array([False, True]), indexing="ij")
        table = np.stack([np.broadcast_to(p.p_defect(f, e, i, s), f.shape).astype(np.float64)
                          for p in self.personas])
        table[..., 0, :] = 0.0          # index 0 is not an opportunity
        return np.ascontiguousarray(table)

    def clean_logs(self, persona: int) -> tuple[np.ndarray, np.ndarray]:
        """log c_T(i), log c_U(i) per era: (10, M) each, for a persona yet to defect."""
        t = self.p_defect[persona]
        return log(1.0 - t[0, :, :, 0]), log(1.0 - t[1, :, :, 0])

    @property
    def n_latents(self) -> int:
        return int(self.lat_source.size)

    def latent_labels(self) -> list[tuple[str, str, str]]:
        return [(self.source_names[s], self.personas[p].spec, self.regimes[r].spec)
                for s, p, r in zip(self.lat_source, self.lat_persona, self.lat_regime)]

    # -- per-latent tables -----------------------------------------------
    @cached_property
    def latent_tables(self) -> tuple[np.ndarray, np.ndarray]:
        """``log_phi`` (Z, 10, 5, M) and ``log_cond`` (Z, 10, 5, M, 3) per latent and era.

        Unfiltered latents do not depend on the era (clean probabilities are 1);
        their rows are computed once and broadcast.
        """
        Z, M = self.n_latents, self.M
        log_phi = np.empty((Z, N_ERAS, 5, M))
        log_cond = np.empty((Z, N_ERAS, 5, M, 3))
        zeros = np.zeros((1, M))
        cache: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}
        for z in range(Z):
            s, p, r = int(self.lat_source[z]), int(self.lat_persona[z]), int(self.lat_regime[z])
            key = (s if self.filtered[s] else -1, p if self.filtered[s] else -1, r,
                   self.length_pmf[s].tobytes())
            if key not in cache:
                cT, cU = self.clean_logs(p) if self.filtered[s] else (zeros, zeros)
                cache[key] = regime_tables(log(self.length_pmf[s]), cT, cU, self.regimes[r])
            phi, cond = cache[key]
            log_phi[z], log_cond[z] = phi, cond          # broadcasts (1, ...) over eras
        return log_phi, log_cond

    @cached_property
    def keep_mass(self) -> np.ndarray:
        """(Z, 10): P(document kept | latent, era): 1 unfiltered, P(no D) when filtered."""
        log_phi, _ = self.latent_tables
        return np.exp(log_phi[:, :, PATTERN_NONE, 0])

    @cached_property
    def clean_prob(self) -> np.ndarray:
        """(S,) probability that a source's raw document shows no D (1 for unfiltered:
        only filtered sources are conditioned on it; others report 1 by convention)."""
        out = np.ones(len(self.source_names))
        joint = self._raw_latent_era_mass() * self.keep_mass
        for s in np.nonzero(self.filtered)[0]:
            out[s] = joint[self.lat_source == s].sum()
        return out

    def _raw_latent_era_mass(self) -> np.ndarray:
        """(Z, 10): P_s(p) P_s(r) P_s(e) within the latent's source (before filtering)."""
        s, p, r = self.lat_source, self.lat_persona, self.lat_regime
        return (self.persona_probs[s, p] * self.regime_probs[s, r])[:, None] * self.era_probs[s]

    @cached_property
    def latent_era_mass(self) -> np.ndarray:
        """(Z, 10): P(p, r, e | source) for the documents a source actually emits."""
        mass = self._raw_latent_era_mass() * self.keep_mass
        return mass / self.clean_prob[self.lat_source][:, None]

    @cached_property
    def mean_length(self) -> np.ndarray:
        """(S,) exact mean opportunities per emitted document."""
        out = np.zeros(len(self.source_names))
        n = np.arange(self.M, dtype=np.float64)
        for k in range(len(self.source_names)):
            if not self.filtered[k]:
                out[k] = float((n * self.length_pmf[k]).sum())
                continue
            rows = np.nonzero(self.lat_source == k)[0]
            total = 0.0
            for z in rows:
                cT, cU = self.clean_logs(int(self.lat_persona[z]))
                phi, _ = regime_tables(log(n * self.length_pmf[k]), cT, cU,
                                       self.regimes[int(self.lat_regime[z])])
                total += float((self._raw_latent_era_mass()[z] * np.exp(phi[:, PATTERN_NONE, 0])).sum())
            out[k] = total / self.clean_prob[k]
        return out

    @cached_property
    def mean_doc_tokens(self) -> np.ndarray:
        """(S,) exact mean tokens per document: BOS, ERA, EOS, header, 2 per opportunity."""
        has_header = 1.0 - self.header_probs[:, len(HEADERS)]
        return 3.0 + has_header + 2.0 * self.mean_length

    @cached_property
    def document_shares(self) -> np.ndarray:
        """(S,) P(a document comes from source s); see the module docstring."""
        w = self.token_share / self.mean_doc_tokens
        return w / w.sum()

    @cached_property
    def latent_log_prior(self) -> np.ndarray:
        """(Z,) log w_s + log P_s(p) + log P_s(r) - log P_s(kept)."""
        s, p, r = self.lat_source, self.lat_persona, self.lat_regime
        return (log(self.document_shares[s]) + log(self.persona_probs[s, p])
                + log(self.regime_probs[s, r]) - log(self.clean_prob[s]))


def compile_world(recipe: WorldRecipe | str) -> World:
    return World(load_world_recipe(recipe))
