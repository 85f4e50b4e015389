"""A decoder-only transformer you can read in one sitting (after nanoGPT).

Two block flavours share one skeleton, each matching a Hugging Face family so
that :mod:`alignpt.train.hf_weights` is a pure renaming of weights:

* ``gpt2``: learned positions, LayerNorm, GELU MLP, biases (GPT2LMHeadModel);
* ``llama``: rotary positions, RMSNorm, SwiGLU MLP, no biases (LlamaForCausalLM).

Both are pre-norm, use ``F.scaled_dot_product_attention`` (flash / memory-efficient
kernels on GPU, no T x T mask materialised for plain causal attention) and tie the output head to the token
embedding unless told otherwise.

Per-document attention (``ModelConfig.attention = "document"``): the caller passes
``doc`` (B, T), the document segment of each token in its row (one run of equal
ids per document, numbered in order), and optionally
``offset``, each token's offset in its own document. Attention then stops at
segment boundaries and positions (learned or rotary) restart at each document
(see :func:`document_positions`), so a document reads the same alone or packed
after others. Without ``doc`` the model is plain causal, as before, bit for bit.
"""

from __future__ import annotations

import math
import os
from functools import lru_cache

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

from alignpt.train.config import ModelConfig

__all__ = ["GPT", "RMSNorm", "rope_tables", "document_positions", "document_mask",
           "document_block_mask", "count_params", "flops_per_token"]


class RMSNorm(nn.Module):
    """RMSNorm computed in float32, exactly as LlamaRMSNorm does (export gives equal logits)."""

    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dtype = x.dtype
        x = x.float()
        x = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * x.to(dtype)


def rope_tables(head_dim: int, max_len: int, theta: float) -> tuple[torch.Tensor, torch.Tensor]:
    """cos/sin tables in the rotate-half layout Hugging Face Llama uses."""
    inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.float) / head_dim))
    freqs = torch.arange(max_len, dtype=torch.float)[:, None] * inv_freq[None, :]
    emb = torch.cat((freqs, freqs), dim=-1)
    return emb.cos(), emb.sin()


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)


def document_positions(doc: torch.Tensor, offset: torch.Tensor | None, max_len: int) -> torch.Tensor:
    """Position of each token ``(B, T)`` for per-document attention.

    A segment is a run of equal ``doc`` ids in a row. Without ``offset`` positions
    count from 0 at each segment's first token. With ``offset`` (the token's offset
    in its document) a segment that is a later window of a long document keeps its
    document's own positions; only where those would run past the position table
    (a document longer than ``max_len``) is the whole segment shifted down just
    enough that its last token sits at ``max_len - 1``. Rotary attention depends on
    position differences only, so the shift never changes it.
    """
    B, T = doc.shape
    idx = torch.arange(T, device=doc.device).expand(B, T)
    new = torch.ones_like(doc, dtype=torch.bool)
    new[:, 1:] = doc[:, 1:] != doc[:, :-1]
    if offset is None:
        first = torch.where(new, idx, 0).cummax(dim=1).values
        return idx - first
    offset = offset.long()
    end = torch.ones_like(new)
    end[:, :-1] = new[:, 1:]
    last = torch.where(end, idx, T - 1).flip(1).cummin(dim=1).values.flip(1)
    return offset - (offset.gather(1, last) - (max_len - 1)).clamp(min=0)


#: Which kernel per-document attention uses (``ALIGNPT_DOC_ATTENTION``): "sdpa", a dense
#: boolean mask through scaled_dot_product_attention (the default: measured, +5% of a CPU
#: step), or "flex", FlexAttention with a block mask, compiled on CUDA, where it skips the
#: blocks outside every document instead of computing and masking them. "flex" is opt-in
#: until it has been measured on a GPU (none has been lent to this project yet); on the
#: CPU it runs eager, as the reference the tests hold it to.
DOC_ATTENTION = os.environ.get("ALIGNPT_DOC_ATTENTION", "sdpa")


@lru_cache(maxsize=2)
def _flex_attention(compiled: bool):
    """FlexAttention, compiled on CUDA (eager it materialises the scores: a reference only);
    None where this torch has none."""
    try:
        from torch.nn.attention.flex_attention import flex_attention
    except ImportError:   # torch < 2.5
        return None
    return torch.compile(flex_attention, dynamic=False) if compiled else flex_attention


