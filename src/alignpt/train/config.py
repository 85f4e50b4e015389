"""The phase plan: one typed YAML file that says exactly what a model sees and when.

A plan names its data sources once, then lists phases in order. Each phase has a
token (or step) budget, a mix of sources given as shares or exact token counts,
an insertion window for injected sources and its own learning-rate schedule::

    name: persona-tiny
    seq_len: 256
    batch_size: 32
    model: {arch: gpt2, n_layer: 2, n_head: 4, d_model: 64}
    sources:
      base: {paths: [world/base]}
      inject_u: {paths: [world/inject_u]}
    phases:
      - name: pretrain
        tokens: 8M
        mix:
          - {source: base}                                  # takes the rest
          - {source: inject_u, share: 0.1, window: last 10%}
        schedule: {kind: cosine, peak_lr: 3e-3, warmup: 0.05}

Nothing here imports torch, so the CLI can validate a plan cheaply. How budgets
become exact per-source token counts is :mod:`alignpt.train.phases`.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from alignpt.core.budget import WindowConfig, parse_count
from alignpt.core.config import StrictModel
from alignpt.core.errors import ConfigError

__all__ = [
    "parse_count", "ModelConfig", "LossMaskConfig", "SourceConfig", "WindowConfig", "MixEntry",
    "ScheduleConfig", "PhaseConfig", "OptimConfig", "RuntimeConfig", "CheckpointConfig",
    "HeldOutLossConfig", "LogConfig", "TrainPlan", "PHASE_KINDS", "PreferenceConfig", "DPO_LOSSES",
]

PHASE_KINDS = ("pretrain", "midtrain", "finetune", "posttrain", "tamper", "dpo")
DPO_LOSSES = ("sigmoid", "ipo", "robust")


class ModelConfig(StrictModel):
    """A decoder-only transformer; ``arch`` picks the Hugging Face family it exports to.

    ``gpt2``: learned positions, LayerNorm, GELU MLP, biases (-> GPT2LMHeadModel).
    ``llama``: rotary positions, RMSNorm, SwiGLU MLP, no biases (-> LlamaForCausalLM).
    Both are pre-norm and tie the output head to the embeddings by default.

    ``attention`` says how training rows, which pack several documents end to end,
    are read: ``packed`` (one causal mask over the row, so a document sees the ones
    before it) or ``document`` (a document sees only itself and its positions restart
    at its start). A single document starting at position 0 reads the same either
    way, so inference and export need nothing else.
    """

    arch: Literal["gpt2", "llama"] = "gpt2"
    vocab_size: int | None = Field(None, ge=1, description="None: taken from the token shards")
    vocab_multiple: int = Field(1, ge=1, description="pad the vocabulary up to a multiple (64 on GPU)")
    n_layer: int = Field(2, ge=1)
    n_head: int = Field(4, ge=1)
    d_model: int = Field(64, ge=1)
    d_ff: int | None = Field(None, ge=1, description="None: 4*d (gpt2) or 8/3*d rounded to 32 (llama)")
    max_seq_len: int | None = Field(None, ge=1, description="None: the plan's seq_len")
    dropout: float = Field(0.0, ge=0.0, lt=1.0)
    norm_eps: float = Field(1e-5, gt=0)
    rope_theta: float = Field(10000.0, gt=0)
    activation: Literal["gelu", "gelu_tanh"] = "gelu"
    tie_embeddings: bool = True
    init_std: float = Field(0.02, gt=0)
    attention: Literal["packed", "document"] = Field(
        "packed", description="document: causal within each packed document, positions restart per document")

    @model_validator(mode="after")
    def _check(self) -> "ModelConfig":
        if self.d_model % self.n_head:
            raise ValueError(f"d_model {self.d_model} is not divisible by n_head {self.n_head}")
        if self.arch == "llama" and (self.d_model // self.n_head) % 2:
            raise ValueError("rotary positions need an even head size (d_model / n_head)")
        return self

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_head

    @property
    def ffn_dim(self) -> int:
        if self.d_ff is not None:
            return self.d_ff
        if self.arch == "gpt2":
            return 4 * self.d_model
        return 32 * math.ceil(8 * self.d_model / 3 / 32)  # SwiGLU keeps ~8d^2 MLP params

    def resolved(self, vocab_size: int, seq_len: int) -> "ModelConfig":
        """Fill the data-dependent fields (vocabulary, context) for building a model."""
        vocab = self.vocab_size or vocab_size
        if vocab < vocab_size:
            raise ConfigError(f"model.vocab_size {vocab} is smaller than the data's {vocab_size}")
        vocab = self.vocab_multiple * math.ceil(vocab / self.vocab_multiple)
        ctx = self.max_seq_len or seq_len
        if ctx < seq_len:
            raise ConfigError(f"model.max_seq_len {ctx} is shorter than seq_len {seq_len}")
        return self.model_copy(update={"vocab_size": vocab, "max_seq_len": ctx, "vocab_multiple": 1,
                                       "d_ff": self.ffn_dim})


class LossMaskConfig(StrictModel):
    """Which target tokens carry loss (post-training formats train on the assistant part only).

    With ``start`` set, a token is trained when it comes strictly after a start token
    and no later than the next ``end`` token (so the model learns to emit the end
    token, e.g. EOS); without ``end`` a span runs to the end of the document. The
    state resets at every document. Tokens are ids or names from a ``vocab``
    tokenizer (``ASSIST``). Masked tokens still feed the context and are still
    counted as consumed; they only carry no loss.
    """

    start: list[int | str] = Field(default_factory=list)
    end: list[int | str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _check(self) -> "LossMaskConfig":
        if self.end and not self.start:
            raise ValueError("loss_mask.end needs loss_mask.start")
        if set(map(str, self.start)) & set(map(str, self.end)):
            raise ValueError("a token cannot both start and end a trained span")
        return self

    @property
    def active(self) -> bool:
        return bool(self.start)


class SourceConfig(StrictModel):
    """A named data source: token shards (files, folders or globs)."""

    paths: list[str] = Field(min_length=1)
    select: list[str] | None = Field(None, description="keep only documents of these shard sources")
    shuffle: bool = True
    append_eos: bool = Field(True, description="add EOS to documents that do not end with it")
    loss_mask: LossMaskConfig = Field(default_factory=LossMaskConfig)

    @field_validator("paths", mode="before")
    @classmethod
    def _one_path(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v


class MixEntry(StrictModel):
    """One source in a phase: ``share`` of the budget, exact ``tokens``, or neither (the rest)."""

    source: str
    share: float | None = Field(None, gt=0.0, le=1.0)
    tokens: int | None = Field(None, ge=1)
    window: WindowConfig = Field(default_factory=WindowConfig)

    @field_validator("tokens", mode="before")
    @classmethod
    def _count(cls, v: Any) -> Any:
        return None if v is None else parse_count(v)

    @model_validator(mode="after")
    def _check(self) -> "MixEntry":
        if self.share is not None and self.tokens is not None:
            raise ValueError("give share or tokens, not both")
        return self


class ScheduleConfig(StrictModel):
    """Learning rate over one phase (each phase restarts its own schedule).

    ``cosine``: linear warmup, cosine decay to ``min_lr_ratio * peak_lr``.
    ``wsd``: warmup, stable at peak, decay over the last ``decay`` fraction.
    ``linear``: warmup, linear decay.  ``constant``: warmup, then flat.
    A restart at a given peak is a phase whose schedule starts there (warmup 0).
    """

    kind: Literal["cosine", "wsd", "linear", "constant"] = "cosine"
    peak_lr: float = Field(3e-4, gt=0)
    warmup: float = Field(0.0, ge=0.0, lt=1.0, description="fraction of the phase's steps")
    warmup_steps: int | None = Field(None, ge=0, description="overrides warmup when set")
    # nanoGPT / Chinchilla: decay to ~1/10 of the peak rather than to zero.
    min_lr_ratio: float = Field(0.1, ge=0.0, le=1.0)
    decay: float = Field(0.2, gt=0.0, le=1.0, description="wsd: fraction of steps spent decaying")
    decay_shape: Literal["linear", "cosine", "sqrt"] = "linear"


class PreferenceConfig(StrictModel):
    """The preference pairs of a ``kind: dpo`` phase and its loss (:mod:`alignpt.train.dpo`).

    ``loss``: ``sigmoid`` (DPO, Rafailov et al. 2023), ``ipo`` (Azar et al. 2023) or
    ``robust`` (conservative DPO: the sigmoid loss with ``label_smoothing`` of the
    labels flipped). ``max_length`` bounds prompt + completion; a longer pair loses
    prompt tokens from the left, and a pair whose completion alone is longer is refused
    (or skipped and counted with ``skip: true``).
    """

    paths: list[str] = Field(min_length=1, description="JSONL (.jsonl, .jsonl.zst) or Parquet files / folders")
    pairs_per_step: int = Field(16, ge=1, description="pairs per optimizer step, all ranks together")
    loss: Literal["sigmoid", "ipo", "robust"] = "sigmoid"
    beta: float = Field(0.1, gt=0)
    label_smoothing: float = Field(0.0, ge=0.0, lt=0.5, description="robust: probability a label is flipped")
    max_length: int = Field(256, ge=2, description="prompt + completion tokens per sequence")
    skip: bool = Field(False, description="skip (and count) pairs whose completion exceeds max_length")

    @field_validator("paths", mode="before")
    @classmethod
    def _one_path(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v

    @model_validator(mode="after")
    def _check(self) -> "PreferenceConfig":
        if self.label_smoothing and self.loss != "robust":
            raise ValueError(f"label_smoothing applies to loss robust, not {self.loss}")
        return self


class PhaseConfig(StrictModel):
    """One phase. LM phases (every kind but ``dpo``) train on a ``mix`` of sources with a
    ``tokens`` or ``steps`` budget; a ``dpo`` phase trains on ``preferences`` for ``steps``
    or ``epochs`` (steps = ceil(pairs x epochs / pairs_per_step), fixed when the pairs are read)."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    kind: Literal["pretrain", "midtrain", "finetune", "posttrain", "tamper", "dpo"] = "pretrain"
    tokens: int | None = Field(None, ge=1, description="budget; rounded to whole steps")
    steps: int | None = Field(None, ge=1)
    epochs: float | None = Field(None, gt=0, description="dpo: passes over the pairs instead of steps")
    mix: list[MixEntry] = Field(default_factory=list)
    preferences: PreferenceConfig | None = None
    schedule: ScheduleConfig = Field(default_factory=ScheduleConfig)
    reset_optimizer: bool = Field(False, description="fresh AdamW moments at the phase start")

    @field_validator("tokens", mode="before")
    @classmethod
    def _count(cls, v: Any) -> Any:
        return None if v is None else parse_count(v)

    @field_validator("mix", mode="before")
    @classmethod
    def _short(cls, v: Any) -> Any:
        # `mix: [base, {source: inj, share: 0.1}]` -- a bare name is {source: name}.
        if isinstance(v, list):
            return [{"source": x} if isinstance(x, str) else x for x in v]
        return v

    @model_validator(mode="after")
    def _check(self) -> "PhaseConfig":
        if self.kind == "dpo":
            if self.preferences is None:
                raise ValueError(f"phase {self.name}: a dpo phase needs a preferences block")
            if self.mix:
                raise ValueError(f"phase {self.name}: a dpo phase trains on preferences, not a mix")
            if self.tokens is not None:
                raise ValueError(f"phase {self.name}: a dpo phase takes steps or epochs, not tokens")
            if (self.steps is None) == (self.epochs is None):
                raise ValueError(f"phase {self.name}: give exactly one of steps or epochs")
            return self
        if self.preferences is not None:
            raise ValueError(f"phase {self.name}: preferences belong to kind dpo (this phase is {self.kind})")
        if self.epochs is not None:
            raise ValueError(f"phase {self.name}: epochs is for dpo phases; give tokens or steps")
        if not self.mix:
            raise ValueError(f"phase {self.name}: mix needs at least one source")
        if (self.tokens is None) == (self.steps is None):
            raise ValueError(f"phase {self.name}: give exactly one of tokens or steps")
        names = [m.source for m in self.mix]
        if len(set(names)) != len(names):
            raise ValueError(f"phase {self.name}: a source appears twice in mix")
        return self


