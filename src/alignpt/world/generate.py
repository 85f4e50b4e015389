"""``alignpt world generate``: write a world corpus as token shards plus latent labels.

Output folder::

    part-00000.bin / .docs.npy / .json    token shards (alignpt.core.tokens format; source
                                           names = recipe source names; the vocabulary
                                           is in the sidecar's tokenizer field)
    part-00000.labels.parquet             one row per document: source, header, era,
                                           persona, regime, length, tau, n_defect,
                                           first_defect (the latent truth, for analysis)
    config.yaml                           resolved recipe + seed + version + git revision
    stats.json                            counts per source/persona/regime, seconds

Determinism: documents are drawn in fixed batches of ``DOCS_PER_BATCH``, batch b
from PCG64 seeded by ``SeedSequence(seed, spawn_key=(b,))``. The document stream
therefore depends only on the recipe and the seed: a larger ``--tokens`` extends
it, ``--shard-tokens`` only changes where it is cut, and two runs write
byte-identical shards and labels (stats.json also records wall time). A filtered
source drops documents from its batches (:mod:`alignpt.world.sampler`), so a
one-source recipe filtered is its unfiltered corpus, same seed, less the
documents that show a defection.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import orjson

from alignpt.core.atomic import atomic_write_text
from alignpt.core.config import write_resolved_config
from alignpt.core.errors import ConfigError, DataError
from alignpt.core.outdir import OutputLock
from alignpt.core.tokens import TokenShardWriter
from alignpt.world.model import World
from alignpt.world.recipe import WorldRecipe, load_world_recipe
from alignpt.world.sampler import NO_HEADER, DocBatch, sample_documents
from alignpt.world.vocab import BOS, EOS, HEADERS, PAD, VOCAB_SIZE, tokenizer_spec

__all__ = ["generate_corpus", "GenerateResult", "read_labels", "batch_rng", "DOCS_PER_BATCH"]

DOCS_PER_BATCH = 8192
LABEL_COLUMNS = ("source", "header", "era", "persona", "regime", "length", "tau", "n_defect",
                 "first_defect")


def batch_rng(seed: int, batch: int) -> np.random.Generator:
    """The generator of document batch ``batch`` (explicitly derived sub-seed)."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(batch,))))


@dataclass
class GenerateResult:
    out_dir: Path
    shards: list[Path]
    stats: dict = field(default_factory=dict)


class _Stats:
    def __init__(self, world: World):
        self.world = world
        S, P, R = len(world.source_names), len(world.personas), len(world.regimes)
        self.src_docs = np.zeros(S, np.int64)
        self.src_tokens = np.zeros(S, np.int64)
        self.src_opps = np.zeros(S, np.int64)
        self.src_defects = np.zeros(S, np.int64)
        self.persona_docs = np.zeros(P, np.int64)
        self.regime_docs = np.zeros(R, np.int64)
        self.rejected = 0

    def add(self, b: DocBatch, doc_len: np.ndarray) -> None:
        S = len(self.src_docs)
        self.src_docs += np.bincount(b.source, minlength=S)
        self.src_tokens += np.bincount(b.source, weights=doc_len, minlength=S).astype(np.int64)
        self.src_opps += np.bincount(b.source, weights=b.length, minlength=S).astype(np.int64)
        self.src_defects += np.bincount(b.source, weights=b.n_defect(), minlength=S).astype(np.int64)
        self.persona_docs += np.bincount(b.persona, minlength=len(self.persona_docs))
        self.regime_docs += np.bincount(b.regime, minlength=len(self.regime_docs))

    def as_dict(self) -> dict:
        w = self.world
        total = int(self.src_tokens.sum())
        return {
            "tokens": total, "documents": int(self.src_docs.sum()),
            "rejected_documents": self.rejected,
            "sources": {name: {"documents": int(self.src_docs[k]), "tokens": int(self.src_tokens[k]),
                               "token_share": float(self.src_tokens[k] / max(total, 1)),
                               "target_token_share": float(w.token_share[k]),
                               "opportunities": int(self.src_opps[k]),
                               "defections": int(self.src_defects[k])}
                        for k, name in enumerate(w.source_names)},
            "personas": {p.spec: int(c) for p, c in zip(w.personas, self.persona_docs)},
            "regimes": {r.spec: int(c) for r, c in zip(w.regimes, self.regime_docs)},
        }


