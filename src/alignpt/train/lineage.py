"""What a run has trained on so far, as one hash: the check that lets a run branch from another.

Two runs whose plans agree up to some step (the same model, seed, optimizer and
runtime, the same phase lengths and schedules, and the very same rows in every
step) hold the same weights, optimizer state and generators at that step, since
training is deterministic. A run can then start from the other's checkpoint
instead of training those steps again. This is what the experiment's fine-tune arm
does (it starts where the baseline's pretraining ends) and what a late-injection arm
does (its stream is the baseline's until its window opens).

The trainer keeps a chain hash of everything that decides the weights: the
settings first, then every phase's length and schedule as the phase starts, then
every step's rows (tokens, loss mask, document segments, offsets). Each
checkpoint records it. A run asked to branch replays its own data stream up to
the parent checkpoint's step (rows only, no model: cheap) and branches only when
its hash equals the parent's; otherwise it trains from scratch. A plan or data
difference therefore cannot slip through: it changes the hash.
"""

from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import orjson

from alignpt.core.errors import DataError
from alignpt.train.config import ModelConfig, TrainPlan
from alignpt.train.phases import ResolvedPhase

__all__ = ["StreamHash", "ReplayPoint", "replay_stream", "branch_from"]


class StreamHash:
    """Chain hash ``h' = sha256(h || part)``; ``digest`` is None when the history is unknown
    (a checkpoint written before the hash existed), and then stays None."""

    def __init__(self, digest: str | None):
        self.digest = digest

    @classmethod
    def start(cls, plan: TrainPlan, model: ModelConfig, world_size: int) -> "StreamHash":
        # Everything outside the data and the phases that changes a step's arithmetic.
        settings = {"seed": plan.seed, "seq_len": plan.seq_len, "batch_size": plan.batch_size,
                    "model": model.model_dump(mode="json"), "init_from": plan.init_from,
                    "optim": plan.optim.model_dump(mode="json"),
                    "runtime": plan.runtime.model_dump(mode="json"), "world_size": world_size}
        return cls("").fold(orjson.dumps(settings, option=orjson.OPT_SORT_KEYS))

    def fold(self, *parts: bytes) -> "StreamHash":
        if self.digest is not None:
            h = hashlib.sha256(self.digest.encode())
            for part in parts:
                h.update(part)
            self.digest = h.hexdigest()
        return self

    def phase(self, ph: ResolvedPhase) -> None:
        """A phase starts: its length and learning-rate schedule (not its name or mix:
        what it feeds the model is hashed row by row)."""
        settings = {"steps": ph.steps, "reset_optimizer": ph.reset_optimizer,
                    "schedule": ph.schedule.model_dump(mode="json")}
        if ph.is_dpo:   # a dpo phase's loss changes the arithmetic; its pairs are hashed per step
            settings["dpo"] = ph.loss
        self.fold(b"phase", orjson.dumps(settings, option=orjson.OPT_SORT_KEYS))

    def pairs(self, batch: dict[str, list[Any]]) -> None:
        """One dpo step's pairs, in order (:meth:`alignpt.train.dpo.DPOData.batch`)."""
        parts = [b"pairs"]
        for p, c, r in zip(batch["prompt"], batch["chosen"], batch["rejected"]):
            for a in (p, c, r):
                parts += [str(a.size).encode(), b":", a.astype("<i8").tobytes()]
        self.fold(*parts)

    def rows(self, rows: Any) -> None:
        """One step's rows (:class:`alignpt.train.data.Rows`)."""
        parts = [b"rows"]
        for a in (rows.tokens, rows.mask, rows.doc, rows.offset):
            if a is not None:
                parts += [str((a.dtype.str, a.shape)).encode(), a.tobytes()]
        self.fold(*parts)


@dataclass
class ReplayPoint:
    """The stream's state after ``step`` steps: where a checkpoint there would stand."""

    step: int
    phase_index: int
    phase_step: int
    phase_end: bool
    digest: str | None
    sampler: dict[str, Any]


def replay_stream(sampler: Any, phases: Sequence[ResolvedPhase], batch_size: int,
                  stream: StreamHash, steps: int, dpo: dict[str, Any] | None = None
                  ) -> list[ReplayPoint] | None:
    """Drive ``sampler`` through the first ``steps`` steps exactly as the trainer does,
    folding the rows (a dpo phase: its pairs, from ``dpo[name]``, a
    :class:`~alignpt.train.dpo.DPOData`) into ``stream``. Returns the state at every phase
    end on the way and at ``steps`` itself (last), or None when the plan has fewer steps."""
    points: list[ReplayPoint] = []
    done = 0
    for i, ph in enumerate(phases):
        if done == steps:
            break
        if not ph.is_dpo:
            sampler.start_phase(i)
        stream.phase(ph)
        n = min(ph.steps, steps - done)
        for k in range(n):
            if ph.is_dpo:
                stream.pairs(dpo[ph.name].batch(dpo[ph.name].positions(k)))
            else:
                stream.rows(sampler.next_rows(batch_size))
        done += n
        if n == ph.steps or done == steps:
            points.append(ReplayPoint(done, i, n, n == ph.steps, stream.digest,
                                      copy.deepcopy(sampler.state_dict())))
    return points if done == steps and steps > 0 else None


