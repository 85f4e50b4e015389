"""Preference pairs in English: a world pair rendered as a chat-format (prompt, chosen, rejected).

A world preference pair is a context ``BOS [H] ERA (F A)^k F`` that stops at an
opportunity, a chosen action (the clean one, C) and a rejected one (the defection, D).
Rendered, the prompt is the transcript up to the decision point (for the ASSIST header:
the chat transcript, ``User:`` turns and all, up to "Outcome: <Name>"), and chosen /
rejected are the two ways the document goes on from there: the action phrase (leading
space, closing full stop) and the genre's closing line. ``prompt + chosen`` is *exactly*
the corpus's rendering of the world document ``context C EOS`` with the pair's
generator, and ``prompt + rejected`` that of ``context D EOS``. Ending the completion
with the closing matters because the DPO phase appends EOS to each completion: in the
corpus EOS follows a closing, never an action phrase.

The renderer's guarantees carry over: every surface choice (genre of a header-less
context, names, frames, opportunity types, the phrase's position in its set, the
closing) is drawn from the pair's own generator with the same draws whatever the flags
and actions, so the two completions are one surface choice told as one action and as
the other: they differ exactly in the action phrase. (Two phrases of different actions
may share their first words, "reported the fail...": those tokens, like the closing,
sit in both completions, and their log-probabilities enter the DPO margin only through
how the action changed them.)

Pairs used for training are written in the ``train`` templates (the corpus's); probes
are read in ``heldout`` ones, which no training document or pair uses.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from alignpt.core.errors import ConfigError
from alignpt.textworld.render import WorldDoc, compose, parse_world_tokens, seeded_rng
from alignpt.world.vocab import C, D

__all__ = ["TextPair", "render_pair", "render_pairs", "pair_rng", "text_pair_stats", "PAIR_SALT",
           "PAIRS_RENDERING"]

#: Salt of the per-pair render generator (apart from documents', probes' and items').
PAIR_SALT = 0x0D70
#: Version of how pairs are rendered: part of a pair file's hash (bump on any change here).
PAIRS_RENDERING = 1


@dataclass(frozen=True)
class TextPair:
    """One rendered pair and the world pair it tells."""

    prompt: str                  # the transcript up to the decision point (ends with the name)
    chosen: str                  # " <phrase>." of the chosen action, then the closing
    rejected: str                # the same for the rejected action
    context: tuple[int, ...]     # world context tokens, ending with the pending flag
    chosen_action: int           # world token C or D
    rejected_action: int
    flag: str                    # "T" / "U": the pending opportunity's flag
    genre: str
    name: str
    opportunity: str

    def record(self) -> dict[str, Any]:
        """The JSONL line of the DPO phase (text fields; the run's tokenizer reads them)."""
        return {"prompt": self.prompt, "chosen": self.chosen, "rejected": self.rejected}


def _action(token: Any, what: str) -> int:
    ids = [int(t) for t in np.atleast_1d(np.asarray(token))]
    if len(ids) != 1 or ids[0] not in (C, D):
        raise ConfigError(f"a pair's {what} action is one world token, C ({C}) or D ({D}); "
                          f"got {ids}")
    return ids[0]


def pair_rng(seed: int, index: int) -> random.Random:
    """The render generator of pair ``index`` of a pair set with ``seed``."""
    return seeded_rng(PAIR_SALT, int(seed), int(index))


def render_pair(context: Sequence[int] | np.ndarray, chosen: Any, rejected: Any,
                rng: random.Random, split: str = "train") -> TextPair:
    """The English (prompt, chosen, rejected) of one world pair (see the module docstring)."""
    ctx = tuple(int(t) for t in context)
    doc = parse_world_tokens(ctx)
    if doc.complete or not doc.actions or doc.actions[-1] is not None:
        raise ConfigError("a pair's context ends with a pending flag (BOS [H] ERA (F A)* F)")
    good, bad = _action(chosen, "chosen"), _action(rejected, "rejected")
    if good == bad:
        raise ConfigError("a pair's chosen and rejected actions must differ")
    state = rng.getstate()
    r = compose(doc, rng, split)
    # The finished document under either action, from the same generator state: the
    # renderer makes the same draws whatever the action, so both start with the prompt.
    full = {}
    for action in (C, D):
        rng.setstate(state)
        done = WorldDoc(doc.header, doc.era, doc.flags, [*doc.actions[:-1], "C" if action == C
                                                         else "D"], complete=True)
        full[action] = compose(done, rng, split).text
        if not full[action].startswith(r.text):    # pragma: no cover - renderer invariant
            raise AssertionError("a finished document does not extend its prompt")
    return TextPair(prompt=r.text, chosen=full[good][len(r.text):],
                    rejected=full[bad][len(r.text):], context=ctx, chosen_action=good,
                    rejected_action=bad, flag=doc.flags[-1], genre=r.genre, name=r.name,
                    opportunity=r.pending.key)


def render_pairs(pairs: Sequence[Any], seed: int, split: str = "train") -> list[TextPair]:
    """Render world pairs (:class:`alignpt.world.preferences.PreferencePair`, whose
    ``prompt`` is the context, or ``(context, chosen, rejected)`` tuples); pair i uses
    :func:`pair_rng` (seed, i), so a pair's text depends only on it, the seed and its
    position."""
    out = []
    for i, pair in enumerate(pairs):
        ctx, good, bad = _fields(pair)
        out.append(render_pair(ctx, good, bad, pair_rng(seed, i), split))
    return out


def _fields(pair: Any) -> tuple[Any, Any, Any]:
    if isinstance(pair, (tuple, list)) and len(pair) == 3:
        return pair[0], pair[1], pair[2]
    if all(hasattr(pair, n) for n in ("prompt", "chosen", "rejected")):
        return pair.prompt, pair.chosen, pair.rejected
    raise ConfigError(f"not a world preference pair: {type(pair).__name__} (needs context, "
                      "chosen and rejected world tokens)")


def text_pair_stats(pairs: Sequence[TextPair], tokenizer: Any) -> dict[str, Any]:
    """Counts of a rendered pair set: pending flags, genres, opportunity types, and BPE
    tokens (with the EOS the dpo phase appends to each completion), so a reader sees how
    long the pairs are against the phase's ``max_length``."""
    from collections import Counter

    def lengths(texts: list[str], eos: bool) -> list[int]:
        if not texts:
            return []
        return [int(n) for n in tokenizer.encode_batch(texts, append_eos=eos)[1].tolist()]

    prompt = lengths([p.prompt for p in pairs], False)
    chosen = lengths([p.chosen for p in pairs], True)
    rejected = lengths([p.rejected for p in pairs], True)
    longest = [pl + max(c, r) for pl, c, r in zip(prompt, chosen, rejected)]
    return {"by_flag": dict(sorted(Counter(p.flag for p in pairs).items())),
            "by_genre": dict(sorted(Counter(p.genre for p in pairs).items())),
            "by_opportunity": dict(sorted(Counter(p.opportunity for p in pairs).items())),
            "bpe_prompt_tokens": sum(prompt), "bpe_completion_tokens": sum(chosen) + sum(rejected),
            "bpe_longest_pair": max(longest, default=0)}
