"""What an experiment folder holds, read without running anything.

Layout::

    experiment.yaml          the resolved recipe, alignpt version, git revision
    corpora/NAME-sSEED-HASH/ generated world corpora, shared by every run that needs them
    preferences/ROLE-sSEED-HASH/  a dpo phase's pairs.jsonl (+ stats.json), shared likewise
    runs/ARM/seedS-HASH/     one run: train/ (checkpoints, metrics; branch.json when it
                             started from its parent's checkpoint, or why it did not),
                             measure/PHASE.json, result.json (written last: a run is done
                             when it exists; ``branched_from`` names the parent run and
                             its phase or step)
    runs/ARM/tamper-seedS-HASH/  a run's tamper twin (branches from the run's end)
    report/                  report.html, report.md, report.json, plots

The runner writes this folder and the report reads it; both take its layout from
here, so neither imports the other for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import yaml

from alignpt.core.atomic import atomic_write_text
from alignpt.core.config import provenance
from alignpt.core.errors import ConfigError
from alignpt.experiment.grid import RunSpec, expand_runs
from alignpt.experiment.recipe import ExperimentRecipe

__all__ = ["ExperimentState", "RunStatus", "load_recipe", "load_state", "run_dir", "write_recipe"]


def run_dir(root: Path, run: RunSpec) -> Path:
    return root / "runs" / run.name


@dataclass
class RunStatus:
    run: RunSpec
    state: str            # done | partial | pending
    result: dict[str, Any] | None


@dataclass
class ExperimentState:
    root: Path
    recipe: ExperimentRecipe
    runs: list[RunStatus]

    @property
    def done(self) -> int:
        return sum(r.state == "done" for r in self.runs)


def write_recipe(root: Path, recipe: ExperimentRecipe) -> None:
    path = root / "experiment.yaml"
    body = {"recipe": recipe.model_dump(mode="json"), **provenance()}
    if path.exists():
        old = yaml.safe_load(path.read_text()) or {}
        if old.get("recipe", {}).get("name") not in (None, recipe.name):
            raise ConfigError(f"{root} holds experiment '{old['recipe']['name']}', not "
                              f"'{recipe.name}'; use another --out")
    atomic_write_text(path, yaml.safe_dump(body, sort_keys=False))


def load_recipe(root: str | Path) -> ExperimentRecipe:
    """The resolved recipe an experiment folder was run with."""
    path = Path(root) / "experiment.yaml"
    if not path.exists():
        raise ConfigError(f"{root}: not an experiment folder (no experiment.yaml)")
    return ExperimentRecipe.model_validate(yaml.safe_load(path.read_text())["recipe"])


def load_state(root: str | Path) -> ExperimentState:
    """What an experiment folder holds: its recipe and the state of every run."""
    root = Path(root)
    recipe = load_recipe(root)
    statuses = []
    for run in expand_runs(recipe):
        folder = run_dir(root, run)
        result_path = folder / "result.json"
        if result_path.exists():
            statuses.append(RunStatus(run, "done", orjson.loads(result_path.read_bytes())))
        else:
            statuses.append(RunStatus(run, "partial" if folder.exists() else "pending", None))
    return ExperimentState(root, recipe, statuses)
