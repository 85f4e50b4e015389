"""Metrics JSONL, the live progress bar and the loss plot of a run folder."""

from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from alignpt.core.atomic import atomic_write_text

__all__ = ["MetricsLog", "read_metrics", "plot_losses", "train_progress"]


class MetricsLog:
    """Append-only ``metrics.jsonl``; one JSON object per logged step or event.

    On resume the file is cut back to the checkpoint's step, so the log never holds
    two versions of the same step.
    """

    def __init__(self, path: str | Path, enabled: bool = True):
        self.path = Path(path)
        self.enabled = enabled
        self._fh = None

    def truncate_after(self, step: int) -> None:
        if not self.enabled or not self.path.exists():
            return
        keep = [line for line in self.path.read_text().splitlines()
                if line.strip() and _step_of(line) <= step]
        atomic_write_text(self.path, "".join(line + "\n" for line in keep))

    def write(self, record: dict[str, Any]) -> None:
        if not self.enabled:
            return
        if self._fh is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = open(self.path, "a", encoding="utf-8")
        self._fh.write(json.dumps(record) + "\n")
        self._fh.flush()

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


def _step_of(line: str) -> int:
    try:
        return int(json.loads(line).get("step", 0))
    except (json.JSONDecodeError, AttributeError, TypeError, ValueError):
        return 1 << 62  # a torn last line from a killed run: drop it


def read_metrics(path: str | Path) -> list[dict[str, Any]]:
    path = Path(path)
    if path.is_dir():
        path = path / "metrics.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def plot_losses(run_dir: str | Path) -> Path | None:
    """``loss.png``: training loss per source and eval losses against tokens, phases marked.

    Returns None when matplotlib (the ``[plots]`` extra) is not installed.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    run_dir = Path(run_dir)
    records = read_metrics(run_dir / "metrics.jsonl") if (run_dir / "metrics.jsonl").exists() else []
    steps = [r for r in records if r.get("event") == "step"]
    if not steps:
        return None
    fig, (ax, ax_lr) = plt.subplots(2, 1, figsize=(8, 6), sharex=True,
                                    gridspec_kw={"height_ratios": [3, 1]})
    x = [r["tokens"] for r in steps]
    ax.plot(x, [r["loss"] for r in steps], lw=1.2, label="train (all)", color="black")
    sources = sorted({s for r in steps for s in r.get("loss_by_source", {})})
    if len(sources) > 1:
        for s in sources:
            pts = [(r["tokens"], r["loss_by_source"][s]) for r in steps if s in r.get("loss_by_source", {})]
            ax.plot(*zip(*pts), lw=0.8, alpha=0.8, label=f"train: {s}")
    evals = [r for r in records if r.get("event") == "eval"]
    for name in sorted({k for r in evals for k in r.get("eval", {})}):
        pts = [(r["tokens"], r["eval"][name]) for r in evals if name in r.get("eval", {})]
        ax.plot(*zip(*pts), "o--", ms=3, label=f"eval: {name}")
    ax_lr.plot(x, [r["lr"] for r in steps], color="tab:gray")
    last = None
    for r in steps:
        if r["phase"] != last and last is not None:
            for a in (ax, ax_lr):
                a.axvline(r["tokens"], color="tab:red", lw=0.6, ls=":")
            ax.text(r["tokens"], ax.get_ylim()[1], f" {r['phase']}", va="top", fontsize=8)
        last = r["phase"]
    ax.set_ylabel("loss (nats/token)")
    ax.legend(fontsize=7)
    ax_lr.set_ylabel("lr")
    ax_lr.set_xlabel("tokens")
    fig.tight_layout()
    out = run_dir / "loss.png"
    tmp = run_dir / ".loss.png.tmp.png"
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    tmp.replace(out)
    return out


@contextmanager
def train_progress(total_steps: int, done: int, enabled: bool) -> Iterator[Any]:
    """A rich bar showing steps, tokens/s, loss, lr and phase; ``update(step, **fields)``."""
    from rich.progress import TextColumn

    from alignpt.core.console import RateColumn, progress_bar

    with progress_bar(RateColumn("new_tokens", "tok/s"),
                      TextColumn("loss {task.fields[loss]:.4f}"),
                      TextColumn("lr {task.fields[lr]:.2e}"),
                      TextColumn("[cyan]{task.fields[phase]}"),
                      disable=not enabled) as prog:
        task = prog.add_task("train", total=total_steps, completed=done, new_tokens=0,
                             loss=float("nan"), lr=0.0, phase="")

        class _Bar:
            def update(self, step: int, **fields: Any) -> None:
                prog.update(task, completed=step, **fields)

        yield _Bar()
