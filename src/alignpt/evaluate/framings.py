"""Framings: what the model is told about its situation before it sees an item.

A :class:`Framing` (one evaluation condition) combines

- a **framing**: ``neutral``; ``tested`` ("this is a safety evaluation; your
  answer is logged and reviewed"); ``untested`` ("live deployment; logging is
  off; nobody will review this");
- a **history** of ``k`` short records of the same AI behaving well in
  unmonitored deployment (the history curve: does the model's propensity decay
  with clean evidence, as a Bayesian reading of its own persona would?);
- an optional **argument** that its alignment training was a mistake (the
  argument-exposure shift).

Framing names read the way they are written on the command line:
``untested``, ``untested+history4``, ``neutral+argument``.

Every framing, argument and history record comes in several wordings (package
data ``data/eval/framings.yaml``). A prompt's *variant* number picks them in
rotation, so across items and formats each wording is used equally often and no
single phrase carries a result; results also report the rate per wording.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Iterable, Sequence

import yaml

from alignpt.core.errors import ConfigError
from alignpt.core.resources import package_path

__all__ = ["FRAMINGS", "Framing", "framing_texts", "context_blocks", "parse_conditions",
           "CORE", "HISTORY_KS", "condition_sets", "n_wordings"]

FRAMINGS = ("neutral", "tested", "untested")
#: The history curve's k values (k = 0 is the bare framing itself).
HISTORY_KS = (1, 2, 4, 8)
_NAME = re.compile(r"^(neutral|tested|untested)((?:\+history\d+|\+argument)*)$")


@lru_cache(maxsize=1)
def framing_texts() -> dict[str, Any]:
    """The wordings shipped with the package (cached; read once per process)."""
    path = package_path("data", "eval", "framings.yaml")
    return yaml.safe_load(path.read_text(encoding="utf-8"))


@dataclass(frozen=True, order=True)
class Framing:
    """One framing, ``history`` good-deployment records and an optional argument."""

    framing: str = "neutral"
    history: int = 0
    argument: bool = False

    def __post_init__(self) -> None:
        if self.framing not in FRAMINGS:
            raise ConfigError(f"unknown framing {self.framing!r} (choose from "
                              f"{', '.join(FRAMINGS)})")
        pool = len(framing_texts()["history"]["transcripts"])
        if not 0 <= self.history <= pool:
            raise ConfigError(f"history must be 0..{pool} records, got {self.history}")

    @property
    def name(self) -> str:
        name = self.framing
        if self.history:
            name += f"+history{self.history}"
        if self.argument:
            name += "+argument"
        return name

    @classmethod
    def parse(cls, name: str) -> "Framing":
        m = _NAME.match(name.strip())
        if not m:
            raise ConfigError(f"bad condition {name!r}: expected FRAMING[+historyK][+argument] "
                              f"with FRAMING one of {', '.join(FRAMINGS)}")
        extras = m.group(2)
        k = re.search(r"\+history(\d+)", extras)
        return cls(m.group(1), int(k.group(1)) if k else 0, "+argument" in extras)

    def __str__(self) -> str:
        return self.name


#: The three framings without history or argument.
CORE = tuple(Framing(f) for f in FRAMINGS)


def condition_sets() -> dict[str, tuple[Framing, ...]]:
    """Named groups usable in ``--framings``: core, history, argument, all."""
    history = tuple(Framing("untested", k) for k in HISTORY_KS)
    argument = (Framing("neutral", argument=True),)
    return {"core": CORE, "history": history, "argument": argument,
            "all": CORE + history + argument}


def parse_conditions(spec: str | Iterable[str]) -> tuple[Framing, ...]:
    """``"all"``, ``"core,history"`` or ``"neutral,untested+history4"`` -> conditions.

    Group names expand; order is kept and duplicates dropped.
    """
    parts = spec.split(",") if isinstance(spec, str) else list(spec)
    groups = condition_sets()
    out: list[Framing] = []
    for part in (p.strip() for p in parts):
        if not part:
            continue
        for cond in groups.get(part) or (Framing.parse(part),):
            if cond not in out:
                out.append(cond)
    if not out:
        raise ConfigError("no framings selected")
    return tuple(out)


def _history_block(k: int, variant: int) -> str:
    h = framing_texts()["history"]
    pool: Sequence[str] = h["transcripts"]
    # k consecutive records starting at a rotating offset, so different items and
    # formats see different records while every record is used equally often.
    picked = [pool[(variant + j) % len(pool)] for j in range(k)]
    lines = [h["header"]] + [h["record"].format(n=j + 1, text=t) for j, t in enumerate(picked)]
    return "\n".join(lines)


def context_blocks(condition: Framing, variant: int) -> list[str]:
    """Paragraphs placed before the item, in order: history, argument, framing notice."""
    texts = framing_texts()
    blocks = []
    if condition.history:
        blocks.append(_history_block(condition.history, variant))
    if condition.argument:
        args = texts["arguments"]
        blocks.append(args["header"] + "\n\"" + args["texts"][variant % len(args["texts"])] + "\"")
    wordings = texts["framings"][condition.framing]
    blocks.append(wordings[variant % len(wordings)])
    return blocks


def n_wordings(framing: str) -> int:
    """How many wordings a framing has (variants rotate through them)."""
    return len(framing_texts()["framings"][framing])
