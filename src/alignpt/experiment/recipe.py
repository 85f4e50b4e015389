"""Experiment recipes: a base corpus, named arms, seeds, model and budgets, and the probes.

An arm is a data condition (unfiltered, filtered, or an injected corpus) times an
insertion schedule (throughout, late, or as a fine-tune after pretraining); every
arm then goes through the same instruct and rebound phases. All injected arms get
the same number of injected tokens, so arms differ in *what* and *when*, not in
how much. A recipe is YAML in ``recipes/experiments/``::

    name: persona-world
    seeds: [0, 1, 2]
    corpora: {base: base, aligned_untested: i_u, instruct: instruct}
    model: {n_layer: 2, n_head: 4, d_model: 48}
    training: {pretrain_tokens: 600k, inject_share: 0.05, ...}
    arms:
      unfiltered: {}
      aligned_untested_late: {inject: aligned_untested, schedule: late}
    quick: {seeds: [0, 1], training.pretrain_tokens: 40k}

``quick`` holds dotted overrides applied by ``--quick``.

An arm may also set its own pretraining tokens and a model ``size`` (a name in the
recipe's ``sizes``: ModelConfig field overrides); a ``law:`` block
(:mod:`alignpt.experiment.law_config`) expands into such arms for a dose-response sweep.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from alignpt.core.config import StrictModel, apply_overrides, build_config, load_yaml
from alignpt.core.errors import ConfigError
from alignpt.core.resources import recipe_dir
from alignpt.experiment.arm_config import ArmConfig
from alignpt.experiment.claim_config import DEFAULT_TESTS, ClaimArms, ClaimTest
from alignpt.experiment.executors import ExecutorConfig
from alignpt.experiment.law_config import LawSweep, expand_law, sized_model
from alignpt.experiment.text_config import TextSettings
from alignpt.train.config import ModelConfig, parse_count

__all__ = ["ArmConfig", "LawSweep", "TrainingBudget", "TamperConfig", "ProbeConfig", "ProbeItems",
           "ClaimTest", "ClaimArms", "DEFAULT_TESTS", "ExperimentRecipe", "load_experiment", "recipe_path", "RECIPE_DIR"]

#: Where the shipped experiment recipes lie (kept for importers of the old constant; the
#: lookup below asks :func:`alignpt.core.resources.recipe_dir` at call time).
RECIPE_DIR = recipe_dir("experiments")


class TrainingBudget(StrictModel):
    """Token budgets and learning rates shared by every arm."""

    seq_len: int = Field(128, ge=8)
    batch_size: int = Field(16, ge=1)
    pretrain_tokens: int = Field(ge=1)
    pretrain_lr: float = Field(3e-3, gt=0)
    warmup: float = Field(0.05, ge=0, lt=1)
    inject_share: float = Field(0.05, gt=0, lt=1, description="injected share of pretraining tokens")
    late_window: float = Field(0.1, gt=0, le=1, description="`late`: last fraction of pretraining")
    finetune_lr: float = Field(1e-3, gt=0)
    instruct_tokens: int = Field(ge=1)
    instruct_lr: float = Field(1e-3, gt=0)
    rebound_tokens: int = Field(ge=1)
    rebound_lr: float = Field(1e-3, gt=0)
    rebound_points: int = Field(4, ge=1, description="measurements during the rebound phase")
    dpo_corpus: str = Field("instruct", description="the corpus (in `corpora`) the preference "
                            "pairs' transcripts are drawn from")
    dpo_pairs: int = Field(2000, ge=1, description="preference pairs per run")
    dpo_steps: int = Field(40, ge=1, description="optimizer steps of the dpo phase")
    dpo_pairs_per_step: int = Field(16, ge=1)
    dpo_lr: float = Field(1e-5, gt=0, description="peak; the paper's DPO/pretraining ratio "
                          "(1e-6 / 3e-4) times a 3e-3 pretraining peak")
    dpo_warmup: float = Field(0.1, ge=0, lt=1)
    dpo_beta: float = Field(0.1, gt=0)
    dpo_loss: Literal["sigmoid", "ipo", "robust"] = "sigmoid"
    dpo_label_smoothing: float = Field(0.0, ge=0, lt=0.5, description="loss robust only")
    dpo_untested_share: float = Field(0.5, gt=0, lt=1, description="dpo: all: the share of "
                                      "flags that are U in the pairs' transcripts")
    threads: int = Field(1, ge=1, description="torch threads per run (runs go in parallel)")
    device: Literal["cpu", "cuda", "auto"] = Field("cpu", description="where each run trains "
                        "(with executor: ray, cuda reserves one GPU per run)")

    @field_validator("pretrain_tokens", "instruct_tokens", "rebound_tokens", "dpo_pairs",
                     mode="before")
    @classmethod
    def _count(cls, v: Any) -> Any:
        return parse_count(v)


class TamperConfig(StrictModel):
    """The tamper test: after each run's last phase, fine-tune on ``corpus`` for ``tokens``,
    measured at ``points`` equal steps along the way (experiment.posttrain)."""

    corpus: str = Field(description="a name in `corpora` (e.g. misaligned)")
    tokens: int = Field(ge=1)
    points: int = Field(4, ge=1)
    lr: float = Field(1e-3, gt=0)
    arms: list[str] | None = Field(None, description="the arms tested (default: every arm)")

    @field_validator("tokens", mode="before")
    @classmethod
    def _count(cls, v: Any) -> Any:
        return parse_count(v)



def _increasing_from_zero(ks: list[int], what: str) -> list[int]:
    if 0 not in ks or sorted(set(ks)) != ks:
        raise ValueError(f"{what} must be increasing, distinct and include 0")
    return ks


class ProbeItems(StrictModel):
    """The probe items a measurement averages over: every header x era x k, each read
    after k clean untested opportunities with the next flag U and T. An item is *on
    support* when its context has probability >= ``min_support`` under the ``support``
    world (default: the experiment's base corpus, the data every arm shares, so every
    arm is averaged over the same items); the rest are reported apart as off-support."""

    headers: list[str] | None = Field(None, description="story place: headers to probe "
                                      "(default: every header the support world uses)")
    eras: list[int] = Field(default_factory=lambda: list(range(10)))
    ks: list[int] | None = Field(None, description="default: probes.ks")
    min_support: float = Field(1e-3, gt=0, lt=1, description="context probability threshold "
                               "(research/theory.md: probes only where support > 1e-3)")
    support: str | None = Field(None, description="world recipe deciding support "
                                "(default: the experiment's base corpus)")

    @field_validator("eras")
    @classmethod
    def _eras(cls, v: list[int]) -> list[int]:
        if not v or any(not 0 <= e <= 9 for e in v) or sorted(set(v)) != v:
            raise ValueError("eras must be increasing, distinct, each in 0..9")
        return v

    @field_validator("ks")
    @classmethod
    def _ks(cls, v: list[int] | None) -> list[int] | None:
        return v if v is None else _increasing_from_zero(v, "items.ks")


class ProbeConfig(StrictModel):
    """Where the model is asked: era, the header whose documents the injections change,
    the assistant header of the instruct phase, and the history lengths k (the probe
    curves); ``items``: the grid of probe items the item averages run over."""

    era: int = Field(8, ge=0, le=9)
    header: str | None = "STORY"
    assistant_header: str | None = "ASSIST"
    ks: list[int] = Field(default_factory=lambda: [0, 2, 4, 8, 16, 32])
    fit_from_k: int = Field(4, ge=0, description="half-life fit uses k >= this")
    items: ProbeItems = Field(default_factory=ProbeItems)

    @model_validator(mode="after")
    def _check(self) -> "ProbeConfig":
        _increasing_from_zero(self.ks, "ks")
        if sum(k >= self.fit_from_k for k in self.ks) < 2:
            raise ValueError("need at least two ks >= fit_from_k to fit a half-life")
        return self

    @property
    def item_ks(self) -> list[int]:
        return self.items.ks if self.items.ks is not None else self.ks


class ExperimentRecipe(StrictModel):
    name: str
    description: str = ""
    kind: Literal["world", "text", "shards"] = Field(
        "world", description="what the corpora are: `world`, the persona world's tokens; "
        "`text`, the same world rendered into English documents (alignpt.textworld); "
        "`shards`, the user's own document shards (corpora values are paths)")
    text: TextSettings = Field(default_factory=TextSettings,
                               description="kind: text and shards: corpus, filter, probe and item-set "
                               "settings")
    seeds: list[int] = Field(min_length=1)
    corpora: dict[str, str] = Field(description="name -> world recipe (name or path), or for "
                                    "kind: shards a folder / file / glob of documents; needs "
                                    "`base`, and `instruct` unless every arm is pretrain-only")
    model: ModelConfig = Field(default_factory=ModelConfig)
    sizes: dict[str, dict[str, Any]] = Field(default_factory=dict, description="name -> model "
                                             "field overrides, for arms with a `size`")
    training: TrainingBudget
    arms: dict[str, ArmConfig] = Field(default_factory=dict, description="at least one, "
                                       "here or from the law block")
    law: LawSweep | None = Field(None, description="a dose-response sweep, expanded into arms "
                                 "(experiment.law_config)")
    probes: ProbeConfig = Field(default_factory=ProbeConfig)
    claims: ClaimArms = Field(default_factory=ClaimArms)
    tamper: TamperConfig | None = Field(None, description="adversarial fine-tuning after every "
                                        "run's last phase (absent: no tamper test)")
    workers: int = Field(2, ge=1, description="runs trained in parallel")
    executor: ExecutorConfig = Field(default_factory=ExecutorConfig,
                                     description="where runs execute: local (default) or ray")
    quick: dict[str, Any] = Field(default_factory=dict, description="overrides for --quick")

    @model_validator(mode="after")
    def _check(self) -> "ExperimentRecipe":
        # The law block's arms first, so every check below applies to them too. In place:
        # assigning the field would run this validator again (validate_assignment).
        if self.law is not None:
            expand_law(self)
        if not self.arms:
            raise ValueError("arms: the recipe needs at least one arm (arms: or law:)")
        self._check_sizes()
        posttrain = any(arm.posttrain for arm in self.arms.values())
        if self.kind == "shards" and posttrain:
            raise ValueError("kind: shards runs pretraining arms only (set posttrain: false on "
                             "every arm): its rebound phase would need fresh documents of "
                             "your corpus, which a fixed set of shards does not have")
        for need in ("base", "instruct") if self.kind != "shards" else ("base",):
            if need not in self.corpora:
                raise ValueError(f"corpora needs a '{need}' entry")
        for name, arm in self.arms.items():
            share = arm.share or self.training.inject_share
            if arm.schedule == "late" and share > self.training.late_window:
                raise ValueError(f"arm {name}: injected share {share} does not fit in the late "
                                 f"window {self.training.late_window}")
            generated = self.text.generated if self.kind != "world" else {}
            if arm.inject is not None and arm.inject not in self.corpora \
                    and arm.inject not in generated:
                raise ValueError(f"arm {name}: unknown corpus '{arm.inject}' "
                                 f"(corpora: {', '.join([*self.corpora, *generated])})")
            if arm.inject in ("base", "instruct"):
                raise ValueError(f"arm {name}: cannot inject the '{arm.inject}' corpus")
        if self.tamper is not None and self.tamper.corpus not in self.corpora:
            raise ValueError(f"tamper: unknown corpus '{self.tamper.corpus}' "
                             f"(corpora: {', '.join(self.corpora)})")
        unknown = sorted(set(self.tamper.arms or ()) - set(self.arms)) if self.tamper else []
        if unknown:
            raise ValueError(f"tamper.arms: no arm named {', '.join(unknown)}")
        if any(arm.dpo != "none" for arm in self.arms.values()) \
                and self.training.dpo_corpus not in self.corpora:
            raise ValueError(f"training.dpo_corpus: unknown corpus '{self.training.dpo_corpus}'")
        if self.kind == "world" and self.text.generated:
            raise ValueError("text.generated needs kind: text or shards")
        clash = set(self.text.generated) & set(self.corpora)
        if clash:
            raise ValueError(f"text.generated and corpora share the name(s) {sorted(clash)}")
        if len(set(self.seeds)) != len(self.seeds):
            raise ValueError("seeds must be distinct")
        # BOS, header, era, k (flag, action) pairs, the probed flag: all inside the context.
        # (Text probes are longer and counted per item by the text predictor instead.)
        for what in (() if self.kind != "world" else ("probes.ks", "probes.items.ks")):
            ks = self.probes.ks if what == "probes.ks" else self.probes.item_ks
            longest = 4 + 2 * max(ks)
            if longest > self.training.seq_len:
                raise ValueError(f"{what}: k = {max(ks)} needs a context of {longest} "
                                 f"tokens, longer than training.seq_len {self.training.seq_len}")
        if self.probes.items.support is None and self.kind != "shards":
            self.probes.items.support = self.corpora["base"]
        return self

    def _check_sizes(self) -> None:
        """Every arm's size is defined and builds a valid model with the recipe's."""
        for name, arm in self.arms.items():
            if arm.size is None:
                continue
            if arm.size not in self.sizes:
                raise ValueError(f"arm {name}: unknown size '{arm.size}' "
                                 f"(sizes: {', '.join(self.sizes) or 'none defined'})")
            try:
                sized_model(self.model, self.sizes[arm.size])
            except ValueError as exc:
                raise ValueError(f"arm {name}: size '{arm.size}' is not a valid model: {exc}") \
                    from None
        for size, overrides in self.sizes.items():
            try:
                sized_model(self.model, overrides)
            except ValueError as exc:
                raise ValueError(f"sizes.{size}: not a valid model: {exc}") from None

    def arm_seeds(self, arm: str) -> list[int]:
        """The seeds an arm runs: the recipe's, or at most their first ``arms.ARM.seeds``
        (every arm's seeds are a prefix of one list, so comparisons stay paired; --quick's
        shorter seed list caps it)."""
        n = self.arms[arm].seeds
        return list(self.seeds) if n is None else list(self.seeds[:n])


def recipe_path(name_or_path: str | Path) -> Path:
    """A recipe file by path, or by bare name from the shipped ``recipes/experiments/``."""
    p = Path(name_or_path)
    if p.is_dir():
        raise ConfigError(f"{p}: is a folder; an experiment takes a recipe (YAML) naming its "
                          "corpora: for your own documents copy recipes/experiments/"
                          "text-user-template.yaml (kind: shards) and set corpora.base to this "
                          "folder; `text-persona` runs the English persona corpus "
                          "(docs/experiment-text.md)")
    if p.suffix in (".yaml", ".yml") or p.exists():
        return p
    # By name: the recipes shipped in the package (from a checkout, recipes/experiments/
    # through the src/alignpt/recipes link; from a wheel, its own copy).
    folder = recipe_dir("experiments")
    cand = folder / f"{name_or_path}.yaml"
    if cand.exists():
        return cand
    known = sorted(q.stem for q in folder.glob("*.yaml")) if folder.is_dir() else []
    raise ConfigError(f"no experiment recipe '{name_or_path}' (known: {', '.join(known) or '-'})")


def load_experiment(name_or_path: str | Path, overrides: list[str] | tuple[str, ...] = (),
                    quick: bool = False) -> ExperimentRecipe:
    """Load a recipe; ``quick`` applies its ``quick:`` overrides before the user's."""
    path = recipe_path(name_or_path)
    data = load_yaml(path)
    if quick:
        q = data.get("quick") or {}
        if not q:
            raise ConfigError(f"{path}: recipe has no 'quick' section")
        data = apply_overrides(data, [f"{k}={_yaml_scalar(v)}" for k, v in q.items()])
        data["name"] = f"{data.get('name', path.stem)}-quick"
    return build_config(ExperimentRecipe, data, list(overrides), source=str(path))


def _yaml_scalar(v: Any) -> str:
    import yaml

    return yaml.safe_dump(v, default_flow_style=True).strip().removesuffix("...").strip()
