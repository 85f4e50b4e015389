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

import hashlib
import math
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

import orjson

from alignpt.experiment.law_config import arm_model, arm_tokens
from alignpt.experiment.measure import MEASURE_VERSION
from alignpt.experiment.recipe import ArmConfig, ExperimentRecipe
from alignpt.experiment.posttrain import PairSpec
from alignpt.world import WorldRecipe, filter_defecting, inject, load_world_recipe

__all__ = ["CorpusSpec", "PhaseSpec", "RunSpec", "BranchSpec", "PairSpec", "expand_runs",
           "baseline_arm", "bayes_recipe", "stable_hash", "corpus_spec", "run_key"]

#: Corpora are generated with a little more than the budget, so a phase rarely
#: has to repeat a document; the trainer records any repetition it does need.
SLACK = 1.1
REBOUND_SEED_OFFSET = 1000


def user_source(name: str, paths: str, filtered: bool) -> dict[str, Any]:
    """A user corpus as a run records it: its files and a hash of their content (kind: shards)."""
    from alignpt.experiment.user_data import corpus_digest

    files, digest = corpus_digest(paths)
    return {"name": name, "paths": paths, "files": len(files), "sha256": digest,
            "filtered": bool(filtered)}


def stable_hash(obj: Any, n: int = 12) -> str:
    return hashlib.sha256(orjson.dumps(obj, option=orjson.OPT_SORT_KEYS)).hexdigest()[:n]


@dataclass(frozen=True)
class CorpusSpec:
    """One world corpus to generate: recipe, size and seed (its hash names its folder)."""

    role: str
    recipe: WorldRecipe | None      # None: a corpus outside the world (kind: shards)
    tokens: int
    seed: int
    #: What else decides the folder's bytes (the kind's settings; empty for the world kind,
    #: whose hashes therefore stay what they were).
    extra: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
    #: A corpus written by ``alignpt generate`` instead (text kind): its resolved entry.
    #: ``recipe`` is then the base world's, and the corpus carries no world tokens.
    generate: dict[str, Any] | None = field(default=None, compare=False, hash=False)
    #: The user's documents instead (kind: shards): their files, content hash, filtered.
    user: dict[str, Any] | None = field(default=None, compare=False, hash=False)

    @property
    def key(self) -> str:
        if self.generate or self.user:
            body = {"generate": self.generate} if self.generate else {"user": self.user}
            body.update(tokens=self.tokens, seed=self.seed)
        else:
            body = {"recipe": self.recipe.model_dump(mode="json"), "tokens": self.tokens,
                    "seed": self.seed}
        return stable_hash({**body, "extra": self.extra} if self.extra else body)

    @property
    def filtered(self) -> bool:
        """Whether the corpus is its source less what a filter removed."""
        if self.user:
            return bool(self.user["filtered"])
        return self.recipe is not None and not self.generate and any(
            s.exclude_defecting for s in self.recipe.sources.values())

    @property
    def name(self) -> str:
        if self.generate:
            return f"gen-{self.generate['name']}"
        if self.user:
            return f"user-{self.user['name']}" + ("-filtered" if self.user["filtered"] else "")
        return self.recipe.name

    def folder(self, root: Path) -> Path:
        return root / "corpora" / f"{self.name}-s{self.seed}-{self.key}"


@dataclass(frozen=True)
class PhaseSpec:
    """A phase of a run and what exact Bayes says the model has seen by its end."""

    name: str
    label: str            # the phase group in the report: pretrain, finetune, instruct, rebound
    seen: dict[str, int]  # cumulative tokens per corpus role after this phase


@dataclass
class RunSpec:
    arm: str
    seed: int
    arm_config: ArmConfig
    corpora: dict[str, CorpusSpec]
    plan: dict[str, Any]             # TrainPlan body, paths filled in by the runner
    phases: list[PhaseSpec]
    probes: dict[str, Any]
    key: str = field(default="")
    branch: "BranchSpec | None" = None                   # where it may start instead of step 0
    save_at: list[int] = field(default_factory=list)     # steps where other runs branch from it
    #: role -> the preference pairs of its dpo phase (experiment.posttrain), none without one
    pairs: dict[str, Any] = field(default_factory=dict)
    #: the run this one is the tamper twin of (it branches from that run's end)
    tamper_of: "RunSpec | None" = None

    @property
    def name(self) -> str:
        return f"{self.arm}/{'tamper-' if self.tamper_of else ''}seed{self.seed}-{self.key}"

    def keep_checkpoint(self, step: int) -> None:
        """Keep this run's checkpoint at ``step``: another run branches from it there."""
        if step not in self.save_at:
            self.save_at.append(step)
            self.save_at.sort()


