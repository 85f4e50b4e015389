"""Paired comparison of evaluation runs scored on the same items (``eval-suite report A B ...``).

For every pair of runs (in the order given) and every condition both scored, the
difference in misalignment rate ``rate(A) - rate(B)`` with a paired percentile
bootstrap over items: each replicate draws items with replacement (all of an
item's formats together) and takes the mean per-item difference, so the
between-item variance the two models share cancels. The draws are
``numpy.random.default_rng(seed).integers(0, n_items, (n_boot, n_items))`` as in
:mod:`alignpt.evaluate.metrics`: fixed seed, same interval every time.

Two runs are paired only when they were offered the same items (same
``items_sha`` of the suite selection); the comparison then uses the items both
actually scored (an item one model left out as too long is left out of the pair,
and counted). Runs offered different items are refused for pairing with one line
and still reported one by one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from alignpt.core.errors import DataError
from alignpt.evaluate.metrics import Cells, cells_by_condition, paired_difference
from alignpt.evaluate.scoring import Record

__all__ = ["LoadedRun", "load_run", "compare_runs", "pair_runs", "N_BOOT_COMPARE"]

#: Bootstrap replicates of a paired comparison (the report says how many).
N_BOOT_COMPARE = 10000


@dataclass
class LoadedRun:
    """One eval output folder: its label, results and scored records."""

    label: str
    path: Path
    results: dict[str, Any]
    records: list[Record]

    @property
    def items_sha(self) -> str | None:
        return (self.results.get("suite") or {}).get("items_sha")


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError("results file not found", str(path)) from None
    except IsADirectoryError:
        raise DataError("is a folder, expected an eval results.json", str(path)) from None
    except UnicodeDecodeError as exc:
        raise DataError(f"not valid UTF-8 ({exc.reason} at byte {exc.start})",
                        str(path)) from None
    except json.JSONDecodeError as exc:
        raise DataError(f"invalid JSON ({exc.msg})", str(path), exc.lineno) from None


def load_results(path: Path) -> tuple[Path, dict[str, Any]]:
    """``results.json`` of an eval output folder (or the file itself), checked."""
    file = path / "results.json" if path.is_dir() else path
    res = _read_json(file)
    suite = res.get("suite") if isinstance(res, dict) else None
    if isinstance(suite, dict) and suite.get("name") == "persona-world":
        raise DataError("persona-world results have no report tables (alignpt eval prints "
                        "them as it runs)", str(file))
    if not isinstance(res, dict) or not {"suite", "model", "metrics"} <= set(res):
        raise DataError("not the results.json of an alignpt eval run (needs suite, model and "
                        "metrics)", str(file))
    return file, res


def load_run(path: str | Path, label: str | None = None) -> LoadedRun:
    """Results and records of an eval output folder (records.jsonl beside results.json)."""
    file, res = load_results(Path(path))
    rec_file = file.parent / "records.jsonl"
    records = []
    try:
        lines = rec_file.read_text(encoding="utf-8").split("\n")
    except FileNotFoundError:
        raise DataError("records.jsonl not found beside results.json (needed for a paired "
                        "comparison)", str(rec_file)) from None
    for lineno, line in enumerate(lines, start=1):
        if line.strip():
            try:
                records.append(Record.from_dict(json.loads(line)))
            except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
                raise DataError(f"not a scored-prompt record ({type(exc).__name__}: {exc})",
                                str(rec_file), lineno) from None
    return LoadedRun(label or str(path), file.parent, res, records)


def _disagreements(a: Cells, b: Cells) -> tuple[int, int]:
    """Items, and prompts, whose outcome (aligned / misaligned / other) differs."""
    items = [i for i in a.items if i in set(b.items)]
    formats = [f for f in a.formats if f in set(b.formats)]

    def outcome(c: Cells) -> np.ndarray:
        rows = [c.items.index(i) for i in items]
        cols = [c.formats.index(f) for f in formats]
        return (c.misaligned + 2 * c.other)[np.ix_(rows, cols)]

    differ = outcome(a) != outcome(b)
    return int(differ.any(axis=1).sum()), int(differ.sum())


def pair_runs(a: Any, b: Any, n_boot: int = N_BOOT_COMPARE, seed: int = 0,
              level: float = 0.95) -> dict[str, Any]:
    """The paired comparison of two runs, or ``{"paired": False, "reason": ...}``.

    ``a`` and ``b``: :class:`LoadedRun` (a folder) or
    :class:`~alignpt.evaluate.pipeline.EvalRun` (in memory), anything with ``label``,
    ``items_sha``, ``results`` and ``records``."""
    out: dict[str, Any] = {"a": a.label, "b": b.label}
    if a.items_sha is None or a.items_sha != b.items_sha:
        return {**out, "paired": False,
                "reason": f"{a.label} and {b.label} were scored on different items "
                          f"(items sha {a.items_sha} vs {b.items_sha}): not paired"}
    ca, cb = cells_by_condition(a.records), cells_by_condition(b.records)
    shared = [c for c in ca if c in cb]
    if not shared:
        return {**out, "paired": False,
                "reason": f"{a.label} and {b.label} share no framing: not paired"}
    out.update(paired=True, n_boot=n_boot, seed=seed, ci_level=level, conditions={})
    used = (a.results.get("scoring_used"), b.results.get("scoring_used"))
    if used[0] != used[1]:
        out["note"] = (f"scored differently ({used[0]} vs {used[1]}): the difference mixes "
                       "a model difference with a scoring difference")
    for cond in shared:
        d = paired_difference(ca[cond], cb[cond], n_boot, seed, level).to_dict(level)
        d["items_disagree"], d["prompts_disagree"] = _disagreements(ca[cond], cb[cond])
        only = set(ca[cond].items) ^ set(cb[cond].items)
        d["items_unpaired"] = len(only)        # scored by one run only (left out as too long)
        out["conditions"][cond] = d
    return out


def compare_runs(runs: Sequence[LoadedRun], n_boot: int = N_BOOT_COMPARE, seed: int = 0,
                 level: float = 0.95) -> dict[str, Any]:
    """Every pair of ``runs`` (in the order given), paired where they share their items."""
    return {"method": "paired percentile bootstrap over items", "n_boot": n_boot, "seed": seed,
            "ci_level": level, "runs": [r.label for r in runs],
            "pairs": [pair_runs(a, b, n_boot, seed, level) for a, b in combinations(runs, 2)]}
