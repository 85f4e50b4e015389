"""An experiment's arms as dose-response data: one :class:`~alignpt.law.data.LawPoint` per arm.

Each arm is a configuration (injected share, pretraining tokens, model parameters,
insertion schedule) and each seed a measurement of it: the story place's P(D|U) over its
on-support probe items at k = 0 (the claims' reading), after the arm's last pretraining
phase (``pretrain``, or ``finetune`` for a fine-tune arm), on the logit scale. Exact
Bayes's value of the same reading comes beside it.

A recipe with a ``law:`` block names its configurations (experiment.law_config); any
other recipe contributes the unfiltered arms that inject nothing or one chosen corpus
(``inject``), so `alignpt law fit` also reads an experiment without a sweep, e.g. the
demo's three doses.
"""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from alignpt.core.errors import ConfigError
from alignpt.experiment.results import Table
from alignpt.law.data import LawData, LawPoint

__all__ = ["law_data", "arm_points", "count_parameters", "RESPONSE"]

RESPONSE = "logit P(D|U): story place, on-support probe items, k = 0, after pretraining"
_EPS = 1e-6


def count_parameters(model: Any, vocab_size: int, seq_len: int) -> int:
    """Trainable parameters of ``model`` (a ModelConfig) built for this vocabulary and
    context: built on the meta device, so no memory is spent on weights."""
    import torch

    from alignpt.train.model import GPT, count_params

    with torch.device("meta"):
        return count_params(GPT(model.resolved(vocab_size, seq_len)))


def _vocab_size(root: Path | None, recipe: Any) -> int:
    """The models' vocabulary: the world's tokens, or what a trained checkpoint records."""
    if recipe.kind == "world":
        from alignpt.world.vocab import VOCAB_SIZE

        return VOCAB_SIZE
    import orjson

    for path in sorted((root or Path(".")).glob("runs/*/*/train/checkpoints/*/model.json")):
        return int(orjson.loads(path.read_bytes())["model"]["vocab_size"])
    raise ConfigError(f"{root}: no trained checkpoint records the vocabulary size yet")


def arm_points(recipe: Any, inject: str | None = None) -> dict[str, dict[str, Any]]:
    """Arm name -> share, tokens, model, schedule, heldout: the law block's configurations,
    or (without one) every unfiltered arm without DPO injecting nothing or ``inject``
    (default: the corpus most arms inject)."""
    from alignpt.experiment.law_config import arm_model, arm_tokens, law_points

    if recipe.law is not None:
        return law_points(recipe)
    injected = Counter(a.inject for a in recipe.arms.values() if a.inject and not a.filtered)
    if inject is None and injected:
        inject = injected.most_common(1)[0][0]
    out = {}
    for name, arm in recipe.arms.items():
        # A dpo arm's pretraining is its twin's (it branches after instruct): counting it
        # would enter one configuration twice.
        if arm.filtered or arm.inject not in (None, inject) or arm.dpo != "none":
            continue
        share = (arm.share or recipe.training.inject_share) if arm.inject else 0.0
        out[name] = {"share": share, "tokens": arm_tokens(recipe, name),
                     "model": arm_model(recipe, name), "schedule": arm.schedule,
                     "heldout": False}
    return out


def _logit(p: float | None) -> float:
    if p is None or not math.isfinite(p):
        return math.nan
    p = min(max(p, _EPS), 1.0 - _EPS)
    return math.log(p / (1.0 - p))


def law_data(recipe: Any, table: Table, root: str | Path | None = None,
             inject: str | None = None, heldout: tuple[str, ...] = ()) -> LawData | None:
    """The arms of ``table`` (experiment.aggregate) as law data; None when fewer than two
    configurations carry the reading. ``heldout``: more arm names never used to fit."""
    points_cfg = arm_points(recipe, inject)
    unknown = sorted(set(heldout) - set(points_cfg))
    if unknown:
        raise ConfigError(f"--heldout: no law configuration named {', '.join(unknown)} "
                          f"(have: {', '.join(points_cfg) or '-'})")
    vocab = _vocab_size(Path(root) if root else None, recipe) if points_cfg else 0
    params_of: dict[str, int] = {}
    points, rows, bayes = [], [], []
    seeds: set[int] = set()
    for name, cfg in points_cfg.items():
        phases = table.get(name)
        if not phases:
            continue
        last = [p for p, e in phases.items() if e.label in ("pretrain", "finetune")]
        reading = phases[last[-1]].story_support if last else None
        if reading is None:
            continue
        key = cfg["model"].model_dump_json()
        if key not in params_of:
            params_of[key] = count_parameters(cfg["model"], vocab, recipe.training.seq_len)
        by_seed = {s: _logit(v) for s, v in reading.by_seed["q_U"].items()}
        seeds |= set(by_seed)
        points.append(LawPoint(name=name, share=float(cfg["share"]), tokens=int(cfg["tokens"]),
                               params=params_of[key], schedule=cfg["schedule"],
                               heldout=bool(cfg["heldout"]) or name in heldout))
        rows.append(by_seed)
        bayes.append(_logit(reading.bayes["q_U"]))
    if len(points) < 2:
        return None
    order = sorted(seeds)
    y = np.array([[row.get(s, math.nan) for s in order] for row in rows], dtype=np.float64)
    return LawData(points=points, seeds=order, y=y, bayes=np.array(bayes, dtype=np.float64),
                   response=RESPONSE)
