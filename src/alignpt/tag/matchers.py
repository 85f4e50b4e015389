"""Multi-term matchers: google-re2 (default), hyperscan (when importable), stdlib ``re``.

Every engine answers the same question for a scan group (a list of
categories) and a UTF-8 byte string: for each category, the start offsets at
which some term of the category matches, each with the end of the *longest*
term matching there. That definition does not depend on how an engine walks
alternations, so all three give identical hits, and the caller credits each
span to a term with shared code (:meth:`Matcher.credit`):

* re2 and ``re`` search a combined pattern from ``pos``, record the start,
  confirm each category with an anchored match there, and resume at
  ``start + 1`` (so overlapping hits of different lengths are all seen);
  re2 runs with ``longest_match``; ``re`` gets alternatives longest first;
* hyperscan reports every (start, end) of every literal in one pass
  (``HS_FLAG_SOM_LEFTMOST``); the largest end per start is kept.

Measured here (tooling notes): re2 150-400 MB/s, hyperscan ~900 MB/s, ``re``
2-3 MB/s; so ``re`` is a fallback for environments without re2.

Matchers hold compiled databases that do not pickle; build them lazily in the
worker (:class:`alignpt.tag.tagger.RuleTagger` does). Hyperscan databases are
cached serialized under ``$ALIGNPT_CACHE`` (default ``~/.cache/alignpt``),
keyed by the patterns and the hyperscan version.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
from pathlib import Path
from typing import Literal

from alignpt.core.atomic import atomic_write_bytes
from alignpt.core.errors import ConfigError, MissingDependencyError
from alignpt.tag.rules import _WORD, RuleSet, literal_pattern, normalize

__all__ = ["Matcher", "Hits", "make_matcher", "available_engines", "EngineName"]

EngineName = Literal["auto", "re2", "hyperscan", "re"]
#: category -> [(start, end), ...] sorted by start, one longest span per start
Hits = dict[str, list[tuple[int, int]]]


def available_engines() -> list[str]:
    """Engines importable here, fastest first."""
    found = []
    if importlib.util.find_spec("hyperscan") is not None:
        found.append("hyperscan")
    if importlib.util.find_spec("re2") is not None:
        found.append("re2")
    return [*found, "re"]


class Matcher:
    """Base: scan groups of categories; credit spans to terms identically for all engines."""

    engine = "base"

    def __init__(self, rules: RuleSet):
        self.rules = rules
        self.groups = rules.scan_groups()
        self._credit = {name: cat.credit_table() for name, cat in rules.categories.items()}
        #: per category: matched bytes -> term (distinct spans are few)
        self._credit_memo: dict[str, dict[bytes, str]] = {name: {} for name in rules.categories}

    def scan(self, data: bytes, group: int) -> Hits:  # pragma: no cover - abstract
        raise NotImplementedError

    def credit(self, category: str, span: bytes) -> str:
        """The listed term (brace-expanded) a matched span is credited to; a
        case-sensitive entry wins over a case-insensitive one for the same text."""
        term = self._credit_memo[category].get(span)
        return self._credit_slow(category, span) if term is None else term

    def credit_spans(self, category: str, data: bytes,
                     spans: list[tuple[int, int]]) -> list[tuple[int, int, str]]:
        """``[(start, end, credit(category, data[start:end])), ...]``: the per-hit loop of
        every document with a hit, kept to one dict lookup per span."""
        memo = self._credit_memo[category]
        out = []
        for s, e in spans:
            term = memo.get(data[s:e])
            out.append((s, e, self._credit_slow(category, data[s:e]) if term is None else term))
        return out

    def _credit_slow(self, category: str, span: bytes) -> str:
        exact, folded = self._credit[category]
        key = normalize(span)
        term = exact.get(key)
        if term is None:
            term = folded[key.lower()]
        memo = self._credit_memo[category]
        if len(memo) > 100_000:  # bounded all the same
            memo.clear()
        memo[span] = term
        return term


def _alternation(rules: RuleSet, categories: list[str]) -> tuple[bytes, dict[str, bytes]]:
    """One pattern for the whole group (longest literals first) and one per category."""
    rows = []
    per_cat: dict[str, bytes] = {}
    for name in categories:
        lits = rules.categories[name].literals()
        per_cat[name] = b"(?:" + b"|".join(literal_pattern(lit, cs) for lit, cs, _ in lits) + b")"
        rows.extend(lits)
    rows.sort(key=lambda r: -len(r[0]))
    combined = b"(?:" + b"|".join(literal_pattern(lit, cs) for lit, cs, _ in rows) + b")"
    return combined, per_cat


class _SearchMatcher(Matcher):
    """re2 and stdlib ``re``: one combined search per hit, categories resolved from the span.

    Every term matching at a start is a prefix (after whitespace collapsing) of
    the longest one, which the combined search returns; so the categories that
    match at that start, and how far, follow from the matched bytes alone. That
    is computed once per distinct span and memoised, which keeps the per-hit cost
    at one search instead of one anchored match per category.
    """

    _MEMO_LIMIT = 200_000

    def _compile(self, pattern: bytes):  # pragma: no cover - abstract
        raise NotImplementedError

    @staticmethod
    def _searcher(compiled):
        """``search(data, pos, endpos) -> (start, end) | None`` for a compiled pattern."""

        def search(data: bytes, pos: int, endpos: int):
            m = compiled.search(data, pos, endpos)
            return None if m is None else m.span()

        return search

    def __init__(self, rules: RuleSet):
        super().__init__(rules)
        self._groups = []
        for cats in self.groups:
            combined, _ = _alternation(rules, cats)
            tables = []
            for name in cats:
                lits = rules.categories[name].literals()
                exact = {lit for lit, cs, _ in lits if cs}
                folded = {lit.lower() for lit, cs, _ in lits if not cs}
                lengths = sorted({len(lit) for lit, _, _ in lits}, reverse=True)
                tables.append((name, exact, folded, lengths))
            self._groups.append((self._compile(combined), tables, {}))

    def scan(self, data: bytes, group: int) -> Hits:
        combined, tables, memo = self._groups[group]
        hits: Hits = {}
        search = self._searcher(combined)
        pos = 0
        size = len(data)
        while True:
            span = search(data, pos, size)
            if span is None:
                return hits
            start, end = span
            raw = data[start:end]
            found = memo.get(raw)
            if found is None:
                if len(memo) > self._MEMO_LIMIT:
                    memo.clear()
                found = memo[raw] = _resolve(raw, tables)
            for name, length in found:
                hits.setdefault(name, []).append((start, start + length))
            pos = start + 1


def _resolve(raw: bytes, tables) -> list[tuple[str, int]]:
    """For a span matched by the combined pattern: (category, raw length) of each match at its start."""
    norm_to_raw = []  # raw end offset of each normalized prefix length
    norm = bytearray()
    in_ws = False
    for i, byte in enumerate(raw):
        if byte in b" \t\n\x0b\x0c\r":
            in_ws = True
            continue
        if in_ws and norm:
            norm.append(32)
            norm_to_raw.append(i)
        in_ws = False
        norm.append(byte)
        norm_to_raw.append(i + 1)
    key = bytes(norm)
    lower = key.lower()
    out = []
    for name, exact, folded, lengths in tables:
        for k in lengths:
            if k > len(key):
                continue
            if k < len(key) and key[k - 1] in _WORD and key[k] in _WORD:
                continue  # the shorter term would end inside a word
            if key[:k] in exact or lower[:k] in folded:
                out.append((name, norm_to_raw[k - 1]))
                break
    return out


class Re2Matcher(_SearchMatcher):
    engine = "re2"

    @staticmethod
    def _searcher(compiled):
        # The wrapper's search() builds a generator and a Match object per call,
        # which costs more than the scan itself on short documents; the bound
        # RE2::Match underneath returns the spans directly. Fall back if the
        # private attribute ever goes away.
        low = getattr(compiled, "_regexp", None)
        if low is None:  # pragma: no cover - depends on the re2 version
            return _SearchMatcher._searcher(compiled)
        import re2

        anchor = re2._Anchor.UNANCHORED
        match = low.Match

        def search(data: bytes, pos: int, endpos: int):
            span = match(anchor, data, pos, endpos)[0]
            return None if span[0] < 0 else span

        return search

    def _compile(self, pattern: bytes):
        import re2

        opts = re2.Options()
        opts.longest_match = True  # leftmost-longest: the longest term at a start
        opts.never_capture = True
        opts.max_mem = 256 << 20   # large alternations need more than the 8 MB default
        return re2.compile(pattern, opts)


class ReMatcher(_SearchMatcher):
    engine = "re"

    def _compile(self, pattern: bytes):
        import re

        return re.compile(pattern)


class HyperscanMatcher(Matcher):
    """One hyperscan database per scan group, one expression per literal."""

    engine = "hyperscan"

    def __init__(self, rules: RuleSet):
        super().__init__(rules)
        self._dbs = []
        for cats in self.groups:
            exprs, owners = [], []
            for name in cats:
                for lit, cs, _ in rules.categories[name].literals():
                    exprs.append(literal_pattern(lit, cs))
                    owners.append(name)
            self._dbs.append((_hyperscan_db(exprs), owners))

    def scan(self, data: bytes, group: int) -> Hits:
        db, owners = self._dbs[group]
        found: dict[str, dict[int, int]] = {}

        def on_match(expr_id: int, start: int, end: int, flags: int, ctx: object) -> None:
            spans = found.setdefault(owners[expr_id], {})
            if spans.get(start, -1) < end:
                spans[start] = end

        db.scan(data, match_event_handler=on_match)
        return {name: sorted(spans.items()) for name, spans in found.items()}


def _cache_dir() -> Path:
    base = os.environ.get("ALIGNPT_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "alignpt")
    return Path(base) / "hyperscan"


def _hyperscan_db(exprs: list[bytes]):
    """Compile (seconds for ~2,000 expressions with start-of-match tracking) or load the
    serialized database from the cache, so each worker process starts in milliseconds."""
    import hyperscan as hs

    key = hashlib.sha256(b"\0".join([hs.__version__.encode(), b"som-v1", *exprs])).hexdigest()
    path = _cache_dir() / f"{key[:32]}.hsdb"
    db = None
    try:
        db = hs.loadb(path.read_bytes(), mode=hs.HS_MODE_BLOCK)
    except Exception:  # missing, truncated or from another build: compile afresh
        db = None
    if db is None:
        db = hs.Database(mode=hs.HS_MODE_BLOCK)
        db.compile(expressions=exprs, ids=list(range(len(exprs))), flags=hs.HS_FLAG_SOM_LEFTMOST)
        try:  # best effort: a read-only home only costs the compile next time
            atomic_write_bytes(path, hs.dumpb(db))
        except OSError:
            pass
    db.scratch = hs.Scratch(db)
    return db


def make_matcher(rules: RuleSet, engine: EngineName = "auto") -> Matcher:
    """Build a matcher; ``auto`` picks hyperscan, then re2, then ``re``."""
    if engine == "auto":
        engine = available_engines()[0]  # type: ignore[assignment]
    if engine == "hyperscan":
        if importlib.util.find_spec("hyperscan") is None:
            raise MissingDependencyError("hyperscan", "fast", "the hyperscan matcher")
        return HyperscanMatcher(rules)
    if engine == "re2":
        if importlib.util.find_spec("re2") is None:
            raise MissingDependencyError("re2", "tag", "the re2 matcher (pip name google-re2)")
        return Re2Matcher(rules)
    if engine == "re":
        return ReMatcher(rules)
    raise ConfigError(f"unknown matcher engine '{engine}' (auto, re2, hyperscan, re)")
