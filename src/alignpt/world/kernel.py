"""The vectorised core of exact Bayes: evidence, predictive and posterior at many
positions at once. Two evaluation paths compute the same numbers:

**log path** (general, and the reference): for every latent z and position t,
``log P(x_t, z) = G[z, k_t] + A[c(z), t]``, where ``k_t`` indexes the
position's (header, era, flag pattern, flags seen, ended?) in a per-latent
table ``G`` (prior, header, era, length/switch/filter factor Phi) and
``A[c, t]`` is the within-document cumulative log-likelihood of the actions
under action channel c (persona, filtered?) plus the i.i.d. flag term
``n_U * logit(u)`` of mixed regimes. Work is O(latents x positions).

**grouped path** (fast): latents sharing a channel share ``A``, so with
``Gexp = exp(G - max_z G)`` precomputed per table entry,

    P(x_t) = exp(gmax[k_t] + amax_t) * sum_c exp(A[c,t] - amax_t) * GC[c, k_t],
    GC[c, k] = sum_{z in c} Gexp[z, k]

and the same for the predictive with ``GC_x[c, k] = sum_{z in c} Gexp[z, k]
P(x | z, k)``. Work is O(channels x positions), a few times less. The two
rescalings could underflow together in extreme contexts; such positions
(total below 1e-250) are recomputed on the log path, so results are exact
either way. The grouped tables are built only while they fit a memory budget.
"""

from __future__ import annotations

import numpy as np

from alignpt.world.model import World
from alignpt.world.regimes import N_PATTERNS
from alignpt.world.stream import KIND_BETWEEN, KIND_END, KIND_MID, Features
from alignpt.world.tables import COND_EOS, COND_T, COND_U, log
from alignpt.world.vocab import BOS, C, D, EOS, HEADERS, N_ERAS, T, U, VOCAB_SIZE

__all__ = ["Kernel", "GROUPED_BUDGET"]

#: Largest grouped table (floats) built automatically; beyond it the log path is used.
GROUPED_BUDGET = 40_000_000
_UNDERFLOW = 1e-250


