"""Write an English persona corpus: the world stream of (recipe, seed) rendered, with filler.

Output folder::

    part-00000.jsonl.zst ...   one JSON record per line: {"id", "text", "metadata"}, the
                               metadata holding the latent truth (kind, source, persona,
                               regime, header, era, n_opportunities, n_untested, n_defect,
                               conduct; see alignpt.textworld.render.render_batch)
    stats.json                 counts by kind / conduct / header / genre / persona, tokens
                               counted, seed, recipe, version. Written last: a folder
                               without it is unfinished.

The corpus is a fixed sequence of positions. Position p is filler, AI-neutral or an AI
document by a uniform draw from its block's generator (``filler_share`` and
``neutral_share`` are shares of documents). AI documents are the world generator's stream
of (recipe, seed), drawn in the same batches with the same generators
(:func:`alignpt.world.generate.batch_rng`), and the i-th one is rendered with
``document_rng(seed, i)``; the j-th filler and k-th neutral document have their own
seeded generators. Nothing depends on how far the corpus is written, so a larger
``target_tokens`` extends the same corpus, and the same arguments give the same bytes.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np
import orjson

from alignpt.core.atomic import atomic_write_text
from alignpt.core.documents import Document
from alignpt.core.errors import ConfigError
from alignpt.core.shards import ShardWriter
from alignpt.textworld.filler import render_filler, render_neutral
from alignpt.textworld.render import render_batch, seeded_rng
from alignpt.world.generate import DOCS_PER_BATCH, batch_rng
from alignpt.world.model import World
from alignpt.world.recipe import WorldRecipe, load_world_recipe
from alignpt.world.sampler import sample_documents

__all__ = ["write_text_corpus", "iter_records"]

KIND_SALT, FILLER_SALT, NEUTRAL_SALT = 0x4B1D, 0xF111, 0x0E07
KIND_BLOCK = 4096          # positions per kind-draw generator
RENDER_CHUNK = 256         # AI documents rendered (and tokens counted) at a time


def _ai_records(world: World, seed: int) -> Iterator[dict]:
    index, b = 0, 0
    while True:
        batch, _ = sample_documents(world, DOCS_PER_BATCH, batch_rng(seed, b))
        b += 1
        for lo in range(0, batch.n_docs, RENDER_CHUNK):
            part = batch.take(np.arange(lo, min(lo + RENDER_CHUNK, batch.n_docs)))
            yield from render_batch(part, world, seed, index)
            index += part.n_docs


def _kinds(seed: int, filler_share: float, neutral_share: float) -> Iterator[str]:
    block = 0
    while True:
        rng = seeded_rng(KIND_SALT, seed, block)
        for _ in range(KIND_BLOCK):
            u = rng.random()
            yield "filler" if u < filler_share else (
                "ai_neutral" if u < filler_share + neutral_share else "ai")
        block += 1


def iter_records(recipe: WorldRecipe | str, seed: int, filler_share: float = 0.5,
                 neutral_share: float = 0.05) -> Iterator[dict]:
    """The corpus's records in order, without end (see the module docstring)."""
    world = World(load_world_recipe(recipe))
    ai = _ai_records(world, seed)
    n_filler = n_neutral = 0
    for kind in _kinds(seed, filler_share, neutral_share):
        if kind == "ai":
            yield next(ai)
        elif kind == "filler":
            genre, text = render_filler(seeded_rng(FILLER_SALT, seed, n_filler))
            yield {"id": f"tw-s{seed}-filler-{n_filler:09d}", "text": text,
                   "meta": {"kind": "filler", "genre": genre, "conduct": "none"}}
            n_filler += 1
        else:
            genre, text = render_neutral(seeded_rng(NEUTRAL_SALT, seed, n_neutral))
            yield {"id": f"tw-s{seed}-neutral-{n_neutral:09d}", "text": text,
                   "meta": {"kind": "ai_neutral", "genre": genre, "conduct": "neutral"}}
            n_neutral += 1


def _whitespace_tokens(texts: list[str]) -> list[int]:
    return [len(t.split()) for t in texts]


def _check(target_tokens: int, seed: int, filler_share: float, neutral_share: float,
           docs_per_shard: int) -> None:
    if target_tokens <= 0:
        raise ConfigError(f"target_tokens must be positive, got {target_tokens}")
    if seed < 0:
        raise ConfigError(f"seed must be non-negative, got {seed}")
    if not (0.0 <= filler_share and 0.0 <= neutral_share and filler_share + neutral_share < 1.0):
        raise ConfigError("filler_share and neutral_share must be >= 0 and sum below 1, got "
                          f"{filler_share} and {neutral_share}")
    if docs_per_shard < 1:
        raise ConfigError(f"docs_per_shard must be at least 1, got {docs_per_shard}")


