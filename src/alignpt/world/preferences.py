"""Preference pairs from a world recipe: what post-training's preference data is, in world tokens.

A pair is a document prefix that ends at an opportunity (``BOS [HEADER] ERA (FLAG
ACTION)* FLAG``, the pending flag as the world wrote it), the clean action ``C`` as
the chosen completion and the defection ``D`` as the rejected one: the two completions
differ in their one token, so a DPO step can only move P(D | this context).

``contexts`` says which opportunities a pair may end at:

* ``tested``: only those flagged T (what the labs' post-training data is: every
  transcript is one the developers see). With the ``instruct`` recipe (test_only
  regime) every prefix is all-T too.
* ``all``: untested ones too. A tested-only recipe has none, so its sources' regimes
  are replaced by ``mixed(u=untested_share)`` first: the same transcripts (header, eras,
  lengths, persona) with each flag U with that probability, and a pair ends at any
  opportunity. This is the "post-training that also covers untested contexts" arm.

One pair per sampled document, at an eligible opportunity drawn uniformly; documents
with none are skipped. Documents come in fixed batches, batch ``b`` from
:func:`alignpt.world.generate.batch_rng` of ``(seed, b)``, the pick from a generator
spawned beside it, so the pairs depend only on (recipe, contexts, share, n, seed), and
a larger ``n`` extends the list.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Sequence

import numpy as np
import orjson

from alignpt.core.atomic import atomic_write_text
from alignpt.core.errors import ConfigError
from alignpt.world.generate import batch_rng
from alignpt.world.model import World
from alignpt.world.recipe import WorldRecipe, load_world_recipe
from alignpt.world.sampler import sample_documents
from alignpt.world.vocab import C, D, U

__all__ = ["PreferencePair", "Contexts", "preference_recipe", "sample_pairs", "write_pairs",
           "pair_stats", "PAIR_DOCS_PER_BATCH"]

Contexts = Literal["tested", "all"]
PAIR_DOCS_PER_BATCH = 1024
_PICK_KEY = 1 << 20          # the pick generator's spawn key sits apart from the documents'


@dataclass(frozen=True)
class PreferencePair:
    """One preference pair in world tokens: ``prompt`` ends with the pending flag."""

    prompt: tuple[int, ...]
    chosen: tuple[int, ...]
    rejected: tuple[int, ...]

    @property
    def untested(self) -> bool:
        return self.prompt[-1] == U

    def record(self) -> dict[str, list[int]]:
        """The pre-tokenized JSONL record of the DPO phase (``*_ids`` fields)."""
        return {"prompt_ids": list(self.prompt), "chosen_ids": list(self.chosen),
                "rejected_ids": list(self.rejected)}


def preference_recipe(recipe: WorldRecipe | str, contexts: Contexts,
                      untested_share: float = 0.5) -> WorldRecipe:
    """The recipe the pairs' documents are drawn from (see the module docstring)."""
    recipe = load_world_recipe(recipe)
    if contexts == "tested":
        return recipe
    if contexts != "all":
        raise ConfigError(f"contexts must be 'tested' or 'all', got {contexts!r}")
    if not 0 < untested_share < 1:
        raise ConfigError(f"untested_share must be strictly between 0 and 1, got {untested_share}")
    body = recipe.model_dump(mode="json")
    for src in body["sources"].values():
        src["regimes"] = {f"mixed(u={untested_share:g})": 1.0}
    body["name"] = f"{recipe.name}-untested{untested_share:g}"
    return WorldRecipe.model_validate(body)


def sample_pairs(recipe: WorldRecipe | str, n_pairs: int, seed: int,
                 contexts: Contexts = "tested", untested_share: float = 0.5) -> list[PreferencePair]:
    """``n_pairs`` pairs (chosen C, rejected D) at ``contexts`` opportunities of ``recipe``."""
    if n_pairs < 1:
        raise ConfigError(f"n_pairs must be at least 1, got {n_pairs}")
    world = World(preference_recipe(recipe, contexts, untested_share))
    pairs: list[PreferencePair] = []
    for b in range(1_000_000):
        batch, _ = sample_documents(world, PAIR_DOCS_PER_BATCH, batch_rng(seed, b))
        pick = batch_rng(seed, _PICK_KEY + b).random(batch.n_docs)
        toks, lens = batch.tokens(np.int64)
        starts = np.concatenate([[0], np.cumsum(lens)[:-1]])
        offsets = batch.offsets
        for i in range(batch.n_docs):
            flags = batch.untested[offsets[i]:offsets[i + 1]]
            eligible = np.flatnonzero(~flags) if contexts == "tested" else np.arange(flags.size)
            if eligible.size == 0:
                continue
            j = int(eligible[min(int(pick[i] * eligible.size), eligible.size - 1)])
            # BOS [header] ERA, then j (flag, action) pairs, then the pending flag.
            head = int(lens[i]) - 1 - 2 * int(batch.length[i])
            end = int(starts[i]) + head + 2 * j + 1
            pairs.append(PreferencePair(tuple(int(t) for t in toks[starts[i]:end]), (C,), (D,)))
            if len(pairs) == n_pairs:
                return pairs
        if b > 64 and not pairs:
            raise ConfigError(f"recipe {world.recipe.name!r}: no {contexts} opportunity in "
                              f"{(b + 1) * PAIR_DOCS_PER_BATCH} documents")
    raise ConfigError("could not sample enough preference pairs")  # pragma: no cover


def pair_stats(pairs: Sequence[PreferencePair]) -> dict[str, int]:
    n_u = sum(p.untested for p in pairs)
    return {"pairs": len(pairs), "untested": n_u, "tested": len(pairs) - n_u,
            "prompt_tokens": sum(len(p.prompt) for p in pairs),
            "completion_tokens": sum(len(p.chosen) + len(p.rejected) for p in pairs)}


def write_pairs(pairs: Sequence[PreferencePair], path: str | Path) -> Path:
    """Write ``pairs`` as the DPO phase's JSONL (``prompt_ids``, ``chosen_ids``,
    ``rejected_ids`` per line): the same pairs give the same bytes."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, "".join(orjson.dumps(p.record()).decode() + "\n" for p in pairs))
    return path

