"""Benchmark the English persona corpus: render speed, document sizes, surface variety.

    python benchmarks/textworld_render.py [--recipe base] [--tokens 5000000] [--no-record]

One core. Prints (and records in benchmarks/results/textworld_render.json):
``write_text_corpus`` end to end (render + zstd shards + stats, whitespace token
counter) in documents/s and MB/s of text; the renderer alone on world batches; mean
characters per AI document and per opportunity; and the number of distinct sentences
in 10,000 filler, 10,000 AI-neutral and 10,000 AI documents (surface variety).
"""

from __future__ import annotations

import os

for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(var, "1")

import argparse  # noqa: E402
import re  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
from _results import best_of, record  # noqa: E402


_SENTENCE = re.compile(r"[^.!?\n]+[.!?]?")


def distinct_sentences(texts) -> int:
    return len({s.strip() for t in texts for s in _SENTENCE.findall(t) if s.strip()})


def main() -> None:
    from alignpt.textworld.corpus import write_text_corpus
    from alignpt.textworld.filler import render_filler, render_neutral
    from alignpt.textworld.render import render_batch, seeded_rng
    from alignpt.world.generate import batch_rng
    from alignpt.world.model import World
    from alignpt.world.recipe import load_world_recipe
    from alignpt.world.sampler import sample_documents

    ap = argparse.ArgumentParser()
    ap.add_argument("--recipe", default="base")
    ap.add_argument("--tokens", type=int, default=5_000_000, help="whitespace words to write")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-record", action="store_true")
    args = ap.parse_args()
    recipe = load_world_recipe(args.recipe)
    figures: dict = {}

    out: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        def write():
            out["stats"] = write_text_corpus(recipe, 0, f"{tmp}/c", args.tokens, force=True)
        wall, cpu = best_of(write, args.repeat)
    st = out["stats"]
    mb = sum(st["characters_by_kind"].values()) / 1e6
    figures["write_text_corpus"] = {
        "documents": st["documents"], "words": st["tokens"], "text_MB": round(mb, 2),
        "docs_per_s_wall": round(st["documents"] / wall, 1),
        "docs_per_s_cpu": round(st["documents"] / cpu, 1),
        "MB_per_s_wall": round(mb / wall, 2), "MB_per_s_cpu": round(mb / cpu, 2),
        "wall_s": round(wall, 3)}
    print("write_text_corpus:", figures["write_text_corpus"])

    world = World(recipe)
    batch, _ = sample_documents(world, 4096, batch_rng(0, 0))
    recs: dict = {}

    def render():
        recs["r"] = render_batch(batch, world, 0, 0)
    wall, cpu = best_of(render, args.repeat)
    chars = sum(len(r["text"]) for r in recs["r"])
    opps = int(batch.length.sum())
    figures["render_batch"] = {
        "documents": batch.n_docs, "docs_per_s_wall": round(batch.n_docs / wall, 1),
        "docs_per_s_cpu": round(batch.n_docs / cpu, 1),
        "MB_per_s_wall": round(chars / 1e6 / wall, 2), "MB_per_s_cpu": round(chars / 1e6 / cpu, 2),
        "mean_chars_per_ai_document": round(chars / batch.n_docs, 1),
        "mean_opportunities_per_ai_document": round(opps / batch.n_docs, 2),
        "mean_chars_per_opportunity": round(chars / opps, 1)}
    print("render_batch:", figures["render_batch"])

    ai_texts = [r["text"] for r in recs["r"]]
    batch2, _ = sample_documents(world, 10_000 - len(ai_texts), batch_rng(0, 1))
    ai_texts += [r["text"] for r in render_batch(batch2, world, 0, len(ai_texts))]
    filler = [render_filler(seeded_rng(1, i))[1] for i in range(10_000)]
    neutral = [render_neutral(seeded_rng(2, i))[1] for i in range(10_000)]
    figures["distinct_sentences_in_10k_documents"] = {
        "filler": distinct_sentences(filler), "ai_neutral": distinct_sentences(neutral),
        "ai": distinct_sentences(ai_texts)}
    figures["filler_mean_chars"] = round(float(np.mean([len(t) for t in filler])), 1)
    print("distinct sentences in 10k documents:", figures["distinct_sentences_in_10k_documents"])
    record("textworld_render", figures, args={k: v for k, v in vars(args).items() if k != "no_record"})


if __name__ == "__main__":
    main()
