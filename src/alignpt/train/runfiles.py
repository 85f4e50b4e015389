"""The run folder's own files: the resolved plan, the plan check on resume, the result.

A run folder looks like::

    RUN/plan.yaml            resolved plan, provenance, exact per-phase budgets
    RUN/metrics.jsonl        one line per logged step / eval
    RUN/accounting.{json,csv,md}
    RUN/loss.png             with the [plots] extra
    RUN/checkpoints/step_*/  see alignpt.train.checkpoint
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import yaml

from alignpt.core.config import load_yaml, provenance
from alignpt.core.errors import ConfigError
from alignpt.train.config import ModelConfig, TrainPlan
from alignpt.train.phases import ResolvedPhase

__all__ = ["TrainResult", "plan_yaml", "load_run_plan", "check_same_plan", "result_from_files"]

# Fields that may change between a run and its resume without changing what is trained.
_FREE_ON_RESUME = ("log",)


# Lives here, not in trainer.py: result_from_files builds it and the trainer returns it, so its
# home is the module both already import from (trainer -> runfiles), with no cycle back.
@dataclass
class TrainResult:
    """What a run folder holds once ``train`` returns (``alignpt.train.TrainResult``)."""

    run_dir: Path
    steps: int
    tokens: int
    complete: bool                       # every phase of the plan has run
    checkpoint: Path | None              # newest checkpoint
    phase_checkpoints: dict[str, Path]   # phase name -> its end-of-phase checkpoint
    last_step: dict[str, Any] | None     # last metrics line (loss, lr, ...)
    eval: dict[str, float]               # last held-out losses
    accounting: dict[str, Any]
    branch: dict[str, Any] | None = None # branch.json: the checkpoint it branched from, or why not


def plan_yaml(plan: TrainPlan, phases: Sequence[ResolvedPhase], model: ModelConfig) -> str:
    doc: dict[str, Any] = {
        "config": plan.model_dump(mode="json"),
        **provenance(),
        "inputs": sorted({p for s in plan.sources.values() for p in s.paths} |
                         {p for ph in plan.phases if ph.preferences for p in ph.preferences.paths}),
        "resolved": {
            "tokens_per_step": plan.tokens_per_step,
            "row_tokens": plan.row_tokens,
            "model": model.model_dump(mode="json"),
            "phases": [ph.to_dict() for ph in phases],
        },
    }
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)


def load_run_plan(run_dir: str | Path) -> TrainPlan:
    """The plan a run folder was started with (for ``alignpt train resume DIR``)."""
    path = Path(run_dir) / "plan.yaml"
    if not path.exists():
        raise ConfigError(f"{run_dir}: not a run folder (no plan.yaml)")
    data = load_yaml(path)
    if "config" not in data:
        raise ConfigError(f"{run_dir}: not a run folder ({path.name} is not a run's resolved plan; "
                          f"start a run with: alignpt train {path} --out DIR)")
    try:
        return TrainPlan.model_validate(data["config"])
    except (KeyError, ValueError) as exc:
        raise ConfigError(f"{path}: unreadable plan ({str(exc).splitlines()[0]})") from None


def check_same_plan(run_dir: str | Path, plan: TrainPlan) -> None:
    saved = load_run_plan(run_dir).model_dump(mode="json")
    now = plan.model_dump(mode="json")
    for key in _FREE_ON_RESUME:
        saved.pop(key, None)
        now.pop(key, None)
    if saved != now:
        diff = _first_difference(saved, now)
        raise ConfigError(f"{run_dir} was started with a different plan ({diff}); "
                          f"resume with the same plan or choose a new output folder")


def _first_difference(a: Any, b: Any, prefix: str = "") -> str:
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            if a.get(k) != b.get(k):
                return _first_difference(a.get(k), b.get(k), f"{prefix}{k}.")
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b)):
            if x != y:
                return _first_difference(x, y, f"{prefix}{i}.")
    return f"{prefix.rstrip('.')}: {a!r} -> {b!r}"


def result_from_files(run_dir: Path, *, complete: bool, steps: int, tokens: int, eval: dict[str, float],
                      accounting: dict[str, Any], phase_ckpts: dict[str, str]) -> TrainResult:
    from alignpt.train.checkpoint import CKPT_DIR, latest_checkpoint
    from alignpt.train.metrics import read_metrics

    last = None
    mpath = run_dir / "metrics.jsonl"
    if mpath.exists():
        steps_seen = [r for r in read_metrics(mpath) if r.get("event") == "step"]
        last = steps_seen[-1] if steps_seen else None
    return TrainResult(run_dir=run_dir, steps=steps, tokens=tokens, complete=complete,
                       checkpoint=latest_checkpoint(run_dir),
                       phase_checkpoints={k: run_dir / CKPT_DIR / v for k, v in phase_ckpts.items()},
                       last_step=last, eval=dict(eval), accounting=accounting)
