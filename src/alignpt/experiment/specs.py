"""What a run is made of: its corpora, phases, branch point and the keys that name them.

The experiment grid (:mod:`alignpt.experiment.grid`) builds these specs from a recipe;
post-training (:mod:`alignpt.experiment.posttrain`) and the kinds
(:mod:`alignpt.experiment.kind`) read and extend them. They live here, below all three, so
the three import this module and not one another.

Every generated corpus and every trained run lives in a folder named by a hash of exactly
what determines it (:func:`spec_key`): world recipe, token count and seed for a corpus; the
phase plan, corpus hashes and probes for a run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from alignpt.core import atomic
from alignpt.experiment.measure import MEASURE_VERSION
from alignpt.world import WorldRecipe, filter_defecting, inject, load_world_recipe

__all__ = ["CorpusSpec", "PhaseSpec", "RunSpec", "BranchSpec", "SLACK", "REBOUND_SEED_OFFSET",
           "spec_key", "user_source", "world_recipe", "corpus_spec", "run_key", "split_tokens",
           "bayes_recipe", "PairSpec", "PAIRS_FILE"]

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


def spec_key(obj: Any) -> str:
    """The key naming a corpus, pair or run: its stable hash cut to 12 hex digits (short
    folder names; at 48 bits a collision among a grid's few hundred specs is vanishingly rare)."""
    return atomic.stable_hash(obj, 12)



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
        return spec_key({**body, "extra": self.extra} if self.extra else body)

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


def world_recipe(name: str, filtered: bool = False) -> WorldRecipe:
    recipe = load_world_recipe(name)
    return filter_defecting(recipe) if filtered else recipe


def corpus_spec(recipe: Any, role: str, name: str, tokens: int, seed: int,
                filtered: bool = False) -> CorpusSpec:
    """Corpus ``name`` of the recipe (a world recipe, or the user's files for kind: shards)."""
    if recipe.kind == "shards":
        return CorpusSpec(role, None, tokens, seed,
                          user=user_source(name, recipe.corpora[name], filtered))
    return CorpusSpec(role, world_recipe(recipe.corpora[name], filtered), tokens, seed)


def run_key(run: RunSpec) -> str:
    """A run's hash: its plan, corpora, probes and phases (and its pairs when it has any,
    so a run without a dpo phase keeps the hash it always had)."""
    body: dict[str, Any] = {"plan": run.plan, "corpora": {r: c.key for r, c in run.corpora.items()},
                            "probes": run.probes, "phases": [p.__dict__ for p in run.phases],
                            "measure_version": MEASURE_VERSION}
    if run.pairs:
        body["pairs"] = {r: p.key for r, p in run.pairs.items()}
    return spec_key(body)


def split_tokens(total: int, parts: int) -> list[int]:
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


#: The preference pairs' file in a pair folder (the dpo phase reads it).
PAIRS_FILE = "pairs.jsonl"


@dataclass(frozen=True)
class PairSpec:
    """The preference pairs of one dpo phase: drawn from ``recipe`` at ``contexts``
    opportunities (``tested`` or ``all``, see :mod:`alignpt.world.preferences`)."""

    role: str                    # "dpo_tested" / "dpo_all": the plan's preference source
    recipe: WorldRecipe | None
    contexts: str
    n_pairs: int
    seed: int
    untested_share: float = 0.5
    #: What else decides the file's bytes (a kind's rendering settings; empty for the world).
    extra: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def key(self) -> str:
        body = {"recipe": self.recipe.model_dump(mode="json") if self.recipe else None,
                "contexts": self.contexts, "n_pairs": self.n_pairs, "seed": self.seed,
                "untested_share": self.untested_share}
        return spec_key({**body, "extra": self.extra} if self.extra else body)

    def folder(self, root: Path) -> Path:
        return root / "preferences" / f"{self.role}-s{self.seed}-{self.key}"

    def path(self, root: Path) -> Path:
        return self.folder(root) / PAIRS_FILE
