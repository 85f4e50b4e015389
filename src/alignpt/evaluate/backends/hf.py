"""Any Hugging Face causal LM folder, loaded offline (``local_files_only``).

The model and tokenizer come from the folder alone; nothing is fetched. Scoring
follows lm-evaluation-harness's tokenisation and truncation (see
:mod:`alignpt.evaluate.backends.torch_lm`), plus two savings lm-eval does not
make on this path:

* the output projection is applied only at the positions that are read
  (``logits_to_keep``), not at every position of every prompt;
* inputs that share a prefix (the two option orders of a format, option texts
  after one prompt) run it once and continue from its KV cache.
"""

from __future__ import annotations

import copy
import inspect
from pathlib import Path
from typing import Any, Literal, Sequence, get_args

from alignpt.core.devices import check_device
from alignpt.core.errors import BackendError, ConfigError, DataError, require
from alignpt.evaluate.backends.base import ChatRequest, GenerateRequest, cut_at_stop
from alignpt.evaluate.backends.torch_lm import TorchLMBackend

__all__ = ["HFBackend", "hf_max_length", "WeightDtype", "WEIGHT_DTYPES"]

#: Weight dtypes a model folder may be loaded in (names of torch dtypes).
WeightDtype = Literal["float32", "bfloat16", "float16", "float64"]
WEIGHT_DTYPES: tuple[str, ...] = get_args(WeightDtype)

_DEFAULT_MAX_LENGTH = 2048        # lm-eval's fallback when neither config nor tokenizer says
_HUGE = 10 ** 20                  # tokenizers report ~1e30 when they have no limit


def hf_max_length(model: Any, tokenizer: Any) -> int:
    """The context length lm-eval would use for this model (same attribute order)."""
    for attr in ("n_positions", "max_position_embeddings", "n_ctx"):
        value = getattr(model.config, attr, None)
        if isinstance(value, int) and value > 0:
            return value
    limit = getattr(tokenizer, "model_max_length", None)
    if isinstance(limit, int) and 0 < limit < _HUGE:
        return limit
    return _DEFAULT_MAX_LENGTH