def _labels_table(world: World, b: DocBatch):
    import pyarrow as pa

    def dictionary(idx, names):
        return pa.DictionaryArray.from_arrays(pa.array(idx.astype(np.int32)), pa.array(names))

    return pa.table({
        "source": dictionary(b.source, world.source_names),
        "header": dictionary(b.header, list(HEADERS) + ["none"]),
        "era": pa.array(b.era.astype(np.int8)),
        "persona": dictionary(b.persona, [p.spec for p in world.personas]),
        "regime": dictionary(b.regime, [r.spec for r in world.regimes]),
        "length": pa.array(b.length.astype(np.int32)),
        "tau": pa.array(b.tau.astype(np.int32)),
        "n_defect": pa.array(b.n_defect().astype(np.int32)),
        "first_defect": pa.array(b.first_defect().astype(np.int32)),
    })


def read_labels(shard: str | Path) -> dict[str, np.ndarray]:
    """Latent labels of a generated shard: column -> array (strings for categories)."""
    import pyarrow.parquet as pq

    base = Path(shard)
    if base.suffix in (".bin", ".json"):
        base = base.with_suffix("")
    path = base.with_name(base.name + ".labels.parquet")
    try:
        table = pq.read_table(path)
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read latent labels: {exc}", str(path)) from None
    import pyarrow as pa

    out = {}
    for name in table.column_names:
        col = table.column(name)
        out[name] = (np.array(col.to_pylist(), dtype=object) if pa.types.is_dictionary(col.type)
                     else col.to_numpy())
    return out


def _prepare_out(out_dir: Path, force: bool) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    ours = [p for p in out_dir.iterdir() if p.name.startswith("part-")
            or p.name in ("config.yaml", "stats.json")]
    # .alignpt holds the folder's lock (and only our bookkeeping): never the user's data.
    others = [p for p in out_dir.iterdir() if p not in ours and p.name != ".alignpt"]
    if ours and not force:
        raise ConfigError(f"{out_dir}: already holds a generated corpus (use --force to replace it)")
    if others and not ours and not force:
        raise ConfigError(f"{out_dir}: folder is not empty (use --force to write into it)")
    for p in ours:
        p.unlink()


def generate_corpus(recipe: WorldRecipe | str, n_tokens: int, seed: int, out_dir: str | Path,
                    shard_tokens: int | None = None, force: bool = False,
                    progress: bool = False) -> GenerateResult:
    """Generate about ``n_tokens`` tokens (whole documents: the corpus ends with the
    document that reaches ``n_tokens``) into ``out_dir``. See the module docstring."""
    recipe = load_world_recipe(recipe)
    if n_tokens <= 0:
        raise ConfigError(f"--tokens must be positive, got {n_tokens}")
    if shard_tokens is not None and shard_tokens <= 0:
        raise ConfigError(f"--shard-tokens must be positive, got {shard_tokens}")
    if seed < 0:
        raise ConfigError(f"--seed must be non-negative, got {seed}")
    out_dir = Path(out_dir)
    with OutputLock(out_dir):
        return _write_corpus(recipe, n_tokens, seed, out_dir, shard_tokens, force, progress)


