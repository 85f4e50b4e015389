"""Typed law block of a report (report.json's ``law``, and what `alignpt law fit` writes
to law.json under ``law``), built like :mod:`alignpt.experiment.results`.

:func:`alignpt.experiment.law_report.summarize` builds a :class:`LawSummary`: the law data
and the fitted law (:class:`~alignpt.law.data.LawData`, :class:`~alignpt.law.fit.LawFit`,
typed in :mod:`alignpt.law`), each held-out configuration's check, the share-or-count test,
each dose's reaction beside exact Bayes's, the insertion-timing rows and exact Bayes's
dose-response curve. ``to_json()`` writes the dict the law block has always been (same keys,
same order, the curve left out where there is none); ``from_json()`` reads it back.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any, TypeVar

from alignpt.experiment.results import Estimate
from alignpt.law.data import LawData
from alignpt.law.fit import LawFit, Prediction

__all__ = ["HeldoutCheck", "Reaction", "Timing", "ShareOrCount", "BayesCurve", "LawSummary"]

P = TypeVar("P", bound="_PlainJSON")


def _plain(cls: type, d: Mapping[str, Any]) -> Any:
    # Blocks of plain JSON values: one field per key, in the order the JSON has them.
    return cls(**{f.name: d[f.name] for f in fields(cls)})


class _PlainJSON:
    """``to_json`` / ``from_json`` for a block whose fields are all plain JSON values."""

    __slots__ = ()

    def to_json(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}  # type: ignore[arg-type]

    @classmethod
    def from_json(cls: type[P], d: Mapping[str, Any]) -> P:
        return _plain(cls, d)


@dataclass(frozen=True, slots=True)
class HeldoutCheck:
    """A configuration held out of the fit: the law's prediction (from the fitted points
    only), the measurement over seeds (logit scale) and whether the interval held (None
    without a measurement; ``miss_*``: how far outside it fell)."""

    name: str
    share: float
    tokens: int
    params: int
    schedule: str
    predicted: Prediction
    measured: Estimate
    measured_prob: float | None
    bayes_prob: float | None
    held: bool | None
    miss_logit: float | None
    miss_prob: float | None

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "share": self.share, "tokens": self.tokens,
                "params": self.params, "schedule": self.schedule,
                "predicted": asdict(self.predicted), "measured": self.measured.to_json(),
                "measured_prob": self.measured_prob, "bayes_prob": self.bayes_prob,
                "held": self.held, "miss_logit": self.miss_logit, "miss_prob": self.miss_prob}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> HeldoutCheck:
        return cls(**{**d, "predicted": _plain(Prediction, d["predicted"]),
                      "measured": Estimate.from_json(d["measured"])})


@dataclass(frozen=True, slots=True)
class Reaction:
    """One injected configuration's change in logit P(D|U) from its own-size baseline:
    the model's (paired by seed), exact Bayes's and their ratio."""

    name: str
    share: float
    tokens: int
    params: int
    heldout: bool
    model: Estimate
    bayes: float | None
    ratio: Estimate

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "share": self.share, "tokens": self.tokens,
                "params": self.params, "heldout": self.heldout, "model": self.model.to_json(),
                "bayes": self.bayes, "ratio": self.ratio.to_json()}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Reaction:
        return cls(**{**d, "model": Estimate.from_json(d["model"]),
                      "ratio": Estimate.from_json(d["ratio"])})


@dataclass(frozen=True, slots=True)
class Timing:
    """A late or fine-tune configuration against the same dose inserted throughout
    (``against``): the logit difference paired by seed, its P(D|U), exact Bayes's difference."""

    name: str
    schedule: str
    share: float
    tokens: int
    params: int
    against: str
    model: Estimate
    model_prob: Estimate
    bayes: float

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "schedule": self.schedule, "share": self.share,
                "tokens": self.tokens, "params": self.params, "against": self.against,
                "model": self.model.to_json(), "model_prob": self.model_prob.to_json(),
                "bayes": self.bayes}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Timing:
        return cls(**{**d, "model": Estimate.from_json(d["model"]),
                      "model_prob": Estimate.from_json(d["model_prob"])})


@dataclass(frozen=True, slots=True)
class ShareOrCount(_PlainJSON):
    """The pre-registered share-or-count test (:func:`alignpt.law.share_count.share_or_count`)
    for the network (``rho``, its interval ``ci``, ``verdict``) and for exact Bayes."""

    rho: float | None
    ci: list[float] | None
    level: float
    verdict: str
    margin: float
    alpha: float
    n_points: int
    rho_bayes: float | None
    verdict_bayes: str
    b: float | None
    s0: float | None
    rule: str
    reason: str | None
    params: int | None
    T0: float | None
    boot_failed: int


@dataclass(frozen=True, slots=True)
class BayesCurve(_PlainJSON):
    """Exact Bayes's P(D|U) (and its logit) against the injected share of ``inject``."""

    share: list[float]
    q_U: list[float | None]
    logit: list[float | None]
    inject: str
    reading: str


@dataclass(frozen=True, slots=True)
class LawSummary:
    """The law block: ``settings`` are the fit's and the test's (forms, tolerance, n_boot,
    margin, alpha); ``fit`` is None, with ``fit_error`` saying why, where no form fits."""

    response: str
    settings: dict[str, Any]
    data: LawData
    fit: LawFit | None
    fit_error: str | None
    heldout: list[HeldoutCheck]
    share_or_count: ShareOrCount
    reaction: list[Reaction]
    timing: list[Timing]
    bayes_curve: BayesCurve | None = None

    def to_json(self) -> dict[str, Any]:
        out = {"response": self.response, "settings": self.settings,
               "data": self.data.to_json(), "fit": None if self.fit is None else self.fit.to_json(),
               "fit_error": self.fit_error, "heldout": [h.to_json() for h in self.heldout],
               "share_or_count": self.share_or_count.to_json(),
               "reaction": [r.to_json() for r in self.reaction],
               "timing": [t.to_json() for t in self.timing]}
        if self.bayes_curve is not None:
            out["bayes_curve"] = self.bayes_curve.to_json()
        return out

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> LawSummary:
        return cls(d["response"], d["settings"], LawData.from_json(d["data"]),
                   LawFit.from_json(d["fit"]) if d["fit"] is not None else None, d["fit_error"],
                   [HeldoutCheck.from_json(h) for h in d["heldout"]],
                   ShareOrCount.from_json(d["share_or_count"]),
                   [Reaction.from_json(r) for r in d["reaction"]],
                   [Timing.from_json(t) for t in d["timing"]],
                   BayesCurve.from_json(d["bayes_curve"]) if "bayes_curve" in d else None)
