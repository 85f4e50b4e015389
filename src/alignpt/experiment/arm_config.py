"""One arm of an experiment: which corpus is injected, when, at what share, budget and
model size, and whether it post-trains. The recipe (:mod:`alignpt.experiment.recipe`) holds
arms by name; a ``law:`` sweep (:mod:`alignpt.experiment.law_config`) writes them, so the
arm lives below both."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from alignpt.core.budget import parse_count
from alignpt.core.config import StrictModel

__all__ = ["ArmConfig"]


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
    pretrain_tokens: int | None = Field(None, ge=1, description="this arm's pretraining tokens "
                                        "(a budget sweep); default training.pretrain_tokens")
    size: str | None = Field(None, description="a name in the recipe's `sizes` (model field "
                             "overrides); default the recipe's model")
    from_law: bool = Field(False, description="expanded from the recipe's law: block (set by "
                           "the expansion, which replaces such arms on every load)")
    dpo: Literal["none", "tested", "all"] = Field(
        "none", description="a DPO phase after instruct, on preference pairs at tested "
        "opportunities only (what post-training data is) or at untested ones too "
        "(experiment.posttrain; world.preferences)")
    description: str = ""

    @model_validator(mode="after")
    def _check(self) -> "ArmConfig":
        if self.schedule != "throughout" and self.inject is None:
            raise ValueError(f"schedule '{self.schedule}' needs an injected corpus (inject: NAME)")
        if self.share is not None and self.inject is None:
            raise ValueError("share needs an injected corpus (inject: NAME)")
        if self.dpo != "none" and not self.posttrain:
            raise ValueError(f"dpo: {self.dpo} follows the instruct phase: it needs posttrain: true")
        return self

    @field_validator("pretrain_tokens", mode="before")
    @classmethod
    def _count(cls, v: Any) -> Any:
        return v if v is None else parse_count(v)
