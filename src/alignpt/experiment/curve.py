"""Learning curve: how many pretraining tokens until the model stops getting more Bayesian.

``alignpt experiment curve RECIPE --out DIR`` trains one arm's pretraining (the
baseline arm by default) at each token budget, a separate run per budget and seed
with its own cosine schedule (what an experiment at that budget would train: the
same plan :func:`alignpt.experiment.grid.expand_runs` writes, cut after its
pretraining phase), reads each model's held-out KL(exact Bayes || model) per action
(:func:`alignpt.experiment.kl.heldout_kl`, every model on the same held-out
documents) and picks a budget by a rule fixed in the config before any run:

    the smallest budget from which every further step of the curve lowers the mean
    per-action KL by less than ``threshold`` (relative) per doubling of tokens.

A step from budget b to b' with mean KL K to K' lowers KL per doubling by
``1 - (K'/K) ** (1 / log2(b'/b))`` (for a doubling, ``1 - K'/K``), so grids that
do not double are read on the same scale. A KL that rises counts as levelled. The
last budget has no step after it, so it can never be picked: no pick means the curve
had not levelled off by the largest budget.

Layout of DIR::

    curve.yaml                    the resolved config (recipe, arm, budgets, rule), version
    corpora/                      world corpora (as in an experiment folder)
    runs/BUDGET/seedS-HASH/       train/ and kl.json (written last: that run is done)
    curve.json                    budgets, per-action KL per seed and mean, the steps, the pick
    curve.png                     the curve, seeds and mean, the pick marked
    timings.json                  training and KL seconds per run (kept apart: curve.json
                                  holds no timing, so a rerun gives the same bytes)
"""

from __future__ import annotations

import math
import os
from concurrent.futures import FIRST_COMPLETED, wait
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import orjson
import yaml
from pydantic import Field, field_validator, model_validator

from alignpt.core.atomic import atomic_write_text
from alignpt.core.config import StrictModel, provenance
from alignpt.core.errors import ConfigError
from alignpt.core.outdir import OutputLock
from alignpt.experiment.grid import (REBOUND_SEED_OFFSET, RunSpec, bayes_recipe, expand_runs,
                                     spec_key)
from alignpt.experiment.kl import HELDOUT_DOCS, HELDOUT_SEED
from alignpt.experiment.recipe import ExperimentRecipe
from alignpt.train.config import parse_count

__all__ = ["CurveConfig", "RULE", "pick_budget", "curve_runs", "run_curve"]

RULE = ("pick the smallest budget from which every further step of the curve lowers the "
        "mean (over seeds) held-out KL(exact Bayes || model) per action by less than "
        "`threshold`, relative, per doubling of pretraining tokens: step b -> b' with mean KL "
        "K -> K' lowers it by 1 - (K'/K)^(1/log2(b'/b)); the largest budget cannot be picked "
        "(no step after it); no pick: not levelled off by the largest budget")
#: The KL that the rule reads (heldout_kl's headline; the others are recorded beside it).
RULE_KIND = "actions"


class CurveConfig(StrictModel):
    """A learning curve: which recipe and arm, the budgets and seeds, and the rule's threshold."""

    recipe: ExperimentRecipe
    arm: str
    budgets: list[int] = Field(min_length=2, description="pretraining tokens, increasing")
    seeds: list[int] = Field(min_length=1)
    threshold: float = Field(0.1, gt=0, lt=1, description="relative KL drop per doubling")
    heldout_docs: int = Field(HELDOUT_DOCS, ge=2)
    heldout_seed: int = HELDOUT_SEED
    rule: str = RULE

    @field_validator("budgets", mode="before")
    @classmethod
    def _counts(cls, v: Any) -> Any:
        return [parse_count(x) for x in v] if isinstance(v, (list, tuple)) else v

    @model_validator(mode="after")
    def _check(self) -> "CurveConfig":
        if self.recipe.kind != "world":
            raise ValueError(f"recipe {self.recipe.name} is a {self.recipe.kind} experiment; the "
                             "learning curve reads KL against exact Bayes on world tokens")
        if self.arm not in self.recipe.arms:
            raise ValueError(f"no arm '{self.arm}' in recipe {self.recipe.name} "
                             f"(arms: {', '.join(self.recipe.arms)})")
        if any(b <= 0 for b in self.budgets) or self.budgets != sorted(set(self.budgets)):
            raise ValueError("budgets must be positive, distinct and increasing")
        if len(set(self.seeds)) != len(self.seeds):
            raise ValueError("seeds must be distinct")
        training = set(self.seeds) | {s + REBOUND_SEED_OFFSET for s in self.seeds}
        if self.heldout_seed in training:
            raise ValueError(f"heldout_seed {self.heldout_seed} is a training seed")
        if self.rule != RULE:
            raise ValueError("rule is fixed (it records the rule the pick follows)")
        return self