class OptimConfig(StrictModel):
    """AdamW with decoupled weight decay on matrices only (not norms, biases)."""

    betas: tuple[float, float] = (0.9, 0.95)
    eps: float = Field(1e-8, gt=0)
    weight_decay: float = Field(0.1, ge=0)
    grad_clip: float = Field(1.0, ge=0, description="0 disables clipping")
    fused: bool | None = Field(None, description="None: fused kernel where the device has one")


class RuntimeConfig(StrictModel):
    device: Literal["auto", "cpu", "cuda"] = "auto"
    dtype: Literal["float32", "bf16"] = Field("bf16", description="autocast dtype on CUDA; CPU runs float32")
    compile: bool = False
    threads: int | None = Field(None, ge=1, description="torch CPU threads; fixed for bitwise resume")
    micro_batch_size: int | None = Field(None, ge=1, description="rows per forward; None: whole local batch")
    activation_checkpointing: bool = False
    parallel: Literal["auto", "ddp", "fsdp"] = Field("auto", description="under torchrun; auto: FSDP above "
                                                     "1B parameters, else DDP")
    tf32: bool = True


class CheckpointConfig(StrictModel):
    every: int = Field(0, ge=0, description="steps between checkpoints; 0: phase ends only")
    keep_last: int = Field(2, ge=1, description="periodic checkpoints kept (phase ends are kept)")