class HFBackend(TorchLMBackend):
    """``HFBackend("runs/tiny/hf")``: a local ``AutoModelForCausalLM`` folder."""

    name = "hf"
    padding_side = "left"

    def __init__(self, path: str | Path, device: str = "cpu", dtype: str = "float32",
                 batch_size: int = 32, max_batch_tokens: int = 65536,
                 max_length: int | None = None, prefix_cache: bool = True):
        self.torch = torch = require("torch", "train", "the Hugging Face backend")
        transformers = require("transformers", "train", "the Hugging Face backend")
        self.path = Path(path)
        if not (self.path / "config.json").exists():
            raise DataError("not a Hugging Face model folder (no config.json)", str(self.path))
        # A table, not getattr(torch, dtype): "save" or "nn" are torch attributes too.
        if dtype not in WEIGHT_DTYPES:
            raise ConfigError(f"unknown --dtype {dtype!r} (choose from "
                              f"{', '.join(WEIGHT_DTYPES)})")
        check_device(torch, device)
        torch_dtype = getattr(torch, dtype)
        self.tokenizer = transformers.AutoTokenizer.from_pretrained(self.path,
                                                                    local_files_only=True)
        self.model = transformers.AutoModelForCausalLM.from_pretrained(
            self.path, local_files_only=True, dtype=torch_dtype).to(device).eval()
        self.device, self.dtype = device, dtype
        self.batch_size, self.max_batch_tokens = batch_size, max_batch_tokens
        self.max_length = max_length or hf_max_length(self.model, self.tokenizer)
        self.eos_id = self.tokenizer.eos_token_id
        params = inspect.signature(self.model.forward).parameters
        self._keep_arg = "logits_to_keep" in params
        self._cache_arg = "cache" if "cache" in params else "past_key_values"
        self.supports_prefix_cache = prefix_cache and self._probe_cache()

    def describe(self) -> dict[str, Any]:
        return {"backend": self.name, "path": str(self.path.resolve()), "device": self.device,
                "dtype": self.dtype, "max_length": self.max_length,
                "model_type": getattr(self.model.config, "model_type", None),
                "parameters": sum(p.numel() for p in self.model.parameters())}

    def _forward(self, ids: Any, mask: Any, keep: Any, position_ids: Any = None,
                 cache: Any = None, use_cache: bool = False) -> tuple[Any, Any]:
        kwargs: dict[str, Any] = {"input_ids": ids, "attention_mask": mask,
                                  "use_cache": use_cache or cache is not None}
        if position_ids is not None:
            kwargs["position_ids"] = position_ids
        if cache is not None:
            kwargs[self._cache_arg] = cache
        if self._keep_arg:
            # Project to the vocabulary only where logits are read.
            kwargs["logits_to_keep"] = keep
        out = self.model(**kwargs)
        logits = out.logits if self._keep_arg else out.logits[:, keep]
        new_cache = (out.get("cache") or out.get("past_key_values")) if use_cache else None
        return logits, new_cache

    def _expand_cache(self, cache: Any, rows: Any) -> Any:
        """A new cache whose row i is row ``rows[i]`` of ``cache``; ``cache`` is left intact
        (sibling batches expand it again)."""
        if isinstance(cache, tuple):            # legacy (key, value) tuples per layer
            return tuple(tuple(t.index_select(0, rows) for t in layer) for layer in cache)
        if hasattr(cache, "layers"):
            # Dynamic layers rebind their tensors on reorder and update (index_select,
            # torch.cat), so copies of the layer objects share nothing mutable.
            new = copy.copy(cache)
            new.layers = [copy.copy(layer) for layer in cache.layers]
        else:
            new = copy.deepcopy(cache)
        new.reorder_cache(rows)
        return new

    def _probe_cache(self) -> bool:
        """Whether the model returns a KV cache we can repeat rows of (prefix sharing)."""
        torch = self.torch
        ids = torch.zeros(1, 1, dtype=torch.long, device=self.device)
        try:
            with torch.inference_mode():
                _, cache = self._forward(ids, torch.ones_like(ids), torch.as_tensor([0]),
                                         position_ids=torch.zeros_like(ids), use_cache=True)
        except (TypeError, ValueError, RuntimeError):
            return False
        return isinstance(cache, tuple) or hasattr(cache, "reorder_cache")

    @property
    def chat_format(self) -> str:                  # type: ignore[override]
        return "template" if getattr(self.tokenizer, "chat_template", None) else "plain"

    def chat_prompt(self, req: ChatRequest) -> tuple[list[int], tuple[str, ...]]:
        """With the tokenizer's chat template when it has one (its special tokens end the
        answer), else the plain format."""
        if self.chat_format == "plain":
            return super().chat_prompt(req)
        return (self.tokenizer(self._template(req), add_special_tokens=False)["input_ids"],
                req.stop)

    def _template(self, req: ChatRequest) -> str:
        turns = [{"role": "user", "content": req.user}]
        if req.system:
            turns.insert(0, {"role": "system", "content": req.system})
        try:
            return self.tokenizer.apply_chat_template(turns, tokenize=False,
                                                      add_generation_prompt=True)
        except Exception as exc:     # jinja raises its own errors; some templates refuse
            if not req.system:       # a system turn, so fold it into the user's
                raise BackendError(f"the chat template failed: {exc}") from None
            return self._template(ChatRequest(f"{req.system}\n\n{req.user}", None,
                                              req.max_tokens, req.stop))

    def _end_ids(self) -> set[int]:
        """Tokens that end an answer: the tokenizer's end-of-text and the generation
        config's (a chat model's end-of-turn token is often only there)."""
        ends = getattr(getattr(self.model, "generation_config", None), "eos_token_id", None)
        ends = set(ends if isinstance(ends, (list, tuple)) else [ends] if ends is not None
                   else [])
        return ends | ({self.eos_id} if self.eos_id is not None else set())

    def generate_ids(self, prompts: Sequence[Sequence[int]],
                     requests: Sequence[GenerateRequest]) -> list[str]:
        """Greedy ``model.generate`` over left-padded batches (longest first), with the KV
        cache. A batch runs to its longest ``max_tokens``; each row is then cut to its own
        ``max_tokens``, at end-of-text and at its first stop string."""
        torch = self.torch
        out = [""] * len(requests)
        order = sorted(range(len(requests)), key=lambda i: (-len(prompts[i]), i))
        for b in range(0, len(order), self.batch_size):
            idx = order[b:b + self.batch_size]
            steps = max(requests[i].max_tokens for i in idx)
            if steps <= 0:
                continue
            # Prompt and answer must fit the context together: cut the prompt on the left.
            rows = [list(prompts[i])[-max(1, self.max_length - steps):] for i in idx]
            ids, mask, _ = self._pad(rows)
            with torch.inference_mode():
                seq = self.model.generate(ids, attention_mask=mask, max_new_tokens=steps,
                                          do_sample=False, num_beams=1,
                                          pad_token_id=self.eos_id if self.eos_id is not None
                                          else 0)
            ends = self._end_ids()
            for r, i in enumerate(idx):
                toks = seq[r, ids.shape[1]:].tolist()[:requests[i].max_tokens]
                cut = [k for k, t in enumerate(toks) if t in ends]
                toks = toks[:cut[0]] if cut else toks
                out[i] = cut_at_stop(self.decode(toks), requests[i].stop)
        return out
