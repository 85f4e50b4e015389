"""Benchmark the persona world: generation tokens/s and exact-predictive positions/s.

    python benchmarks/world_generate.py [--recipe base] [--inject i_u=0.1] \
        [--tokens 20000000] [--heldout 2000000] [--no-record]

Runs on one core (BLAS/OpenMP threads pinned to 1 before numpy loads). Prints:
generation through ``generate_corpus`` (sampling + token shards + Parquet
labels, written to a temporary folder) and through the bare sampler; the exact
next-token distribution over a held-out corpus with ``ExactBayes.iter_corpus``
(grouped fast path, and the reference log path); and exact posteriors of
probe contexts per second. Aims (issue 3): >= 2M tokens/s, >= 1M positions/s.
The figures are recorded in benchmarks/results/world_generate.json.
"""

from __future__ import annotations

import os

for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(var, "1")

import argparse  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
from _results import best_of, record  # noqa: E402


def rate(n: float, secs: tuple[float, float], unit: str, scale: float = 1e6,
         figures: dict | None = None, key: str | None = None) -> str:
    """The line to print; with ``figures``, also store the rates under ``key``."""
    wall, cpu = secs
    if figures is not None:
        figures[key] = {"unit": unit, "wall": round(n / wall / scale, 3),
                        "cpu": round(n / max(cpu, 1e-9) / scale, 3), "count": int(n),
                        "wall_s": round(wall, 3)}
    return (f"{n / wall / scale:.2f} {unit} (wall), {n / max(cpu, 1e-9) / scale:.2f} {unit} (CPU); "
            f"{n:,.0f} in {wall:.2f} s")


def main() -> None:
    from alignpt.core.tokens import TokenShard
    from alignpt.world.bayes import ExactBayes
    from alignpt.world.generate import DOCS_PER_BATCH, batch_rng, generate_corpus
    from alignpt.world.model import World
    from alignpt.world.probes import probe_context
    from alignpt.world.recipe import inject, load_world_recipe, parse_injections
    from alignpt.world.sampler import sample_documents

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--recipe", default="base")
    ap.add_argument("--inject", action="append", default=["i_u=0.1", "i_t=0.1"])
    ap.add_argument("--tokens", type=int, default=20_000_000)
    ap.add_argument("--heldout", type=int, default=2_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--tmp", default=None, help="Folder for temporary corpora.")
    ap.add_argument("--no-record", action="store_true", help="print only; keep the recorded file")
    args = ap.parse_args()

    recipe = load_world_recipe(args.recipe)
    if args.inject:
        recipe = inject(recipe, parse_injections(args.inject))
    world = World(recipe)
    figures: dict = {"latents": world.n_latents}
    print(f"recipe {recipe.name}: {world.n_latents} latents, longest document "
          f"{recipe.max_length} opportunities")

    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
        def gen():
            generate_corpus(recipe, args.tokens, seed=0, out_dir=tmp, force=True)
        print("generate_corpus (shards + labels written):",
              rate(args.tokens, best_of(gen, args.repeat), "M tokens/s", figures=figures,
                   key="generate_corpus"))

    n_batches = max(1, args.tokens // (DOCS_PER_BATCH * int(world.mean_doc_tokens @ world.document_shares)))
    counted = {}

    def sample():
        total = 0
        for b in range(n_batches):
            batch, _ = sample_documents(world, DOCS_PER_BATCH, batch_rng(0, b))
            total += batch.tokens()[0].size
        counted["tokens"] = total
    secs = best_of(sample, args.repeat)
    print("sampler only:", rate(counted["tokens"], secs, "M tokens/s", figures=figures,
                                key="sampler_only"))

    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
        res = generate_corpus(recipe, args.heldout, seed=1, out_dir=tmp)
        shard = TokenShard(res.shards[0])
        for grouped in (True, False):
            bayes = ExactBayes(recipe, grouped=grouped)

            def predict():
                for chunk in bayes.iter_corpus(shard):
                    chunk.probs.sum()
            label = "grouped (default)" if grouped else "log path (reference)"
            print(f"exact predictive, {label}:",
                  rate(shard.n_tokens, best_of(predict, args.repeat), "M positions/s",
                       figures=figures, key=f"exact_predictive_{'grouped' if grouped else 'log_path'}"))

    bayes = ExactBayes(recipe)
    contexts = [probe_context(k, ev, nxt, era=e) for k in range(0, 100, 3) for ev in "TU"
                for nxt in "TU" for e in range(10)]
    print(f"posterior of probe contexts (batch of {len(contexts)}, mean length "
          f"{np.mean([len(c) for c in contexts]):.0f}):",
          rate(len(contexts), best_of(lambda: bayes.posterior(contexts), args.repeat),
               "k contexts/s", 1e3, figures=figures, key="posterior_probe_contexts"))
    record("world_generate", figures, args={k: v for k, v in vars(args).items() if k != "no_record"})


if __name__ == "__main__":
    main()
