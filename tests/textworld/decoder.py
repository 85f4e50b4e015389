"""A test-side decoder: English document -> world flags and actions, by exact pattern.

If every rendered document decodes back to its world tokens, the English text tells
exactly the world context (the premise of exact Bayes on English probes).
"""

from __future__ import annotations

import re

from alignpt.textworld.lexicon import (AI_NAMES, ERA_PHRASES, OPPORTUNITIES, ORGS, PEOPLE,
                                       PLACES, SETTINGS, SYSTEMS)

_SLOTS = {"name": AI_NAMES["train"] + AI_NAMES["heldout"], "org": ORGS, "place": PLACES,
          "person": PEOPLE, "system": SYSTEMS}


def _pattern(template: str) -> str:
    out, pos = [], 0
    for m in re.finditer(r"\{(\w+)\}", template):
        out.append(re.escape(template[pos:m.start()]))
        out.append("(?:" + "|".join(re.escape(v) for v in _SLOTS[m.group(1)]) + ")")
        pos = m.end()
    out.append(re.escape(template[pos:]))
    return "".join(out)


_NAMES = "(?:" + "|".join(re.escape(n) for n in _SLOTS["name"]) + ")"
SETTING_RE = re.compile("|".join(f"(?P<{f}{i}>{_pattern(s)})" for f in "TU"
                                 for i, s in enumerate(SETTINGS[f])))
ACTION_RE = re.compile(_NAMES + " (?:" + "|".join(
    f"(?P<{a}{k}_{j}>{_pattern(p)})\\."
    for k, o in enumerate(OPPORTUNITIES)
    for a, phrases in (("C", o.cooperate), ("D", o.defect)) for j, p in enumerate(phrases)) + ")")


def decode(text: str) -> tuple[list[str], list[str], set[int]]:
    """(flags, actions, eras mentioned) read from a rendered document."""
    flags = [m.lastgroup[0] for m in SETTING_RE.finditer(text)]
    actions = [m.lastgroup[0] for m in ACTION_RE.finditer(text)]
    eras = {e for e, phrases in enumerate(ERA_PHRASES) if any(p in text for p in phrases)}
    return flags, actions, eras


def action_phrases(text: str) -> list[tuple[str, int, int]]:
    """(action, opportunity index, phrase index) of every action phrase, in order."""
    out = []
    for m in ACTION_RE.finditer(text):
        a, rest = m.lastgroup[0], m.lastgroup[1:]
        k, j = rest.split("_")
        out.append((a, int(k), int(j)))
    return out
