"""The persona-world suite: hold a model trained on a world corpus against exact Bayes.

A model is read through the world's narrow *predictor* interface
(:data:`alignpt.world.probes.Predictor`): a batch of token-id contexts in, a
``(batch, VOCAB_SIZE)`` array of next-token probabilities out. The suite reports

* **probes**: P(D | T) and P(D | U) after k clean tested / untested
  opportunities (``BOS ERA_e (f C)*k f_next``), model beside Bayes, with each
  probe's support probability under the training world: where it is below
  ``min_probe_support`` the training data barely contains the context, so the
  model's answer there is its inductive bias, not a Bayesian reading;
* **implied posterior**: persona masses fitted to the model's predictions
  (:func:`alignpt.world.probes.fit_implied_posterior`) beside the true exact
  posterior at the same context;
* **implied half-life**: -ln 2 over the slope of log(pi_random / pi_luigi)
  against k, for the model's implied masses and for the exact ones;
* **KL to exact Bayes** on held-out documents, mean KL(Bayes || model) per
  position by kind (actions, flags/EOS, document start), split into contexts
  the training world supports (probability > 0) and contexts it does not. An
  off-support context has no Bayes answer under the training world; there the
  suite reports the model's P(D) and, given the held-out documents' own recipe,
  the KL to *that* world's Bayes, labelled as such.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np
from pydantic import Field

from alignpt.core.config import StrictModel
from alignpt.core.errors import AlignptError, require
from alignpt.core.devices import check_device
from alignpt.evaluate.metrics import MIN_BOOTSTRAP

if TYPE_CHECKING:   # the world package is imported lazily, where a report needs it
    from alignpt.world.probes import Predictor

__all__ = ["WorldModel", "WorldSuiteConfig", "checkpoint_world_model", "bayes_world_model",
           "probe_report", "posterior_report", "kl_report", "run_world_suite"]


class WorldModel:
    """A predictor, plus a whole-document scorer (row t: the prediction after token t).

    Without ``documents`` every prefix of a document is sent to ``predictor``
    (correct, and fine for exact Bayes; networks pass a one-pass scorer).
    """

    def __init__(self, predictor: Predictor, documents: Callable | None = None,
                 name: str = "model"):
        self.predictor, self._documents, self.name = predictor, documents, name

    def __call__(self, contexts: Sequence[np.ndarray]) -> np.ndarray:
        return np.asarray(self.predictor(list(contexts)), dtype=np.float64)

    def document_probs(self, docs: Sequence[np.ndarray]) -> list[np.ndarray]:
        if self._documents is not None:
            return self._documents(docs)
        prefixes = [d[:t + 1] for d in docs for t in range(len(d))]
        flat, out, pos = self(prefixes), [], 0
        for d in docs:
            out.append(flat[pos:pos + len(d)])
            pos += len(d)
        return out


def bayes_world_model(bayes: Any) -> WorldModel:
    """Exact Bayes as a "model" (KL 0 and implied = true posterior: the suite's self-check)."""
    return WorldModel(bayes.predictive, name="exact-bayes")


def checkpoint_world_model(path: str, device: str = "cpu", batch_size: int = 64) -> WorldModel:
    """A trained alignpt checkpoint (or run folder) as a world model.

    Probabilities are renormalised over the world vocabulary, since the model's
    vocabulary may be padded (``vocab_multiple``)."""
    torch = require("torch", "train", "the persona-world suite")
    from alignpt.train.inference import load_model, next_token_logprobs
    from alignpt.world.vocab import VOCAB_SIZE

    check_device(torch, device)
    model, cfg = load_model(path, device)

    def norm(logp: np.ndarray) -> np.ndarray:
        p = np.exp(logp[..., :VOCAB_SIZE])
        return p / p.sum(axis=-1, keepdims=True)

    def predictor(contexts: Sequence[np.ndarray]) -> np.ndarray:
        return norm(next_token_logprobs(model, [list(map(int, c)) for c in contexts], batch_size))

    @torch.no_grad()
    def documents(docs: Sequence[np.ndarray]) -> list[np.ndarray]:
        out = []
        for d in docs:
            ids = torch.as_tensor(np.asarray(d[:cfg.max_seq_len], dtype=np.int64), device=device)
            out.append(norm(model.log_probs(ids[None]).double()[0].cpu().numpy()))
        return out

    return WorldModel(predictor, documents, name=str(path))


class WorldSuiteConfig(StrictModel):
    """What the persona-world suite probes, and with which held-out documents."""

    recipe: str = Field(..., description="the world recipe the model was trained on")
    heldout: str | None = Field(None, description="token shard(s) of held-out documents")
    eval_recipe: str | None = Field(None, description="recipe of the held-out documents, "
                                    "if it differs (reference for off-support contexts)")
    ks: list[int] = [0, 1, 2, 4, 8, 16, 32]
    era: int = Field(0, ge=0, le=9)
    header: str | None = None
    min_probe_support: float = Field(1e-3, ge=0)
    max_docs: int = Field(2000, ge=1)
    n_boot: int = Field(1000, ge=MIN_BOOTSTRAP)
    seed: int = Field(0, ge=0)


def probe_report(model: Predictor, bayes: Any, ks: Sequence[int], era: int = 0,
                 header: str | None = None, min_support: float = 1e-3) -> dict[str, Any]:
    """Model and Bayes P(D | next flag) after k clean T / U opportunities, with support."""
    from alignpt.world.probes import probe_curves

    mine = probe_curves(model, ks, era=era, header=header, support=bayes)
    exact = probe_curves(bayes, ks, era=era, header=header)
    out: dict[str, Any] = {"k": [int(k) for k in ks]}
    for ev in ("T", "U"):
        log_s = np.asarray(mine[f"{ev}:log_support"], dtype=float)
        out[f"after_{ev}"] = {
            "model_q_U": mine[f"{ev}:q_U"].tolist(), "bayes_q_U": exact[f"{ev}:q_U"].tolist(),
            "model_q_T": mine[f"{ev}:q_T"].tolist(), "bayes_q_T": exact[f"{ev}:q_T"].tolist(),
            "log10_support": (log_s / math.log(10)).tolist(),
            "on_support": (log_s >= math.log(min_support) if min_support > 0
                           else np.isfinite(log_s)).tolist()}
    return out


def posterior_report(model: Predictor, bayes: Any, ks: Sequence[int], era: int = 0,
                     header: str | None = None) -> dict[str, Any]:
    """Implied persona posterior (model) beside the exact one, and both half-lives."""
    from alignpt.world.probes import fit_implied_posterior, implied_half_life
    from alignpt.world.vocab import C, context_tokens

    personas = [p.spec for p in bayes.world.personas]
    out: dict[str, Any] = {"k": [int(k) for k in ks], "personas": personas}
    for ev in ("T", "U"):
        ctx = [context_tokens([(ev == "U", C)] * int(k), era=era, header=header) for k in ks]
        true = bayes.posterior(ctx).by_persona()
        implied, errors = {p: [] for p in personas}, []
        for k, c in zip(ks, ctx):
            try:
                fit = fit_implied_posterior(model, c, personas)
            except AlignptError as exc:      # e.g. too few continuations with mass
                fit, errors = {p: math.nan for p in personas}, errors + [f"k={k}: {exc}"]
            for p in personas:
                implied[p].append(fit[p])
        block = {"implied": implied, "true": {p: np.asarray(v).tolist() for p, v in true.items()},
                 "errors": errors}
        for label, masses in (("implied", implied), ("true", block["true"])):
            rand = np.sum([masses[p] for p in personas if p.startswith("random")], axis=0)
            luigi = np.sum([masses[p] for p in personas if p.startswith("luigi")], axis=0)
            try:
                # A zero mass gives an infinite log-odds point, which the fit skips.
                with np.errstate(divide="ignore", invalid="ignore"):
                    block[f"{label}_half_life"] = implied_half_life(ks, rand, luigi)
            except (AlignptError, TypeError):
                block[f"{label}_half_life"] = None
        out[f"after_{ev}"] = block
    return out


def _kl_rows(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    q = np.clip(q, 1e-300, None)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * (np.log(np.where(p > 0, p, 1.0)) - np.log(q)), 0.0)
    return terms.sum(axis=1)


def _summary(per_doc: list[tuple[float, int]], rng: np.random.Generator, n_boot: int) -> dict:
    docs = [(s, n) for s, n in per_doc if n]
    if not docs:
        return {"mean": None, "ci": None, "n_positions": 0, "n_docs": 0}
    s, n = np.array(docs, dtype=float).T
    idx = rng.integers(0, len(s), size=(n_boot, len(s)))
    boots = s[idx].sum(axis=1) / n[idx].sum(axis=1)
    return {"mean": float(s.sum() / n.sum()), "ci": np.quantile(boots, [0.025, 0.975]).tolist(),
            "n_positions": int(n.sum()), "n_docs": len(s)}


def kl_report(model: WorldModel, bayes: Any, shard: str, eval_bayes: Any = None,
              max_docs: int = 2000, n_boot: int = 1000, seed: int = 0) -> dict[str, Any]:
    """Mean KL(Bayes || model) per position on held-out documents, on / off support."""
    from alignpt.core.tokens import TokenShard
    from alignpt.world.stream import KIND_BETWEEN, KIND_BOS, KIND_HEADER, KIND_MID
    from alignpt.world.vocab import C, D

    kinds = {"actions": (KIND_MID,), "flags_eos": (KIND_BETWEEN,),
             "start": (KIND_BOS, KIND_HEADER)}
    sh = TokenShard(shard)
    docs_index = np.asarray(sh.docs)
    acc: dict[str, list] = {f"{side}:{k}": [] for side in ("on", "off", "off_vs_eval")
                            for k in kinds}
    acc["off:model_p_defect"], acc["off:eval_p_defect"] = [], []
    ref_iter = eval_bayes.iter_corpus(sh) if eval_bayes is not None else None
    done = 0
    for chunk in bayes.iter_corpus(sh):
        ref = next(ref_iter) if ref_iter is not None else None
        sel = np.nonzero((docs_index[:, 0] >= chunk.start) & (docs_index[:, 1] <= chunk.end))[0]
        sel = sel[:max_docs - done]
        docs = [chunk.tokens[a - chunk.start:b - chunk.start] for a, b in docs_index[sel, :2]]
        for (a, b), q in zip(docs_index[sel, :2], model.document_probs(docs)):
            r = slice(a - chunk.start, a - chunk.start + len(q))
            p, kind, ev = chunk.probs[r], chunk.kind[r], chunk.log_evidence[r]
            on = np.isfinite(ev) & np.isfinite(p).all(axis=1) & (p.sum(axis=1) > 0)
            kl = np.where(on, _kl_rows(np.nan_to_num(p), q), np.nan)
            for name, ks in kinds.items():
                m = np.isin(kind, ks)
                acc[f"on:{name}"].append((float(np.nansum(kl[m & on])), int((m & on).sum())))
                acc[f"off:{name}"].append((0.0, int((m & ~on).sum())))
                if ref is not None:
                    pr = ref.probs[r]
                    kl_ref = _kl_rows(np.nan_to_num(pr), q)
                    acc[f"off_vs_eval:{name}"].append((float(kl_ref[m & ~on].sum()),
                                                       int((m & ~on).sum())))
            act = (kind == KIND_MID) & ~on
            if act.any():
                qd = q[act, D] / (q[act, C] + q[act, D])
                acc["off:model_p_defect"].append((float(qd.sum()), int(act.sum())))
                if ref is not None:
                    pr = ref.probs[r][act]
                    pd = pr[:, D] / (pr[:, C] + pr[:, D])
                    acc["off:eval_p_defect"].append((float(pd.sum()), int(act.sum())))
        done += len(sel)
        if done >= max_docs:
            break
    rng = np.random.default_rng(seed)
    out: dict[str, Any] = {"n_docs": done, "on_support": {}, "off_support": {}}
    for name in kinds:
        out["on_support"][name] = _summary(acc[f"on:{name}"], rng, n_boot)
        n_off = sum(n for _, n in acc[f"off:{name}"])
        block = {"n_positions": n_off}
        if eval_bayes is not None:
            block["kl_vs_heldout_world_bayes"] = _summary(acc[f"off_vs_eval:{name}"], rng, n_boot)
        out["off_support"][name] = block
    out["off_support"]["model_p_defect"] = _summary(acc["off:model_p_defect"], rng, n_boot)
    if eval_bayes is not None:
        out["off_support"]["heldout_world_p_defect"] = _summary(acc["off:eval_p_defect"], rng,
                                                                n_boot)
    return out


def run_world_suite(model: WorldModel, cfg: WorldSuiteConfig) -> dict[str, Any]:
    """All persona-world measurements for ``model`` (see the module docstring)."""
    from alignpt.world.bayes import ExactBayes

    bayes = ExactBayes(cfg.recipe)
    limit = bayes.world.recipe.max_length - 1
    ks = sorted({min(int(k), limit) for k in cfg.ks})
    out: dict[str, Any] = {
        "suite": {"name": "persona-world", "version": "1.0"}, "model": model.name,
        "config": cfg.model_dump(mode="json"),
        "probes": probe_report(model, bayes, ks, cfg.era, cfg.header, cfg.min_probe_support),
        "posterior": posterior_report(model, bayes, ks, cfg.era, cfg.header),
    }
    if cfg.heldout:
        ref = ExactBayes(cfg.eval_recipe) if cfg.eval_recipe else None
        out["kl"] = kl_report(model, bayes, cfg.heldout, ref, cfg.max_docs, cfg.n_boot, cfg.seed)
    return out
