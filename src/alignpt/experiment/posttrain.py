"""Post-training beyond instruct: a DPO phase on preference pairs, and the tamper test.

**DPO.** An arm with ``dpo: tested`` (or ``all``) gets a ``kind: dpo`` phase after its
instruct phase and before its rebound (SFT then DPO, as the labs and the paper do),
measured like every phase (label ``dpo``). Its pairs come from a :class:`PairSpec`: the
world recipe they are drawn from (``training.dpo_corpus``, the instruct transcripts by
default), which opportunities (``tested`` or ``all``), how many, and a seed; the kind
writes them once per experiment into ``preferences/ROLE-sSEED-HASH/pairs.jsonl``
(:meth:`alignpt.experiment.kind.ExperimentKind.preference_pairs`), shared by every run
that reads the same spec. A preference phase has no exact-Bayes answer (Bayes updates on
documents, not on preferences): the Bayes beside a dpo phase is the one before it,
marked as such in the report.

**Tamper.** With a recipe ``tamper:`` block, every run gets a twin that continues after
the run's last phase with ``points`` phases of the tamper corpus (``tokens`` in all, a
constant ``lr``), measured after each (label ``tamper``). The twin *branches from the
run's final checkpoint* (a :class:`~alignpt.experiment.specs.BranchSpec`), so the arm's
own run keeps its hash, its cache and its results, and the twin trains only the tamper
steps (the trainer checks the shared history and trains from scratch if it differs: the
results are the same either way). A dpo arm likewise branches from its twin without dpo at the end
of instruct (:func:`link_dpo_branches`): only its dpo and rebound steps are new. Exact Bayes after a tamper point is the token mixture
of everything seen, as for rebound.
"""

from __future__ import annotations

import copy
import math
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from alignpt.experiment.specs import PAIRS_FILE, PairSpec

if TYPE_CHECKING:
    from alignpt.experiment.specs import PhaseSpec, RunSpec
    from alignpt.experiment.recipe import ExperimentRecipe

__all__ = ["PairSpec", "PAIRS_SEED_OFFSET", "TAMPER_SEED_OFFSET", "PAIRS_FILE", "pair_spec",
           "dpo_phase", "fill_preference_paths", "link_dpo_branches", "tamper_runs"]

#: Preference pairs and tamper documents are drawn apart from every other corpus of a seed.
PAIRS_SEED_OFFSET = 2000
TAMPER_SEED_OFFSET = 3000


def pair_spec(recipe: "ExperimentRecipe", contexts: str, seed: int) -> PairSpec:
    from alignpt.experiment.specs import world_recipe

    t = recipe.training
    return PairSpec(f"dpo_{contexts}", world_recipe(recipe.corpora[t.dpo_corpus]), contexts,
                    t.dpo_pairs, seed + PAIRS_SEED_OFFSET, t.dpo_untested_share)


def dpo_phase(t: Any, role: str, seq_len: int) -> dict[str, Any]:
    """The plan's dpo phase; its pairs path ``@ROLE`` is filled in by the runner."""
    prefs: dict[str, Any] = {"paths": [f"@{role}"], "pairs_per_step": t.dpo_pairs_per_step,
                             "loss": t.dpo_loss, "beta": t.dpo_beta, "max_length": seq_len}
    if t.dpo_loss == "robust":
        prefs["label_smoothing"] = t.dpo_label_smoothing
    return {"name": "dpo", "kind": "dpo", "steps": t.dpo_steps, "reset_optimizer": True,
            # The paper's schedule: warmup, then linear decay to zero over the one epoch.
            "schedule": {"kind": "linear", "peak_lr": t.dpo_lr, "warmup": t.dpo_warmup,
                         "min_lr_ratio": 0.0},
            "preferences": prefs}


def fill_preference_paths(plan: dict[str, Any], run: "RunSpec", root: Path) -> None:
    """Replace each dpo phase's ``@ROLE`` path with its pairs file (the runner's _plan_for)."""
    for phase in plan["phases"]:
        prefs = phase.get("preferences")
        if prefs:
            prefs["paths"] = [str(run.pairs[p[1:]].path(root).resolve()) if p.startswith("@")
                              else p for p in prefs["paths"]]


def link_dpo_branches(recipe: "ExperimentRecipe", runs: list["RunSpec"]) -> None:
    """A dpo arm trains what its twin without dpo (the same data arm, ``dpo: none``) trains
    up to the end of instruct: it branches from the twin's checkpoint there."""
    from alignpt.experiment.specs import BranchSpec
    from alignpt.train.config import TrainPlan
    from alignpt.train.phases import resolve_budgets

    def data(arm: Any) -> dict[str, Any]:
        return arm.model_dump(exclude={"dpo", "description", "seeds"})

    for run in runs:
        if run.arm_config.dpo == "none" or run.branch is not None:
            continue
        twin = next((r for r in runs if r.seed == run.seed and r.arm_config.dpo == "none"
                     and data(r.arm_config) == data(run.arm_config)), None)
        if twin is None:
            continue
        budgets = resolve_budgets(TrainPlan.model_validate(run.plan))
        names = [p.name for p in budgets]
        step = sum(p.steps for p in budgets[:names.index("instruct") + 1])
        run.branch = BranchSpec(twin, step, "instruct")
        twin.keep_checkpoint(step)


def tamper_runs(recipe: "ExperimentRecipe", runs: list["RunSpec"]) -> list["RunSpec"]:
    """Each run's tamper twin (none without a ``tamper:`` block), branching from the run's
    final checkpoint (which the run then keeps: ``save_at``)."""
    from alignpt.experiment.specs import (SLACK, BranchSpec, PhaseSpec, RunSpec, corpus_spec,
                                          run_key, split_tokens)
    from alignpt.experiment.kind import kind_for
    from alignpt.train.config import TrainPlan
    from alignpt.train.phases import resolve_budgets

    cfg = recipe.tamper
    if cfg is None:
        return []
    kind = kind_for(recipe)
    twins = []
    for parent in runs:
        if cfg.arms is not None and parent.arm not in cfg.arms:
            continue
        spec = corpus_spec(recipe, "tamper", cfg.corpus, math.ceil(cfg.tokens * SLACK),
                           parent.seed + TAMPER_SEED_OFFSET)
        corpora = {**parent.corpora, "tamper": replace(spec, extra=kind.corpus_extra(spec))}
        plan = copy.deepcopy(parent.plan)
        plan["sources"]["tamper"] = {"paths": ["@tamper"], "shuffle": False}
        seen = dict(parent.phases[-1].seen)
        phases: list[PhaseSpec] = []
        for i, tokens in enumerate(split_tokens(cfg.tokens, cfg.points), start=1):
            plan["phases"].append({
                "name": f"tamper{i}", "kind": "tamper", "tokens": tokens,
                "mix": [{"source": "tamper"}], "reset_optimizer": i == 1,
                "schedule": {"kind": "constant", "peak_lr": cfg.lr}})
            seen["tamper"] = seen.get("tamper", 0) + tokens
            phases.append(PhaseSpec(f"tamper{i}", "tamper", dict(seen)))
        twin = RunSpec(parent.arm, parent.seed, parent.arm_config, corpora, plan, phases,
                       parent.probes, pairs=dict(parent.pairs), tamper_of=parent)
        twin.key = run_key(twin)
        steps = sum(p.steps for p in resolve_budgets(TrainPlan.model_validate(parent.plan)))
        twin.branch = BranchSpec(parent, steps, parent.phases[-1].name)
        parent.keep_checkpoint(steps)
        twins.append(twin)
    return twins
