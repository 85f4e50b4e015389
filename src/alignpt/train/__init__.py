"""Training engine: phase plans, exact data accounting, resumable checkpoints, HF export.

The plan (``config``) and its exact token arithmetic (``phases``) import without
torch; everything else loads torch on first use. The API an experiment runner needs::

    from alignpt.train import load_plan, train, load_model, next_token_logprobs

    plan = load_plan("recipes/train/persona_tiny.yaml", ["seed=3"])
    result = train(plan, "runs/e4/arm1", until="pretrain")   # stops after that phase
    model, cfg = load_model(result.phase_checkpoints["pretrain"])
    result = train(plan, "runs/e4/arm1")                       # continues with the rest
"""

from __future__ import annotations

import importlib
from typing import Any

from alignpt.train.config import TrainPlan
from alignpt.train.phases import load_plan

__all__ = ["TrainPlan", "load_plan", "train", "TrainResult", "TrainEvent", "Trainer", "load_model",
           "next_token_logprobs", "sequence_logprobs", "export_hf", "import_hf", "GPT", "ModelConfig",
           "resolve_phases"]

_LAZY = {
    "train": "alignpt.train.trainer", "TrainResult": "alignpt.train.trainer",
    "TrainEvent": "alignpt.train.trainer", "Trainer": "alignpt.train.trainer",
    "load_model": "alignpt.train.inference", "next_token_logprobs": "alignpt.train.inference",
    "sequence_logprobs": "alignpt.train.inference",
    "export_hf": "alignpt.train.export", "import_hf": "alignpt.train.hf_weights",
    "GPT": "alignpt.train.model", "ModelConfig": "alignpt.train.config",
    "resolve_phases": "alignpt.train.phases",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        if _LAZY[name] not in ("alignpt.train.config", "alignpt.train.phases"):
            from alignpt.errors import require

            require("torch", "train", "training")
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'alignpt.train' has no attribute {name!r}")
