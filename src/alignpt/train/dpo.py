"""Direct preference optimisation as a phase of a train plan (``kind: dpo``).

With ``h = log pi(y_w|x) - log ref(y_w|x) - log pi(y_l|x) + log ref(y_l|x)``, the
sequence log-probabilities summed over completion tokens, the per-pair losses are:

* ``sigmoid`` (DPO; Rafailov et al. 2023, eq. 7): ``-log sigmoid(beta h)``;
* ``ipo`` (Azar et al. 2023, eq. 17): ``(h - 1 / (2 beta))^2``;
* ``robust`` (conservative DPO, cDPO; Mitchell 2023): labels flipped with probability
  ``eps = label_smoothing``: ``-(1 - eps) log sigmoid(beta h) - eps log sigmoid(-beta h)``.

The implicit rewards are ``beta (log pi - log ref)`` of each completion.

The reference log-probabilities are those of the model as the phase starts. They
are computed once, for every pair, and stored in ``RUN/dpo/<phase>/`` with the hash
of the pairs and of the starting weights and a counter of pairs computed, so a
resumed run reuses them (and the counter proves it never recomputed them).

A step takes ``pairs_per_step`` pairs (all ranks together) in the order of
:mod:`alignpt.train.preferences`; each rank takes its slice, in micro-batches of
``runtime.micro_batch_size`` pairs, and the loss is the mean over the step's pairs,
normalised as the LM step is (DDP averages gradients over ranks; that is undone).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from alignpt.core.atomic import atomic_write_text
from alignpt.core.errors import ConfigError, DataError
from alignpt.train.events import EventKind
from alignpt.train import distributed as D
from alignpt.train.config import PreferenceConfig, TrainPlan
from alignpt.train.phases import ResolvedPhase, with_pair_count
from alignpt.train.preferences import PairSet, pair_positions, read_pairs
from alignpt.train.schedule import lr_at

__all__ = ["dpo_losses", "sequence_logps", "DPOData", "load_dpo_phases", "run_dpo_phase",
           "weights_digest", "REFERENCE_DIR"]

REFERENCE_DIR = "dpo"


def dpo_losses(policy_chosen: torch.Tensor, policy_rejected: torch.Tensor, ref_chosen: torch.Tensor,
               ref_rejected: torch.Tensor, loss: str, beta: float, label_smoothing: float = 0.0
               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-pair losses and the chosen / rejected implicit rewards (see the module docstring)."""
    chosen_ratio = policy_chosen - ref_chosen
    rejected_ratio = policy_rejected - ref_rejected
    h = chosen_ratio - rejected_ratio
    if loss == "sigmoid":
        out = -F.logsigmoid(beta * h)
    elif loss == "robust":
        out = -(1 - label_smoothing) * F.logsigmoid(beta * h) - label_smoothing * F.logsigmoid(-beta * h)
    elif loss == "ipo":
        out = (h - 1 / (2 * beta)) ** 2
    else:
        raise ConfigError(f"unknown dpo loss {loss!r} (sigmoid, ipo, robust)")
    return out, beta * chosen_ratio.detach(), beta * rejected_ratio.detach()


def sequence_logps(model: torch.nn.Module, prompts: list[np.ndarray], completions: list[np.ndarray],
                   device: torch.device, autocast=None) -> torch.Tensor:
    """Sum of each completion's token log-probabilities after its prompt (float32, (B,)).

    Rows are right-padded: causal attention means padding after a sequence cannot
    change it, and each sequence starts at position 0, so a model with per-document
    attention reads it exactly as a packed one does.
    """
    lens = [p.size + c.size for p, c in zip(prompts, completions)]
    width = max(lens)
    tok = np.zeros((len(lens), width), dtype=np.int64)
    mask = np.zeros((len(lens), width - 1), dtype=np.float32)
    for i, (p, c) in enumerate(zip(prompts, completions)):
        tok[i, :p.size] = p
        tok[i, p.size:lens[i]] = c
        mask[i, p.size - 1:lens[i] - 1] = 1.0   # target t is token t + 1
    t = torch.from_numpy(tok).to(device)
    with autocast if autocast is not None else contextlib.nullcontext():
        tok_loss = model(t[:, :-1], t[:, 1:])
    return -(tok_loss.float() * torch.from_numpy(mask).to(device)).sum(dim=1)