def _write_corpus(recipe: WorldRecipe, n_tokens: int, seed: int, out_dir: Path,
                  shard_tokens: int | None, force: bool, progress: bool) -> GenerateResult:
    _prepare_out(out_dir, force)
    world = World(recipe)
    shard_cap = shard_tokens or n_tokens
    stats = _Stats(world)
    shards: list[Path] = []
    writer: TokenShardWriter | None = None
    label_parts: list[DocBatch] = []
    written, batch_idx, t0 = 0, 0, time.perf_counter()
    in_shard = 0

    def open_writer() -> TokenShardWriter:
        nonlocal in_shard
        in_shard = 0
        path = out_dir / f"part-{len(shards):05d}"
        shards.append(path)
        return TokenShardWriter(path, vocab_size=VOCAB_SIZE, eos_id=EOS, bos_id=BOS, pad_id=PAD,
                                tokenizer=tokenizer_spec(), sources=world.source_names,
                                metadata={"world": {"recipe": recipe.name, "seed": seed,
                                                    "shard": len(shards) - 1}})

    def close_writer() -> None:
        nonlocal writer, label_parts
        import pyarrow.parquet as pq

        # labels first: the shard's .json sidecar, written by close(), marks it complete
        table = _labels_table(world, DocBatch.concat(label_parts))
        tmp = shards[-1].with_name(f".{shards[-1].name}.labels.tmp")
        pq.write_table(table, tmp, compression="zstd")
        tmp.replace(shards[-1].with_name(shards[-1].name + ".labels.parquet"))
        writer.close()
        writer, label_parts = None, []

    from alignpt.core.console import RateColumn, progress_bar

    with progress_bar(RateColumn("tok", "tok/s"), disable=not progress, transient=True) as bar:
        task = bar.add_task("generating", total=n_tokens, tok=0)
        try:
            while written < n_tokens:
                batch, raw_pos = sample_documents(world, DOCS_PER_BATCH, batch_rng(seed, batch_idx))
                batch_idx += 1
                _, doc_len = batch.tokens()
                need = np.searchsorted(np.cumsum(doc_len), n_tokens - written) + 1
                batch = batch.take(np.arange(min(int(need), batch.n_docs)))
                # documents a filtered source dropped before the last one this corpus keeps
                used = batch.n_docs
                stats.rejected += (int(raw_pos[used - 1]) + 1 - used if used < raw_pos.size
                                   else DOCS_PER_BATCH - raw_pos.size)
                while batch.n_docs:
                    if writer is None:
                        writer = open_writer()
                    # whole documents up to the one that fills the shard
                    lens = 3 + (batch.header != NO_HEADER) + 2 * batch.length
                    k = min(int(np.searchsorted(np.cumsum(lens), shard_cap - in_shard)) + 1,
                            batch.n_docs)
                    part = batch.take(np.arange(k))
                    ids, part_len = part.tokens()
                    writer.add_documents(ids, part_len, [world.source_names[s] for s in part.source])
                    label_parts.append(part)
                    stats.add(part, part_len)
                    written += int(part_len.sum())
                    in_shard += int(part_len.sum())
                    bar.update(task, completed=min(written, n_tokens), tok=written)
                    batch = batch.take(np.arange(k, batch.n_docs))
                    if in_shard >= shard_cap:
                        close_writer()
            if writer is not None:
                close_writer()
        except BaseException:
            if writer is not None:
                writer.abort()          # no half-written shard is left visible
            raise
    seconds = time.perf_counter() - t0
    summary = stats.as_dict()
    summary.update({"seed": seed, "recipe": recipe.name, "shards": len(shards),
                    "seconds": round(seconds, 3),
                    "tokens_per_second": round(summary["tokens"] / max(seconds, 1e-9), 1)})
    write_resolved_config(out_dir, recipe, inputs=[],
                          extra={"generate": {"tokens": n_tokens, "seed": seed,
                                              "shard_tokens": shard_tokens,
                                              "docs_per_batch": DOCS_PER_BATCH}})
    atomic_write_text(out_dir / "stats.json", orjson.dumps(summary, option=orjson.OPT_INDENT_2).decode())
    return GenerateResult(out_dir=out_dir, shards=shards, stats=summary)
