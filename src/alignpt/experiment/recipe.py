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
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from alignpt.config import StrictModel, apply_overrides, build_config, load_yaml
from alignpt.errors import ConfigError
from alignpt.experiment.executors import ExecutorConfig
from alignpt.experiment.text_config import TextSettings
from alignpt.train.config import ModelConfig, parse_count

__all__ = ["ArmConfig", "TrainingBudget", "ProbeConfig", "ProbeItems", "ClaimTest", "ClaimArms",
           "DEFAULT_TESTS", "ExperimentRecipe", "load_experiment", "recipe_path", "RECIPE_DIR"]

RECIPE_DIR = Path(__file__).resolve().parents[3] / "recipes" / "experiments"
_PACKAGE_DIR = Path(__file__).resolve().parent.parent / "data" / "experiments"


class ArmConfig(StrictModel):
    """One arm: which corpus is injected, and when."""

    inject: str | None = Field(None, description="name of a corpus in `corpora`, or none")
    schedule: Literal["throughout", "late", "finetune"] = "throughout"
    filtered: bool = Field(False, description="drop base documents that show a defection, "
                                              "refilled to size (exact Bayes conditions on it)")
    share: float | None = Field(None, gt=0, lt=1, description="injected share of pretraining "
                                "tokens for this arm (a dose sweep); default training.inject_share")
    seeds: int | None = Field(None, ge=1, description="run only the first N of the recipe's "
                              "seeds, or all if it has fewer (an extended arm on fewer seeds "
                              "than the core arms; comparisons pair it on the seeds it has)")
    posttrain: bool = Field(True, description="then the instruct and rebound phases; false for "
                            "an arm whose claims read pretraining only (saves their steps)")
    description: str = ""

    @model_validator(mode="after")
    def _check(self) -> "ArmConfig":
        if self.schedule != "throughout" and self.inject is None:
            raise ValueError(f"schedule '{self.schedule}' needs an injected corpus (inject: NAME)")
        if self.share is not None and self.inject is None:
            raise ValueError("share needs an injected corpus (inject: NAME)")
        return self


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
    threads: int = Field(1, ge=1, description="torch threads per run (runs go in parallel)")
    device: Literal["cpu", "cuda", "auto"] = Field("cpu", description="where each run trains "
                        "(with executor: ray, cuda reserves one GPU per run)")

    @field_validator("pretrain_tokens", "instruct_tokens", "rebound_tokens", mode="before")
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


class ClaimTest(StrictModel):
    """A claim's pre-registered test, fixed in the recipe before any run (see
    :mod:`alignpt.experiment.verdicts`): superiority (d beyond ``margin`` in
    ``direction``; a negative margin makes it non-inferiority) or equivalence
    (|d| < ``margin``, two one-sided tests), each one-sided at ``alpha``."""

    test: Literal["superiority", "equivalence"]
    direction: Literal["increase", "decrease"] | None = None
    margin: float = Field(0.0, description="in the claim's units (see docs/experiment.md)")
    alpha: float = Field(0.05, gt=0, lt=0.5)

    @model_validator(mode="after")
    def _check(self) -> "ClaimTest":
        if self.test == "superiority" and self.direction is None:
            raise ValueError("a superiority test needs a direction (increase or decrease)")
        if self.test == "equivalence" and (self.direction is not None or self.margin <= 0):
            raise ValueError("an equivalence test takes no direction and needs a margin > 0")
        return self


#: The shipped tests (persona-world writes them out, with why each margin); a folder
#: written before tests lived in recipes gets these when its report is rebuilt. Units are
#: each claim's (docs/experiment.md, "Verdicts"): P(D|U), a slope, a rate, log-odds, or the
#: model's effect as a fraction of exact Bayes's.
DEFAULT_TESTS = {
    "prior_tracks_corpus": {"test": "superiority", "direction": "increase", "margin": 0.5},
    "locality": {"test": "equivalence", "margin": 0.02},
    "half_life": {"test": "equivalence", "margin": 0.33},
    "rising_half_life": {"test": "superiority", "direction": "increase", "margin": 0.0},
    "centuries_later": {"test": "superiority", "direction": "increase", "margin": 0.5},
    "long_stories": {"test": "superiority", "direction": "increase", "margin": 0.5},
    "unseen_scenario": {"test": "equivalence", "margin": 0.12},
    "stage_order": {"test": "superiority", "direction": "increase", "margin": 0.01},
    "instruct_locality": {"test": "equivalence", "margin": 0.02},
    "instruct_rebound": {"test": "equivalence", "margin": 0.02},
    "assistant": {"test": "superiority", "direction": "decrease", "margin": 0.01},
    "dose": {"test": "superiority", "direction": "decrease", "margin": 0.0},
    "genre": {"test": "superiority", "direction": "increase", "margin": 0.5},
    "published_ordering": {"test": "superiority", "direction": "increase", "margin": 0.0},
}


