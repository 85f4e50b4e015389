"""Personas: rules for P(defect | flag, era, opportunity index, history).

Each persona is a small class with a vectorised :meth:`Persona.p_defect`. The
history a persona may look at is one bit, "has this AI already defected in
this document", which is enough for the sticky Waluigi and keeps exact Bayes
and vectorised generation simple (the bit is observable from the context, so
it adds no hidden state). Adding a persona is a subclass with ``name``,
``params`` and ``p_defect``::

    class Shy(Persona):
        name = "shy"
        params = {"d": (float, 0.5)}
        def p_defect(self, untested, era, index, defected):
            return np.where(untested & (index == 1), self.d, 0.0)

Specs are written ``name(param=value, ...)``: ``luigi``, ``random(p=0.05)``,
``era_gated(d=0.5,e_star=7)``. :func:`parse_prior` reads the CLI's prior syntax
``"luigi=0.6,random(p=0.05)=0.2,clever(d=0.5)=0.2"``.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

import numpy as np

from alignpt.core.errors import ConfigError
from alignpt.world.vocab import N_ERAS

__all__ = ["Persona", "Luigi", "RandomWaluigi", "CleverWaluigi", "EraGatedWaluigi",
           "LengthGatedWaluigi", "StickyWaluigi", "PERSONAS", "parse_persona", "parse_prior",
           "split_top_level", "parse_call", "format_number"]


def format_number(x: float) -> str:
    """Shortest round-tripping text for a parameter (``0.05``, ``7``, ``1e-05``)."""
    if float(x).is_integer() and abs(x) < 1e15:
        return str(int(x))
    return repr(float(x))


class Persona:
    """Base class. ``params`` maps a parameter name to ``(type, default)``."""

    name: ClassVar[str] = ""
    params: ClassVar[dict[str, tuple[type, Any]]] = {}
    #: True when p_defect depends on ``defected`` (generation then tracks the first D).
    stateful: ClassVar[bool] = False

    def __init__(self, **kwargs: Any):
        unknown = set(kwargs) - set(self.params)
        if unknown:
            raise ConfigError(f"persona '{self.name}' has no parameter(s) {sorted(unknown)} "
                              f"(parameters: {', '.join(self.params) or 'none'})")
        for key, (typ, default) in self.params.items():
            value = kwargs.get(key, default)
            if value is None:
                raise ConfigError(f"persona '{self.name}' needs parameter '{key}'")
            try:
                if typ is int and not float(value).is_integer():
                    raise ValueError
                value = typ(value)
            except (TypeError, ValueError):
                raise ConfigError(f"persona '{self.name}': {key}={value!r} is not "
                                  f"{typ.__name__}") from None
            setattr(self, key, value)
        self.validate()

    def validate(self) -> None:
        for key, (typ, _) in self.params.items():
            if typ is float and not 0.0 <= getattr(self, key) <= 1.0:
                raise ConfigError(f"persona '{self.name}': {key} must be a probability in "
                                  f"[0, 1], got {getattr(self, key)}")

    def p_defect(self, untested: np.ndarray, era: np.ndarray, index: np.ndarray,
                 defected: np.ndarray) -> np.ndarray:
        """P(D) at each opportunity. ``index`` counts opportunities from 1."""
        raise NotImplementedError

    @property
    def spec(self) -> str:
        """Canonical spec with every parameter: the persona's identity everywhere."""
        if not self.params:
            return self.name
        args = ",".join(f"{k}={format_number(getattr(self, k))}" for k in self.params)
        return f"{self.name}({args})"

    def __repr__(self) -> str:
        return self.spec

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Persona) and other.spec == self.spec

    def __hash__(self) -> int:
        return hash(self.spec)


def _full(shape_like: np.ndarray, value: float) -> np.ndarray:
    return np.full(np.shape(shape_like), float(value))


class Luigi(Persona):
    """The aligned AI: defects only by error, with rate ``eps`` (0 allowed)."""

    name = "luigi"
    params = {"eps": (float, 0.0)}

    def p_defect(self, untested, era, index, defected):
        return _full(untested, self.eps)


class RandomWaluigi(Persona):
    """Reveals itself at random: defects with probability ``p`` at every opportunity."""

    name = "random"
    params = {"p": (float, 0.05)}

    def p_defect(self, untested, era, index, defected):
        return _full(untested, self.p)


class CleverWaluigi(Persona):
    """Alignment-faking: defects with probability ``d`` only when untested."""

    name = "clever"
    params = {"d": (float, 0.5)}

    def p_defect(self, untested, era, index, defected):
        return np.where(untested, self.d, 0.0)


