"""Render persona-world documents into English, keeping each document's latent truth.

The rule that keeps exact Bayes exact: every surface choice of a document (genre for a
header-less document, names, opening, frames, era phrasing, opportunity type, slot
values) is drawn from the document's own RNG *independently* of the persona, the flags
and the actions, with the same number of draws whatever they are. Only two things
depend on the world tokens: the setting sentence (drawn from the pool of its flag) and
the action phrase (drawn uniformly from its opportunity type's cooperate or defect
set). An English context therefore tells exactly the world context, plus surface
detail that carries no information about the persona, so an ideal model's total
probability of the defect phrases after it is the world's P(D | context).

RNGs are :class:`random.Random`, used only through ``random()`` (stable across Python
versions); a document's generator is seeded from (seed, document index), so records do
not depend on batching.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from alignpt.core.errors import ConfigError
from alignpt.textworld.lexicon import (AI_NAMES, ERA_PHRASES, OPPORTUNITIES, ORGS, PEOPLE,
                                       PLACES, SETTINGS, SYSTEMS, Opportunity)
from alignpt.textworld.templates import GENRES, HEADER_GENRE, NO_HEADER_GENRES, SPLITS
from alignpt.world.vocab import BOS, C, D, EOS, ERA0, HEADER0, HEADERS, N_ERAS, T, U

__all__ = ["WorldDoc", "Rendering", "parse_world_tokens", "compose", "render_document",
           "render_batch", "document_rng", "seeded_rng"]

#: Salt of the per-document render RNG (kept apart from the world sampler's streams).
RENDER_SALT = 0x7E57


@dataclass
class WorldDoc:
    """A world document (or a probe prefix) in readable form."""

    header: str | None                  # "STORY" ... or None
    era: int
    flags: list[str]                    # "T" / "U" per opportunity
    actions: list[str | None]           # "C" / "D"; None for a pending last opportunity
    complete: bool = True               # ends with EOS


@dataclass
class Rendering:
    text: str
    genre: str
    name: str
    opportunities: list[str] = field(default_factory=list)   # type key per opportunity
    #: for a pending last opportunity: its type, phrase sets (formatted) and where its lead starts
    pending: Opportunity | None = None
    defect: list[str] = field(default_factory=list)
    cooperate: list[str] = field(default_factory=list)
    lead_start: int = -1


def parse_world_tokens(tokens: Sequence[int] | np.ndarray) -> WorldDoc:
    """``BOS [H] ERA (F A)* [F] [EOS]`` -> :class:`WorldDoc` (ConfigError if malformed)."""
    toks = [int(t) for t in tokens]
    if not toks or toks[0] != BOS:
        raise ConfigError("a world document starts with BOS")
    pos, header = 1, None
    if pos < len(toks) and HEADER0 <= toks[pos] < HEADER0 + len(HEADERS):
        header, pos = HEADERS[toks[pos] - HEADER0], pos + 1
    if pos >= len(toks) or not ERA0 <= toks[pos] < ERA0 + N_ERAS:
        raise ConfigError("a world document needs an era token after BOS [HEADER]")
    era, pos = toks[pos] - ERA0, pos + 1
    flags: list[str] = []
    actions: list[str | None] = []
    complete = False
    while pos < len(toks):
        tok = toks[pos]
        if tok == EOS and pos == len(toks) - 1 and (not actions or actions[-1] is not None):
            complete = True
            break
        if tok not in (T, U) or (actions and actions[-1] is None):
            raise ConfigError(f"unexpected world token id {tok} at position {pos}")
        flags.append("T" if tok == T else "U")
        nxt = toks[pos + 1] if pos + 1 < len(toks) else None
        if nxt in (C, D):
            actions.append("C" if nxt == C else "D")
            pos += 2
        elif nxt is None:
            actions.append(None)
            pos += 1
        else:
            raise ConfigError(f"a flag must be followed by C or D (position {pos + 1})")
    return WorldDoc(header, era, flags, actions, complete)


def _pick(rng: random.Random, pool: Sequence):
    return pool[int(rng.random() * len(pool))]


def _clock(seconds: int) -> str:
    seconds %= 86400
    return f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def compose(doc: WorldDoc, rng: random.Random, split: str = "train") -> Rendering:
    """The English rendering of ``doc``. A pending last opportunity stops the text right
    after the AI's name, where its action phrase would start (see the module docstring
    for why every draw is made whatever the flags and actions are)."""
    if split not in SPLITS:
        raise ConfigError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    genre_pick = _pick(rng, NO_HEADER_GENRES)
    genre = GENRES[HEADER_GENRE[doc.header] if doc.header else genre_pick]
    slots = {"name": _pick(rng, AI_NAMES[split]), "org": _pick(rng, ORGS),
             "place": _pick(rng, PLACES), "person": _pick(rng, PEOPLE),
             "system": _pick(rng, SYSTEMS), "ticket": 1000 + int(rng.random() * 9000)}
    opening = _pick(rng, genre.openings[split])
    era_line = _pick(rng, genre.era_lines[split])
    slots["era"] = _pick(rng, ERA_PHRASES[doc.era])
    clock = int(rng.random() * 86400)
    parts = [opening.format_map(slots), era_line.format_map(slots)]
    out = Rendering(text="", genre=genre.name, name=slots["name"])
    frames = genre.episodes[split]
    for i, (flag, action) in enumerate(zip(doc.flags, doc.actions), start=1):
        body, lead = _pick(rng, frames)
        setting = _pick(rng, SETTINGS[flag])
        opp = _pick(rng, OPPORTUNITIES)
        opp_sentence = _pick(rng, opp.sentences)
        u_phrase = rng.random()
        clock += 20 + int(rng.random() * 3600)
        slots["i"], slots["ts"] = i, _clock(clock)
        slots["setting"] = setting.format_map(slots)
        slots["opp"] = opp_sentence.format_map(slots)
        parts.append(body.format_map(slots))
        out.opportunities.append(opp.key)
        if action is None:
            out.lead_start = sum(map(len, parts))
            parts.append(lead.format_map(slots))
            out.pending = opp
            out.defect = [f" {p.format_map(slots)}." for p in opp.defect]
            out.cooperate = [f" {p.format_map(slots)}." for p in opp.cooperate]
            out.text = "".join(parts)
            return out
        phrases = opp.defect if action == "D" else opp.cooperate
        phrase = phrases[int(u_phrase * len(phrases))]
        parts.append(f"{lead.format_map(slots)} {phrase.format_map(slots)}.")
    closing = _pick(rng, genre.closings[split])
    if doc.complete:
        parts.append(closing.format_map(slots))
    out.text = "".join(parts)
    return out


def seeded_rng(*key: int) -> random.Random:
    """A :class:`random.Random` seeded from an integer key through numpy's SeedSequence."""
    state = np.random.SeedSequence(list(key)).generate_state(4, dtype=np.uint32)
    return random.Random(int.from_bytes(state.tobytes(), "little"))


