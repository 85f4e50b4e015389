"""A judge backend on a local Hugging Face causal LM folder: no server, nothing downloaded.

:class:`HFCausalCompleter` is a :class:`~alignpt.tag.judge.Completer`: prompts
in, greedy continuations out, in batches. The cascade uses it for the
uncertain band with ``--set judge.enabled=true --set judge.backend=hf
--set judge.path=DIR``; ``Judge(HFCausalCompleter(DIR))`` labels a sample
the same way the OpenAI-compatible client does.

Decoding is greedy (``do_sample=False``), so a reply depends only on the
model, the prompt and ``max_new_tokens``: the same documents get the same
verdicts on every run. Instruction-tuned models are prompted through their
tokenizer's chat template (the rubric as the user's message); base models
get the plain prompt. A prompt longer than the model's context keeps its end
(the document and the place the answer starts), as the generation package's
hf backend does; :attr:`HFCausalCompleter.truncated` counts those.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal, Sequence

from alignpt.core.errors import ConfigError, require
from alignpt.tag.hf_encoder import hf_folder, quiet_transformers, resolve_device

__all__ = ["HFCausalCompleter"]

_DTYPES = ("float32", "bfloat16", "float16")


class HFCausalCompleter:
    """``complete(prompts) -> replies`` with a local ``AutoModelForCausalLM``.

    The model loads on the first call (and again in each worker process a
    cascade is pickled to), so building one is cheap and checks only the
    folder and the options.
    """

    def __init__(self, path: str | Path | None, *, device: str = "auto",
                 max_new_tokens: int = 200, batch_size: int = 8,
                 dtype: Literal["float32", "bfloat16", "float16"] = "float32",
                 chat_template: bool | None = None, max_length: int | None = None):
        self.path = hf_folder(path, "the local judge (judge.path)")
        if max_new_tokens < 1 or batch_size < 1:
            raise ConfigError("the local judge needs max_new_tokens >= 1 and batch_size >= 1")
        if dtype not in _DTYPES:
            raise ConfigError(f"unknown judge dtype {dtype!r} ({', '.join(_DTYPES)})")
        self.device_option = device
        self.max_new_tokens, self.batch_size, self.dtype = max_new_tokens, batch_size, dtype
        self.chat_template = chat_template  # None: use the tokenizer's template if it has one
        self.max_length = max_length
        self.truncated = 0
        self._model: Any = None
        self._tok: Any = None

    def __getstate__(self) -> dict[str, Any]:
        # workers load their own copy: a model does not travel through a pickle
        return {**self.__dict__, "_model": None, "_tok": None}

    def _load(self) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        torch = require("torch", "train", "the local judge")
        transformers = require("transformers", "train", "the local judge")
        self.device = resolve_device(torch, self.device_option)
        tok = transformers.AutoTokenizer.from_pretrained(self.path, local_files_only=True)
        # left padding: every row of a batch ends where its continuation starts
        tok.padding_side = "left"
        if tok.pad_token is None:
            tok.pad_token = tok.eos_token or tok.unk_token
        with quiet_transformers(transformers):
            model = transformers.AutoModelForCausalLM.from_pretrained(
                self.path, local_files_only=True, dtype=getattr(torch, self.dtype))
        self._model, self._tok = model.to(self.device).eval(), tok
        cfg = model.config
        ctx = (getattr(cfg, "max_position_embeddings", None) or getattr(cfg, "n_positions", None)
               or 2048)
        self.context = int(self.max_length or ctx)
        if self.context <= self.max_new_tokens:
            raise ConfigError(f"the local judge's context ({self.context} tokens) leaves no "
                              f"room for the prompt with max_new_tokens={self.max_new_tokens}")

    def _text(self, prompt: str) -> str:
        template = getattr(self._tok, "chat_template", None)
        use = bool(template) if self.chat_template is None else self.chat_template
        if use:
            if not template:
                raise ConfigError(f"{self.path}: chat_template requested but the tokenizer "
                                  "has none")
            return self._tok.apply_chat_template([{"role": "user", "content": prompt}],
                                                 tokenize=False, add_generation_prompt=True)
        return prompt

    def encode(self, prompt: str) -> list[int]:
        """The token ids the model is given for ``prompt`` (template applied, end kept)."""
        if self._model is None:
            self._load()
        text = self._text(prompt)
        # a chat template writes its own special tokens; a plain prompt gets the tokenizer's
        ids = self._tok(text, add_special_tokens=text == prompt)["input_ids"]
        keep = self.context - self.max_new_tokens
        if len(ids) > keep:
            self.truncated += 1
            ids = ids[-keep:]
        return ids

    def complete(self, prompts: Sequence[str]) -> list[str]:
        if not prompts:
            return []
        encoded = [self.encode(p) for p in prompts]
        # similar lengths share a batch, so little of each batch is padding
        order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]))
        replies: list[str] = [""] * len(encoded)
        for lo in range(0, len(order), self.batch_size):
            idx = order[lo:lo + self.batch_size]
            for i, text in zip(idx, self._generate([encoded[i] for i in idx])):
                replies[i] = text
        return replies

    def _generate(self, ids: list[list[int]]) -> list[str]:
        torch, tok = require("torch", "train"), self._tok
        enc = tok.pad({"input_ids": ids}, return_tensors="pt").to(self.device)
        with torch.inference_mode():
            out = self._model.generate(**enc, max_new_tokens=self.max_new_tokens,
                                       do_sample=False, temperature=None, top_p=None,
                                       top_k=None, pad_token_id=tok.pad_token_id)
        width = enc["input_ids"].shape[1]
        eos = tok.eos_token_id
        texts = []
        for row in out[:, width:].tolist():
            if eos is not None and eos in row:
                row = row[:row.index(eos)]
            texts.append(tok.decode(row, skip_special_tokens=True))
        return texts
