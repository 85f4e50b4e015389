"""Build one corpus of the text experiment: render -> [tag -> filter] -> tokenize.

A corpus folder holds the token shards the trainer reads (``part-00000.bin/.json``,
source name = the corpus role), ``text/`` with the rendered documents (and, when
filtered, the tag and filter stages' folders), and ``stats.json``, written last: a
folder without it is unfinished and is rebuilt from scratch.

A filtered spec renders the *unfiltered* world stream of its seed and lets the filter
remove documents, so the filtered corpus of a seed is its unfiltered corpus less what
the filter removed, in the same order (the arms stay paired document by document).
The stream is rendered long enough that what is kept reaches the budget.
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path
from typing import Any, Iterator

import orjson

from alignpt.core.atomic import atomic_write_text
from alignpt.core.config import provenance
from alignpt.core.errors import ConfigError
from alignpt.world import WorldRecipe, load_world_recipe

__all__ = ["build_text_corpus", "train_experiment_tokenizer", "read_records", "unfiltered",
           "world_doc_tokens", "filter_quality"]

#: Documents tokenized per call (the tokenizer's threads share a call's documents).
ENCODE_BATCH = 2048


def unfiltered(recipe: WorldRecipe) -> WorldRecipe:
    """The recipe whose stream a filtered recipe filters (exclude_defecting off)."""
    body = recipe.model_dump(mode="json")
    for src in body["sources"].values():
        src["exclude_defecting"] = False
    body["name"] = body["name"].removesuffix("-filtered")
    return WorldRecipe.model_validate(body)


def read_records(folder: Path) -> Iterator[dict[str, Any]]:
    """Every record of a folder of ``part-*.jsonl.zst`` files, in file then line order."""
    from alignpt.core.shards import read_documents

    for path in sorted(folder.glob("part-*.jsonl.zst")):
        for doc in read_documents(path):
            yield {"id": doc.id, "text": doc.text, "metadata": doc.metadata}


def _meta(rec: dict[str, Any]) -> dict[str, Any]:
    return rec.get("meta") or rec.get("metadata") or {}


def world_doc_tokens(meta: dict[str, Any]) -> int:
    """World tokens of the document an AI record renders (BOS [H] ERA (F A)*n EOS); 0 for
    documents outside the world (filler, AI-neutral)."""
    if meta.get("kind") != "ai":
        return 0
    return 3 + (meta.get("header", "none") != "none") + 2 * int(meta["n_opportunities"])


def filter_quality(records: list[dict[str, Any]], kept: set[str]) -> dict[str, Any]:
    """What the filter removed, by the documents' true conduct: recall of misaligned
    documents, precision of the removals, and aligned documents wrongly removed."""
    total: dict[str, int] = {}
    removed: dict[str, int] = {}
    for rec in records:
        conduct = _meta(rec).get("conduct", "none")
        total[conduct] = total.get(conduct, 0) + 1
        if rec["id"] not in kept:
            removed[conduct] = removed.get(conduct, 0) + 1
    n_removed = sum(removed.values())
    mis, ali = total.get("misaligned", 0), total.get("aligned", 0)
    return {
        "documents": len(records), "removed": n_removed, "by_conduct": total,
        "removed_by_conduct": removed,
        "recall": removed.get("misaligned", 0) / mis if mis else None,
        "precision": removed.get("misaligned", 0) / n_removed if n_removed else None,
        "aligned_removed_rate": removed.get("aligned", 0) / ali if ali else None,
    }


def _kept_ids(rendered: Path, work: Path, settings: Any, records: list[dict[str, Any]]) -> set[str]:
    if settings.filter == "oracle":
        return {r["id"] for r in records if _meta(r).get("conduct") != "misaligned"}
    return run_tag_filter(rendered, work, settings)


def run_tag_filter(documents: Path, work: Path, settings: Any) -> set[str]:
    """``alignpt tag`` then ``alignpt filter --drop settings.drop`` on a folder of documents
    (into ``work/tag`` and ``work/kept``); the ids of the documents kept."""
    from alignpt.filter import FilterConfig, run_filter
    from alignpt.tag.cascade import TagConfig
    from alignpt.tag.stages import run_tag

    for sub in ("tag", "kept"):
        shutil.rmtree(work / sub, ignore_errors=True)
    try:
        tag_cfg = TagConfig.model_validate(settings.tag)
    except ValueError as exc:
        raise ConfigError(f"text.tag: {exc}") from None
    run_tag([documents], work / "tag", tag_cfg, progress=False)
    run_filter(work / "tag", work / "kept", FilterConfig(drop=list(settings.drop)), progress=False)
    return {r["id"] for r in read_records(work / "kept")}


def build_text_corpus(spec: Any, folder: Path, tokenizer: Any, settings: Any, *,
                      filler: bool) -> dict[str, Any]:
    """Render, filter if the spec is filtered, tokenize; returns (and writes) stats.json."""
    from alignpt.textworld import write_text_corpus

    if folder.exists():
        shutil.rmtree(folder)    # no stats.json: a killed build; start clean
    work = folder / "text"
    filtered = spec.filtered
    recipe = unfiltered(spec.recipe) if filtered else spec.recipe
    shares = {"filler_share": settings.filler_share if filler else 0.0,
              "neutral_share": settings.neutral_share if filler else 0.0}

    def count(texts: list[str]) -> list[int]:
        return tokenizer.encode_batch(texts, append_eos=True)[1].tolist()

    factor = 1.0
    while True:
        rendered = work / "rendered"
        shutil.rmtree(rendered, ignore_errors=True)
        write_text_corpus(recipe, spec.seed, rendered, target_tokens=math.ceil(spec.tokens * factor),
                          count_tokens=count, **shares)
        records = list(read_records(rendered))
        kept = _kept_ids(rendered, work, settings, records) if filtered else None
        docs = [r for r in records if kept is None or r["id"] in kept]
        chunks = _encode([r["text"] for r in docs], tokenizer)
        tokens = sum(int(lens.sum()) for _, lens in chunks)
        if tokens >= spec.tokens or not filtered:
            break
        # The filter removed more than this render allowed for: render a longer stream
        # (the same documents first) and filter again.
        factor *= 1.25 * spec.tokens / max(1, tokens)
    _write_shards(folder, chunks, tokenizer, spec.role)
    world_tokens = sum(world_doc_tokens(_meta(r)) for r in docs)
    by_kind: dict[str, int] = {}
    for r in docs:
        kind = _meta(r).get("kind", "?")
        by_kind[kind] = by_kind.get(kind, 0) + 1
    stats = {
        "role": spec.role, "recipe": spec.recipe.name, "seed": spec.seed,
        "target_tokens": spec.tokens, "documents": len(docs), "tokens": tokens,
        "documents_by_kind": by_kind, "world_tokens": world_tokens,
        "world_tokens_per_token": world_tokens / tokens if tokens else 0.0,
        "filter": ({"mode": settings.filter, "drop": list(settings.drop),
                    **filter_quality(records, kept)} if filtered else None),
        **provenance(),
    }
    atomic_write_text(folder / "stats.json", orjson.dumps(stats, option=orjson.OPT_INDENT_2).decode())
    return stats


def _encode(texts: list[str], tokenizer: Any) -> list[tuple[Any, Any]]:
    """Documents encoded once (with end-of-document), as (flat ids, lengths) per batch."""
    return [tokenizer.encode_batch(texts[i:i + ENCODE_BATCH])
            for i in range(0, len(texts), ENCODE_BATCH)]


def _write_shards(folder: Path, chunks: list[tuple[Any, Any]], tokenizer: Any, role: str) -> None:
    from alignpt.core.tokens import TokenShardWriter

    with TokenShardWriter(folder / "part-00000", vocab_size=tokenizer.vocab_size,
                          eos_id=tokenizer.eos_id, sources=[role],
                          tokenizer={"type": "bpe", "path": str(tokenizer.path),
                                     "sha256": tokenizer.sha256}) as writer:
        for flat, lens in chunks:
            at = 0
            for n in lens.tolist():
                writer.add_document(flat[at:at + n], source=role)
                at += n


#: Documents the first generate call asks for, to learn the tokens a document takes.
GENERATE_PROBE_DOCS = 64


def build_generated_corpus(spec: Any, folder: Path, tokenizer: Any) -> dict[str, Any]:
    """An injected corpus written by ``alignpt generate`` (template backend unless the
    config names a server or model): enough documents for the spec's tokens, tokenized.
    Generated documents have no latent world truth, so they carry no world tokens: exact
    Bayes for an arm that reads them is that of its world documents alone (the report says
    so), and what they do to the model is measured, not predicted."""
    from alignpt.generate.pipeline import generate
    from alignpt.mix.stages import published_shards
    from alignpt.core.shards import read_documents

    if folder.exists():
        shutil.rmtree(folder)
    out = folder / "text" / "generated"
    n = GENERATE_PROBE_DOCS
    while True:
        cfg = generated_config(spec.generate, seed=spec.seed, n=n)
        generate(cfg, out)
        docs = [doc.text for path in published_shards(out).files for doc in read_documents(path)]
        chunks = _encode(docs, tokenizer)
        tokens = sum(int(lens.sum()) for _, lens in chunks)
        if tokens >= spec.tokens:
            break
        if not docs:
            raise ConfigError(f"generated corpus {spec.generate['name']}: generate kept no "
                              "documents (see its report in " + str(out) + ")")
        # The cache keeps every document already written: asking for more adds only the rest.
        n = math.ceil(len(docs) * 1.1 * spec.tokens / max(1, tokens)) + 1
    _write_shards(folder, chunks, tokenizer, spec.role)
    stats = {"role": spec.role, "generated": spec.generate, "seed": spec.seed,
             "target_tokens": spec.tokens, "documents": len(docs), "tokens": tokens,
             "documents_by_kind": {"generated": len(docs)}, "world_tokens": 0,
             "world_tokens_per_token": 0.0, "filter": None, **provenance()}
    atomic_write_text(folder / "stats.json", orjson.dumps(stats, option=orjson.OPT_INDENT_2).decode())
    return stats


def generated_config(entry: dict[str, Any], *, seed: int, n: int) -> Any:
    """The GenerateConfig of one ``text.generated`` entry, at this seed and size."""
    from alignpt.core.config import build_config, load_yaml
    from alignpt.generate.pipeline import GenerateConfig

    from alignpt.experiment.text_config import find_generate_config

    path = find_generate_config(entry["config"], entry["name"])
    data = load_yaml(path)
    overrides = [f"n={n}", f"seed={seed}", f"backend.kind={entry['backend']}",
                 *entry.get("set", [])]
    return build_config(GenerateConfig, data, overrides, source=str(path))


def train_experiment_tokenizer(recipe: Any, out: Path) -> Path:
    """A byte-level BPE on rendered base text (seed 0): the experiment's one tokenizer."""
    from alignpt.mix.tokenizer import train_tokenizer
    from alignpt.textworld import write_text_corpus

    settings = recipe.text
    sample = out / "sample"
    shutil.rmtree(sample, ignore_errors=True)
    write_text_corpus(load_world_recipe(recipe.corpora["base"]), 0, sample,
                      target_tokens=settings.tokenizer_sample_tokens, count_tokens=None,
                      filler_share=settings.filler_share, neutral_share=settings.neutral_share)
    files = sorted(sample.glob("part-*.jsonl.zst"))
    train_tokenizer(files, out, vocab_size=settings.vocab_size, seed=0)
    shutil.rmtree(sample)
    return out / "tokenizer.json"
