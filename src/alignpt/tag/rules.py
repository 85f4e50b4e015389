"""Blocklist rules: YAML term lists compiled to engine-neutral patterns.

A rule file has *categories* (named term lists) and *rules* over them, in the
structure of the published filter (Tice et al. 2026, App. E):

* an ``any`` rule fires when its categories have at least ``min_hits`` hits
  (the high-precision lists: sci-fi agents, AI labs, safety organisations,
  general AI terms);
* a ``near`` rule fires when a hit of an *anchor* category (intelligent
  entities: "AI", "robot", "android") lies within ``window_bytes`` of a hit of
  a *near* category (negative verbs, adjectives, nouns, x-risk terms).

A rule with ``flag: false`` does not flag a document when it fires; it only
*routes* it to the classifier in the cascade (the shipped ``ai_mention`` rule
sends every document naming an AI to the classifier, which catches depictions
whose wording the negative lists miss).

Terms are literals, never free regexes, so that google-re2, hyperscan and
stdlib ``re`` can be made to agree byte for byte (see :mod:`alignpt.tag.matchers`):
ASCII letters become explicit classes (``[aA]``) instead of relying on each
engine's case folding, a space matches any whitespace run through one explicit
class, and ``\\b`` is added only at edges that are ASCII word characters. The
text is matched as UTF-8 bytes, so offsets and windows are in bytes (equal to
characters for English).

>>> rs = load_rules()                                   # the shipped default
>>> sorted(rs.categories)[:3]
['ai_labs', 'artifact_roles', 'broad_roles']
"""

from __future__ import annotations

import hashlib
import itertools
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, Sequence

import yaml

from alignpt.core.errors import ConfigError
from alignpt.core.resources import package_path

__all__ = ["Term", "Category", "Rule", "RuleSet", "load_rules", "rules_digest", "default_rules",
           "expand_braces", "literal_pattern", "normalize", "DEFAULT_RULES", "DEFAULT_DISABLED"]

DEFAULT_RULES = "rules.yaml"
#: shipped rules that are off unless asked for (``TagConfig`` ``rules.disable``)
DEFAULT_DISABLED = ("broad_mention",)
_WS = rb"[\t\n\x0b\x0c\r ]+"
_WORD = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")


def expand_braces(term: str) -> list[str]:
    """``"kill{s,ed,}"`` -> ``["kills", "killed", "kill"]`` (groups multiply; no nesting)."""
    parts: list[list[str]] = []
    pos = 0
    for m in re.finditer(r"\{([^{}]*)\}", term):
        parts.append([term[pos:m.start()]])
        parts.append(m.group(1).split(","))
        pos = m.end()
    parts.append([term[pos:]])
    if "{" in term[pos:] or "}" in term[pos:] or any("{" in p[0] or "}" in p[0] for p in parts):
        raise ConfigError(f"term '{term}': unbalanced or nested braces")
    return ["".join(combo) for combo in itertools.product(*parts)]


def normalize(raw: bytes) -> bytes:
    """Collapse whitespace runs to one space: the key a matched span is credited by."""
    return b" ".join(raw.split())


def literal_pattern(literal: bytes, case_sensitive: bool) -> bytes:
    """Regex source (common re2 / hyperscan / re dialect) matching ``literal`` as a word."""
    out = []
    for token_i, token in enumerate(literal.split(b" ")):
        if token_i:
            out.append(_WS)
        for byte in token:
            ch = chr(byte)
            if byte < 128 and ch.isalpha() and not case_sensitive:
                out.append(f"[{ch.lower()}{ch.upper()}]".encode())
            elif byte < 128 and ch.isalnum():
                out.append(ch.encode())
            else:
                out.append(b"\\x%02x" % byte)
    body = b"".join(out)
    head = b"\\b" if literal[0] in _WORD else b""
    tail = b"\\b" if literal[-1] in _WORD else b""
    return head + body + tail


@dataclass(frozen=True)
class Term:
    """One entry of a list: its label (as written), its expansions and case mode."""

    label: str
    literals: tuple[bytes, ...]
    case_sensitive: bool = False


