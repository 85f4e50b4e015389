"""CUDA paths: bf16 autocast, fused AdamW, torch.compile, activation checkpointing."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file

from alignpt.train.config import TrainPlan
from alignpt.train.metrics import read_metrics
from alignpt.train.trainer import Trainer, train
from tests.train.train_world import tiny_plan

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]


def _cuda_plan(world, **runtime):
    cfg = tiny_plan(world, batch_size=16)
    cfg["model"] = {"arch": "llama", "n_layer": 2, "n_head": 2, "d_model": 64, "vocab_multiple": 64}
    cfg["phases"] = [{"name": "pretrain", "steps": 60, "mix": ["base"],
                      "schedule": {"kind": "cosine", "peak_lr": 1e-2, "warmup": 0.1}}]
    cfg["runtime"] = {"device": "cuda", "dtype": "bf16", **runtime}
    return TrainPlan.model_validate(cfg)


@pytest.mark.parametrize("runtime", [{}, {"compile": True}, {"activation_checkpointing": True,
                                                            "micro_batch_size": 4}],
                         ids=["bf16", "compile", "act-ckpt"])
def test_cuda_training_learns(world, tmp_path, runtime):
    result = train(_cuda_plan(world, **runtime), tmp_path / "run")
    losses = [r["loss"] for r in read_metrics(tmp_path / "run") if r["event"] == "step"]
    assert losses[-1] < 0.6 * losses[0]
    weights = load_file(str(result.checkpoint / "model.safetensors"))
    assert all(w.dtype == torch.float32 for w in weights.values())  # master weights stay fp32
    assert weights["wte.weight"].shape == (64, 64)                    # vocab padded to 64


def test_cuda_trainer_setup(world, tmp_path):
    t = Trainer(_cuda_plan(world), tmp_path / "run")
    try:
        assert t.device.type == "cuda" and t.autocast_dtype == torch.bfloat16
        assert t.optimizer.defaults["fused"] is True
        assert torch.backends.cuda.matmul.allow_tf32
    finally:
        t.close()