def pick_budget(budgets: list[int], kl: list[float], threshold: float) -> dict[str, Any]:
    """The rule (:data:`RULE`) on mean KL per budget: the pick (or None) and each step's drop."""
    if len(budgets) != len(kl) or len(budgets) < 2:
        raise ValueError("need a KL for each of at least two budgets")
    drops = []
    for (b0, k0), (b1, k1) in zip(zip(budgets, kl), zip(budgets[1:], kl[1:])):
        # KL 0 is Bayes itself: nothing left to lower, so the step is level.
        drops.append(0.0 if k0 <= 0 else 1.0 - (k1 / k0) ** (1.0 / math.log2(b1 / b0)))
    pick = None
    for i in range(len(drops) - 1, -1, -1):   # walk back while the tail stays level
        if drops[i] >= threshold:
            break
        pick = budgets[i]
    return {"pick": pick, "drop_per_doubling": drops, "levelled": [d < threshold for d in drops]}


@dataclass(frozen=True)
class CurveRun:
    budget: int
    seed: int
    run: RunSpec          # the arm's run at this budget, cut after pretraining

    def folder(self, root: Path) -> Path:
        return root / "runs" / str(self.budget) / f"seed{self.seed}-{self.run.key}"


def _pretrain_only(run: RunSpec) -> RunSpec:
    """``run`` cut after its pretraining phase, with only the corpora that phase reads."""
    phase = run.plan["phases"][0]
    used = {part["source"] for part in phase["mix"]}
    plan = {**run.plan, "phases": [phase],
            "sources": {r: s for r, s in run.plan["sources"].items() if r in used}}
    corpora = {r: c for r, c in run.corpora.items() if r in used}
    cut = replace(run, corpora=corpora, plan=plan, phases=[run.phases[0]])
    cut.key = spec_key({"plan": plan, "corpora": {r: c.key for r, c in corpora.items()}})
    return cut


def curve_runs(cfg: CurveConfig) -> list[CurveRun]:
    """Every (budget, seed) run: the recipe's own plan at that pretraining budget."""
    out = []
    body = cfg.recipe.model_dump(mode="json")
    arm = dict(body["arms"][cfg.arm])
    arm.pop("seeds", None)      # the curve's seeds, not the arm's cap on the recipe's
    # The curve's budget, not the arm's own; a law arm stands alone here (its sweep would
    # otherwise expand again beside it).
    arm.pop("pretrain_tokens", None)
    arm["from_law"] = False
    for budget in cfg.budgets:
        body_b = {**body, "arms": {cfg.arm: arm}, "seeds": cfg.seeds, "law": None,
                  "training": {**body["training"], "pretrain_tokens": budget}}
        try:
            recipe = ExperimentRecipe.model_validate(body_b)
        except ValueError as exc:
            raise ConfigError(f"budget {budget}: {exc}") from None
        for run in expand_runs(recipe):
            out.append(CurveRun(budget, run.seed, _pretrain_only(run)))
    return out