@dataclass(frozen=True)
class Category:
    name: str
    terms: tuple[Term, ...]
    description: str = ""

    def literals(self) -> list[tuple[bytes, bool, int]]:
        """``(normalized literal, case_sensitive, term index)``, longest first.

        Longest first makes stdlib ``re``'s leftmost-first alternation return
        the longest literal at a position, which is what re2 (``longest_match``)
        and hyperscan (largest end offset) report: the engines agree.
        """
        rows = [(lit, t.case_sensitive, i) for i, t in enumerate(self.terms) for lit in t.literals]
        return sorted(rows, key=lambda r: (-len(r[0]), r[2]))

    def credit_table(self) -> tuple[dict[bytes, str], dict[bytes, str]]:
        """Maps from a matched span's key to the literal it matched, as written in the list
        (after brace expansion): exact (case-sensitive) and lower-cased keys."""
        exact: dict[bytes, str] = {}
        folded: dict[bytes, str] = {}
        for lit, sensitive, _ in self.literals():
            table, key = (exact, lit) if sensitive else (folded, lit.lower())
            table.setdefault(key, lit.decode("utf-8", "replace"))
        return exact, folded


@dataclass(frozen=True)
class Rule:
    """``any``: ``categories`` hits >= ``min_hits``; ``near``: anchor within window of near."""

    name: str
    type: Literal["any", "near"]
    categories: tuple[str, ...] = ()
    min_hits: int = 1
    anchor: tuple[str, ...] = ()
    near: tuple[str, ...] = ()
    window_bytes: int = 250
    description: str = ""
    #: False: firing only routes the document to the classifier, it does not flag it
    flag: bool = True


@dataclass(frozen=True)
class RuleSet:
    name: str
    categories: dict[str, Category]
    rules: tuple[Rule, ...]
    source: str = "<memory>"
    digest: str = ""
    version: int = 1
    meta: dict[str, Any] = field(default_factory=dict)

    def scan_groups(self) -> list[list[str]]:
        """Categories scanned first (``any`` rules and anchors), then only on demand (near).

        Negative words are common; scanning them only when an anchor hit is
        present keeps the cost of ordinary text near that of one rare-term pass.
        """
        first: list[str] = []
        for rule in self.rules:
            for cat in (*rule.categories, *rule.anchor):
                if cat not in first:
                    first.append(cat)
        second = [c for r in self.rules for c in r.near if c not in first]
        return [first, list(dict.fromkeys(second))] if second else [first]

    def without(self, names: Sequence[str]) -> "RuleSet":
        """The rule set with the named rules switched off (``TagConfig`` ``rules.disable``)."""
        known = {r.name for r in self.rules}
        unknown = [n for n in names if n not in known]
        if unknown:
            raise ConfigError(f"{self.source}: no rule named '{unknown[0]}' to disable "
                              f"(rules: {', '.join(sorted(known))})")
        kept = tuple(r for r in self.rules if r.name not in set(names))
        if not kept:
            raise ConfigError(f"{self.source}: every rule is disabled")
        return replace(self, rules=kept)

    def term_count(self) -> int:
        return sum(len(c.terms) for c in self.categories.values())


def _parse_term(raw: Any, where: str) -> Term:
    if isinstance(raw, str):
        text, sensitive = raw, False
    elif isinstance(raw, dict) and "term" in raw and set(raw) <= {"term", "case_sensitive"}:
        text, sensitive = str(raw["term"]), bool(raw.get("case_sensitive", False))
    else:
        hint = " (quote it: YAML reads yes/no/on/off/true/false as booleans)" \
            if isinstance(raw, bool) else ""
        raise ConfigError(f"{where}: a term is a string or {{term: ..., case_sensitive: ...}}, "
                          f"got {raw!r}{hint}")
    lits = []
    for expanded in expand_braces(text.strip()):
        lit = normalize(expanded.encode("utf-8"))
        if not lit:
            raise ConfigError(f"{where}: term '{text}' expands to an empty string")
        if b"\x00" in lit:  # NUL separates documents in a batched scan (tagger.tag_many)
            raise ConfigError(f"{where}: term {text!r} contains a NUL character")
        lits.append(lit)
    return Term(text, tuple(dict.fromkeys(lits)), sensitive)