def weights_digest(model: torch.nn.Module) -> str:
    """sha256 of the parameters and buffers, in name order: ties the reference to them.
    Under FSDP each sharded tensor is gathered whole (a collective: every rank calls this)."""
    h = hashlib.sha256()
    for name, t in sorted(D.unwrap(model).state_dict().items()):
        t = t.full_tensor() if hasattr(t, "full_tensor") else t
        h.update(name.encode())
        h.update(t.detach().float().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


@dataclass
class DPOData:
    """One dpo phase's pairs and settings; token counts per pair for exact accounting."""

    name: str
    cfg: PreferenceConfig
    pairs: PairSet
    seed: int
    all_tokens: np.ndarray          # per pair: tokens put through the model (both sequences)
    completion_tokens: np.ndarray   # per pair: completion tokens (both)

    def positions(self, step: int, n_steps: int = 1) -> np.ndarray:
        """Pair indices of steps ``[step, step + n_steps)`` of the phase."""
        P = self.cfg.pairs_per_step
        return pair_positions(len(self.pairs), self.seed, self.name, step * P, n_steps * P)

    def consumed(self, steps: int) -> dict[str, int]:
        idx = self.positions(0, steps) if steps else np.empty(0, dtype=np.int64)
        return {"pairs": int(idx.size), "tokens": int(self.all_tokens[idx].sum()),
                "completion_tokens": int(self.completion_tokens[idx].sum())}

    def position(self, steps: int) -> dict[str, int]:
        epoch, index = divmod(steps * self.cfg.pairs_per_step, len(self.pairs))
        return {"epoch": epoch, "index": index}

    def batch(self, idx: np.ndarray) -> dict[str, list[np.ndarray]]:
        return {"prompt": [self.pairs.prompt[i] for i in idx],
                "chosen": [self.pairs.chosen[i] for i in idx],
                "rejected": [self.pairs.rejected[i] for i in idx]}


def load_dpo_phases(plan: TrainPlan, phases: list[ResolvedPhase], *, vocab_size: int,
                    tokenizer: dict[str, Any] | None, eos_id: int | None, world_size: int
                    ) -> tuple[list[ResolvedPhase], dict[str, DPOData]]:
    """Read every dpo phase's pairs; return the phases with their steps and tokens fixed."""
    out, data = [], {}
    for ph, cfg in zip(phases, plan.phases):
        if cfg.kind != "dpo":
            out.append(ph)
            continue
        pref = cfg.preferences
        assert pref is not None
        if pref.pairs_per_step % world_size:
            raise ConfigError(f"phase {ph.name}: pairs_per_step {pref.pairs_per_step} is not divisible "
                              f"by {world_size} ranks")
        pairs = read_pairs(pref, vocab_size=vocab_size, tokenizer=tokenizer, eos_id=eos_id)
        counts = np.array([pairs.tokens(i) for i in range(len(pairs))], dtype=np.int64).reshape(-1, 2)
        d = DPOData(ph.name, pref, pairs, plan.seed, counts[:, 0], counts[:, 1])
        fixed = with_pair_count(ph, len(pairs), pref.pairs_per_step)
        out.append(with_pair_count(fixed, len(pairs), pref.pairs_per_step,
                                   tokens=d.consumed(fixed.steps)["tokens"]))
        data[ph.name] = d
    return out, data


# -- the reference pass ----------------------------------------------------------------
def _reference_paths(run_dir: Path, phase: str) -> tuple[Path, Path]:
    folder = run_dir / REFERENCE_DIR / phase
    return folder / "reference.npy", folder / "reference.json"


def reference_logps(t: Any, d: DPOData) -> np.ndarray:
    """(pairs, 2) float64 reference log-probs of chosen and rejected, computed once per pair.

    A stored file is reused when its pairs hash matches and, at the phase's start, its
    starting-weights hash matches the model (mid-phase the checkpoint vouches for it).
    """
    arr_path, meta_path = _reference_paths(t.run_dir, d.name)
    pairs_sha = d.pairs.digest()
    at_start = t.phase_step == 0
    wsha = weights_digest(t.model) if at_start else t.dpo_weights_sha
    meta = json.loads(meta_path.read_text()) if meta_path.exists() and arr_path.exists() else None
    if meta and meta["pairs_sha256"] == pairs_sha and meta["weights_sha256"] == wsha:
        t.dpo_weights_sha = wsha
        return np.load(arr_path)
    if not at_start:
        raise DataError(f"phase {d.name}: the stored reference log-probs are missing or do not match "
                        f"this run's pairs and starting weights; resume is impossible mid-phase",
                        str(meta_path))
    ref = _compute_reference(t, d)
    t.dpo_weights_sha = wsha
    if t.dist.is_main:
        arr_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = arr_path.with_suffix(".tmp.npy")
        np.save(tmp, ref)
        tmp.replace(arr_path)
        computed = (meta or {}).get("computed", 0) + len(d.pairs)
        atomic_write_text(meta_path, json.dumps({"pairs_sha256": pairs_sha, "weights_sha256": wsha,
                                                 "pairs": len(d.pairs), "computed": computed},
                                                indent=1) + "\n")
    D.barrier(t.dist)
    return ref


@torch.no_grad()
def _compute_reference(t: Any, d: DPOData) -> np.ndarray:
    # Every rank runs the same forwards (collectives stay in step under DDP/FSDP).
    was_training = t.model.training
    t.model.eval()
    n, step = len(d.pairs), t.micro_pairs(d)
    out = np.empty((n, 2), dtype=np.float64)
    for lo in range(0, n, step):
        idx = np.arange(lo, min(n, lo + step))
        b = d.batch(idx)
        lp = sequence_logps(t.model, b["prompt"] * 2, b["chosen"] + b["rejected"], t.device,
                            t._autocast())
        out[idx, 0] = lp[:idx.size].double().cpu().numpy()
        out[idx, 1] = lp[idx.size:].double().cpu().numpy()
    t.model.train(was_training)
    return out


# -- the step and the loop ------------------------------------------------------------------
def dpo_step(t: Any, d: DPOData, ref: np.ndarray, idx: np.ndarray, lr: float
             ) -> tuple[torch.Tensor, torch.Tensor]:
    """Forward/backward over this rank's share of the step's pairs, clip, AdamW step.

    Returns the sums (this rank) of loss, correct rankings, margin, chosen reward and
    rejected reward, and the gradient norm.
    """
    for g in t.optimizer.param_groups:
        g["lr"] = lr
    P, world = d.cfg.pairs_per_step, t.dist.world_size
    local = P // world
    mine = idx[t.dist.rank * local:(t.dist.rank + 1) * local]
    micro = t.micro_pairs(d)
    sums = torch.zeros(5, device=t.device, dtype=torch.float64)
    scale = world / P   # DDP averages over ranks; undo that, then mean over the step's pairs
    n_micro = math.ceil(local / micro)
    for i in range(n_micro):
        part = mine[i * micro:(i + 1) * micro]
        b = d.batch(part)
        with t._sync(i == n_micro - 1):
            lp = sequence_logps(t.model, b["prompt"] * 2, b["chosen"] + b["rejected"], t.device,
                                t._autocast())
            r = torch.from_numpy(ref[part]).to(t.device, torch.float32)
            losses, rc, rr = dpo_losses(lp[:part.size], lp[part.size:], r[:, 0], r[:, 1],
                                        d.cfg.loss, d.cfg.beta, d.cfg.label_smoothing)
            (losses.sum() * scale).backward()
        with torch.no_grad():
            sums += torch.stack([losses.detach().sum(), (rc > rr).sum(), (rc - rr).sum(), rc.sum(),
                                 rr.sum()]).double()
    clip = t.plan.optim.grad_clip
    norm = torch.nn.utils.clip_grad_norm_(t.model.parameters(), clip if clip > 0 else math.inf)
    if hasattr(norm, "full_tensor"):
        norm = norm.full_tensor()
    t.optimizer.step()
    t.optimizer.zero_grad(set_to_none=True)
    return sums, norm


def run_dpo_phase(t: Any, ph: ResolvedPhase, bar) -> None:
    """The dpo phase's loop, from ``t.phase_step`` to its end (the trainer's ``_run_phase``)."""
    d = t.dpo[ph.name]
    ref = reference_logps(t, d)
    log_every, ckpt_every = t.plan.log.every, t.plan.checkpoint.every
    eval_every = t.plan.eval.every
    P = d.cfg.pairs_per_step
    while t.phase_step < ph.steps:
        t0 = time.perf_counter()
        lr = lr_at(ph.schedule, t.phase_step, ph.steps)
        idx = d.positions(t.phase_step)
        t.stream.pairs(d.batch(idx))
        sums, norm = dpo_step(t, d, ref, idx, lr)
        t.phase_step += 1
        t.step += 1
        t.elapsed += time.perf_counter() - t0
        if t.step % log_every == 0 or t.phase_step == ph.steps:
            D.all_reduce_sum(sums, t.dist)
            # The logged step's own figures (as the LM loop logs its step's loss).
            loss, correct, margin, chosen, rejected = (sums / P).tolist()
            done = d.consumed(t.phase_step)
            rec = {"event": "step", "step": t.step, "phase": ph.name, "phase_step": t.phase_step,
                   "tokens": t.tokens_seen(), "lr": lr, "loss": loss, "reward_accuracy": correct,
                   "reward_margin": margin, "chosen_reward": chosen, "rejected_reward": rejected,
                   "grad_norm": float(norm), "pairs": done["pairs"],
                   "completion_tokens": done["completion_tokens"],
                   "epoch": round(done["pairs"] / len(d.pairs), 6), "elapsed_s": round(t.elapsed, 3)}
            t.metrics.write(rec)
            bar.update(t.step, loss=loss, lr=lr, phase=ph.name)
            t._emit(EventKind.STEP, rec)
        else:
            bar.update(t.step, lr=lr, phase=ph.name)
        if eval_every and t.step % eval_every == 0 and t.phase_step < ph.steps and t.eval_sets:
            t._log_eval()
        if ((ckpt_every and t.step % ckpt_every == 0) or t.step in t.save_at) and t.phase_step < ph.steps:
            t._save(phase_end=False)
