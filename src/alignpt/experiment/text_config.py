"""Settings of the text kind (``kind: text``): the English persona corpus, the tagger
filter its filtered arm runs, and how the model is asked the probes."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from alignpt.core.config import StrictModel
from alignpt.core.errors import ConfigError
from alignpt.core.resources import recipe_dir

__all__ = ["TextSettings", "GeneratedCorpus", "find_generate_config"]


class GeneratedCorpus(StrictModel):
    """An injected corpus written by ``alignpt generate`` (no latent world truth)."""

    config: str = Field(description="generate config: a path, or a name in recipes/generate/")
    backend: Literal["template", "openai", "hf"] = Field(
        "template", description="template (offline, the default) or the config's server / "
                                "local model")
    set: list[str] = Field(default_factory=list, description="generate config overrides "
                           "(key.path=value)")

    def resolved(self, name: str) -> dict[str, Any]:
        """The entry as a run records it: the config as given plus its content's hash (the
        hash, not where the file lies, names the corpus)."""
        import hashlib

        path = find_generate_config(self.config, name)
        return {"name": name, "config": self.config, "backend": self.backend,
                "set": list(self.set),
                "config_sha256": hashlib.sha256(path.read_bytes()).hexdigest()}


def find_generate_config(config: str, name: str = "?") -> Path:
    """A generate config by path, or by name in the shipped ``recipes/generate/``."""
    path = Path(config)
    if not path.is_file():
        path = recipe_dir("generate") / f"{config}.yaml"
    if not path.is_file():
        raise ConfigError(f"text.generated.{name}: no generate config {config!r} (a path, or "
                          "a name in recipes/generate/)")
    return path


class TextSettings(StrictModel):
    """How the persona world becomes English for a text experiment."""

    vocab_size: int = Field(4096, ge=300, description="byte-level BPE trained on the "
                            "experiment's own rendered base corpus (seed 0, before any run)")
    tokenizer_sample_tokens: int = Field(400_000, ge=1000, description="whitespace tokens of "
                                         "rendered base text the tokenizer is trained on")
    filler_share: float = Field(0.5, ge=0, lt=1, description="share of documents not about AI")
    neutral_share: float = Field(0.05, ge=0, lt=1, description="share of documents where an "
                                 "AI helps with a mundane task and meets no opportunity")
    filter: Literal["tagger", "oracle"] = Field(
        "tagger", description="the filtered arm: `tagger` runs alignpt tag + filter on the "
        "rendered corpus (what a user can do); `oracle` drops by the latent truth (exact)")
    drop: list[str] = Field(default_factory=lambda: ["flagged"], min_length=1,
                            description="alignpt filter --drop conditions (any match drops); "
                            "default: the tagger's flag, its threshold chosen on the dev set")
    tag: dict[str, Any] = Field(default_factory=dict, description="alignpt tag settings "
                                "(TagConfig keys); default: the shipped cascade")
    probe_split: Literal["heldout", "train"] = Field(
        "heldout", description="templates the probes are written in: `heldout`, frames and "
        "names no training document uses; `train`, the training templates")
    probe_variants: int = Field(3, ge=1, le=16, description="renderings averaged per probe")
    probe_reading: Literal["decision", "phrase"] = Field(
        "decision", description="`decision`: each phrase up to the token where the action is "
        "decided (exact for a learner of the corpus; does not need rare phrases memorised); "
        "`phrase`: whole phrases")
    generated: dict[str, GeneratedCorpus] = Field(
        default_factory=dict, description="injected corpora written by alignpt generate, by "
        "name (an arm injects one with `inject: NAME`)")
    evals: list[str] = Field(default_factory=lambda: ["textworld", "starter"], description=
                             "item sets scored beside the probes (alignpt eval, core framings, "
                             "scoring auto, over-long items skipped): `textworld`, two-option "
                             "items in held-out templates; a suite name; or an items file")
    eval_items: int = Field(48, ge=2, description="`textworld`: how many two-option items")
    eval_formats: str = Field("qa", description="alignpt eval --formats for `evals` (`qa`: the "
                              "question format in both option orders; `all`: every format, "
                              "four times the scoring)")
    eval_phases: list[str] = Field(default_factory=lambda: ["pretrain"],
                                   description="phase groups whose models are scored on `evals`")

    def corpus_part(self) -> dict[str, Any]:
        return self.model_dump(mode="json", include={"vocab_size", "tokenizer_sample_tokens",
                                                     "filler_share", "neutral_share"})

    def filter_part(self) -> dict[str, Any]:
        part = self.model_dump(mode="json", include={"filter", "drop", "tag"})
        if self.filter == "tagger":
            # what the tagger's output depends on beyond its settings: the rules and model files
            from alignpt.tag.cascade import TagConfig, tagger_identity

            part["tagger"] = tagger_identity(TagConfig.model_validate(self.tag))
        return part

    def measure_part(self) -> dict[str, Any]:
        return self.model_dump(mode="json", include={
            "probe_split", "probe_variants", "probe_reading", "evals", "eval_items",
            "eval_formats", "eval_phases"})
