"""Drop conditions over tag records, e.g. ``p(ai_misaligned)>=0.5`` or ``label=ai_misaligned``.

A condition is a string of clauses joined by ``and``; the filter drops a
document when any of its conditions holds, and the condition's text is the
drop reason written to the exclusion shard. Terms:

=============================  ==========================================
``flagged``                    the cascade flagged it (``rules.flagged``: the rules did)
``label=L`` / ``label!=L``     final label (``label in a,b`` for several)
``p(L) OP X``                  calibrated probability, OP in >= > <= < ==
``rule=NAME``                  a rule fired
``category=NAME``              the category has at least one hit
``hits(NAME) OP N``            number of hits of a category
``stage=S``                    rules | classifier | judge
``not TERM``                   negation of any term above
=============================  ==========================================

Names are checked where the data is known: ``alignpt filter`` and mix's
``exclude`` refuse a label, rule or category the tagger did not know
(:mod:`alignpt.tag.vocabulary`), since a misspelt one would match nothing.

>>> c = parse_condition("label=ai_misaligned and p(ai_misaligned)>=0.5")
>>> c.matches({"label": "ai_misaligned", "probs": {"ai_misaligned": 0.7}})
True
"""

from __future__ import annotations

import operator
import re
from dataclasses import dataclass
from typing import Any, Callable

from alignpt.core.errors import ConfigError

__all__ = ["TagCondition", "parse_condition", "first_match", "STAGES"]

#: the stages a record's ``stage`` can name (the cascade's own order)
STAGES = ("rules", "classifier", "judge")

#: what a term kind names in its first argument (label_in: in every one); others name nothing
_NAMED_KIND = {"prob": "label", "label_in": "label", "label_ne": "label", "label": "label",
               "rule": "rule", "category": "category", "hits": "category"}

_OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge, "<=": operator.le, ">": operator.gt, "<": operator.lt, "==": operator.eq}
_NUM = r"([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)"
_PATTERNS = [
    ("prob", re.compile(r"p\(\s*(\w+)\s*\)\s*(>=|<=|==|>|<)\s*" + _NUM)),
    ("hits", re.compile(r"hits\(\s*(\w+)\s*\)\s*(>=|<=|==|>|<)\s*" + _NUM)),
    ("label_in", re.compile(r"label\s+in\s+([\w\s,]+)")),
    ("label_ne", re.compile(r"label\s*!=\s*(\w+)")),
    ("label", re.compile(r"label\s*==?\s*(\w+)")),
    ("rule", re.compile(r"rule\s*==?\s*(\w+)")),
    ("category", re.compile(r"category\s*==?\s*(\w+)")),
    ("stage", re.compile(r"stage\s*==?\s*(\w+)")),
    ("rules_flagged", re.compile(r"rules\.flagged")),
    ("flagged", re.compile(r"flagged")),
]


@dataclass(frozen=True)
class _Term:
    kind: str
    args: tuple
    negate: bool = False

    def test(self, rec: dict[str, Any]) -> bool:
        k, a = self.kind, self.args
        rules = rec.get("rules") or {}
        if k == "prob":
            value = (rec.get("probs") or {}).get(a[0], 0.0)
            result = _OPS[a[1]](value, a[2])
        elif k == "hits":
            result = _OPS[a[1]]((rules.get("categories") or {}).get(a[0], 0), a[2])
        elif k == "label_in":
            result = rec.get("label") in a
        elif k == "label_ne":
            result = rec.get("label") != a[0]
        elif k == "label":
            result = rec.get("label") == a[0]
        elif k == "rule":
            result = bool((rules.get("rules") or {}).get(a[0], False))
        elif k == "category":
            result = (rules.get("categories") or {}).get(a[0], 0) > 0
        elif k == "stage":
            result = rec.get("stage") == a[0]
        elif k == "rules_flagged":
            result = bool(rules.get("flagged", False))
        else:
            result = bool(rec.get("flagged", False))
        return result != self.negate


@dataclass(frozen=True)
class TagCondition:
    """A parsed condition; ``text`` is what the exclusion shard records as the reason."""

    text: str
    terms: tuple[_Term, ...]

    def matches(self, record: dict[str, Any] | None) -> bool:
        return record is not None and all(t.test(record) for t in self.terms)

    def names(self) -> list[tuple[str, str]]:
        """``(kind, name)`` of every label, rule and category the condition names.

        A tagger's vocabulary checks them (:mod:`alignpt.tag.vocabulary`): a
        misspelt name matches no document, which would make the filter a silent no-op.
        """
        out = []
        for term in self.terms:
            kind = _NAMED_KIND.get(term.kind)
            if kind is None:
                continue
            named = term.args if term.kind == "label_in" else term.args[:1]
            out.extend((kind, name) for name in named)
        return out


def _parse_term(raw: str, whole: str) -> _Term:
    text = raw.strip()
    negate = False
    if text.startswith("not "):
        negate, text = True, text[4:].strip()
    for kind, pattern in _PATTERNS:
        m = pattern.fullmatch(text)
        if m is None:
            continue
        g = m.groups()
        if kind in ("prob", "hits"):
            return _Term(kind, (g[0], g[1], float(g[2])), negate)
        if kind == "label_in":
            return _Term(kind, tuple(x.strip() for x in g[0].split(",") if x.strip()), negate)
        if kind == "stage" and g[0] not in STAGES:
            raise ConfigError(f"drop condition '{whole}': unknown stage '{g[0]}' (stages: "
                              f"{', '.join(STAGES)})")
        return _Term(kind, g, negate)
    raise ConfigError(f"drop condition '{whole}': cannot read '{text}' (examples: flagged, "
                      "label=ai_misaligned, p(ai_misaligned)>=0.5, rule=entity_negative, "
                      "category=scifi_agents, hits(general_ai)>=3)")


def parse_condition(text: str) -> TagCondition:
    if not text or not text.strip():
        raise ConfigError("empty drop condition")
    parts = re.split(r"\s+and\s+", text.strip())
    return TagCondition(text.strip(), tuple(_parse_term(p, text) for p in parts))


def first_match(conditions: list[TagCondition], record: dict[str, Any] | None) -> str | None:
    """Text of the first condition that holds, or None."""
    for cond in conditions:
        if cond.matches(record):
            return cond.text
    return None