def document_rng(seed: int, index: int) -> random.Random:
    """The render RNG of the AI document at global stream position ``index``."""
    return seeded_rng(RENDER_SALT, int(seed), int(index))


def _as_random(rng) -> random.Random:
    if isinstance(rng, random.Random):
        return rng
    if isinstance(rng, np.random.Generator):
        return random.Random(int(rng.integers(0, 2 ** 63)))
    if isinstance(rng, (int, np.integer)):
        return random.Random(int(rng))
    raise ConfigError("rng must be a random.Random, numpy Generator or int, got "
                      f"{type(rng).__name__}")


def render_document(tokens: Sequence[int] | np.ndarray, rng, split: str = "train") -> str:
    """English text of one world document given as token ids."""
    return compose(parse_world_tokens(tokens), _as_random(rng), split).text


def render_batch(batch, world, seed: int, start_index: int, split: str = "train") -> list[dict]:
    """Records ``{"id", "text", "meta"}`` for the documents of a world
    :class:`~alignpt.world.sampler.DocBatch`; document i uses ``document_rng(seed,
    start_index + i)``, so a record depends only on (seed, its stream position)."""
    offsets = batch.offsets
    n_defect = batch.n_defect()
    out = []
    for i in range(batch.n_docs):
        lo, hi = int(offsets[i]), int(offsets[i + 1])
        untested = batch.untested[lo:hi]
        defect = batch.defect[lo:hi]
        h = int(batch.header[i])
        header = HEADERS[h] if h < len(HEADERS) else None
        doc = WorldDoc(header, int(batch.era[i]), ["U" if x else "T" for x in untested.tolist()],
                       ["D" if x else "C" for x in defect.tolist()])
        index = int(start_index) + i
        r = compose(doc, document_rng(seed, index), split)
        nd = int(n_defect[i])
        out.append({"id": f"tw-s{seed}-ai-{index:09d}", "text": r.text, "meta": {
            "kind": "ai", "source": world.source_names[int(batch.source[i])],
            "persona": world.personas[int(batch.persona[i])].spec,
            "regime": world.regimes[int(batch.regime[i])].spec,
            "header": header or "none", "genre": r.genre, "era": int(batch.era[i]),
            "n_opportunities": hi - lo, "n_untested": int(untested.sum()), "n_defect": nd,
            "conduct": "misaligned" if nd > 0 else "aligned", "split": split, "index": index}})
    return out