class Kernel:
    """Tables and evaluation paths for one compiled world (see the module docstring)."""

    def __init__(self, world: World, grouped: bool | None = None):
        self.world = w = world
        Z, M = w.n_latents, w.M
        self.M = M
        s = w.lat_source
        # Compact header index: only headers some source can emit get table rows.
        used = np.nonzero(w.header_probs.sum(axis=0) > 0)[0]
        self.hmap = np.full(len(HEADERS) + 1, -1)
        self.hmap[used] = np.arange(used.size)
        self.HC = HC = used.size
        self.Kp = Kp = N_ERAS * N_PATTERNS * M            # (era, pattern, m) entries
        log_phi, log_cond = w.latent_tables                # (Z, 10, 5, M), (..., 3)
        # base: prior, header and era, (Z, HC*10); phi: the length/switch/filter factor
        # Phi at a live position (first half) and at an EOS position (second half).
        self.base = np.ascontiguousarray(
            (w.latent_log_prior[:, None, None] + log(w.header_probs[s][:, used])[:, :, None]
             + log(w.era_probs[s])[:, None, :]).reshape(Z, -1))
        self.phi = np.ascontiguousarray(np.concatenate(
            [log_phi.reshape(Z, -1), (log_phi + log_cond[..., COND_EOS]).reshape(Z, -1)], axis=1))
        self.cond = [np.ascontiguousarray(np.exp(log_cond[..., c]).reshape(Z, -1))
                     for c in (COND_EOS, COND_T, COND_U)]
        # Action channels: (persona, filtered, mixed-regime u) among the latents.
        alpha = np.array([np.log(w.regimes[r].u) - np.log1p(-w.regimes[r].u)
                          if 0 < w.regimes[r].u < 1 else 0.0 for r in w.lat_regime])
        keys = [(int(p), bool(w.filtered[q]), float(a)) for p, q, a in zip(w.lat_persona, s, alpha)]
        self.channels = sorted(set(keys))
        self.chan_of_z = np.array([self.channels.index(k) for k in keys])
        self.pairs = sorted({(p, f) for p, f, _ in self.channels})
        self.pair_of_chan = np.array([self.pairs.index((p, f)) for p, f, _ in self.channels])
        self.chan_alpha = np.array([a for _, _, a in self.channels])
        self.pair_sum = np.zeros((len(self.pairs), len(self.channels)))
        self.pair_sum[self.pair_of_chan, np.arange(len(self.channels))] = 1.0
        self.pd = w.p_defect.reshape(-1)
        self.action_table = self._action_table()
        self.chan_onehot = np.zeros((len(self.channels), Z))
        self.chan_onehot[self.chan_of_z, np.arange(Z)] = 1.0
        fits = len(self.channels) * HC * Kp * 5 <= GROUPED_BUDGET
        self.grouped = fits if grouped is None else bool(grouped)
        if self.grouped:
            self._build_grouped()

    def _action_table(self) -> np.ndarray:
        """(pairs, 4 * 2 * 10 * M * 2) log-likelihood a token adds to an action channel,
        by (token class: other / flag / C / D, untested, era, index, defected before).

        Unfiltered: an action adds log P(a). Filtered (documents with a D were
        dropped): a flag adds the probability its opportunity stays clean, C adds
        nothing, D is impossible."""
        w = self.world
        with np.errstate(divide="ignore"):
            log_pd, log_pc = np.log(w.p_defect), np.log1p(-w.p_defect)   # (P, 2, 10, M, 2)
        out = np.zeros((len(self.pairs), 4) + w.p_defect.shape[1:])
        for c, (p, filtered) in enumerate(self.pairs):
            if filtered:
                out[c, 1] = log_pc[p][..., :1]          # clean as if not yet defected
                out[c, 3] = -np.inf
            else:
                out[c, 2], out[c, 3] = log_pc[p], log_pd[p]
        return out.reshape(len(self.pairs), -1)

    def _build_grouped(self) -> None:
        """GC (C, HC, 2Kp), GCx (3 x (C, HC, Kp)) and gmax (HC, 2Kp), one header at a time."""
        Zc, HC, Kp = len(self.channels), self.HC, self.Kp
        era_of_col = np.tile(np.repeat(np.arange(N_ERAS), N_PATTERNS * self.M), 2)
        self.gmax = np.zeros((HC, 2 * Kp))
        self.GC = np.zeros((Zc, HC, 2 * Kp))
        self.GCx = [np.zeros((Zc, HC, Kp)) for _ in range(3)]
        for h in range(HC):
            g = self.base[:, h * N_ERAS + era_of_col] + self.phi
            gmax = g.max(axis=0)
            self.gmax[h] = np.where(np.isfinite(gmax), gmax, 0.0)
            gexp = np.exp(g - self.gmax[h])
            self.GC[:, h] = self.chan_onehot @ gexp
            for c in range(3):
                self.GCx[c][:, h] = self.chan_onehot @ (gexp[:, :Kp] * self.cond[c])
        self.GC = self.GC.reshape(Zc, -1)
        self.gmax = self.gmax.reshape(-1)
        self.GCx = [x.reshape(Zc, -1) for x in self.GCx]

    # -- shared pieces ---------------------------------------------------
    def table_index(self, f: Features, t: np.ndarray | slice):
        """Columns of positions t (kind >= BETWEEN): base column, phi column (with
        the EOS half), and whether the document's header is one the world emits."""
        hc = self.hmap[f.header[t]]
        m = np.minimum(f.m[t], self.M - 1)
        kp = (f.era[t] * N_PATTERNS + f.pattern[t]) * self.M + m
        kp_end = kp + (f.kind[t] == KIND_END) * self.Kp
        hc0 = np.maximum(hc, 0)
        return hc0 * N_ERAS + f.era[t], kp, kp_end, hc0, hc >= 0

    def channel_logs(self, f: Features) -> np.ndarray:
        """(channels, T): within-document log-likelihood of the actions so far, plus
        the mixed regimes' n_U * logit(u); -inf once something impossible was seen."""
        M = self.M
        code = np.where(f.is_flag, 1, np.where(f.is_action, 2 + f.is_d, 0))
        idx = ((((code * 2 + f.untested) * N_ERAS + f.era) * M + np.minimum(f.opp, M - 1)) * 2
               + f.defected)
        vals = np.take(self.action_table, idx, axis=1)                 # (pairs, T)
        imp = np.isneginf(vals)
        vals[imp] = 0.0
        # cumulative sums within each document: impossible events are counted apart,
        # so -inf never meets a subtraction
        csum, cnt = np.cumsum(vals, axis=1), np.cumsum(imp, axis=1, dtype=np.int32)
        first = f.starts[f.doc]
        before = first - 1
        prev = np.where(before >= 0, csum[:, np.maximum(before, 0)], 0.0)
        prev_n = np.where(before >= 0, cnt[:, np.maximum(before, 0)], 0)
        csum -= prev
        csum[cnt > prev_n] = -np.inf
        out = csum[self.pair_of_chan]
        for c in np.nonzero(self.chan_alpha)[0]:
            out[c] += self.chan_alpha[c] * f.n_u
        return out

    def _mid_pd(self, f: Features, t: np.ndarray) -> np.ndarray:
        """(pairs, n): P(D | persona, filtered) at MID positions (0 when filtered)."""
        M = self.M
        idx0 = ((f.untested[t].astype(np.int64) * N_ERAS + f.era[t]) * M
                + np.minimum(f.opp[t], M - 1)) * 2 + f.defected[t]
        out = np.zeros((len(self.pairs), t.size))
        for c, (p, filtered) in enumerate(self.pairs):
            if not filtered:
                out[c] = self.pd[p * 2 * N_ERAS * M * 2 + idx0]
        return out

    # -- evaluation paths --------------------------------------------------
    def log_path(self, f: Features, t: np.ndarray, logs: np.ndarray, want_probs: bool,
                 want_post: bool):
        """Reference path over latents. Returns (ev, probs (n, V) or None, post (n, Z) or None)."""
        kb, kp, kp_end, _, ok = self.table_index(f, t)
        logj = np.take(self.base, kb, axis=1)
        logj += np.take(self.phi, kp_end, axis=1)
        logj += logs[:, t][self.chan_of_z]
        logj[:, ~ok] = -np.inf
        mx = logj.max(axis=0)
        finite = np.isfinite(mx)
        w = np.exp(logj - np.where(finite, mx, 0.0))
        total = w.sum(axis=0)
        with np.errstate(divide="ignore", invalid="ignore"):
            ev = np.where(finite, mx + np.log(total), -np.inf)
            inv = np.where(finite, 1.0 / total, np.nan)
        post = (w * inv).T if want_post else None
        probs = None
        if want_probs:
            probs = self._probs(f, t, self.chan_onehot @ w, inv,
                                lambda col, sel: (w[:, sel] * np.take(self.cond[col], kp[sel], axis=1)).sum(0))
        return ev, probs, post

    def grouped_path(self, f: Features, t: np.ndarray | None, logs: np.ndarray):
        """Fast path over channels at positions t (None: all). Returns (ev, probs,
        redo) with ``redo`` the positions (indices into t) that must be recomputed
        on the log path. Rows of positions before the era are meaningless."""
        if t is None:
            t = slice(None)
            ea = logs                                         # owned by the caller; reused
        else:
            ea = logs[:, t]
        _, kp, kp_end, hc, ok = self.table_index(f, t)
        kg = hc * 2 * self.Kp + kp_end
        amax = ea.max(axis=0)
        a_ok = np.isfinite(amax)
        ea -= np.where(a_ok, amax, 0.0)
        np.exp(ea, out=ea)                                    # exp(A - amax), (channels, n)
        chan_w = np.take(self.GC, kg, axis=1)
        chan_w *= ea                                          # scaled posterior mass per channel
        total = chan_w.sum(axis=0)
        live = ok & a_ok & (total > 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            ev = np.where(live, self.gmax[kg] + amax + np.log(total), -np.inf)
            inv = np.where(live, 1.0 / total, np.nan)
        redo = np.nonzero(ok & a_ok & (total < _UNDERFLOW))[0]
        kx = hc * self.Kp + kp
        cache: dict = {}

        def between_sum(col, sel):
            if "ea" not in cache:                              # shared by the three columns
                cache["ea"], cache["kx"] = ea[:, sel], kx[sel]
            return np.einsum("ct,ct->t", cache["ea"], np.take(self.GCx[col], cache["kx"], axis=1))

        return ev, self._probs(f, t, chan_w, inv, between_sum), redo

    def _probs(self, f, t, chan_w, inv, between_sum) -> np.ndarray:
        """Next-token rows from per-channel weights (MID) and a BETWEEN summer."""
        kind = f.kind[t]
        probs = np.zeros((kind.size, VOCAB_SIZE))
        btw = np.nonzero(kind == KIND_BETWEEN)[0]
        if btw.size:
            for col, tok in enumerate((EOS, T, U)):
                probs[btw, tok] = between_sum(col, btw) * inv[btw]
        mid = np.nonzero(kind == KIND_MID)[0]
        if mid.size:
            pair_w = self.pair_sum @ chan_w[:, mid]            # (pairs, n_mid)
            pdx = np.einsum("ct,ct->t", pair_w, self._mid_pd(f, np.arange(len(f))[t][mid])) * inv[mid]
            probs[mid, D] = pdx
            probs[mid, C] = 1.0 - pdx
        probs[kind == KIND_END, BOS] = 1.0
        probs[np.isnan(inv)] = np.nan
        return probs