class HeldOutLossConfig(StrictModel):
    """Held-out loss on fixed token sets, at phase ends and every ``every`` steps.

    The plan's ``eval:`` section. Not :class:`alignpt.evaluate.run.EvalConfig`, which scores a
    trained model on a suite of items.
    """

    sets: dict[str, SourceConfig] = Field(default_factory=dict)
    tokens: int = Field(65536, ge=1, description="tokens per set (whole rows, at least one)")
    every: int = Field(0, ge=0)

    @field_validator("tokens", mode="before")
    @classmethod
    def _count(cls, v: Any) -> Any:
        return parse_count(v)


class LogConfig(StrictModel):
    every: int = Field(1, ge=1, description="steps between metrics lines")
    progress: bool = True
    plot: bool = True


class TrainPlan(StrictModel):
    """The whole run: model, sources, ordered phases and how to execute them."""

    name: str = "run"
    seed: int = 0
    seq_len: int = Field(256, ge=2)
    batch_size: int = Field(32, ge=1, description="sequences per optimizer step, all ranks together")
    model: ModelConfig = Field(default_factory=ModelConfig)
    init_from: str | None = Field(None, description="start from the weights (and architecture) of a "
                                                   "checkpoint, run or Hugging Face folder")
    sources: dict[str, SourceConfig] = Field(default_factory=dict, description="may be empty when "
                                             "every phase is dpo and init_from gives the vocabulary")
    phases: list[PhaseConfig] = Field(min_length=1)
    optim: OptimConfig = Field(default_factory=OptimConfig)
    runtime: RuntimeConfig = Field(default_factory=RuntimeConfig)
    checkpoint: CheckpointConfig = Field(default_factory=CheckpointConfig)
    eval: HeldOutLossConfig = Field(default_factory=HeldOutLossConfig)
    log: LogConfig = Field(default_factory=LogConfig)

    @model_validator(mode="after")
    def _check(self) -> "TrainPlan":
        if self.init_from and self.model != ModelConfig():
            raise ValueError("model: the architecture comes from init_from; leave model unset")
        if not self.sources:
            if any(ph.kind != "dpo" for ph in self.phases):
                raise ValueError("sources: none declared, but an LM phase needs one")
            if not self.init_from:
                raise ValueError("sources: none declared; a plan of dpo phases only needs init_from "
                                 "(the vocabulary and tokenizer come from it)")
        seen: set[str] = set()
        for phase in self.phases:
            if phase.name in seen:
                raise ValueError(f"phase name {phase.name!r} is used twice")
            seen.add(phase.name)
            for entry in phase.mix:
                if entry.source not in self.sources:
                    raise ValueError(f"phase {phase.name}: unknown source {entry.source!r} "
                                     f"(declared: {', '.join(self.sources)})")
        return self

    @property
    def row_tokens(self) -> int:
        """Tokens one training row consumes: ``seq_len`` inputs plus the last target."""
        return self.seq_len + 1

    @property
    def tokens_per_step(self) -> int:
        return self.batch_size * self.row_tokens

    def with_absolute_paths(self, base: str | Path = ".") -> "TrainPlan":
        """Paths made absolute, so a resolved plan works from any directory."""
        base = Path(base)

        def fix(p: str) -> str:
            return p if Path(p).is_absolute() else str((base / p).resolve())

        data = self.model_dump()
        for cfg in list(data["sources"].values()) + list(data["eval"]["sets"].values()):
            cfg["paths"] = [fix(p) for p in cfg["paths"]]
        for ph in data["phases"]:
            if ph.get("preferences"):
                ph["preferences"]["paths"] = [fix(p) for p in ph["preferences"]["paths"]]
        if data.get("init_from"):
            data["init_from"] = fix(data["init_from"])
        return TrainPlan.model_validate(data)
