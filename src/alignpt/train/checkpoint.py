"""Atomic checkpoints that resume a run bit for bit.

A checkpoint is a folder ``RUN/checkpoints/step_0000120/`` holding:

``model.safetensors`` + ``model.json``
    weights (our names) and the model config with the data's vocabulary facts;
``optimizer.pt``
    the AdamW state dict;
``rng.pt``
    Python, NumPy, torch CPU and CUDA generator states;
``state.json``
    step counters, the data sampler's state (its generator, source positions,
    the document piece in flight), whether the checkpoint ends a phase or is kept
    for runs that branch there, and the hash of everything trained on so far
    (:mod:`alignpt.train.lineage`);
``plan.yaml`` and ``accounting.{json,csv,md}``
    the resolved plan and the per-source token accounting up to this step.

Everything is written into ``.tmp-step_0000120-PID/``, fsynced, then renamed into
place; a folder named ``step_*`` is therefore always complete, and a run killed
mid-write leaves only a ``.tmp-*`` folder that the next resume deletes.
The learning-rate schedule is a pure function of the step, so it needs no state.
"""

from __future__ import annotations

import json
import os
import random
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch

from alignpt.core.atomic import atomic_write_text, fsync_path
from alignpt.core.errors import DataError

__all__ = ["CKPT_DIR", "capture_rng", "restore_rng", "save_checkpoint", "list_checkpoints",
           "latest_checkpoint", "load_checkpoint", "remove_stale", "prune_checkpoints", "read_state"]

CKPT_DIR = "checkpoints"


def capture_rng() -> dict[str, Any]:
    state: dict[str, Any] = {
        "python": random.getstate(),
        # numpy's legacy global state as plain lists, so torch.load(weights_only=True) reads it
        "numpy": [x.tolist() if isinstance(x, np.ndarray) else x for x in np.random.get_state()],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict[str, Any]) -> None:
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    name, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((name, np.asarray(keys, dtype=np.uint32), pos, has_gauss, gauss))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(run_dir: str | Path, step: int, *, model_state: dict[str, torch.Tensor],
                    model_meta: dict[str, Any], optimizer_state: dict[str, Any], state: dict[str, Any],
                    rng: dict[str, Any], plan_yaml: str, accounting: dict[str, Any]) -> Path:
    """Write one checkpoint atomically and return its folder."""
    from safetensors.torch import save_file

    from alignpt.train.accounting import write_accounting

    root = Path(run_dir) / CKPT_DIR
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"step_{step:07d}"
    tmp = root / f".tmp-{final.name}-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    save_file({k: v.detach().to("cpu").contiguous() for k, v in model_state.items()},
              str(tmp / "model.safetensors"), metadata={"format": "alignpt"})
    torch.save(optimizer_state, tmp / "optimizer.pt")
    torch.save(rng, tmp / "rng.pt")
    atomic_write_text(tmp / "model.json", json.dumps(model_meta, indent=2) + "\n")
    atomic_write_text(tmp / "state.json", json.dumps(state, indent=1) + "\n")
    atomic_write_text(tmp / "plan.yaml", plan_yaml)
    write_accounting(tmp, accounting)
    for f in tmp.iterdir():
        fsync_path(f)
    fsync_path(tmp)
    if final.exists():  # a re-run of the same step (e.g. resumed with resume=False elsewhere)
        shutil.rmtree(final)
    os.replace(tmp, final)
    fsync_path(root)
    return final


def read_state(ckpt: Path) -> dict[str, Any]:
    try:
        return json.loads((ckpt / "state.json").read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise DataError(f"unreadable checkpoint state: {exc}", str(ckpt)) from None


def list_checkpoints(run_dir: str | Path) -> list[Path]:
    """Complete checkpoints of a run, oldest first."""
    root = Path(run_dir) / CKPT_DIR
    if not root.is_dir():
        return []
    found = [p for p in root.iterdir() if p.is_dir() and p.name.startswith("step_")
             and (p / "state.json").exists()]
    return sorted(found, key=lambda p: int(p.name.split("_")[1]))


def latest_checkpoint(run_dir: str | Path) -> Path | None:
    ckpts = list_checkpoints(run_dir)
    return ckpts[-1] if ckpts else None


def remove_stale(run_dir: str | Path) -> list[Path]:
    """Delete half-written ``.tmp-*`` folders left by a killed run."""
    root = Path(run_dir) / CKPT_DIR
    stale = [p for p in root.glob(".tmp-*")] if root.is_dir() else []
    for p in stale:
        shutil.rmtree(p, ignore_errors=True)
    return stale


def prune_checkpoints(run_dir: str | Path, keep_last: int) -> None:
    """Keep every phase-end checkpoint, every one marked ``keep`` (a point where other runs
    branch: ``train(save_at=...)``) and the newest ``keep_last`` others."""
    periodic = [p for p in list_checkpoints(run_dir)
                if not (read_state(p).get("phase_end") or read_state(p).get("keep"))]
    for p in periodic[:-keep_last] if keep_last else periodic:
        shutil.rmtree(p, ignore_errors=True)


def load_checkpoint(ckpt: str | Path, map_location: str | torch.device = "cpu",
                    optimizer: bool = True) -> dict[str, Any]:
    """Everything in a checkpoint folder, as Python objects."""
    from safetensors.torch import load_file

    ckpt = Path(ckpt)
    if not (ckpt / "model.safetensors").exists():
        raise DataError("not a checkpoint folder (no model.safetensors)", str(ckpt))
    out = {
        "path": ckpt,
        "model_state": load_file(str(ckpt / "model.safetensors"), device=str(map_location)),
        "model_meta": json.loads((ckpt / "model.json").read_text()),
        "state": read_state(ckpt),
    }
    if optimizer:
        out["optimizer_state"] = torch.load(ckpt / "optimizer.pt", map_location=map_location,
                                            weights_only=True)
        out["rng"] = torch.load(ckpt / "rng.pt", weights_only=True)
    return out
