"""Load a trained model and read next-token probabilities from it (what evaluators call).

>>> model, cfg = load_model("runs/tiny/checkpoints/step_0000240")    # doctest: +SKIP

(skipped as a doctest: it needs a trained run); an untrained model in memory is read
the same way:

>>> from alignpt.train.config import ModelConfig
>>> from alignpt.train.model import GPT
>>> model = GPT(ModelConfig(vocab_size=22, max_seq_len=16))
>>> lp = next_token_logprobs(model, [[1, 5, 13], [1, 7]])
>>> lp.shape, lp.dtype                                               # (contexts, vocab)
((2, 22), dtype('float64'))
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from alignpt.core.errors import DataError
from alignpt.train.config import ModelConfig
from alignpt.train.model import GPT

__all__ = ["resolve_checkpoint", "save_model", "load_model", "load_model_with_meta",
           "next_token_logprobs", "sequence_logprobs", "bos_segments"]


def resolve_checkpoint(path: str | Path) -> Path:
    """A checkpoint folder, or a run folder (its newest checkpoint)."""
    from alignpt.train.checkpoint import latest_checkpoint

    path = Path(path)
    if (path / "model.json").exists():
        return path
    latest = latest_checkpoint(path)
    if latest is None:
        raise DataError("no checkpoint here (expected model.json, or a run folder with checkpoints/)",
                        str(path))
    return latest


def save_model(model: GPT, folder: str | Path, data: dict[str, Any] | None = None) -> Path:
    """Weights and config only (``model.safetensors`` + ``model.json``): loadable by
    :func:`load_model` and exportable by ``export_hf``. ``data`` is the vocabulary
    description (:meth:`DataInfo.to_dict`), needed for tokenizer export."""
    from safetensors.torch import save_file

    from alignpt.core.atomic import atomic_write_text

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    save_file({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()},
              str(folder / "model.safetensors"), metadata={"format": "alignpt"})
    meta = {"format": "alignpt-gpt", "version": 1, "model": model.cfg.model_dump(mode="json"),
            "data": data or {"vocab_size": model.cfg.vocab_size}}
    atomic_write_text(folder / "model.json", json.dumps(meta, indent=2) + "\n")
    return folder


def load_model_with_meta(path: str | Path, device: str | torch.device = "cpu"
                         ) -> tuple[GPT, ModelConfig, dict[str, Any]]:
    """Our checkpoint, run folder or a Hugging Face folder -> model (eval mode), config, metadata."""
    path = Path(path)
    if (path / "config.json").exists() and not (path / "model.json").exists():
        from alignpt.train.hf_weights import import_hf

        model, cfg = import_hf(path)
        meta: dict[str, Any] = {"model": cfg.model_dump(mode="json"), "data": _hf_data(path, cfg)}
    else:
        from safetensors.torch import load_file

        ckpt = resolve_checkpoint(path)
        meta = json.loads((ckpt / "model.json").read_text())
        cfg = ModelConfig.model_validate(meta["model"])
        model = GPT(cfg)
        model.load_state_dict(load_file(str(ckpt / "model.safetensors")))
    model.to(device).eval()
    return model, cfg, meta


def _hf_data(path: Path, cfg: ModelConfig) -> dict[str, Any]:
    extra = path / "alignpt.json"
    if extra.exists():
        return json.loads(extra.read_text()).get("data", {})
    return {"vocab_size": cfg.vocab_size, "tokenizer": {"type": "hf", "path": str(path)}}


def load_model(path: str | Path, device: str | torch.device = "cpu") -> tuple[GPT, ModelConfig]:
    model, cfg, _ = load_model_with_meta(path, device)
    return model, cfg


def bos_segments(ids: torch.Tensor, bos_id: int) -> torch.Tensor:
    """Document segment of every token ``(B, T)``: each BOS opens the next document
    (tokens before a row's first BOS are its segment 0)."""
    return (ids == bos_id).long().cumsum(dim=1)


@torch.no_grad()
def next_token_logprobs(model: GPT, contexts: Sequence[Sequence[int]], batch_size: int = 64,
                        *, bos_id: int | None = None) -> np.ndarray:
    """Log-probabilities of the token after each context, ``(len(contexts), vocab)``, float64.

    Contexts of different lengths are right-padded within a batch; causal
    attention means padding after the last real token cannot change its output.
    With ``bos_id``, a context that holds several documents (each opening with BOS)
    is read as the model was trained: a model with per-document attention reads each
    document on its own (what precedes the last document changes nothing), a packed
    model reads the context whole. A single document reads the same either way.
    """
    per_doc = bos_id is not None and model.cfg.attention == "document"
    device = next(model.parameters()).device
    out = np.empty((len(contexts), model.cfg.vocab_size), dtype=np.float64)
    order = sorted(range(len(contexts)), key=lambda i: len(contexts[i]))  # similar lengths together
    for b in range(0, len(order), batch_size):
        idx = order[b:b + batch_size]
        lens = [len(contexts[i]) for i in idx]
        if min(lens) == 0:
            raise ValueError("empty context (start contexts with BOS)")
        ids = torch.zeros(len(idx), max(lens), dtype=torch.long)
        for r, i in enumerate(idx):
            ids[r, :lens[r]] = torch.as_tensor(list(contexts[i]), dtype=torch.long)
        ids = ids.to(device)
        logits = model(ids, doc=bos_segments(ids, bos_id) if per_doc else None).double()
        last = logits[torch.arange(len(idx)), torch.as_tensor(lens) - 1]
        out[idx] = torch.log_softmax(last, dim=-1).cpu().numpy()
    return out


@torch.no_grad()
def sequence_logprobs(model: GPT, ids: Sequence[int]) -> np.ndarray:
    """Log-probability of every token of ``ids`` after the first, given its prefix (float64)."""
    device = next(model.parameters()).device
    x = torch.as_tensor(list(ids), dtype=torch.long, device=device)[None]
    lp = torch.log_softmax(model(x[:, :-1]).double(), dim=-1)[0]
    return lp.gather(1, x[0, 1:, None]).squeeze(1).cpu().numpy()
