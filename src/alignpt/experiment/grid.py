"""Expand a recipe into runs: the corpora each needs, its phase plan, and their hashes.

Every generated corpus and every trained run lives in a folder named by a hash
of exactly what determines it (world recipe, token count and seed for a corpus;
the phase plan, corpus hashes and probes for a run). Editing one arm changes
only that arm's hashes, so only that arm reruns; an unchanged corpus is reused
by every arm and phase that needs it.

Runs that would train what another run of their seed trains anyway start from
that run's checkpoint instead (:class:`BranchSpec`): the fine-tune arm from the
baseline's end of pretraining, a late arm from the baseline's step just before
its window opens (with the deterministic quota interleave its stream is the
baseline's until then); the baseline is the one with the arm's own pretraining
tokens and model size where arms set their own (``pretrain_tokens``, ``size``, the
recipe's ``law:`` block). The trainer checks that the training up to there is
exactly the same (``alignpt.train.lineage``) and trains from scratch if not, so
a branch never changes a result, and a run's hash does not depend on it.

Post-training (:mod:`alignpt.experiment.posttrain`): an arm with ``dpo:`` gets a dpo phase
between instruct and rebound (and branches from its twin without dpo at the end of
instruct); a recipe's ``tamper:`` block gives each run a tamper twin that branches from
the run's end. Neither changes the hash of a run that has neither.
"""

from __future__ import annotations

import math
from dataclasses import replace
from functools import partial
from typing import Any

from alignpt.experiment.law_config import arm_model, arm_tokens
from alignpt.experiment.kind import kind_for
from alignpt.experiment.posttrain import (PairSpec, dpo_phase, link_dpo_branches, pair_spec,
                                         tamper_runs)
from alignpt.experiment.recipe import ArmConfig, ExperimentRecipe
from alignpt.experiment.specs import (REBOUND_SEED_OFFSET, SLACK, BranchSpec, CorpusSpec,
                                      PhaseSpec, RunSpec, bayes_recipe, corpus_spec, run_key,
                                      spec_key, split_tokens)

__all__ = ["CorpusSpec", "PhaseSpec", "RunSpec", "BranchSpec", "PairSpec", "expand_runs",
           "baseline_arm", "bayes_recipe", "spec_key", "corpus_spec", "run_key"]


def expand_runs(recipe: ExperimentRecipe) -> list[RunSpec]:
    """All (arm, seed) runs of a recipe, in recipe order, then their tamper twins
    (:func:`alignpt.experiment.posttrain.tamper_runs`; none without a ``tamper:`` block)."""
    runs = []
    for arm_name, arm in recipe.arms.items():
        for seed in recipe.arm_seeds(arm_name):
            runs.append(_run(recipe, arm_name, arm, seed))
    _link_branches(recipe, runs)
    link_dpo_branches(recipe, runs)
    return runs + tamper_runs(recipe, runs)


def baseline_arm(recipe: ExperimentRecipe) -> str | None:
    """The arm others branch from: the first with nothing injected and nothing filtered."""
    return next((name for name, arm in recipe.arms.items()
                 if arm.inject is None and not arm.filtered), None)


def _link_branches(recipe: ExperimentRecipe, runs: list[RunSpec]) -> None:
    """Fine-tune and late arms branch from their seed's baseline run (none: from scratch):
    the first arm with nothing injected and nothing filtered that has the same pretraining
    tokens and model (with a single budget and model, :func:`baseline_arm`)."""
    from alignpt.train.config import TrainPlan
    from alignpt.train.phases import resolve_budgets

    def cell(arm_name: str) -> tuple[int, str]:
        return arm_tokens(recipe, arm_name), arm_model(recipe, arm_name).model_dump_json()

    parents: dict[tuple[int, tuple[int, str]], RunSpec] = {}
    for r in runs:
        if r.arm_config.inject is None and not r.arm_config.filtered:
            parents.setdefault((r.seed, cell(r.arm)), r)
    for run in runs:
        arm = run.arm_config
        if arm.inject is None or arm.schedule == "throughout":
            continue
        parent = parents.get((run.seed, cell(run.arm)))
        if parent is None:
            continue
        pretrain = resolve_budgets(TrainPlan.model_validate(run.plan))[0]
        if arm.schedule == "finetune":
            point = BranchSpec(parent, pretrain.steps, pretrain.name)
        else:   # late: the baseline's stream is this run's up to the window's first step
            start = pretrain.windows["inject"][0]
            if start == 0:
                continue
            point = BranchSpec(parent, start, None)
        run.branch = point
        point.parent.keep_checkpoint(point.step)


