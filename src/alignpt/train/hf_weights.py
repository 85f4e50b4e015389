"""Our weights and Hugging Face's: the renaming both ways, the config, and ``import_hf``.

GPT-2 and Llama are pure renamings of our two block flavours (GPT-2's Conv1D stores linear
weights transposed), so export (:mod:`alignpt.train.export`) and import share one table.
``import_hf`` reads either family back (a GPT-2, or a Llama without grouped-query
attention) for continued training or evaluation. This module sits below both the exporter
and the checkpoint loader (:mod:`alignpt.train.inference`), which loads a Hugging Face
folder through it, so neither imports the other's home.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from alignpt.core.errors import ConfigError, DataError, require
from alignpt.train.config import ModelConfig
from alignpt.train.model import GPT

__all__ = ["to_hf_state_dict", "from_hf_state_dict", "hf_config", "import_hf", "alignpt_meta"]


def _t(w: torch.Tensor) -> torch.Tensor:
    # GPT-2 uses Conv1D, which stores weights as (in, out): the transpose of nn.Linear.
    return w.t().contiguous()


def _gpt2_names(cfg: ModelConfig):
    """(our name, GPT2LMHeadModel name, transposed?) for every gpt2 tensor. GPT-2 is a pure
    renaming (its Conv1D stores linear weights transposed), so export and import share it."""
    yield "wte.weight", "transformer.wte.weight", False
    yield "wpe.weight", "transformer.wpe.weight", False
    for i in range(cfg.n_layer):
        p, q = f"blocks.{i}.", f"transformer.h.{i}."
        for ours, theirs in (("norm1", "ln_1"), ("norm2", "ln_2")):
            yield f"{p}{ours}.weight", f"{q}{theirs}.weight", False
            yield f"{p}{ours}.bias", f"{q}{theirs}.bias", False
        for ours, theirs in (("attn.qkv", "attn.c_attn"), ("attn.proj", "attn.c_proj"),
                             ("mlp.fc", "mlp.c_fc"), ("mlp.proj", "mlp.c_proj")):
            yield f"{p}{ours}.weight", f"{q}{theirs}.weight", True
            yield f"{p}{ours}.bias", f"{q}{theirs}.bias", False
    yield "norm_f.weight", "transformer.ln_f.weight", False
    yield "norm_f.bias", "transformer.ln_f.bias", False


def to_hf_state_dict(cfg: ModelConfig, sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    out: dict[str, torch.Tensor] = {}
    d = cfg.d_model
    if cfg.arch == "gpt2":
        for ours, theirs, transpose in _gpt2_names(cfg):
            out[theirs] = _t(sd[ours]) if transpose else sd[ours]
    else:
        out["model.embed_tokens.weight"] = sd["wte.weight"]
        ff = cfg.ffn_dim
        for i in range(cfg.n_layer):
            p, q = f"blocks.{i}.", f"model.layers.{i}."
            out[f"{q}input_layernorm.weight"] = sd[f"{p}norm1.weight"]
            out[f"{q}post_attention_layernorm.weight"] = sd[f"{p}norm2.weight"]
            qkv = sd[f"{p}attn.qkv.weight"]
            for j, name in enumerate(("q_proj", "k_proj", "v_proj")):
                out[f"{q}self_attn.{name}.weight"] = qkv[j * d:(j + 1) * d].contiguous()
            out[f"{q}self_attn.o_proj.weight"] = sd[f"{p}attn.proj.weight"]
            fc = sd[f"{p}mlp.fc.weight"]
            out[f"{q}mlp.gate_proj.weight"] = fc[:ff].contiguous()
            out[f"{q}mlp.up_proj.weight"] = fc[ff:].contiguous()
            out[f"{q}mlp.down_proj.weight"] = sd[f"{p}mlp.proj.weight"]
        out["model.norm.weight"] = sd["norm_f.weight"]
    if not cfg.tie_embeddings:
        out["lm_head.weight"] = sd["lm_head.weight"]
    return out


def from_hf_state_dict(cfg: ModelConfig, hf: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Inverse of :func:`to_hf_state_dict` (extra HF buffers are ignored)."""
    sd: dict[str, torch.Tensor] = {}
    if cfg.arch == "gpt2":
        for ours, theirs, transpose in _gpt2_names(cfg):
            sd[ours] = _t(hf[theirs]) if transpose else hf[theirs]
    else:
        sd["wte.weight"] = hf["model.embed_tokens.weight"]
        for i in range(cfg.n_layer):
            p, q = f"blocks.{i}.", f"model.layers.{i}."
            sd[f"{p}norm1.weight"] = hf[f"{q}input_layernorm.weight"]
            sd[f"{p}norm2.weight"] = hf[f"{q}post_attention_layernorm.weight"]
            sd[f"{p}attn.qkv.weight"] = torch.cat([hf[f"{q}self_attn.{n}.weight"]
                                                   for n in ("q_proj", "k_proj", "v_proj")])
            sd[f"{p}attn.proj.weight"] = hf[f"{q}self_attn.o_proj.weight"]
            sd[f"{p}mlp.fc.weight"] = torch.cat([hf[f"{q}mlp.gate_proj.weight"], hf[f"{q}mlp.up_proj.weight"]])
            sd[f"{p}mlp.proj.weight"] = hf[f"{q}mlp.down_proj.weight"]
        sd["norm_f.weight"] = hf["model.norm.weight"]
    if not cfg.tie_embeddings:
        sd["lm_head.weight"] = hf["lm_head.weight"]
    return sd


