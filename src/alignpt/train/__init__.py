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

from alignpt.core.errors import require
from alignpt.train.config import ModelConfig, TrainPlan
from alignpt.train.events import EventKind, TrainEvent
from alignpt.train.phases import load_plan, resolve_phases

__all__ = ["TrainPlan", "load_plan", "train", "TrainResult", "TrainEvent", "EventKind", "Trainer",
           "load_model", "next_token_logprobs", "sequence_logprobs", "export_hf", "import_hf", "GPT",
           "ModelConfig", "resolve_phases"]

# Lazy (PEP 562): these names need torch, an optional extra that takes seconds to import;
# the plan and its exact token arithmetic above stay importable without it, and a missing
# torch is reported as MissingDependencyError (install alignpt[train]) on first use.
_LAZY = {
    "train": "alignpt.train.trainer", "TrainResult": "alignpt.train.trainer",
    "Trainer": "alignpt.train.trainer",
    "load_model": "alignpt.train.inference", "next_token_logprobs": "alignpt.train.inference",
    "sequence_logprobs": "alignpt.train.inference",
    "export_hf": "alignpt.train.export", "import_hf": "alignpt.train.hf_weights",
    "GPT": "alignpt.train.model",
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    require("torch", "train", "training")
    return getattr(importlib.import_module(_LAZY[name]), name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