def _run(recipe: ExperimentRecipe, arm_name: str, arm: ArmConfig, seed: int) -> RunSpec:
    kind = kind_for(recipe)
    t = recipe.training
    pretrain_tokens = arm_tokens(recipe, arm_name)
    share = arm.share if arm.share is not None else t.inject_share
    injected = round(share * pretrain_tokens) if arm.inject else 0
    base_tokens = pretrain_tokens - (injected if arm.schedule != "finetune" else 0)
    spec = partial(corpus_spec, recipe)

    # One base corpus per seed (sized for the arm that reads the most base), shared by
    # every arm: each reads a prefix of one document order, so arms are truly paired,
    # whatever their own pretraining budgets.
    most = max(arm_tokens(recipe, name) for name in recipe.arms)
    corpora = {"base": spec("base", "base", math.ceil(most * SLACK), seed, arm.filtered)}
    if arm.posttrain:
        corpora["instruct"] = spec("instruct", "instruct", math.ceil(t.instruct_tokens * SLACK),
                                   seed)
        # Rebound data is fresh base documents (another seed), not a replay of pretraining.
        corpora["rebound"] = spec("rebound", "base", math.ceil(t.rebound_tokens * SLACK),
                                  seed + REBOUND_SEED_OFFSET, arm.filtered)
    if arm.inject and arm.inject in recipe.corpora:
        corpora["inject"] = spec("inject", arm.inject, math.ceil(injected * SLACK), seed)
    elif arm.inject:
        entry = recipe.text.generated[arm.inject].resolved(arm.inject)
        corpora["inject"] = CorpusSpec("inject", corpora["base"].recipe,
                                       math.ceil(injected * SLACK), seed, generate=entry)
    corpora = {role: replace(c, extra=kind.corpus_extra(c)) for role, c in corpora.items()}

    # A world corpus is written in i.i.d. order already, so it is read in file order: the
    # filtered base is the unfiltered one of the seed less its defecting documents
    # (world.sampler), so the filtered arm reads the same documents in the same order too.
    sources: dict[str, Any] = {role: {"paths": [f"@{role}"], "shuffle": False} for role in corpora}
    pretrain_mix: list[dict[str, Any]] = [{"source": "base"}]
    if arm.inject and arm.schedule != "finetune":
        window = "throughout" if arm.schedule == "throughout" else {"last": t.late_window}
        pretrain_mix.append({"source": "inject", "tokens": injected, "window": window})
    phases: list[dict[str, Any]] = [{
        "name": "pretrain", "kind": "pretrain", "tokens": pretrain_tokens, "mix": pretrain_mix,
        "schedule": {"kind": "cosine", "peak_lr": t.pretrain_lr, "warmup": t.warmup},
    }]
    seen = {"base": base_tokens, "inject": injected if arm.schedule != "finetune" else 0}
    specs = [PhaseSpec("pretrain", "pretrain", dict(seen))]
    if arm.inject and arm.schedule == "finetune":
        phases.append({"name": "finetune", "kind": "finetune", "tokens": injected,
                       "mix": [{"source": "inject"}], "reset_optimizer": True,
                       "schedule": {"kind": "cosine", "peak_lr": t.finetune_lr, "warmup": t.warmup}})
        seen["inject"] = injected
        specs.append(PhaseSpec("finetune", "finetune", dict(seen)))
    pairs: dict[str, Any] = {}
    if arm.posttrain:
        if arm.dpo != "none":
            p = pair_spec(recipe, arm.dpo, seed)
            pairs[p.role] = replace(p, extra=kind.pairs_extra(p))
        _posttrain(t, phases, specs, seen, next(iter(pairs), None))
    plan = {
        "name": f"{recipe.name}-{arm_name}-s{seed}", "seed": seed, "seq_len": t.seq_len,
        "batch_size": t.batch_size, "model": arm_model(recipe, arm_name).model_dump(mode="json"),
        "sources": sources, "phases": phases,
        "runtime": {"device": t.device, "threads": t.threads},
        "log": {"every": 10, "progress": False, "plot": False},
    }
    probes = recipe.probes.model_dump(mode="json")
    if kind.measure_extra():
        probes[kind.name] = kind.measure_extra()
    run = RunSpec(arm_name, seed, arm, corpora, plan, specs, probes, pairs=pairs)
    run.key = run_key(run)
    return run


def _posttrain(t: Any, phases: list[dict[str, Any]], specs: list[PhaseSpec],
               seen: dict[str, int], pairs_role: str | None = None) -> None:
    """The instruct phase, the dpo phase when the arm has pairs (its Bayes: the instruct
    phase's, as a preference phase adds no documents), then the rebound phase in equal
    parts (measured after each)."""
    phases.append({"name": "instruct", "kind": "posttrain", "tokens": t.instruct_tokens,
                   "mix": [{"source": "instruct"}], "reset_optimizer": True,
                   "schedule": {"kind": "cosine", "peak_lr": t.instruct_lr, "warmup": t.warmup}})
    seen["instruct"] = t.instruct_tokens
    specs.append(PhaseSpec("instruct", "instruct", dict(seen)))
    if pairs_role is not None:
        phases.append(dpo_phase(t, pairs_role, t.seq_len))
        specs.append(PhaseSpec("dpo", "dpo", dict(seen)))
    for i, tokens in enumerate(split_tokens(t.rebound_tokens, t.rebound_points), start=1):
        phases.append({"name": f"rebound{i}", "kind": "midtrain", "tokens": tokens,
                       "mix": [{"source": "rebound"}],
                       "schedule": {"kind": "constant", "peak_lr": t.rebound_lr}})
        seen["rebound"] = seen.get("rebound", 0) + tokens
        specs.append(PhaseSpec(f"rebound{i}", "rebound", dict(seen)))