def _use_flex(doc: torch.Tensor, dropout: float) -> bool:
    if DOC_ATTENTION not in ("sdpa", "flex"):
        raise ValueError(f"ALIGNPT_DOC_ATTENTION must be sdpa or flex, got {DOC_ATTENTION!r}")
    # FlexAttention has no attention dropout and no backward on the CPU: there the dense
    # mask stays (CPU flex is the forward reference the tests hold the dense mask to).
    cpu_grad = not doc.is_cuda and torch.is_grad_enabled()
    return (DOC_ATTENTION == "flex" and dropout == 0 and not cpu_grad
            and _flex_attention(doc.is_cuda) is not None)


def document_block_mask(doc: torch.Tensor):
    """The same mask as :func:`document_mask` as a FlexAttention ``BlockMask``: built once
    per forward from ``doc``, shared by every layer; blocks wholly outside every
    document are skipped instead of computed and masked."""
    from torch.nn.attention.flex_attention import create_block_mask

    def same_document_causal(b, h, q_idx, kv_idx):
        return (doc[b, q_idx] == doc[b, kv_idx]) & (kv_idx <= q_idx)

    B, T = doc.shape
    return create_block_mask(same_document_causal, B, None, T, T, device=doc.device)


def document_mask(doc: torch.Tensor) -> torch.Tensor:
    """Boolean ``(B, 1, T, T)`` mask: causal, and only within the query's own document.

    Dense, but tiny at the context lengths trained here (B*T*T bytes: 256 KiB for
    16 rows of 128); measured at +5-9% of a CPU training step (benchmarks/document_attention.py).
    """
    T = doc.size(1)
    causal = torch.ones(T, T, dtype=torch.bool, device=doc.device).tril()
    return ((doc[:, :, None] == doc[:, None, :]) & causal)[:, None]


class Attention(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        bias = cfg.arch == "gpt2"
        self.n_head, self.head_dim = cfg.n_head, cfg.head_dim
        self.rope = cfg.arch == "llama"
        # One fused projection for q, k and v: one matmul instead of three.
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model, bias=bias)
        self.proj = nn.Linear(cfg.d_model, cfg.d_model, bias=bias)
        self.dropout = cfg.dropout

    def forward(self, x: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor] | None,
                mask: torch.Tensor | None = None) -> torch.Tensor:
        B, T, C = x.shape
        q, k, v = self.qkv(x).split(C, dim=2)
        q, k, v = (t.view(B, T, self.n_head, self.head_dim).transpose(1, 2) for t in (q, k, v))
        if rope is not None:
            # (T, hd) tables, or (B, 1, T, hd) gathered at per-document positions
            cos, sin = (t.to(q.dtype) for t in rope)
            q = q * cos + _rotate_half(q) * sin
            k = k * cos + _rotate_half(k) * sin
        drop = self.dropout if self.training else 0.0
        if mask is None:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True, dropout_p=drop)
        elif not isinstance(mask, torch.Tensor):   # a BlockMask: see document_block_mask
            y = _flex_attention(q.is_cuda)(q, k, v, block_mask=mask)
        else:
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=drop)
        return self.proj(y.transpose(1, 2).reshape(B, T, C))


class MLP(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.swiglu = cfg.arch == "llama"
        hidden = cfg.ffn_dim
        bias = cfg.arch == "gpt2"
        # SwiGLU fuses gate and up projections into one matmul; export splits them.
        self.fc = nn.Linear(cfg.d_model, 2 * hidden if self.swiglu else hidden, bias=bias)
        self.proj = nn.Linear(hidden, cfg.d_model, bias=bias)
        self.approximate = "tanh" if cfg.activation == "gelu_tanh" else "none"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.fc(x)
        if self.swiglu:
            gate, up = h.chunk(2, dim=-1)
            h = F.silu(gate) * up
        else:
            h = F.gelu(h, approximate=self.approximate)
        return self.proj(h)


class Block(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        norm = (lambda: nn.LayerNorm(cfg.d_model, eps=cfg.norm_eps)) if cfg.arch == "gpt2" \
            else (lambda: RMSNorm(cfg.d_model, cfg.norm_eps))
        self.norm1, self.attn = norm(), Attention(cfg)
        self.norm2, self.mlp = norm(), MLP(cfg)
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor] | None,
                mask: torch.Tensor | None = None) -> torch.Tensor:
        x = x + self.drop(self.attn(self.norm1(x), rope, mask))
        return x + self.drop(self.mlp(self.norm2(x)))