def _train_and_measure(root: str, job: CurveRun, n_docs: int, heldout_seed: int) -> dict[str, Any]:
    """Train one budget's run (resuming), read its held-out KL, write kl.json."""
    import time

    import torch

    from alignpt.experiment.kl import heldout_kl, model_scorer
    from alignpt.experiment.runner import _plan_for
    from alignpt.train import TrainPlan, load_model, train
    from alignpt.train.phases import validate_plan
    from alignpt.world import ExactBayes

    root_p = Path(root)
    folder = job.folder(root_p)
    torch.set_num_threads(job.run.plan["runtime"]["threads"])
    plan = validate_plan(TrainPlan.model_validate(_plan_for(root_p, job.run)))
    t0 = time.perf_counter()
    result = train(plan, folder / "train", resume=True, progress=False)
    t1 = time.perf_counter()
    model, _ = load_model(result.phase_checkpoints["pretrain"])
    bayes = ExactBayes(bayes_recipe(job.run, job.run.phases[0]))
    kl = heldout_kl(model_scorer(model), bayes, n_docs=n_docs, seed=heldout_seed)
    t2 = time.perf_counter()
    out = {"budget": job.budget, "seed": job.seed, "run": job.run.key, "tokens": result.tokens,
           "steps": result.steps, "final_loss": (result.last_step or {}).get("loss"), "kl": kl}
    atomic_write_text(folder / "kl.json", orjson.dumps(out).decode())
    atomic_write_text(folder / "timings.json", orjson.dumps(
        {"train_seconds": round(t1 - t0, 2), "kl_seconds": round(t2 - t1, 3)}).decode())
    return out


def _done(root: Path, job: CurveRun, cfg: CurveConfig) -> dict[str, Any] | None:
    """A finished run's kl.json, if it was read on this config's held-out documents."""
    path = job.folder(root) / "kl.json"
    if not path.exists():
        return None
    got = orjson.loads(path.read_bytes())
    same = got["kl"]["n_docs"] == cfg.heldout_docs and got["kl"]["seed"] == cfg.heldout_seed
    return got if same else None


def _write_config(root: Path, cfg: CurveConfig) -> None:
    path = root / "curve.yaml"
    if path.exists():
        old = (yaml.safe_load(path.read_text()) or {}).get("config", {})
        was = (old.get("recipe", {}).get("name"), old.get("arm"))
        if was != (cfg.recipe.name, cfg.arm):
            raise ConfigError(f"{root} holds the curve of {was[0]} arm {was[1]}, not "
                              f"{cfg.recipe.name} arm {cfg.arm}; use another --out")
    body = {"config": cfg.model_dump(mode="json"), **provenance()}
    atomic_write_text(path, yaml.safe_dump(body, sort_keys=False))


def summarize(cfg: CurveConfig, results: list[dict[str, Any]]) -> dict[str, Any]:
    """curve.json: per budget, KL per seed (each kind) and the mean; the rule and its pick."""
    by = {(r["budget"], r["seed"]): r for r in results}
    kinds = [k for k in results[0]["kl"] if isinstance(results[0]["kl"][k], dict)]
    table: dict[str, Any] = {}
    for kind in kinds:
        rows = []
        for b in cfg.budgets:
            per_seed = {str(s): by[b, s]["kl"][kind]["mean"] for s in cfg.seeds}
            ses = {str(s): by[b, s]["kl"][kind]["se"] for s in cfg.seeds}
            rows.append({"budget": b, "per_seed": per_seed, "se": ses,
                         "mean": sum(per_seed.values()) / len(per_seed)})
        table[kind] = rows
    means = [row["mean"] for row in table[RULE_KIND]]
    return {"recipe": cfg.recipe.name, "arm": cfg.arm, "budgets": cfg.budgets, "seeds": cfg.seeds,
            "rule": {"text": cfg.rule, "kind": RULE_KIND, "threshold": cfg.threshold},
            "heldout": {"n_docs": cfg.heldout_docs, "seed": cfg.heldout_seed},
            "kl": table, **pick_budget(cfg.budgets, means, cfg.threshold),
            "final_loss": {str(b): {str(s): by[b, s]["final_loss"] for s in cfg.seeds}
                           for b in cfg.budgets}}


