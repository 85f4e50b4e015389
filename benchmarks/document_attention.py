"""Training step time with per-document attention (``model.attention: document``) against
the packed default, through the real Trainer (sampler, loss masks, AdamW, clipping).

Two trainers of one shape, differing only in ``attention``, take turns step by step on
the same machine, so background load hits both alike; each step's time is its own
(``train_step``: forward, backward, optimizer), row building timed apart (it builds the
segment ids and offsets for both). The figure is the median of per-step ratios.

    python benchmarks/document_attention.py                   # the persona-world demo model
    python benchmarks/document_attention.py --preset testbed  # theory.md's model, 32 x 256

Recorded in benchmarks/results/document_attention-<preset>.json (``--no-record``: print only).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from _results import record

PRESETS = {
    # recipes/experiments/persona-world.yaml: the model every arm of the demo trains
    "world": dict(arch="gpt2", d_model=48, n_layer=2, n_head=4, seq_len=128, batch_size=16),
    # theory.md section 3: the persona-world testbed model
    "testbed": dict(arch="gpt2", d_model=64, n_layer=2, n_head=4, seq_len=256, batch_size=32),
}
VOCAB = 24  # about the world's vocabulary


def write_corpus(folder: Path, n_tokens: int, seed: int = 0) -> Path:
    """World-like documents: BOS ... EOS, 4 to 244 tokens (the world's range)."""
    from alignpt.core.tokens import TokenShardWriter

    rng = np.random.default_rng(seed)
    lengths: list[int] = []
    while sum(lengths) < n_tokens:
        lengths.append(int(rng.integers(4, 245)))
    flat = rng.integers(3, VOCAB, size=sum(lengths))
    ends = np.cumsum(lengths)
    flat[ends - 1], flat[ends - np.asarray(lengths)] = 2, 1
    path = folder / "bench"
    with TokenShardWriter(path, vocab_size=VOCAB, eos_id=2, bos_id=1) as w:
        w.add_documents(flat, lengths, "bench")
    return path


def trainer(shape: dict, attention: str, corpus: Path, out: Path, steps: int, threads: int):
    from alignpt.train.config import TrainPlan
    from alignpt.train.trainer import Trainer

    plan = TrainPlan.model_validate({
        "seq_len": shape["seq_len"], "batch_size": shape["batch_size"],
        "model": {"arch": shape["arch"], "n_layer": shape["n_layer"], "n_head": shape["n_head"],
                  "d_model": shape["d_model"], "attention": attention},
        "sources": {"bench": {"paths": [str(corpus)]}},
        "phases": [{"name": "bench", "steps": steps, "mix": ["bench"],
                    "schedule": {"kind": "constant", "peak_lr": 1e-3}}],
        "runtime": {"device": "cpu", "threads": threads},
        "log": {"progress": False, "plot": False},
    })
    t = Trainer(plan, out, progress=False)
    t.sampler.start_phase(0)
    t.model.train()
    return t


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="world", choices=sorted(PRESETS))
    ap.add_argument("--arch", choices=["gpt2", "llama"], help="override the preset's block flavour")
    ap.add_argument("--steps", type=int, default=60, help="timed steps of each")
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads (the demo trains on 1)")
    ap.add_argument("--note", help="recorded with the figures")
    ap.add_argument("--no-record", action="store_true", help="print only")
    args = ap.parse_args(argv)
    shape = dict(PRESETS[args.preset])
    if args.arch:
        shape["arch"] = args.arch
    torch.set_num_threads(args.threads)
    total = args.warmup + args.steps
    times: dict[str, list[float]] = {"packed": [], "document": []}
    rows_s: dict[str, list[float]] = {"packed": [], "document": []}
    with tempfile.TemporaryDirectory() as tmp:
        corpus = write_corpus(Path(tmp), int(total * shape["batch_size"] * (shape["seq_len"] + 1) * 1.1))
        runs = {a: trainer(shape, a, corpus, Path(tmp) / a, total, args.threads) for a in times}
        for step in range(total):
            order = list(runs) if step % 2 == 0 else list(reversed(runs))  # neither always first
            for name in order:
                t = runs[name]
                t0 = time.perf_counter()
                rows = t.sampler.next_rows(shape["batch_size"])
                t1 = time.perf_counter()
                t.train_step(rows, 1e-3)
                t2 = time.perf_counter()
                if step >= args.warmup:
                    rows_s[name].append(t1 - t0)
                    times[name].append(t2 - t1)
        for t in runs.values():
            t.close()
    ratios = [d / p for p, d in zip(times["packed"], times["document"])]
    q1, med, q3 = statistics.quantiles(ratios, n=4)
    ms = {k: 1e3 * statistics.median(v) for k, v in times.items()}
    rows_ms = {k: 1e3 * statistics.median(v) for k, v in rows_s.items()}
    print(f"{args.preset} ({shape['arch']} d={shape['d_model']} L={shape['n_layer']}, "
          f"{shape['batch_size']} x {shape['seq_len']}), {args.threads} thread(s), {args.steps} steps each")
    for k in times:
        print(f"  {k:8s}: train_step {ms[k]:.2f} ms median, row building {rows_ms[k]:.2f} ms")
    print(f"  document / packed step time: {statistics.median(ratios):.3f} median of paired steps "
          f"(quartiles {q1:.3f}-{q3:.3f})")
    figures = {"train_step_ms_median": {k: round(v, 3) for k, v in ms.items()},
               "row_building_ms_median": {k: round(v, 3) for k, v in rows_ms.items()},
               "ratio_document_over_packed_median": round(med, 4),
               "ratio_quartiles": [round(q1, 4), round(q3, 4)], "steps": args.steps, "shape": shape,
               "threads": args.threads}
    record(f"document_attention-{args.preset}" + (f"-{args.arch}" if args.arch else ""), figures,
           args={k: v for k, v in vars(args).items() if k not in ("no_record", "note")}, notes=args.note)
    return 0


if __name__ == "__main__":
    sys.exit(main())