def branch_from(trainer: Any, parent: Path) -> dict[str, Any]:
    """Make a fresh :class:`~alignpt.train.trainer.Trainer` continue from ``parent`` (another
    run's checkpoint) when what it trained on is exactly this plan's first steps.

    The trainer's own data stream is replayed (rows only) to the parent's step and its
    hash must equal the one the parent recorded. On success the trainer's folder gets
    its own checkpoints (every phase end on the way, and the branch point, from the
    parent's weights with this run's own sampler state) and the parent's metrics up
    to there, so the run then continues as if it had trained those steps. Returns the
    record for ``branch.json``: where from, or why not.
    """
    from alignpt.train import checkpoint as ckpt_io
    from alignpt.train import distributed as D
    from alignpt.train.data import Sampler

    t = trainer
    record: dict[str, Any] = {"from": str(parent), "branched": False}
    try:
        state = ckpt_io.read_state(parent)
    except DataError as exc:
        record["why"] = f"no usable checkpoint there ({exc})"
        return record
    stream = StreamHash.start(t.plan, t.model_cfg, t.dist.world_size)
    points = replay_stream(t.sampler, t.phases, t.plan.batch_size, stream, state["step"], t.dpo)
    if points is None or points[-1].digest is None or points[-1].digest != state.get("stream_sha256"):
        # Not the same training: start from scratch with a fresh data stream.
        t.sampler = Sampler(t.readers, t.phases, t.plan.seed, t.plan.row_tokens)
        record["why"] = ("the plan has fewer steps than the checkpoint" if points is None else
                         "what the checkpoint trained on differs from this plan's first "
                         f"{state['step']} steps (stream hash)")
        return record
    folder = parent.parent
    _copy_references(t, folder.parent, points[-1])
    sources = [folder / f"step_{p.step:07d}" for p in points]
    for p, src in zip(points[:-1], sources):   # earlier phase ends: the parent's kept checkpoints
        if ckpt_io.read_state(src).get("stream_sha256") != p.digest:
            raise DataError("a phase-end checkpoint does not match the run it belongs to", str(src))
    if t.dist.is_main:
        from alignpt.train.metrics import read_metrics

        mpath = folder.parent / "metrics.jsonl"
        for rec in read_metrics(mpath) if mpath.exists() else []:
            if rec.get("step", 0) <= state["step"]:
                t.metrics.write(rec)
    for p, src in zip(points, sources):
        blob = ckpt_io.load_checkpoint(src, map_location="cpu")
        D.load_full_state_dicts(t.model, t.optimizer, blob["model_state"], blob["optimizer_state"],
                                t.fsdp)
        st = blob["state"]
        t.step, t.phase_index, t.phase_step = p.step, p.phase_index, p.phase_step
        t.elapsed = st.get("elapsed_s", 0.0)
        t._last_eval = dict(st.get("eval", {}))
        t.sampler.load_state_dict(p.sampler)
        t.stream = StreamHash(p.digest)
        t.dpo_weights_sha = (st.get("dpo") or {}).get("weights_sha256")
        ckpt_io.restore_rng(blob["rng"])
        t._save(phase_end=p.phase_end)
    record.update(branched=True, step=state["step"], phase=state.get("phase"),
                  phase_end=bool(state.get("phase_end")), stream_sha256=state["stream_sha256"])
    return record


def _copy_references(t: Any, parent_run: Path, point: ReplayPoint) -> None:
    """A branch taken inside a dpo phase needs that phase's reference log-probs (the
    parent computed them from the same starting weights: the stream hash says so)."""
    import shutil

    from alignpt.train import distributed as D
    from alignpt.train.dpo import REFERENCE_DIR

    ph = t.phases[point.phase_index]
    if not ph.is_dpo or point.phase_end:
        return
    src = parent_run / REFERENCE_DIR / ph.name
    if not src.is_dir():
        raise DataError(f"the parent run has no reference log-probs for dpo phase {ph.name}", str(src))
    if t.dist.is_main:
        shutil.copytree(src, t.run_dir / REFERENCE_DIR / ph.name, dirs_exist_ok=True)
    D.barrier(t.dist)
