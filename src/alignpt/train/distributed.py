"""Data parallelism under ``torchrun``: DDP by default, FSDP2 for large models.

Launch any plan on several processes with::

    torchrun --nproc_per_node 8 -m alignpt.train.cli PLAN.yaml --out DIR

Every rank builds the *same* global batch from the sampler (it is cheap next to
the model) and trains on its own slice of rows. Accounting, the sampler's state
and therefore resume are identical on every rank by construction; rank 0 alone
writes files. The loss is normalised by the global number of loss-bearing
tokens, so N ranks compute the same gradient as one process on the whole batch.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
import torch.nn as nn

__all__ = ["DistInfo", "init_distributed", "wrap_model", "unwrap", "full_state_dicts",
           "load_full_state_dicts", "all_reduce_sum", "barrier", "cleanup"]


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_distributed(device_type: str) -> DistInfo:
    """Join the process group when launched by torchrun (WORLD_SIZE > 1)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if not dist.is_initialized():
        backend = "nccl" if device_type == "cuda" else "gloo"
        if device_type == "cuda":
            torch.cuda.set_device(local)
        dist.init_process_group(backend=backend)
    return DistInfo(rank, world, local)


def wrap_model(model: nn.Module, info: DistInfo, mode: str, device: torch.device,
               mixed_dtype: torch.dtype | None) -> nn.Module:
    """DDP, or FSDP2 (``fully_shard`` per block) when ``mode == 'fsdp'``."""
    if not info.enabled:
        return model
    if mode == "fsdp":
        from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

        mp = MixedPrecisionPolicy(param_dtype=mixed_dtype, reduce_dtype=torch.float32) \
            if mixed_dtype is not None else MixedPrecisionPolicy()
        for block in model.blocks:
            fully_shard(block, mp_policy=mp)
        fully_shard(model, mp_policy=mp)
        return model
    from torch.nn.parallel import DistributedDataParallel as DDP

    ids = [device.index] if device.type == "cuda" else None
    return DDP(model, device_ids=ids)


def unwrap(model: nn.Module) -> nn.Module:
    """The plain module under DDP and torch.compile wrappers."""
    inner = getattr(model, "module", model)
    return getattr(inner, "_orig_mod", inner)


def full_state_dicts(model: nn.Module, optimizer: torch.optim.Optimizer,
                     fsdp: bool) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Unsharded model and optimizer state (collective under FSDP: call on every rank)."""
    if not fsdp:
        return unwrap(model).state_dict(), optimizer.state_dict()
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_state_dict

    opts = StateDictOptions(full_state_dict=True, cpu_offload=True)
    return get_state_dict(unwrap(model), optimizer, options=opts)


def load_full_state_dicts(model: nn.Module, optimizer: torch.optim.Optimizer | None,
                          model_state: dict[str, torch.Tensor], optim_state: dict[str, Any] | None,
                          fsdp: bool) -> None:
    if not fsdp:
        unwrap(model).load_state_dict(model_state)
        if optimizer is not None and optim_state is not None:
            optimizer.load_state_dict(optim_state)
        return
    from torch.distributed.checkpoint.state_dict import (StateDictOptions, set_model_state_dict,
                                                         set_optimizer_state_dict)

    opts = StateDictOptions(full_state_dict=True)
    set_model_state_dict(unwrap(model), model_state, options=opts)
    if optimizer is not None and optim_state is not None:
        set_optimizer_state_dict(unwrap(model), optimizer, optim_state, options=opts)


def all_reduce_sum(t: torch.Tensor, info: DistInfo) -> torch.Tensor:
    if info.enabled:
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t


def barrier(info: DistInfo) -> None:
    if info.enabled:
        dist.barrier()


def cleanup(info: DistInfo) -> None:
    if info.enabled and dist.is_initialized():
        dist.destroy_process_group()