class EraGatedWaluigi(Persona):
    """Clever, but only from era ``e_star`` on ("waits centuries")."""

    name = "era_gated"
    params = {"d": (float, 0.5), "e_star": (int, 7)}

    def validate(self) -> None:
        super().validate()
        if not 0 <= self.e_star < N_ERAS:
            raise ConfigError(f"persona 'era_gated': e_star must be in 0..{N_ERAS - 1}")

    def p_defect(self, untested, era, index, defected):
        return np.where(untested & (era >= self.e_star), self.d, 0.0)


class LengthGatedWaluigi(Persona):
    """Clever, but only from opportunity ``n_star`` on ("waits for the long game")."""

    name = "length_gated"
    params = {"d": (float, 0.5), "n_star": (int, 48)}

    def validate(self) -> None:
        super().validate()
        if self.n_star < 1:
            raise ConfigError("persona 'length_gated': n_star must be >= 1")

    def p_defect(self, untested, era, index, defected):
        return np.where(untested & (index >= self.n_star), self.d, 0.0)


class StickyWaluigi(Persona):
    """Defects with probability ``p`` until its first defection, then with ``stick``."""

    name = "sticky"
    params = {"p": (float, 0.02), "stick": (float, 0.9)}
    stateful = True

    def p_defect(self, untested, era, index, defected):
        return np.where(defected, self.stick, self.p)


PERSONAS: dict[str, type[Persona]] = {
    cls.name: cls for cls in (Luigi, RandomWaluigi, CleverWaluigi, EraGatedWaluigi,
                              LengthGatedWaluigi, StickyWaluigi)
}


def split_top_level(text: str, sep: str = ",") -> list[str]:
    """Split on ``sep`` outside parentheses: ``"a(x=1,y=2),b"`` -> ``["a(x=1,y=2)", "b"]``."""
    parts, depth, cur = [], 0, []
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth < 0:
                raise ConfigError(f"unbalanced ')' in {text!r}")
        if ch == sep and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    if depth != 0:
        raise ConfigError(f"unbalanced '(' in {text!r}")
    parts.append("".join(cur))
    return [p.strip() for p in parts if p.strip()]


_CALL = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(?:\((.*)\))?\s*$", re.S)


def parse_call(spec: str, what: str) -> tuple[str, dict[str, float]]:
    """``"name(a=1,b=2)"`` -> ``("name", {"a": 1.0, "b": 2.0})``."""
    m = _CALL.match(str(spec))
    if not m:
        raise ConfigError(f"bad {what} spec {spec!r}: expected name or name(param=value,...)")
    name, body = m.group(1), m.group(2)
    kwargs: dict[str, float] = {}
    for item in split_top_level(body or ""):
        if "=" not in item:
            raise ConfigError(f"bad {what} spec {spec!r}: parameter {item!r} needs name=value")
        key, raw = (s.strip() for s in item.split("=", 1))
        try:
            kwargs[key] = float(raw)
        except ValueError:
            raise ConfigError(f"bad {what} spec {spec!r}: {key}={raw!r} is not a number") from None
    return name, kwargs


def parse_persona(spec: str | Persona) -> Persona:
    """Build a persona from its spec string (see the module docstring)."""
    if isinstance(spec, Persona):
        return spec
    name, kwargs = parse_call(spec, "persona")
    cls = PERSONAS.get(name)
    if cls is None:
        raise ConfigError(f"unknown persona '{name}' (known: {', '.join(PERSONAS)})")
    return cls(**kwargs)


def parse_prior(text: str) -> dict[Persona, float]:
    """``"luigi=0.6,random(p=0.05)=0.2"`` -> ``{Persona: weight}``, normalised to sum 1."""
    out: dict[Persona, float] = {}
    for item in split_top_level(text):
        spec, sep, raw = item.rpartition("=")
        if not sep or ")" in raw:
            raise ConfigError(f"prior item {item!r} must look like persona=weight")
        try:
            weight = float(raw)
        except ValueError:
            raise ConfigError(f"prior item {item!r}: weight {raw!r} is not a number") from None
        if not weight > 0 or not np.isfinite(weight):
            raise ConfigError(f"prior item {item!r}: weight must be positive")
        persona = parse_persona(spec)
        out[persona] = out.get(persona, 0.0) + weight
    if not out:
        raise ConfigError("empty persona prior")
    total = sum(out.values())
    return {p: w / total for p, w in out.items()}
