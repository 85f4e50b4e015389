"""The training loop: phases in order, exact data, atomic checkpoints, one Python call.

Skipped as a doctest: it trains a model into a run folder, which takes minutes.

>>> from alignpt.train import load_plan, train                       # doctest: +SKIP
>>> result = train(load_plan("recipes/train/persona_tiny.yaml"), "runs/tiny")  # doctest: +SKIP
>>> result.phase_checkpoints["pretrain"]                             # doctest: +SKIP
PosixPath('runs/tiny/checkpoints/step_0000240')

``train`` resumes by default: called again on the same folder it continues from
the newest checkpoint (or returns at once when the run is complete), and
``until="pretrain"`` stops after that phase's checkpoint so a caller can measure
and then continue with the later phases by calling ``train`` again.

``branch_from=CKPT`` starts a new run from another run's checkpoint when what
that run trained on up to there is exactly what this plan would (checked by
:mod:`alignpt.train.lineage`; otherwise it trains from scratch), and
``save_at=[steps]`` makes a run keep checkpoints where others will branch.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch

from alignpt.core.atomic import atomic_write_text
from alignpt.core.errors import ConfigError
from alignpt.core.outdir import OutputLock, check_output_apart
from alignpt.train import checkpoint as ckpt_io
from alignpt.train import distributed as D
from alignpt.train.accounting import accounting_table, write_accounting
from alignpt.train.config import TrainPlan
from alignpt.train.data import (DataInfo, SourceReader, Rows, Sampler, check_token_ids, data_info,
                               eval_rows)
from alignpt.train.dpo import DPOData, load_dpo_phases, run_dpo_phase
from alignpt.train.events import Callback, EventKind, TrainEvent
from alignpt.train.lineage import StreamHash
from alignpt.train.metrics import MetricsLog, plot_losses, train_progress
from alignpt.train.model import GPT, count_params
from alignpt.train.phases import ResolvedPhase, resolve_budgets
from alignpt.train.runfiles import TrainResult, check_same_plan, plan_yaml, result_from_files
from alignpt.train.schedule import lr_at

__all__ = ["Trainer", "train"]


def _pick_device(want: str, local_rank: int) -> torch.device:
    if want == "cuda" or (want == "auto" and torch.cuda.is_available()):
        if not torch.cuda.is_available():
            raise ConfigError("runtime.device is cuda but no CUDA device is visible")
        return torch.device("cuda", local_rank)
    return torch.device("cpu")


class Trainer:
    """Owns model, optimizer, sampler and run folder for one plan. Use :func:`train`."""

    def __init__(self, plan: TrainPlan, out_dir: str | Path, *, resume: bool = True,
                 callbacks: Sequence[Callback] = (), progress: bool | None = None,
                 branch_from: str | Path | None = None, save_at: Sequence[int] = ()):
        self.plan, self.run_dir, self.callbacks = plan, Path(out_dir), list(callbacks)
        self.save_at = set(save_at)
        rt = plan.runtime
        if rt.threads:
            torch.set_num_threads(rt.threads)
        self.dist = D.init_distributed("cuda" if rt.device == "cuda" or
                                       (rt.device == "auto" and torch.cuda.is_available()) else "cpu")
        self.device = _pick_device(rt.device, self.dist.local_rank)
        self.phases: list[ResolvedPhase] = resolve_budgets(plan)
        self.show_progress = plan.log.progress if progress is None else progress
        if plan.batch_size % self.dist.world_size:
            raise ConfigError(f"batch_size {plan.batch_size} is not divisible by {self.dist.world_size} ranks")
        self.local_rows = plan.batch_size // self.dist.world_size
        self.micro = rt.micro_batch_size or self.local_rows
        if self.local_rows % self.micro:
            raise ConfigError(f"runtime.micro_batch_size {self.micro} does not divide the "
                              f"{self.local_rows} rows each rank trains per step")
        self.autocast_dtype = {"bf16": torch.bfloat16}.get(rt.dtype) \
            if self.device.type == "cuda" else None
        if self.device.type == "cuda" and rt.tf32:
            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True

        # Data first: it fixes the vocabulary the model needs.
        self.readers = {name: SourceReader(name, cfg, plan.seed) for name, cfg in plan.sources.items()}
        eval_readers = [SourceReader(name, cfg, plan.seed) for name, cfg in plan.eval.sets.items()]
        self.eval_sets = {r.name: eval_rows(r, plan.eval.tokens, plan.row_tokens) for r in eval_readers}
        all_readers = list(self.readers.values()) + eval_readers
        self.info: DataInfo = data_info(all_readers) if all_readers else _model_data_info(plan.init_from)
        # dpo phases: pairs read (and checked) now; their steps and tokens are fixed by them.
        self.phases, self.dpo = load_dpo_phases(plan, self.phases, vocab_size=self.info.vocab_size,
                                                tokenizer=self.info.tokenizer, eos_id=self.info.eos_id,
                                                world_size=self.dist.world_size)
        self.dpo_weights_sha: str | None = None  # the model's hash at the current dpo phase's start
        self.sampler = Sampler(self.readers, self.phases, plan.seed, plan.row_tokens)

        random.seed(plan.seed)
        np.random.seed(plan.seed)
        torch.manual_seed(plan.seed)
        self.model_cfg, raw = self._build_model()
        check_token_ids(list(self.readers.values()) + eval_readers, self.model_cfg.vocab_size)
        raw.to(self.device)
        raw.activation_checkpointing = rt.activation_checkpointing
        # FSDP shards parameters and optimizer state; worth its communication only when a
        # replica per GPU is heavy (auto: above 1B parameters), DDP otherwise.
        self.fsdp = self.dist.enabled and (rt.parallel == "fsdp" or (
            rt.parallel == "auto" and count_params(raw) > 1_000_000_000))
        model: torch.nn.Module = raw
        # DDP wraps the compiled module (as nanoGPT does); FSDP2 shards first, then compiles.
        if rt.compile and not self.fsdp:
            model = torch.compile(model)
        model = D.wrap_model(model, self.dist, "fsdp" if self.fsdp else "ddp", self.device,
                             self.autocast_dtype)
        self.model = torch.compile(model) if rt.compile and self.fsdp else model
        self.optimizer = self._make_optimizer()
        self.stream = StreamHash.start(plan, self.model_cfg, self.dist.world_size)
        self.step = self.phase_index = self.phase_step = 0
        self.phase_ckpts: dict[str, str] = {}
        self.elapsed = 0.0
        self.metrics = MetricsLog(self.run_dir / "metrics.jsonl", enabled=self.dist.is_main)
        self._last_eval: dict[str, float] = {}
        self._session_tokens = 0  # tokens trained by this process (the progress bar's rate)
        self._prepare_run_dir(resume, branch_from)

    # -- construction ------------------------------------------------------
    def _build_model(self):
        plan = self.plan
        if plan.init_from:
            from alignpt.train.inference import load_model

            model, cfg = load_model(plan.init_from)
            if cfg.vocab_size < self.info.vocab_size or cfg.max_seq_len < plan.seq_len:
                raise ConfigError(f"init_from {plan.init_from}: model (vocab {cfg.vocab_size}, context "
                                  f"{cfg.max_seq_len}) does not fit the data (vocab {self.info.vocab_size}, "
                                  f"seq_len {plan.seq_len})")
            return cfg, model
        cfg = plan.model.resolved(self.info.vocab_size, plan.seq_len)
        return cfg, GPT(cfg)

    def _make_optimizer(self) -> torch.optim.Optimizer:
        o = self.plan.optim
        params = [p for p in self.model.parameters() if p.requires_grad]
        # Decay matrices (weights, embeddings) only; norms and biases stay undecayed.
        groups = [{"params": [p for p in params if p.dim() >= 2], "weight_decay": o.weight_decay},
                  {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}]
        fused = o.fused if o.fused is not None else self.device.type in ("cuda", "cpu")
        return torch.optim.AdamW(groups, lr=0.0, betas=o.betas, eps=o.eps, fused=fused)

    def _prepare_run_dir(self, resume: bool, branch_from: str | Path | None) -> None:
        if self.dist.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            ckpt_io.remove_stale(self.run_dir)
        D.barrier(self.dist)
        latest = ckpt_io.latest_checkpoint(self.run_dir)
        if latest is not None and not resume:
            raise ConfigError(f"{self.run_dir} already holds checkpoints; resume it or choose a new --out")
        if latest is None:
            if self.dist.is_main:
                self.metrics.truncate_after(-1)
                (self.run_dir / "plan.yaml").write_text(self._plan_yaml())
            if branch_from is not None:
                self._branch(Path(branch_from))
            return
        check_same_plan(self.run_dir, self.plan)
        self._load(latest)

    def _plan_yaml(self) -> str:
        return plan_yaml(self.plan, self.phases, self.model_cfg)

    # -- checkpoints --------------------------------------------------------
    def _load(self, path: Path) -> None:
        blob = ckpt_io.load_checkpoint(path, map_location="cpu")
        D.load_full_state_dicts(self.model, self.optimizer, blob["model_state"],
                                blob["optimizer_state"], self.fsdp)
        st = blob["state"]
        self.step, self.phase_index, self.phase_step = st["step"], st["phase_index"], st["phase_step"]
        self.phase_ckpts = dict(st.get("phase_checkpoints", {}))
        self.elapsed = st.get("elapsed_s", 0.0)
        self._last_eval = dict(st.get("eval", {}))
        self.sampler.load_state_dict(st["sampler"])
        self.stream = StreamHash(st.get("stream_sha256"))
        self.dpo_weights_sha = (st.get("dpo") or {}).get("weights_sha256")
        ckpt_io.restore_rng(blob["rng"])
        if self.dist.is_main:
            self.metrics.truncate_after(self.step)

    # -- branching from another run's checkpoint ---------------------------------
    def _branch(self, parent: Path) -> None:
        """Take over ``parent`` if this plan's training up to its step is exactly what
        produced it (:func:`alignpt.train.lineage.branch_from`); else train from scratch."""
        from alignpt.train.lineage import branch_from

        self._write_branch(branch_from(self, parent))

    def _write_branch(self, record: dict[str, Any]) -> None:
        if self.dist.is_main:
            atomic_write_text(self.run_dir / "branch.json", json.dumps(record, indent=1) + "\n")

    def _branch_record(self) -> dict[str, Any] | None:
        path = self.run_dir / "branch.json"
        return json.loads(path.read_text()) if path.exists() else None

    def _save(self, phase_end: bool) -> Path:
        model_state, optim_state = D.full_state_dicts(self.model, self.optimizer, self.fsdp)
        path = self.run_dir / ckpt_io.CKPT_DIR / f"step_{self.step:07d}"
        if phase_end:
            self.phase_ckpts[self.phases[self.phase_index].name] = path.name
        if self.dist.is_main:
            state = {"step": self.step, "phase_index": self.phase_index, "phase_step": self.phase_step,
                     "phase": self.phases[self.phase_index].name, "tokens": self.tokens_seen(),
                     "phase_end": phase_end, "phase_checkpoints": self.phase_ckpts,
                     "elapsed_s": self.elapsed, "eval": self._last_eval,
                     "sampler": self.sampler.state_dict(), "stream_sha256": self.stream.digest,
                     "keep": self.step in self.save_at}
            ph = self.phases[self.phase_index]
            if ph.is_dpo and 0 < self.phase_step < ph.steps:
                # where the phase stands in its pairs, and the reference it trains against
                state["dpo"] = {"phase": ph.name, **self.dpo[ph.name].position(self.phase_step),
                                "weights_sha256": self.dpo_weights_sha}
            meta = {"format": "alignpt-gpt", "version": 1, "model": self.model_cfg.model_dump(mode="json"),
                    "data": self.info.to_dict()}
            table = self.accounting()
            ckpt_io.save_checkpoint(self.run_dir, self.step, model_state=model_state, model_meta=meta,
                                    optimizer_state=optim_state, state=state, rng=ckpt_io.capture_rng(),
                                    plan_yaml=self._plan_yaml(), accounting=table)
            write_accounting(self.run_dir, table)
            ckpt_io.prune_checkpoints(self.run_dir, self.plan.checkpoint.keep_last)
        D.barrier(self.dist)
        self._emit(EventKind.CHECKPOINT, {"phase_end": phase_end}, path)
        return path

    def accounting(self) -> dict[str, Any]:
        passes = {s: self.sampler.passes(s) for s in self.readers}
        return accounting_table(self.phases, self.sampler.accounting, passes, dpo=self._dpo_accounting())

    def _dpo_accounting(self) -> dict[str, dict[str, Any]]:
        out = {}
        for i, ph in enumerate(self.phases):
            if ph.is_dpo:
                d = self.dpo[ph.name]
                steps = ph.steps if i < self.phase_index else self.phase_step if i == self.phase_index else 0
                out[ph.name] = {"pairs_per_step": d.cfg.pairs_per_step, "unique_pairs": len(d.pairs),
                                "skipped_pairs": d.pairs.skipped, "truncated_pairs": d.pairs.truncated,
                                "planned": d.consumed(ph.steps), "consumed": d.consumed(steps)}
        return out

    def micro_pairs(self, d: DPOData) -> int:
        """Pairs per forward in a dpo phase: ``runtime.micro_batch_size`` or the rank's share."""
        return min(self.plan.runtime.micro_batch_size or 1 << 30,
                   d.cfg.pairs_per_step // self.dist.world_size)

    def tokens_seen(self) -> int:
        done = sum(ph.tokens for ph in self.phases[:self.phase_index])
        if self.phase_index < len(self.phases) and self.phases[self.phase_index].is_dpo:
            ph = self.phases[self.phase_index]
            return done + self.dpo[ph.name].consumed(self.phase_step)["tokens"]
        return done + self.phase_step * self.plan.tokens_per_step

    # -- one optimizer step ---------------------------------------------------
    def _autocast(self):
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.autocast_dtype)

    def _to_device(self, a: np.ndarray) -> torch.Tensor:
        t = torch.from_numpy(a)
        if self.device.type == "cuda":
            return t.pin_memory().to(self.device, non_blocking=True)
        return t

    def _layout(self, rows: Rows, lo: int, hi: int) -> dict[str, torch.Tensor]:
        """The document segments and offsets of rows lo:hi (inputs only), when the model
        attends per document; nothing otherwise, so the packed default is untouched."""
        if self.model_cfg.attention != "document":
            return {}
        assert rows.doc is not None and rows.offset is not None
        return {"doc": self._to_device(rows.doc[lo:hi, :-1]),
                "offset": self._to_device(rows.offset[lo:hi, :-1])}

    def train_step(self, rows: Rows, lr: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Forward/backward over this rank's rows (in micro-batches), clip, AdamW step.

        Returns loss sums and token counts (global) per accounting name
        (:attr:`Sampler.labels`: plan sources, pre-mixed ones by original source) and
        the gradient norm.
        """
        for g in self.optimizer.param_groups:
            g["lr"] = lr
        n_src = len(self.sampler.labels)
        # Normalise by the *global* count of loss-bearing targets: every rank and every
        # micro-batch then contributes its exact share of one full-batch mean.
        n_global = max(1, int(rows.mask[:, 1:].sum()))
        lo = self.dist.rank * self.local_rows
        tok = self._to_device(rows.tokens[lo:lo + self.local_rows])
        wts = self._to_device(rows.mask[lo:lo + self.local_rows, 1:]).float()
        account = rows.account if rows.account is not None else rows.source
        src = self._to_device(account[lo:lo + self.local_rows, 1:].astype(np.int64))
        layout = self._layout(rows, lo, lo + self.local_rows)
        loss_sum = torch.zeros(n_src, device=self.device)
        count = torch.zeros(n_src, device=self.device)
        n_micro = self.local_rows // self.micro
        scale = self.dist.world_size / n_global  # DDP averages over ranks; undo that
        for i in range(n_micro):
            sl = slice(i * self.micro, (i + 1) * self.micro)
            last = i == n_micro - 1
            # Gradients are all-reduced only on the last micro-batch (DDP no_sync).
            with self._sync(last):
                with self._autocast():
                    tok_loss = self.model(tok[sl, :-1], tok[sl, 1:],
                                          **{k: v[sl] for k, v in layout.items()})
                loss = (tok_loss * wts[sl]).sum() * scale
                loss.backward()
            with torch.no_grad():
                loss_sum.index_add_(0, src[sl].reshape(-1), (tok_loss.detach() * wts[sl]).reshape(-1))
                count.index_add_(0, src[sl].reshape(-1), wts[sl].reshape(-1))
        clip = self.plan.optim.grad_clip
        norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), clip if clip > 0 else math.inf)
        if hasattr(norm, "full_tensor"):
            norm = norm.full_tensor()
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return loss_sum, count, norm

    def _sync(self, last: bool):
        if not self.dist.enabled or last:
            return contextlib.nullcontext()
        if self.fsdp:
            inner = D.unwrap(self.model)
            inner.set_requires_gradient_sync(False)
            return _ReenableSync(inner)
        return self.model.no_sync()

    @torch.no_grad()
    def evaluate(self) -> dict[str, float]:
        """Mean loss per loss-bearing token on each eval set."""
        out = {}
        self.model.eval()
        for name, rows in self.eval_sets.items():
            total = count = 0.0
            for i in range(0, rows.tokens.shape[0], self.micro):
                tok = self._to_device(rows.tokens[i:i + self.micro])
                w = self._to_device(rows.mask[i:i + self.micro, 1:]).float()
                with self._autocast():
                    tl = self.model(tok[:, :-1], tok[:, 1:], **self._layout(rows, i, i + self.micro))
                total += float((tl * w).sum())
                count += float(w.sum())
            out[name] = total / max(count, 1.0)
        self.model.train()
        self._last_eval = out
        return out

    # -- the loop --------------------------------------------------------------
    def _emit(self, kind: EventKind, record: dict[str, Any], path: Path | None = None) -> None:
        phase = self.phases[min(self.phase_index, len(self.phases) - 1)].name
        ev = TrainEvent(kind, self.step, phase, record, path, self.dist.rank)
        for cb in self.callbacks:
            cb(ev)

    def run(self, until: str | None = None) -> TrainResult:
        names = [p.name for p in self.phases]
        if until is not None and until not in names:
            raise ConfigError(f"until: no phase named {until!r} (phases: {', '.join(names)})")
        # A checkpoint taken at a phase's last step means: start the next phase.
        if self.phase_index < len(self.phases) and self.phase_step == self.phases[self.phase_index].steps:
            self.phase_index, self.phase_step = self.phase_index + 1, 0
        if until is not None and until in self.phase_ckpts:
            return self._result()
        total = sum(p.steps for p in self.phases)
        self.model.train()
        with train_progress(total, self.step, self.show_progress and self.dist.is_main) as bar:
            while self.phase_index < len(self.phases):
                ph = self.phases[self.phase_index]
                if self.phase_step == 0:
                    if not ph.is_dpo:   # a dpo phase reads pairs, not the sampler's sources
                        self.sampler.start_phase(self.phase_index)
                    self.stream.phase(ph)
                    if ph.reset_optimizer and self.step > 0:
                        self.optimizer.state.clear()
                if ph.is_dpo:
                    run_dpo_phase(self, ph, bar)
                else:
                    self._run_phase(ph, bar)
                self.phase_step = ph.steps
                if self.eval_sets:
                    self._log_eval()
                path = self._save(phase_end=True)
                self._emit(EventKind.PHASE_END, {"phase": ph.name}, path)
                if self.dist.is_main and self.plan.log.plot:
                    plot_losses(self.run_dir)
                self.phase_index, self.phase_step = self.phase_index + 1, 0
                if until == ph.name:
                    break
        return self._result()

    def _run_phase(self, ph: ResolvedPhase, bar) -> None:
        tps, log_every = self.plan.tokens_per_step, self.plan.log.every
        ckpt_every, eval_every = self.plan.checkpoint.every, self.plan.eval.every
        t_log, steps_since = time.perf_counter(), 0
        names = self.sampler.labels
        while self.phase_step < ph.steps:
            t0 = time.perf_counter()
            lr = lr_at(ph.schedule, self.phase_step, ph.steps)
            rows = self.sampler.next_rows(self.plan.batch_size)
            self.stream.rows(rows)
            loss_sum, count, norm = self.train_step(rows, lr)
            self.phase_step += 1
            self.step += 1
            steps_since += 1
            self._session_tokens += tps
            self.elapsed += time.perf_counter() - t0
            if self.step % log_every == 0 or self.phase_step == ph.steps:
                D.all_reduce_sum(loss_sum, self.dist)
                D.all_reduce_sum(count, self.dist)
                ls, cs = loss_sum.tolist(), count.tolist()
                now = time.perf_counter()
                rec = {"event": "step", "step": self.step, "phase": ph.name, "phase_step": self.phase_step,
                       "tokens": self.tokens_seen(), "lr": lr, "loss": sum(ls) / max(sum(cs), 1.0),
                       "loss_by_source": {names[i]: ls[i] / cs[i] for i in range(len(names)) if cs[i]},
                       "grad_norm": float(norm), "tokens_per_s": steps_since * tps / max(now - t_log, 1e-9),
                       "elapsed_s": round(self.elapsed, 3)}
                t_log, steps_since = now, 0
                self.metrics.write(rec)
                bar.update(self.step, new_tokens=self._session_tokens, loss=rec["loss"], lr=lr, phase=ph.name)
                self._emit(EventKind.STEP, rec)
            else:
                bar.update(self.step, new_tokens=self._session_tokens, lr=lr, phase=ph.name)
            if eval_every and self.step % eval_every == 0 and self.phase_step < ph.steps and self.eval_sets:
                self._log_eval()
            if ((ckpt_every and self.step % ckpt_every == 0) or self.step in self.save_at) \
                    and self.phase_step < ph.steps:
                self._save(phase_end=False)

    def _log_eval(self) -> None:
        res = self.evaluate()
        rec = {"event": "eval", "step": self.step, "phase": self.phases[self.phase_index].name,
               "tokens": self.tokens_seen(), "eval": res}
        self.metrics.write(rec)
        self._emit(EventKind.EVAL, rec)

    def _result(self) -> TrainResult:
        self.metrics.close()
        result = result_from_files(self.run_dir, complete=self.phase_index >= len(self.phases),
                                   steps=self.step, tokens=self.tokens_seen(), eval=self._last_eval,
                                   accounting=self.accounting(), phase_ckpts=self.phase_ckpts)
        result.branch = self._branch_record()
        return result

    def close(self) -> None:
        self.metrics.close()
        D.cleanup(self.dist)


def _model_data_info(init_from: str | None) -> DataInfo:
    """The vocabulary facts of a plan without sources (dpo phases only): from its init_from."""
    from alignpt.train.inference import load_model_with_meta

    if not init_from:  # pragma: no cover - the plan's validator requires it
        raise ConfigError("a plan without sources needs init_from")
    _, cfg, meta = load_model_with_meta(init_from)
    data = meta.get("data", {})
    tok = data.get("tokenizer") or {}
    eos = data.get("eos_id")
    if eos is None and tok.get("path"):
        from alignpt.mix.tokenizer import load_tokenizer

        eos = load_tokenizer(tok["path"], eos_token=tok.get("eos_token", "auto")).eos_id
    return DataInfo(data.get("vocab_size") or cfg.vocab_size, eos, data.get("bos_id"),
                    data.get("pad_id"), tok)


class _ReenableSync(contextlib.AbstractContextManager):
    def __init__(self, model):
        self.model = model

    def __exit__(self, *exc):
        self.model.set_requires_gradient_sync(True)
        return False


def train(plan: TrainPlan | str | Path, out_dir: str | Path, *, resume: bool = True,
          until: str | None = None, callbacks: Sequence[Callback] = (), overrides: Sequence[str] = (),
          progress: bool | None = None, branch_from: str | Path | None = None,
          save_at: Sequence[int] = ()) -> TrainResult:
    """Run (or resume) a phase plan into ``out_dir``; see the module docstring."""
    from alignpt.train.phases import load_plan

    if not isinstance(plan, TrainPlan):
        plan = load_plan(plan, overrides)
    check_output_apart(out_dir, [p for src in plan.sources.values() for p in src.paths] +
                       [p for ph in plan.phases if ph.preferences for p in ph.preferences.paths],
                       what="training data")
    # One writer per run folder. Only the main process of a distributed run writes it
    # (the other ranks wait at barriers), so only it holds the lock.
    main_rank = int(os.environ.get("RANK", "0")) == 0
    with OutputLock(out_dir) if main_rank else contextlib.nullcontext():
        trainer = Trainer(plan, out_dir, resume=resume, callbacks=callbacks, progress=progress,
                          branch_from=branch_from, save_at=save_at)
        try:
            return trainer.run(until=until)
        finally:
            trainer.close()