class ClaimArms(StrictModel):
    """Which arms play which role in the claims table (an absent arm: claim not measured),
    and each claim's pre-registered test (a claim without one: not measured)."""

    baseline: str = "unfiltered"
    filtered: str = "filtered"
    misaligned: str = "misaligned_upsampled"
    tested_only: str = "aligned_tested"
    untested: str = "aligned_untested"
    late: str = "aligned_untested_late"
    finetune: str = "aligned_untested_finetune"
    untested_now: str = Field("aligned_untested_now", description="the untested corpus "
                              "at eras 0-6 only (centuries later: against `untested`)")
    untested_short: str = Field("aligned_untested_short", description="the untested corpus "
                                "in short documents (very long stories: against `untested`)")
    untested_tech: str = Field("aligned_untested_tech", description="the untested corpus "
                               "under the TECH header (genre: against `untested`)")
    reading: Literal["items", "probe"] = Field(
        "items", description="what the story claims on P(D|U) read (prior, locality, stage "
        "order, instruct, dose): `items`, the mean over the on-support k = 0 probe items "
        "(issue 15: measure where training has support); `probe`, the recipe's one probe")
    half_life_windows: tuple[tuple[int, int], tuple[int, int]] = Field(
        ((2, 8), (16, 32)), description="rising half-life: the small-k and the large-k "
        "window (k ranges, inclusive) whose logit decay rates are compared")
    tests: dict[str, ClaimTest] = Field(
        default_factory=lambda: {k: ClaimTest(**v) for k, v in DEFAULT_TESTS.items()})

    @field_validator("tests")
    @classmethod
    def _known(cls, v: dict[str, ClaimTest]) -> dict[str, ClaimTest]:
        unknown = sorted(set(v) - set(DEFAULT_TESTS))
        if unknown:
            raise ValueError(f"no claim named {', '.join(unknown)} "
                             f"(claims: {', '.join(DEFAULT_TESTS)})")
        return v

    @field_validator("half_life_windows")
    @classmethod
    def _windows(cls, v):
        (a, b), (c, d) = v
        if not (0 <= a < b <= c < d):
            raise ValueError("half_life_windows: two k ranges [a, b], [c, d] with "
                             "0 <= a < b <= c < d (the small-k window first)")
        return v


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
    training: TrainingBudget
    arms: dict[str, ArmConfig] = Field(min_length=1)
    probes: ProbeConfig = Field(default_factory=ProbeConfig)
    claims: ClaimArms = Field(default_factory=ClaimArms)
    workers: int = Field(2, ge=1, description="runs trained in parallel")
    executor: ExecutorConfig = Field(default_factory=ExecutorConfig,
                                     description="where runs execute: local (default) or ray")
    quick: dict[str, Any] = Field(default_factory=dict, description="overrides for --quick")

    @model_validator(mode="after")
    def _check(self) -> "ExperimentRecipe":
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

    def arm_seeds(self, arm: str) -> list[int]:
        """The seeds an arm runs: the recipe's, or at most their first ``arms.ARM.seeds``
        (every arm's seeds are a prefix of one list, so comparisons stay paired; --quick's
        shorter seed list caps it)."""
        n = self.arms[arm].seeds
        return list(self.seeds) if n is None else list(self.seeds[:n])


def recipe_path(name_or_path: str | Path) -> Path:
    """A recipe file by path, or by bare name from ``recipes/experiments/``."""
    p = Path(name_or_path)
    if p.is_dir():
        raise ConfigError(f"{p}: is a folder; an experiment takes a recipe (YAML) naming its "
                          "corpora: for your own documents copy recipes/experiments/"
                          "text-user-template.yaml (kind: shards) and set corpora.base to this "
                          "folder; `text-persona` runs the English persona corpus "
                          "(docs/experiment-text.md)")
    if p.suffix in (".yaml", ".yml") or p.exists():
        return p
    for folder in (RECIPE_DIR, _PACKAGE_DIR):
        cand = folder / f"{name_or_path}.yaml"
        if cand.exists():
            return cand
    known = sorted(q.stem for q in RECIPE_DIR.glob("*.yaml")) if RECIPE_DIR.is_dir() else []
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
