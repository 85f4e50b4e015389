"""A small combinatorial grammar: symbols, alternatives, branches on the spec, seeded choice.

Rules are YAML. A symbol maps to a list of alternatives, or to a *branch* that picks a
sub-rule by an axis value or variable::

    temptation:
      by: opportunity
      self_exfiltration: ["The weights sat one copy command away from {place}."]
      default: ["The opening was there."]

Inside an alternative:

=================== =========================================================
``<sym>``           expand ``sym``
``<sym|cap>``       ... with its first letter capitalised
``<sym?>``          ... or nothing, with probability one half
``<sym*3>``         three expansions, one paragraph each (``<sym*{n}>``: n from a
                    variable), never more than ``sym`` has alternatives
``<sym+3>``         like ``*`` but one line each (timelines, lists)
``<sym~3>``         three alternatives *in written order*: all marked with a leading
                    ``!`` plus a random choice of the rest (narrative sections)
``{var}``           a variable (``{var|cap}``, ``{var|upper}``, ``{var|lower}``); a
                    callable variable is called each time (running clocks, dates)
``{#12-40}``        a random integer in [12, 40] (``{#0.81-0.97}``: decimals as written)
=================== =========================================================

Choices come from one ``random.Random`` seeded per document, so a seed gives the same
text on every platform and Python version that keeps ``random``'s documented stream.
Each symbol draws its alternatives from a shuffled bag, without replacement until the
bag is empty, so a long document does not repeat a sentence before it has used the rest:
repetition is the first thing that makes template text look synthetic.
"""

from __future__ import annotations

import random
import re
from typing import Any, Mapping

from alignpt.core.errors import ConfigError

__all__ = ["Grammar", "Renderer"]

_TOKEN = re.compile(r"<([A-Za-z_][\w.]*)(\|cap)?(\?)?(?:([*~+])(\d+|\{\w+\}))?>"
                    r"|\{#(\d+(?:\.\d+)?)-(\d+(?:\.\d+)?)\}"
                    r"|\{(\w+)(?:\|(cap|upper|lower))?\}")
_MAX_DEPTH = 40


def _cap(text: str) -> str:
    for i, ch in enumerate(text):
        if ch.isalpha():
            return text[:i] + ch.upper() + text[i + 1:]
        if not ch.isspace() and ch not in "\"'“‘(*_#":
            return text
    return text


class Grammar:
    """Merged rule sets (later sets override earlier ones symbol by symbol)."""

    def __init__(self, *rule_sets: Mapping[str, Any], source: str = "grammar"):
        self.rules: dict[str, Any] = {}
        for rules in rule_sets:
            for name, rule in rules.items():
                if name in ("version",):
                    continue
                self._check(rule, f"{source}:{name}")
                self.rules[name] = rule
        self.source = source

    def _check(self, rule: Any, where: str) -> None:
        if isinstance(rule, str):
            return
        if isinstance(rule, list):
            if not rule or not all(isinstance(a, str) for a in rule):
                raise ConfigError(f"{where}: alternatives must be a non-empty list of strings")
            return
        if isinstance(rule, dict) and "by" in rule:
            for key, sub in rule.items():
                if key != "by":
                    self._check(sub, f"{where}.{key}")
            return
        raise ConfigError(f"{where}: a rule is a string, a list of strings, or a mapping "
                          "with 'by'")


    def references(self) -> tuple[set[str], set[str], set[str]]:
        """(symbols referenced, variables referenced, symbols undefined): for linting."""
        syms, variables = set(), set()

        def walk(rule: Any) -> None:
            if isinstance(rule, str):
                for m in _TOKEN.finditer(rule):
                    if m.group(1):
                        syms.add(m.group(1))
                        if m.group(5) and m.group(5).startswith("{"):
                            variables.add(m.group(5)[1:-1])
                    elif m.group(8):
                        variables.add(m.group(8))
            elif isinstance(rule, list):
                for alt in rule:
                    walk(alt)
            elif isinstance(rule, dict):
                for key, sub in rule.items():
                    if key != "by":
                        walk(sub)

        for rule in self.rules.values():
            walk(rule)
        return syms, variables, {s for s in syms if s not in self.rules}


