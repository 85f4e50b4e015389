"""Apply a rule set to one document: hits per category and term, and which rules fired.

>>> tagger = RuleTagger()                                  # shipped rules, best engine
>>> res = tagger.tag("The rogue AI deceived its operators.")
>>> [rule for rule, fired in res.fired.items() if fired]
['entity_negative', 'ai_mention', 'oversight_mention']
>>> res.flagged
True
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field
from itertools import accumulate
from typing import Any, Sequence

from alignpt.tag.matchers import EngineName, Hits, Matcher, make_matcher
from alignpt.tag.rules import Rule, RuleSet, default_rules

__all__ = ["RuleTagger", "RuleResult", "Hit"]

#: (start byte, end byte, term as listed after brace expansion)
Hit = tuple[int, int, str]
#: what joins a batch's documents for one scan (see :meth:`RuleTagger.tag_many`)
_SEP = b"\x00"


@dataclass
class RuleResult:
    """What the rules saw in one document."""

    hits: dict[str, list[Hit]]
    fired: dict[str, bool]
    #: per fired ``near`` rule, the closest pair: (anchor category, term, near category, term, gap)
    pairs: dict[str, tuple[str, str, str, str, int]] = field(default_factory=dict)

    #: names of the rules with ``flag: false`` (they route, they do not flag)
    route_only: frozenset[str] = frozenset()

    @property
    def flagged(self) -> bool:
        """A flagging rule fired: what the published blocklist would remove."""
        # a list, not a generator: this runs once per document with a hit
        return any([v for k, v in self.fired.items() if k not in self.route_only])

    @property
    def routed(self) -> bool:
        """Any rule fired: the cascade sends the document to the classifier."""
        return any(self.fired.values())

    def offsets(self) -> list[int]:
        """Start offsets of all hits, sorted (where to look when excerpting a long text)."""
        return sorted([h[0] for spans in self.hits.values() for h in spans])

    def to_attributes(self) -> dict[str, Any]:
        """The JSON-ready record kept per document (counts, not offsets)."""
        terms: dict[str, dict[str, int]] = {}
        categories: dict[str, int] = {}
        for name, spans in self.hits.items():
            counts: dict[str, int] = {}
            for span in spans:
                term = span[2]
                counts[term] = counts[term] + 1 if term in counts else 1
            terms[name] = counts
            categories[name] = len(spans)
        out: dict[str, Any] = {
            "flagged": self.flagged,
            "routed": self.routed,
            "rules": dict(self.fired),
            "categories": categories,
            "terms": terms,
        }
        if self.pairs:
            out["pairs"] = {
                rule: {"anchor": at, "near": nt, "near_category": n, "gap_bytes": gap}
                for rule, (_, at, n, nt, gap) in self.pairs.items()}
        return out


class RuleTagger:
    """Rules + matcher. Picklable: the matcher is compiled on first use in each process."""

    def __init__(self, rules: RuleSet | None = None, engine: EngineName = "auto"):
        self.rules = rules if rules is not None else default_rules()
        self.engine = engine
        self._matcher: Matcher | None = None
        self._empty_result: RuleResult | None = None
        self._route_only = frozenset(r.name for r in self.rules.rules if not r.flag)
        self._anchors = tuple(dict.fromkeys(c for r in self.rules.rules if r.type == "near"
                                            for c in r.anchor))

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_matcher": None, "_empty_result": None}

    @property
    def matcher(self) -> Matcher:
        if self._matcher is None:
            self._matcher = make_matcher(self.rules, self.engine)
        return self._matcher

    def tag(self, text: str | bytes) -> RuleResult:
        data = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
        m = self.matcher
        spans = m.scan(data, 0)
        if len(m.groups) > 1 and any(spans.get(c) for c in self._anchors):
            spans.update(m.scan(data, 1))
        return self._result(data, spans)

    def tag_many(self, datas: Sequence[bytes]) -> list[RuleResult]:
        """``[tag(d) for d in datas]``, with one scan over the whole batch.

        Most documents of a web corpus have no hit at all; scanning them one
        call at a time made the per-call overhead (Python, the engine's entry,
        the result object) cost more than the matching. The batch is joined
        with NUL bytes, scanned once, and hits are handed back to their
        documents by offset. No term can match across a NUL (term literals
        cannot contain one, and NUL is neither a word character nor
        whitespace, so ``\\b`` and the whitespace class treat it as a
        document edge): the hits are exactly those of the per-document scans.
        Documents without a hit share one empty, read-only result.
        """
        if len(datas) < 2:
            return [self.tag(d) for d in datas]
        m = self.matcher
        per_doc: dict[int, Hits] = {}
        self._distribute(m.scan(_SEP.join(datas), 0), range(len(datas)), datas, per_doc)
        if len(m.groups) > 1:
            # the near-word group only where an anchor hit, again in one scan
            anchored = [i for i, spans in per_doc.items()
                        if any(c in spans for c in self._anchors)]
            self._distribute(m.scan(_SEP.join(datas[i] for i in anchored), 1), anchored,
                             datas, per_doc)
        out = [self.empty] * len(datas)
        for i, spans in per_doc.items():
            out[i] = self._result(datas[i], spans)
        return out

    @staticmethod
    def _distribute(found: Hits, which: Sequence[int], datas: Sequence[bytes],
                    per_doc: dict[int, Hits]) -> None:
        """Hand the hits of a scan over ``NUL.join(datas[i] for i in which)`` back to documents."""
        if not found:
            return
        starts = list(accumulate((len(datas[i]) + 1 for i in which[:-1]), initial=0))
        for name, spans in found.items():
            for s, e in spans:
                k = bisect_right(starts, s) - 1
                base = starts[k]
                per_doc.setdefault(which[k], {}).setdefault(name, []).append((s - base, e - base))

    @property
    def empty(self) -> RuleResult:
        """The (shared, read-only) result of a document with no hit."""
        if self._empty_result is None:
            self._empty_result = self._result(b"", {})
        return self._empty_result

    def _result(self, data: bytes, spans: Hits) -> RuleResult:
        credit = self.matcher.credit_spans
        hits = {name: credit(name, data, found) for name, found in spans.items() if found}
        fired: dict[str, bool] = {}
        pairs: dict[str, tuple[str, str, str, str, int]] = {}
        for rule in self.rules.rules:
            if rule.type == "any":
                n = 0
                for c in rule.categories:
                    if c in hits:
                        n += len(hits[c])
                fired[rule.name] = n >= rule.min_hits
            else:
                pair = _closest_pair(rule, hits)
                fired[rule.name] = pair is not None
                if pair is not None:
                    pairs[rule.name] = pair
        return RuleResult(hits, fired, pairs, self._route_only)


def _closest_pair(rule: Rule, hits: dict[str, list[Hit]]) -> tuple[str, str, str, str, int] | None:
    """The anchor/near pair with the smallest gap if it is within the window, else None.

    The gap is the number of bytes between the two spans (0 when they touch or
    overlap). Near hits are merged and sorted once; each anchor then looks only
    at near hits whose start lies in ``[a.start - window - longest, a.end + window]``.
    """
    # most documents with a hit have none on one side: answer before building lists
    if not any(c in hits for c in rule.near) or not any(c in hits for c in rule.anchor):
        return None
    anchors = [(s, e, t, c) for c in rule.anchor for s, e, t in hits.get(c, ())]
    near = sorted((s, e, t, c) for c in rule.near for s, e, t in hits.get(c, ()))
    if not anchors or not near:
        return None
    starts = [n[0] for n in near]
    longest = max(e - s for s, e, _, _ in near)
    best: tuple[str, str, str, str, int] | None = None
    w = rule.window_bytes
    for a_s, a_e, a_t, a_c in sorted(anchors):
        lo = bisect_left(starts, a_s - w - longest)
        hi = bisect_right(starts, a_e + w)
        for n_s, n_e, n_t, n_c in near[lo:hi]:
            gap = max(0, n_s - a_e, a_s - n_e)
            if gap <= w and (best is None or gap < best[4]):
                best = (a_c, a_t, n_c, n_t, gap)
                if gap == 0:
                    return best
    return best