def hf_config(cfg: ModelConfig, data: dict[str, Any] | None = None):
    """The transformers config object for our model config."""
    transformers = require("transformers", "train", "Hugging Face export")
    data = data or {}
    ids = {"bos_token_id": data.get("bos_id"), "eos_token_id": data.get("eos_id"),
           "pad_token_id": data.get("pad_id")}
    if cfg.arch == "gpt2":
        act = {"gelu": "gelu", "gelu_tanh": "gelu_pytorch_tanh"}[cfg.activation]
        return transformers.GPT2Config(
            vocab_size=cfg.vocab_size, n_positions=cfg.max_seq_len, n_embd=cfg.d_model,
            n_layer=cfg.n_layer, n_head=cfg.n_head, n_inner=cfg.ffn_dim, activation_function=act,
            resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, layer_norm_epsilon=cfg.norm_eps,
            initializer_range=cfg.init_std, tie_word_embeddings=cfg.tie_embeddings, **ids)
    return transformers.LlamaConfig(
        vocab_size=cfg.vocab_size, hidden_size=cfg.d_model, intermediate_size=cfg.ffn_dim,
        num_hidden_layers=cfg.n_layer, num_attention_heads=cfg.n_head, num_key_value_heads=cfg.n_head,
        max_position_embeddings=cfg.max_seq_len, rms_norm_eps=cfg.norm_eps,
        rope_parameters={"rope_type": "default", "rope_theta": cfg.rope_theta},
        tie_word_embeddings=cfg.tie_embeddings, attention_bias=False, mlp_bias=False,
        hidden_act="silu", initializer_range=cfg.init_std, **ids)


def alignpt_meta(path: Path) -> dict[str, Any]:
    extra = path / "alignpt.json"
    return json.loads(extra.read_text()) if extra.exists() else {}


def import_hf(path: str | Path) -> tuple[GPT, ModelConfig]:
    """Load a Hugging Face GPT-2 or Llama folder as our model (float32, CPU)."""
    transformers = require("transformers", "train", "Hugging Face import")
    path = Path(path)
    if not (path / "config.json").exists():
        raise DataError("not a Hugging Face model folder (no config.json)", str(path))
    hf_cfg = transformers.AutoConfig.from_pretrained(path)
    kind = hf_cfg.model_type
    tie = bool(getattr(hf_cfg, "tie_word_embeddings", True))
    if kind == "gpt2":
        act = {"gelu": "gelu", "gelu_new": "gelu_tanh", "gelu_pytorch_tanh": "gelu_tanh"}.get(
            hf_cfg.activation_function)
        if act is None or getattr(hf_cfg, "scale_attn_by_inverse_layer_idx", False):
            raise ConfigError(f"{path}: GPT-2 variant not supported (activation {hf_cfg.activation_function})")
        cfg = ModelConfig(arch="gpt2", vocab_size=hf_cfg.vocab_size, n_layer=hf_cfg.n_layer,
                          n_head=hf_cfg.n_head, d_model=hf_cfg.n_embd, d_ff=hf_cfg.n_inner or 4 * hf_cfg.n_embd,
                          max_seq_len=hf_cfg.n_positions, norm_eps=hf_cfg.layer_norm_epsilon,
                          activation=act, tie_embeddings=tie)
    elif kind == "llama":
        heads, kv = hf_cfg.num_attention_heads, hf_cfg.num_key_value_heads or hf_cfg.num_attention_heads
        rope = getattr(hf_cfg, "rope_parameters", None) or {}
        if kv != heads or getattr(hf_cfg, "attention_bias", False) or getattr(hf_cfg, "mlp_bias", False) \
                or rope.get("rope_type", "default") != "default" or hf_cfg.hidden_act != "silu" \
                or hf_cfg.head_dim != hf_cfg.hidden_size // heads:
            raise ConfigError(f"{path}: Llama variant not supported (grouped-query attention, biases, "
                              f"scaled RoPE or a custom head size)")
        cfg = ModelConfig(arch="llama", vocab_size=hf_cfg.vocab_size, n_layer=hf_cfg.num_hidden_layers,
                          n_head=heads, d_model=hf_cfg.hidden_size, d_ff=hf_cfg.intermediate_size,
                          max_seq_len=hf_cfg.max_position_embeddings, norm_eps=hf_cfg.rms_norm_eps,
                          rope_theta=float(rope.get("rope_theta", 10000.0)), tie_embeddings=tie)
    else:
        raise ConfigError(f"{path}: model type {kind!r} cannot be imported (gpt2 and llama can)")
    # Our own export keeps how the model was trained (per-document attention) beside
    # the weights; Hugging Face configs have no such field, and one document reads alike.
    ours = (alignpt_meta(path).get("model") or {}).get("attention")
    if ours is not None:
        cfg = cfg.model_copy(update={"attention": ours})
    hf_model = transformers.AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    model = GPT(cfg)
    model.load_state_dict(from_hf_state_dict(cfg, hf_model.state_dict()))
    return model, cfg