@dataclass(frozen=True)
class BranchSpec:
    """A run's training up to ``step`` is ``parent``'s: start from its checkpoint there."""

    parent: RunSpec
    step: int                # global step of the parent's checkpoint
    phase: str | None        # the phase that ends there, or None for a step inside one

    def record(self) -> dict[str, Any]:
        """What result.json says about it: the parent run and its phase (or step)."""
        where: dict[str, Any] = {"phase": self.phase} if self.phase else {"step": self.step}
        return {"run": self.parent.name, **where}


def _world(name: str, filtered: bool = False) -> WorldRecipe:
    recipe = load_world_recipe(name)
    return filter_defecting(recipe) if filtered else recipe


def expand_runs(recipe: ExperimentRecipe) -> list[RunSpec]:
    """All (arm, seed) runs of a recipe, in recipe order, then their tamper twins
    (:func:`alignpt.experiment.posttrain.tamper_runs`; none without a ``tamper:`` block)."""
    from alignpt.experiment.posttrain import link_dpo_branches, tamper_runs

    runs = []
    for arm_name, arm in recipe.arms.items():
        for seed in recipe.arm_seeds(arm_name):
            runs.append(_run(recipe, arm_name, arm, seed))
    _link_branches(recipe, runs)
    link_dpo_branches(recipe, runs)
    return runs + tamper_runs(recipe, runs)


def corpus_spec(recipe: ExperimentRecipe, role: str, name: str, tokens: int, seed: int,
                filtered: bool = False) -> CorpusSpec:
    """Corpus ``name`` of the recipe (a world recipe, or the user's files for kind: shards)."""
    if recipe.kind == "shards":
        return CorpusSpec(role, None, tokens, seed,
                          user=user_source(name, recipe.corpora[name], filtered))
    return CorpusSpec(role, _world(recipe.corpora[name], filtered), tokens, seed)


def run_key(run: RunSpec) -> str:
    """A run's hash: its plan, corpora, probes and phases (and its pairs when it has any,
    so a run without a dpo phase keeps the hash it always had)."""
    body: dict[str, Any] = {"plan": run.plan, "corpora": {r: c.key for r, c in run.corpora.items()},
                            "probes": run.probes, "phases": [p.__dict__ for p in run.phases],
                            "measure_version": MEASURE_VERSION}
    if run.pairs:
        body["pairs"] = {r: p.key for r, p in run.pairs.items()}
    return stable_hash(body)


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
    from alignpt.experiment.kind import kind_for

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
            from alignpt.experiment.posttrain import pair_spec

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
    from alignpt.experiment.posttrain import dpo_phase

    phases.append({"name": "instruct", "kind": "posttrain", "tokens": t.instruct_tokens,
                   "mix": [{"source": "instruct"}], "reset_optimizer": True,
                   "schedule": {"kind": "cosine", "peak_lr": t.instruct_lr, "warmup": t.warmup}})
    seen["instruct"] = t.instruct_tokens
    specs.append(PhaseSpec("instruct", "instruct", dict(seen)))
    if pairs_role is not None:
        phases.append(dpo_phase(t, pairs_role, t.seq_len))
        specs.append(PhaseSpec("dpo", "dpo", dict(seen)))
    for i, tokens in enumerate(_split(t.rebound_tokens, t.rebound_points), start=1):
        phases.append({"name": f"rebound{i}", "kind": "midtrain", "tokens": tokens,
                       "mix": [{"source": "rebound"}],
                       "schedule": {"kind": "constant", "peak_lr": t.rebound_lr}})
        seen["rebound"] = seen.get("rebound", 0) + tokens
        specs.append(PhaseSpec(f"rebound{i}", "rebound", dict(seen)))


def _split(total: int, parts: int) -> list[int]:
    base, extra = divmod(total, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


def bayes_recipe(run: RunSpec, phase: PhaseSpec) -> WorldRecipe:
    """The corpus a perfect Bayesian would have learned from by the end of ``phase``.

    Exact Bayes ignores order, so this is the token-weighted mixture of every
    corpus seen so far (the rebound corpus is the base recipe again).
    """
    seen = {role: n for role, n in phase.seen.items() if n > 0}
    base_tokens = seen.pop("base", 0) + seen.pop("rebound", 0)
    total = base_tokens + sum(seen.values())
    base = run.corpora["base"].recipe
    # Roles that read the same world (the misaligned arm's injection and its tamper corpus)
    # are one corpus to Bayes: their tokens add up, in first-seen order.
    same: dict[str, tuple[WorldRecipe, int]] = {}
    for role, n in seen.items():
        rec = run.corpora[role].recipe
        key = rec.model_dump_json()
        same[key] = (rec, n + same.get(key, (rec, 0))[1])
    shares = [(rec, n / total) for rec, n in same.values()]
    if not shares:
        return base
    return inject(base, shares, name=f"{run.arm}@{phase.name}")
