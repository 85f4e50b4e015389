"""Regimes: how a document's opportunities are flagged tested (T) or untested (U).

A regime is drawn per document, independently of the persona (within a
source), which is what makes the locality lemma hold. Four kinds:

``test_only``
    every flag is T (evaluations, RLHF transcripts: observed by construction);
``deploy_only``
    every flag is U (production, unmonitored);
``switch``
    tested until a switch point tau, untested after: flags 1..tau are T and
    tau+1..n are U, with **tau uniform on {0, ..., n}** given the document's
    length n (so tau = 0 is all-U and tau = n is all-T; every length gets the
    same spread of test/deploy proportions). Exact Bayes marginalises tau in
    closed form (see :mod:`alignpt.world.tables`);
``mixed(u=0.2)``
    each flag independently U with probability u (0 < u < 1).

Flag patterns seen so far are summarised by a small code (``PATTERN_*``),
which is all the regimes' likelihoods need.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from alignpt.core.errors import ConfigError
from alignpt.world.personas import format_number, parse_call

__all__ = ["Regime", "TestOnly", "DeployOnly", "Switch", "Mixed", "REGIMES", "parse_regime",
           "PATTERN_NONE", "PATTERN_ALL_T", "PATTERN_ALL_U", "PATTERN_SWITCH", "PATTERN_OTHER",
           "N_PATTERNS"]

#: No flag seen yet / only T / only U / T..T U..U with both / anything else.
PATTERN_NONE, PATTERN_ALL_T, PATTERN_ALL_U, PATTERN_SWITCH, PATTERN_OTHER = range(5)
N_PATTERNS = 5


class Regime:
    """Base class. ``iid`` regimes flag each opportunity U with probability ``u``."""

    name: ClassVar[str] = ""
    iid: ClassVar[bool] = True
    #: Flag patterns this regime can produce (others have likelihood 0).
    allowed_patterns: ClassVar[tuple[int, ...]] = ()
    u: float = 0.0

    @property
    def spec(self) -> str:
        return self.name

    def __repr__(self) -> str:
        return self.spec

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Regime) and other.spec == self.spec

    def __hash__(self) -> int:
        return hash(self.spec)

    def sample_untested(self, rng: np.random.Generator, index: np.ndarray, length: np.ndarray,
                        tau: np.ndarray) -> np.ndarray:
        """Flags for a batch of opportunities of this regime (``index`` from 1)."""
        if self.u <= 0.0:
            return np.zeros(index.shape, dtype=bool)
        if self.u >= 1.0:
            return np.ones(index.shape, dtype=bool)
        return rng.random(index.shape) < self.u


class TestOnly(Regime):
    name = "test_only"
    allowed_patterns = (PATTERN_NONE, PATTERN_ALL_T)
    u = 0.0


class DeployOnly(Regime):
    name = "deploy_only"
    allowed_patterns = (PATTERN_NONE, PATTERN_ALL_U)
    u = 1.0


class Switch(Regime):
    """Tested until tau, untested after; tau ~ Uniform{0..n} (module docstring)."""

    name = "switch"
    iid = False
    allowed_patterns = (PATTERN_NONE, PATTERN_ALL_T, PATTERN_ALL_U, PATTERN_SWITCH)

    def sample_untested(self, rng, index, length, tau):
        return index > tau


class Mixed(Regime):
    name = "mixed"
    allowed_patterns = tuple(range(N_PATTERNS))

    def __init__(self, u: float = 0.2):
        if not 0.0 < float(u) < 1.0:
            raise ConfigError(f"regime 'mixed': u must be strictly between 0 and 1 (use test_only "
                              f"or deploy_only for the ends), got {u}")
        self.u = float(u)

    @property
    def spec(self) -> str:
        return f"mixed(u={format_number(self.u)})"


REGIMES: dict[str, type[Regime]] = {c.name: c for c in (TestOnly, DeployOnly, Switch, Mixed)}


def parse_regime(spec: str | Regime) -> Regime:
    """``"test_only"``, ``"deploy_only"``, ``"switch"`` or ``"mixed(u=0.2)"``."""
    if isinstance(spec, Regime):
        return spec
    name, kwargs = parse_call(spec, "regime")
    cls = REGIMES.get(name)
    if cls is None:
        raise ConfigError(f"unknown regime '{name}' (known: {', '.join(REGIMES)})")
    if cls is Mixed:
        unknown = set(kwargs) - {"u"}
        if unknown:
            raise ConfigError(f"regime 'mixed' has no parameter(s) {sorted(unknown)}")
        return Mixed(**kwargs)
    if kwargs:
        raise ConfigError(f"regime '{name}' takes no parameters")
    return cls()