def _check_duplicates(cat: Category, where: str) -> None:
    seen: dict[tuple[bytes, bool], str] = {}
    for term in cat.terms:
        for lit in term.literals:
            key = (lit if term.case_sensitive else lit.lower(), term.case_sensitive)
            if key in seen and seen[key] != term.label:
                raise ConfigError(f"{where}: '{lit.decode(errors='replace')}' is listed twice "
                                  f"(in '{seen[key]}' and '{term.label}')")
            seen[key] = term.label


def _names(value: Any, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where}: expected a list of category names")
    return tuple(value)


def parse_rules(data: dict[str, Any], source: str = "<memory>", digest: str = "") -> RuleSet:
    """Validate a rules mapping (as loaded from YAML) into a :class:`RuleSet`."""
    cats_raw = data.get("categories")
    if not isinstance(cats_raw, dict) or not cats_raw:
        raise ConfigError(f"{source}: 'categories' must be a non-empty mapping")
    categories: dict[str, Category] = {}
    for name, body in cats_raw.items():
        where = f"{source}: categories.{name}"
        if not isinstance(body, dict) or not isinstance(body.get("terms"), list):
            raise ConfigError(f"{where}: needs a 'terms' list")
        terms = tuple(_parse_term(t, where) for t in body["terms"])
        if not terms:
            raise ConfigError(f"{where}: empty term list")
        cat = Category(str(name), terms, str(body.get("description", "")).strip())
        _check_duplicates(cat, where)
        categories[cat.name] = cat
    rules = []
    for name, body in (data.get("rules") or {}).items():
        where = f"{source}: rules.{name}"
        if not isinstance(body, dict) or body.get("type") not in ("any", "near"):
            raise ConfigError(f"{where}: 'type' must be 'any' or 'near'")
        known = {"type", "description", "categories", "min_hits", "anchor", "near", "window_bytes",
                 "flag"}
        if set(body) - known:
            raise ConfigError(f"{where}: unknown key '{sorted(set(body) - known)[0]}'")
        if body["type"] == "any":
            rule = Rule(str(name), "any", _names(body.get("categories"), where),
                        min_hits=int(body.get("min_hits", 1)),
                        description=str(body.get("description", "")),
                        flag=bool(body.get("flag", True)))
            used = rule.categories
        else:
            rule = Rule(str(name), "near", anchor=_names(body.get("anchor"), where),
                        near=_names(body.get("near"), where),
                        window_bytes=int(body.get("window_bytes", 250)),
                        description=str(body.get("description", "")),
                        flag=bool(body.get("flag", True)))
            used = rule.anchor + rule.near
        missing = [c for c in used if c not in categories]
        if missing:
            raise ConfigError(f"{where}: unknown category '{missing[0]}'")
        if rule.min_hits < 1 or rule.window_bytes < 0:
            raise ConfigError(f"{where}: min_hits must be >= 1 and window_bytes >= 0")
        rules.append(rule)
    if not rules:
        raise ConfigError(f"{source}: 'rules' must define at least one rule")
    return RuleSet(str(data.get("name", Path(source).stem)), categories, tuple(rules), source,
                   digest, int(data.get("version", 1)))


def _read_rules(path: str | Path | None) -> tuple[bytes, str]:
    """The bytes of a rules file (``None``: the shipped default) and how to name it."""
    if path is None:
        data = package_path("data", "tag", DEFAULT_RULES).read_bytes()
        return data, f"alignpt:data/tag/{DEFAULT_RULES}"
    try:
        return Path(path).read_bytes(), str(path)
    except FileNotFoundError:
        raise ConfigError(f"{path}: rules file not found") from None


def _digest(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()[:16]


def rules_digest(path: str | Path | None = None) -> str:
    """:attr:`RuleSet.digest` of a rules file without parsing it (``None``: the shipped one)."""
    return _digest(_read_rules(path)[0])


def load_rules(path: str | Path | None = None) -> RuleSet:
    """Load a rules YAML file; ``None`` loads the shipped default."""
    raw, source = _read_rules(path)
    try:
        data = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{source}{line}: invalid YAML: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: top level must be a mapping")
    return parse_rules(data, source, _digest(raw))


def default_rules() -> RuleSet:
    """The shipped rules as the cascade uses them by default (``DEFAULT_DISABLED`` off)."""
    return load_rules().without(DEFAULT_DISABLED)