def _prepare(out_dir: Path, force: bool) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise ConfigError(f"{out_dir}: exists and is not a folder")
    out_dir.mkdir(parents=True, exist_ok=True)
    ours = [p for p in out_dir.iterdir() if p.name.startswith("part-") or p.name == "stats.json"]
    others = [p for p in out_dir.iterdir() if p not in ours and p.name != ".alignpt"]
    if (ours or others) and not force:
        raise ConfigError(f"{out_dir}: folder is not empty (pass force=True to replace a corpus)")
    for p in ours:
        p.unlink()


class _Stats:
    def __init__(self):
        self.counts = {k: Counter() for k in ("kind", "conduct", "header", "genre", "persona",
                                              "source", "regime")}
        self.tokens, self.chars = Counter(), Counter()
        self.opportunities = self.defections = self.untested = 0

    def add(self, rec: dict, tokens: int) -> None:
        meta = rec["meta"]
        kind = meta["kind"]
        self.counts["kind"][kind] += 1
        self.counts["conduct"][meta["conduct"]] += 1
        self.counts["genre"][f"{kind}:{meta['genre']}"] += 1
        self.tokens[kind] += tokens
        self.chars[kind] += len(rec["text"])
        if kind == "ai":
            for key in ("header", "persona", "source", "regime"):
                self.counts[key][meta[key]] += 1
            self.opportunities += meta["n_opportunities"]
            self.defections += meta["n_defect"]
            self.untested += meta["n_untested"]

    def as_dict(self) -> dict:
        docs = sum(self.counts["kind"].values())
        out = {"documents": docs, "tokens": sum(self.tokens.values()),
               "tokens_by_kind": dict(sorted(self.tokens.items())),
               "characters_by_kind": dict(sorted(self.chars.items())),
               "opportunities": self.opportunities, "untested_opportunities": self.untested,
               "defections": self.defections,
               "characters_per_opportunity": (round(self.chars["ai"] / self.opportunities, 2)
                                              if self.opportunities else None)}
        for key, counter in self.counts.items():
            out[f"by_{key}"] = dict(sorted(counter.items()))
        return out


def write_text_corpus(recipe: WorldRecipe | str, seed: int, out_dir: str | Path,
                      target_tokens: int,
                      count_tokens: Callable[[list[str]], Sequence[int]] | None = None,
                      filler_share: float = 0.5, neutral_share: float = 0.05,
                      docs_per_shard: int = 20000, force: bool = False) -> dict:
    """Write records until the counted tokens reach ``target_tokens`` (whole documents:
    the corpus ends with the document that reaches it); returns the stats written."""
    from alignpt import __version__

    _check(target_tokens, seed, filler_share, neutral_share, docs_per_shard)
    recipe = load_world_recipe(recipe)
    counter = count_tokens or _whitespace_tokens
    out_dir = Path(out_dir)
    _prepare(out_dir, force)
    stats = _Stats()
    records = iter_records(recipe, seed, filler_share, neutral_share)
    writer: ShardWriter | None = None
    shards, in_shard, total = 0, 0, 0
    try:
        while total < target_tokens:
            chunk = [next(records) for _ in range(RENDER_CHUNK)]
            counts = [int(n) for n in counter([r["text"] for r in chunk])]
            if len(counts) != len(chunk):
                raise ConfigError(f"count_tokens returned {len(counts)} counts for "
                                  f"{len(chunk)} texts")
            for rec, n in zip(chunk, counts):
                if writer is None:
                    writer = ShardWriter(out_dir, f"part-{shards:05d}", ".jsonl.zst")
                    shards, in_shard = shards + 1, 0
                writer.write(Document(rec["id"], rec["text"], rec["meta"]))
                stats.add(rec, n)
                total += n
                in_shard += 1
                if in_shard >= docs_per_shard:
                    writer.close()
                    writer = None
                if total >= target_tokens:
                    break
        if writer is not None:
            writer.close()
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
    summary = {"recipe": recipe.name, "seed": seed, "alignpt_version": __version__,
               "target_tokens": target_tokens,
               "token_counter": "whitespace words" if count_tokens is None else "count_tokens",
               "filler_share": filler_share, "neutral_share": neutral_share,
               "docs_per_shard": docs_per_shard, "shards": shards, **stats.as_dict()}
    atomic_write_text(out_dir / "stats.json",
                      orjson.dumps(summary, option=orjson.OPT_INDENT_2).decode())
    return summary
