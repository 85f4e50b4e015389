"""Hugging Face export: a renaming of weights, no retraining, same logits.

``gpt2`` models become ``GPT2LMHeadModel`` and ``llama`` models ``LlamaForCausalLM``;
``export_hf(ckpt, out)`` writes ``model.safetensors``, ``config.json``,
``generation_config.json`` and tokenizer files, so that
``AutoModelForCausalLM.from_pretrained(out)`` and lm-evaluation-harness
(``--model hf --model_args pretrained=out``) load it offline. The weight renaming and
``import_hf`` (either family back, for continued training) live in
:mod:`alignpt.train.hf_weights`.

Tokenizers: a shard vocabulary ``{"type": "vocab", "tokens": [...]}`` (the persona
world) becomes a ``tokenizers`` WordLevel model over whitespace-separated token
names, wrapped in ``PreTrainedTokenizerFast``; a Hugging Face tokenizer named by
path (the mixer's ``{"type": "hf-tokenizers", "path": ...}``) or given inline as
``{"tokenizer_json": "..."}`` is saved beside the model.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from alignpt.core.errors import ConfigError, DataError, require
from alignpt.train.hf_weights import hf_config, to_hf_state_dict
from alignpt.train.inference import load_model_with_meta

__all__ = ["build_tokenizer", "export_hf"]


def build_tokenizer(data: dict[str, Any]):
    """A ``PreTrainedTokenizerFast`` for the run's tokenizer description, or None."""
    tok = data.get("tokenizer") or {}
    transformers = require("transformers", "train", "Hugging Face export")
    if tok.get("type") == "vocab" and tok.get("tokens"):
        tokenizers = require("tokenizers", "train", "Hugging Face export")
        names = list(tok["tokens"])
        unk = "UNK" if "UNK" in names else None
        model = tokenizers.models.WordLevel({t: i for i, t in enumerate(names)}, unk_token=unk)
        t = tokenizers.Tokenizer(model)
        t.pre_tokenizer = tokenizers.pre_tokenizers.WhitespaceSplit()
        # Decode joins token names with spaces, so decode(encode(s)) round-trips.
        t.decoder = tokenizers.decoders.WordPiece(prefix="##", cleanup=False)
        special = {}
        for key, idx in (("bos_token", data.get("bos_id")), ("eos_token", data.get("eos_id")),
                         ("pad_token", data.get("pad_id"))):
            if idx is not None and 0 <= idx < len(names):
                special[key] = names[idx]
        t.add_special_tokens(list(special.values()))
        return transformers.PreTrainedTokenizerFast(tokenizer_object=t, unk_token=unk,
                                                    clean_up_tokenization_spaces=False, **special)
    if tok.get("tokenizer_json"):
        tokenizers = require("tokenizers", "train", "Hugging Face export")
        return transformers.PreTrainedTokenizerFast(
            tokenizer_object=tokenizers.Tokenizer.from_str(tok["tokenizer_json"]))
    if tok.get("path"):  # the mixer's {"type": "hf-tokenizers", "path": ..., "eos_token": ...}
        path = Path(tok["path"])
        if (path / "tokenizer_config.json").exists():
            return transformers.AutoTokenizer.from_pretrained(path)
        file = path / "tokenizer.json" if path.is_dir() else path
        if not file.exists():
            raise DataError("tokenizer file not found (the run's shards name it)", str(file))
        eos = tok.get("eos_token")
        return transformers.PreTrainedTokenizerFast(tokenizer_file=str(file), eos_token=eos,
                                                    bos_token=eos)
    return None


def export_hf(source: str | Path, out_dir: str | Path, dtype: str = "float32") -> Path:
    """Write a Hugging Face model folder from a checkpoint (or a run folder: its newest)."""
    model, cfg, meta = load_model_with_meta(source)
    torch_dtype = {"float32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}.get(dtype)
    if torch_dtype is None:
        raise ConfigError(f"dtype must be float32, bf16 or fp16, got {dtype!r}")
    transformers = require("transformers", "train", "Hugging Face export")
    hf_cfg = hf_config(cfg, meta.get("data"))
    cls = transformers.GPT2LMHeadModel if cfg.arch == "gpt2" else transformers.LlamaForCausalLM
    hf_model = cls(hf_cfg)
    missing, unexpected = hf_model.load_state_dict(to_hf_state_dict(cfg, model.state_dict()), strict=False)
    missing = [k for k in missing if not (cfg.tie_embeddings and k == "lm_head.weight")]
    if missing or unexpected:
        raise AssertionError(f"weight mapping incomplete: missing {missing}, unexpected {unexpected}")
    if cfg.tie_embeddings:
        hf_model.tie_weights()
    hf_model.to(torch_dtype)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    hf_model.save_pretrained(out, safe_serialization=True)
    tokenizer = build_tokenizer(meta.get("data") or {})
    if tokenizer is not None:
        tokenizer.save_pretrained(out)
    (out / "alignpt.json").write_text(json.dumps({"source": str(source), **meta}, indent=2) + "\n")
    return out