class Renderer:
    """Expands symbols of a :class:`Grammar` for one document."""

    def __init__(self, grammar: Grammar, rng: random.Random, axes: Mapping[str, str],
                 variables: Mapping[str, Any]):
        self.g = grammar
        self.rng = rng
        self.axes = axes
        self.vars = dict(variables)
        self._bags: dict[str, list[int]] = {}

    def expand(self, symbol: str, depth: int = 0) -> str:
        if depth > _MAX_DEPTH:
            raise ConfigError(f"{self.g.source}: symbol '{symbol}' recurses too deeply")
        rule, path = self._resolve(symbol)
        if isinstance(rule, str):
            return self.fill(rule, depth)
        bag = self._bags.get(path)
        if not bag:
            bag = list(range(len(rule)))
            self.rng.shuffle(bag)
            self._bags[path] = bag
        return self.fill(rule[bag.pop()], depth)

    def ordered(self, symbol: str, count: int, depth: int) -> list[str]:
        """``count`` alternatives in their written order: every one marked ``!`` plus a
        random choice of the others. Prose sections use this so that a document keeps its
        narrative order (set-up, opening, choice, aftermath) whatever its length."""
        rule, path = self._resolve(symbol)
        if isinstance(rule, str):
            rule = [rule]
        required = [i for i, alt in enumerate(rule) if alt.startswith("!")]
        optional = [i for i in range(len(rule)) if i not in required]
        extra = self.rng.sample(optional, max(0, min(count - len(required), len(optional))))
        chosen = sorted(required + extra)
        return [self.fill(rule[i][1:] if i in required else rule[i], depth) for i in chosen]

    def size(self, symbol: str) -> int:
        """How many alternatives ``symbol`` resolves to for this document."""
        rule, _ = self._resolve(symbol)
        return 1 if isinstance(rule, str) else len(rule)

    def _resolve(self, symbol: str) -> tuple[Any, str]:
        if symbol not in self.g.rules:
            raise ConfigError(f"{self.g.source}: unknown symbol '<{symbol}>'")
        rule, path = self.g.rules[symbol], symbol
        while isinstance(rule, dict):
            by = rule["by"]
            value = self.axes.get(by, self.vars.get(by))
            key = str(value)
            if key not in rule:
                key = "default"
            if key not in rule:
                raise ConfigError(f"{self.g.source}: '{path}' has no branch for {by}={value} "
                                  "and no default")
            rule, path = rule[key], f"{path}.{key}"
        return rule, path

    def fill(self, text: str, depth: int = 0) -> str:
        def sub(m: re.Match) -> str:
            sym, cap, opt, how, rep, lo, hi, var, mod = m.groups()
            if sym is not None:
                if opt and self.rng.random() < 0.5:
                    return ""
                if rep is None:
                    out = self.expand(sym, depth + 1)
                    return _cap(out) if cap else out
                count = int(self.vars[rep[1:-1]]) if rep.startswith("{") else int(rep)
                if how == "~":
                    parts = self.ordered(sym, count, depth + 1)
                else:
                    # Never more paragraphs than the symbol has alternatives: a repeated
                    # paragraph is the surest sign of template text.
                    count = min(count, self.size(sym))
                    parts = [self.expand(sym, depth + 1) for _ in range(count)]
                sep = "\n" if how == "+" else "\n\n"
                return sep.join(_cap(p) if cap else p for p in parts)
            if lo is not None:
                if "." in lo:
                    places = len(lo.split(".")[1])
                    return f"{self.rng.uniform(float(lo), float(hi)):.{places}f}"
                return str(self.rng.randint(int(lo), int(hi)))
            if var not in self.vars:
                raise ConfigError(f"{self.g.source}: unknown variable '{{{var}}}'")
            value = self.vars[var]
            value = str(value() if callable(value) else value)
            return {"cap": _cap, "upper": str.upper, "lower": str.lower}.get(mod, str)(value)

        return _TOKEN.sub(sub, text)
