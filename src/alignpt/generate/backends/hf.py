"""A local Hugging Face model folder, offline: small-scale or single-GPU generation.

Requests from many concurrent documents are gathered into batches (up to ``batch_size``,
grouped by ``max_tokens`` and sampling parameters) and run on a worker thread, so the
event loop keeps assembling documents while the model generates. Loading happens on the
first batch with ``local_files_only=True`` and ``HF_HUB_OFFLINE=1``: nothing is ever
downloaded. Chat requests use the tokenizer's chat template when it has one, and the
plain prompt otherwise (base models). Prompts longer than the model's context keep their
end, which holds the instructions and the story so far.

Sampling is seeded with the first request of each batch, so output is reproducible for a
fixed batch composition; with ``batch_size: 1`` every document is reproducible alone.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

from alignpt.core.errors import BackendError, ConfigError, require
from alignpt.generate.backends.config import BackendConfig
from alignpt.generate.backends.base import Backend, Completion, GenerationRequest

__all__ = ["HFBackend"]


class HFBackend(Backend):
    kind = "hf"

    def __init__(self, cfg: BackendConfig):
        super().__init__()
        self.cfg = cfg
        self.model = cfg.model_name()
        if not Path(self.model).is_dir():
            raise ConfigError(f"backend.model: {self.model}: not a local model folder (the hf "
                              "backend never downloads; point it at a saved model)")
        self._pending: list[tuple[GenerationRequest, asyncio.Future]] = []
        self._runner: asyncio.Task | None = None
        self._lm: Any = None
        self._tok: Any = None

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "model": self.model}

    async def complete(self, request: GenerationRequest) -> Completion:
        fut = asyncio.get_running_loop().create_future()
        self._pending.append((request, fut))
        if self._runner is None or self._runner.done():
            self._runner = asyncio.ensure_future(self._drain())
        return await fut

    async def _drain(self) -> None:
        while self._pending:
            await asyncio.sleep(0)  # let every ready document enqueue before batching
            batch = self._pending[: self.cfg.batch_size]
            del self._pending[: len(batch)]
            try:
                results = await asyncio.to_thread(self._generate, [r for r, _ in batch])
            except Exception as exc:  # one bad batch fails its requests, not the backend
                err = exc if isinstance(exc, BackendError) else BackendError(
                    f"hf generation failed: {type(exc).__name__}: {exc}")
                for _, fut in batch:
                    if not fut.done():
                        fut.set_exception(err)
                if isinstance(exc, (ConfigError, ImportError)):
                    raise
                continue
            for (_, fut), c in zip(batch, results):
                if not fut.done():
                    fut.set_result(c)

    def _load(self) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        torch = require("torch", "train", "the hf generation backend")
        transformers = require("transformers", "train", "the hf generation backend")
        self._torch = torch
        tok = transformers.AutoTokenizer.from_pretrained(self.model, local_files_only=True)
        tok.padding_side = "left"
        if tok.pad_token is None:
            tok.pad_token = tok.eos_token or tok.unk_token
        dtype = {"auto": "auto", "float32": torch.float32, "bfloat16": torch.bfloat16,
                 "float16": torch.float16}[self.cfg.dtype]
        load = transformers.AutoModelForCausalLM.from_pretrained
        try:
            lm = load(self.model, local_files_only=True, dtype=dtype)
        except TypeError:  # transformers < 4.56 spells it torch_dtype
            lm = load(self.model, local_files_only=True, torch_dtype=dtype)
        device = self.cfg.device
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self._device = device
        self._lm = lm.to(device).eval()
        self._tok = tok
        cfg = lm.config
        self._ctx = int(getattr(cfg, "max_position_embeddings", None)
                        or getattr(cfg, "n_positions", None) or 2048)

    def _text(self, request: GenerationRequest) -> str:
        if request.api == "chat" and getattr(self._tok, "chat_template", None):
            return self._tok.apply_chat_template(request.prompt.messages(), tokenize=False,
                                                 add_generation_prompt=True)
        return request.prompt.text()

    def _generate(self, requests: list[GenerationRequest]) -> list[Completion]:
        if self._lm is None:
            self._load()
        out: dict[int, Completion] = {}
        groups: dict[tuple, list[int]] = {}
        for i, r in enumerate(requests):
            p = r.params
            groups.setdefault((int(p.get("max_tokens") or 256), float(p.get("temperature", 1.0)),
                               float(p.get("top_p", 1.0))), []).append(i)
        for (max_new, temperature, top_p), idx in groups.items():
            out.update(zip(idx, self._run([requests[i] for i in idx], max_new, temperature,
                                          top_p)))
        return [out[i] for i in range(len(requests))]

    def _run(self, reqs: list[GenerationRequest], max_new: int, temperature: float,
             top_p: float) -> list[Completion]:
        torch, tok = self._torch, self._tok
        max_new = max(1, min(max_new, self._ctx // 2))
        keep = self._ctx - max_new
        ids = [tok(self._text(r), add_special_tokens=True)["input_ids"][-keep:] for r in reqs]
        enc = tok.pad({"input_ids": ids}, return_tensors="pt").to(self._device)
        torch.manual_seed(int(reqs[0].params.get("seed", 0)))
        sample = temperature > 0
        with torch.no_grad():
            gen = self._lm.generate(**enc, max_new_tokens=max_new, do_sample=sample,
                                    temperature=temperature if sample else None,
                                    top_p=top_p if sample else None,
                                    pad_token_id=tok.pad_token_id)
        results = []
        width = enc["input_ids"].shape[1]
        for row, prompt_ids in zip(gen, ids):
            new = row[width:].tolist()
            eos = tok.eos_token_id
            stopped = eos is not None and eos in new
            if stopped:
                new = new[: new.index(eos)]
            while new and new[-1] == tok.pad_token_id:
                new.pop()
            text = tok.decode(new, skip_special_tokens=True)
            self.stats.sent += 1
            self.stats.completed += 1
            self.stats.prompt_tokens += len(prompt_ids)
            self.stats.completion_tokens += len(new)
            results.append(Completion(text, "stop" if stopped else "length", len(prompt_ids),
                                      len(new), Path(self.model).name))
        return results