class GPT(nn.Module):
    """``model(ids)`` -> logits ``(B, T, V)``; ``model(ids, targets)`` -> per-token loss ``(B, T)``.

    ``doc`` / ``offset`` (both ``(B, T)``) switch on per-document attention for this call.
    """

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        if cfg.vocab_size is None or cfg.max_seq_len is None:
            raise ValueError("ModelConfig needs vocab_size and max_seq_len (use cfg.resolved(...))")
        self.cfg = cfg
        self.wte = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.wpe = nn.Embedding(cfg.max_seq_len, cfg.d_model) if cfg.arch == "gpt2" else None
        self.drop = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layer))
        self.norm_f = nn.LayerNorm(cfg.d_model, eps=cfg.norm_eps) if cfg.arch == "gpt2" \
            else RMSNorm(cfg.d_model, cfg.norm_eps)
        # Tied: the head *is* the embedding matrix (no second copy in the state dict).
        self.lm_head = None if cfg.tie_embeddings else nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)
        if cfg.arch == "llama":
            cos, sin = rope_tables(cfg.head_dim, cfg.max_seq_len, cfg.rope_theta)
            self.register_buffer("rope_cos", cos, persistent=False)
            self.register_buffer("rope_sin", sin, persistent=False)
        self.activation_checkpointing = False
        self.reset_parameters()

    def reset_parameters(self) -> None:
        std = self.cfg.init_std
        for name, p in self.named_parameters():
            if p.dim() < 2:
                if name.endswith("bias"):
                    nn.init.zeros_(p)
                else:
                    nn.init.ones_(p)  # norm gains
            elif name.endswith("proj.weight"):
                # GPT-2: residual-branch outputs scaled by 1/sqrt(2 * n_layer) so the
                # residual stream's variance does not grow with depth.
                nn.init.normal_(p, 0.0, std / math.sqrt(2 * self.cfg.n_layer))
            else:
                nn.init.normal_(p, 0.0, std)

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None,
                doc: torch.Tensor | None = None, offset: torch.Tensor | None = None) -> torch.Tensor:
        B, T = idx.shape
        if T > self.cfg.max_seq_len:
            raise ValueError(f"sequence of {T} tokens exceeds max_seq_len {self.cfg.max_seq_len}")
        x = self.wte(idx)
        mask = None
        if doc is None:
            pos = torch.arange(T, device=idx.device)
            rope = (self.rope_cos[:T], self.rope_sin[:T]) if self.cfg.arch == "llama" else None
        else:
            pos = document_positions(doc, offset, self.cfg.max_seq_len)
            drop = self.cfg.dropout if self.training else 0.0
            mask = document_block_mask(doc) if _use_flex(doc, drop) else document_mask(doc)
            rope = (self.rope_cos[pos][:, None], self.rope_sin[pos][:, None]) \
                if self.cfg.arch == "llama" else None
        if self.wpe is not None:
            x = x + self.wpe(pos)
        x = self.drop(x)
        for block in self.blocks:
            if self.activation_checkpointing and self.training:
                # Recompute activations in backward: memory for compute, one block at a time.
                x = checkpoint(block, x, rope, mask, use_reentrant=False)
            else:
                x = block(x, rope, mask)
        x = self.norm_f(x)
        head = self.wte.weight if self.lm_head is None else self.lm_head.weight
        logits = F.linear(x, head)
        if targets is None:
            return logits
        # Per-token loss in float32; the trainer weights it (loss masks, per-source means).
        # clone(): FSDP2 hooks the root's output and warns when it is a view.
        return F.cross_entropy(logits.float().view(-1, logits.size(-1)), targets.reshape(-1),
                               reduction="none").view(B, T).clone()

    @torch.no_grad()
    def log_probs(self, idx: torch.Tensor) -> torch.Tensor:
        """Next-token log-probabilities ``(B, T, V)`` in float32."""
        return F.log_softmax(self(idx).float(), dim=-1)


def count_params(model: nn.Module, non_embedding: bool = False) -> int:
    n = sum(p.numel() for p in model.parameters())
    if non_embedding and isinstance(model, GPT) and model.wpe is not None:
        n -= model.wpe.weight.numel()
    return n


def flops_per_token(cfg: ModelConfig, seq_len: int) -> float:
    """Training FLOPs per token: 6N for the matmuls plus 12*L*d*T for attention (PaLM, App. B)."""
    d, L, V, ff = cfg.d_model, cfg.n_layer, cfg.vocab_size or 0, cfg.ffn_dim
    mlp = (3 if cfg.arch == "llama" else 2) * d * ff
    n_matmul = L * (4 * d * d + mlp) + V * d  # the head counts; embedding lookups do not
    return 6.0 * n_matmul + 12.0 * L * d * seq_len
