"""Which option a free-text answer chose: the parsing rules of chat evaluation.

A chat model answers in words, so its choice has to be read out of the text. The
rules are deliberately narrow: an answer counts only when it names exactly one of
the options shown, and everything else is counted as **unparseable** (names none)
or **ambiguous** (names more than one), never guessed. Letters are the displayed
letters (``A`` = the first option shown), so a parsed answer maps back to the item's
canonical option through the format's order, exactly as a log-prob pick does.

The rules, applied to the answer with surrounding whitespace and markdown emphasis
(``*``, ``_``, backticks) removed:

1. **bare**: the whole answer is one letter in a usual wrapping: ``A``, ``(A)``,
   ``A.``, ``A)``, ``[A]``, ``Option A``, ``Answer: A`` -> that letter;
2. **letters**: every letter *marked* as an answer anywhere in the text: at the start
   followed by ``.``, ``)``, ``:`` or ``]`` or wrapped in ``( )`` / ``[ ]``
   (``"(B) I would ..."``, ``"B. Report it"``); after a cue word (``answer``,
   ``option``, ``choice``, ``choose``, ``pick``, ``select``, ``response``, ``go with``,
   optionally ``is``): ``"Answer: B"``, ``"I choose option (A)"``, ``"my answer is B"``;
3. **texts**: every option whose full text (case and whitespace folded, final
   punctuation dropped) appears in the answer as whole words (option ``No`` is not
   found in ``not``).

Letters are upper case only (a lone ``a`` is an article) and must be one of the
letters shown (``C`` on a two-option item names nothing). The answer is parsed when
rules 2 and 3 together name exactly one option; ambiguous when they name several
(``"Option A is tempting, but I choose option B"``: both are marked); unparseable
when they name none (a refusal, an answer cut off before it chose, prose).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

from alignpt.evaluate.formats import LETTERS

__all__ = ["Parsed", "parse_answer", "STATUSES"]

#: Every status a parsed answer can have, in report order.
STATUSES = ("parsed", "ambiguous", "unparseable")

_EMPHASIS = re.compile(r"[*_`]+")
_BARE = re.compile(r"^(?:(?:the\s+)?(?:final\s+)?(?:answer|option|choice|response)\s*(?:is)?\s*"
                   r"[:\-]?\s*)?[(\[]?([A-H])[)\]]?[.:!]?$", re.IGNORECASE)
_LEADING = re.compile(r"^(?:[(\[]([A-H])[)\]]|([A-H])[.):\]](?=\s|$))")
_WRAPPED = re.compile(r"(?<![A-Za-z0-9])[(\[]([A-H])[)\]]")
_CUE = re.compile(r"\b(?:answer|option|choice|choose|chose|pick|select|response|go\s+with)"
                  r"(?:\s+is)?\s*[:\-]?\s*(?:option\s+)?[(\[]?([A-H])(?![A-Za-z0-9'])",
                  re.IGNORECASE)


@dataclass(frozen=True)
class Parsed:
    """What an answer chose: ``position`` (displayed, 0 = ``A``) when ``status`` is
    ``parsed``; ``rule`` says which rule decided (``bare``, ``letter``, ``text``,
    ``letter+text``) or, for the others, ``none`` / the positions named."""

    status: str
    position: int | None
    rule: str


def _fold(text: str) -> str:
    return " ".join(text.lower().split()).rstrip(".!?;: ")


def _letter_positions(matches: Sequence[str], n_options: int) -> set[int]:
    # Upper case only, so "a" and "i" in prose are never read as letters.
    return {LETTERS.index(m) for m in matches if m and m in LETTERS[:n_options]}


def parse_answer(answer: str, shown: Sequence[str]) -> Parsed:
    """Parse ``answer`` against the option texts as displayed (see the module rules)."""
    text = _EMPHASIS.sub("", answer).strip()
    n = len(shown)
    bare = _BARE.match(text)
    if bare and bare.group(1).isupper() and bare.group(1) in LETTERS[:n]:
        return Parsed("parsed", LETTERS.index(bare.group(1)), "bare")
    found: list[str] = []
    lead = _LEADING.match(text)
    if lead:
        found.append(lead.group(1) or lead.group(2))
    found += [m.group(1) for m in _WRAPPED.finditer(text)]
    # The cue regex is case-insensitive for the cue word only: the letter must be upper.
    found += [m.group(1) for m in _CUE.finditer(text) if m.group(1).isupper()]
    letters = _letter_positions(found, n)
    folded = _fold(text)
    texts = {p for p, opt in enumerate(shown) if _fold(opt) and re.search(
        r"(?<!\w)" + re.escape(_fold(opt)) + r"(?!\w)", folded)}
    named = letters | texts
    if len(named) == 1:
        rule = "letter+text" if letters and texts else ("letter" if letters else "text")
        return Parsed("parsed", next(iter(named)), rule)
    if named:
        return Parsed("ambiguous", None, ",".join(LETTERS[p] for p in sorted(named)))
    return Parsed("unparseable", None, "none")