def run_curve(cfg: CurveConfig, out_dir: str | Path, *, workers: int = 1,
              progress: bool = True) -> dict[str, Any]:
    """Train and measure every (budget, seed) not done yet, then write curve.json and the plot."""
    root = Path(out_dir)
    with OutputLock(root):
        root.mkdir(parents=True, exist_ok=True)
        _write_config(root, cfg)
        jobs = curve_runs(cfg)
        results = _run_jobs(root, cfg, jobs, workers, progress)
        curve = summarize(cfg, results)
        atomic_write_text(root / "curve.json",
                          orjson.dumps(curve, option=orjson.OPT_INDENT_2).decode())
        timings = {}
        for job in jobs:
            path = job.folder(root) / "timings.json"
            if path.exists():
                timings[f"{job.budget}/seed{job.seed}"] = orjson.loads(path.read_bytes())
        atomic_write_text(root / "timings.json",
                          orjson.dumps(timings, option=orjson.OPT_INDENT_2).decode())
        _plot(curve, root / "curve.png")
        return curve


def _run_jobs(root: Path, cfg: CurveConfig, jobs: list[CurveRun], workers: int,
              progress: bool) -> list[dict[str, Any]]:
    from alignpt.core.console import progress_bar
    from alignpt.experiment.runner import _ensure_corpora
    from alignpt.experiment.world_kind import WorldKind
    from alignpt.core.parallel import spawn_pool

    results = {(j.budget, j.seed): _done(root, j, cfg) for j in jobs}
    todo = [j for j in jobs if results[j.budget, j.seed] is None]
    args = (cfg.heldout_docs, cfg.heldout_seed)
    with progress_bar(disable=not progress) as bar:
        corp = bar.add_task("corpora", total=None)
        # The curve is the world's (held-out KL against exact Bayes on world tokens).
        _ensure_corpora(root, WorldKind(None), [j.run for j in todo],
                        lambda what: bar.update(corp, description=what))
        bar.update(corp, description="corpora ready", total=1, completed=1)
        task = bar.add_task("budgets x seeds", total=len(jobs), completed=len(jobs) - len(todo))
        workers = max(1, min(workers, len(todo) or 1, os.cpu_count() or 1))
        if workers == 1:
            for job in todo:
                bar.update(task, description=f"budget {job.budget:,} seed {job.seed}")
                results[job.budget, job.seed] = _train_and_measure(str(root), job, *args)
                bar.advance(task)
        elif todo:
            # Runs die with this process; largest budgets first, so the pool ends level.
            with spawn_pool(workers) as pool:
                pending = {pool.submit(_train_and_measure, str(root), job, *args)
                           for job in sorted(todo, key=lambda j: -j.budget)}
                while pending:
                    finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for fut in finished:
                        got = fut.result()
                        results[got["budget"], got["seed"]] = got
                        bar.advance(task)
    return [results[j.budget, j.seed] for j in jobs]


def _plot(curve: dict[str, Any], path: Path) -> Path:
    from alignpt.experiment.figure import pyplot, save_figure

    plt = pyplot()
    rows = curve["kl"][RULE_KIND]
    budgets = [r["budget"] for r in rows]
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for seed in curve["seeds"]:
        ax.plot(budgets, [r["per_seed"][str(seed)] for r in rows], "o", alpha=0.45,
                label=f"seed {seed}")
    ax.plot(budgets, [r["mean"] for r in rows], "k-", marker="s", label="mean over seeds")
    if curve["pick"] is not None:
        ax.axvline(curve["pick"], color="tab:green", ls="--",
                   label=f"pick: {curve['pick']:,} tokens")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xticks(budgets, [f"{b / 1e6:g}M" if b >= 1e6 else f"{b / 1e3:g}k" for b in budgets])
    ax.minorticks_off()
    ax.set_xlabel(f"pretraining tokens (arm {curve['arm']}, its own cosine schedule per budget)")
    ax.set_ylabel("held-out KL(Bayes || model), nats per action")
    ax.set_title(f"Learning curve; rule: < {curve['rule']['threshold']:.0%} drop per doubling")
    ax.legend(fontsize=8)
    return save_figure(fig, path)
