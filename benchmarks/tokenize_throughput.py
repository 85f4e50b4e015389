"""Tokenization and mixing throughput, and peak memory as the corpus grows.

Prints, on this machine:

1. encoding with a 32k byte-level BPE: the tokenizer alone (``encode_batch_fast`` on
   in-memory text) and the whole cache pipeline (read ``.jsonl.zst`` shards, encode,
   write token shards), with one process using the tokenizer's threads and with one
   process per core;
2. mixing: tokens/s and MB/s of token data written (native + Megatron + Parquet) for a
   recipe with a late window, repetition and a separate group, from a warm cache;
3. peak RSS of tokenizing and of mixing, each in a fresh process, at several corpus
   sizes: flat means neither the corpus nor its tokens are held in memory.

The corpus is synthetic English-like text (a Zipfian vocabulary of 60k made-up words,
punctuation, numbers, capitals), since nothing may be downloaded. Usage:

    python benchmarks/tokenize_throughput.py [--mb 40] [--sizes 1,2,4] [--workers 2]
                                             [--plot docs/figures/mix] [--no-record]

``--plot DIR`` also draws the peak-memory curve and where each source's tokens sit in
the largest mix's stream (needs matplotlib). A full run records its figures in
benchmarks/results/tokenize_throughput.json.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator

import numpy as np
from _results import record

# alignpt is imported inside the functions that need it: --encode-only runs with just
# numpy and tokenizers (e.g. on a quiet machine pinned to two cores with taskset).


def english_like(mb: float, seed: int = 0) -> Iterator[str]:
    """Documents of made-up Zipfian English-like text, ``mb`` MB in all (numpy only).

    The word list is the same for every seed (only the documents differ), so corpora
    of different sizes have the same statistics and the same bytes per token.
    """
    rng = np.random.default_rng(12345)
    syll = ["an", "ti", "mo", "re", "la", "ne", "so", "ku", "pri", "ast", "ol", "em", "ing",
            "ed", "th", "er", "qu", "ion", "al", "st", "ch", "ou", "wy", "bl"]
    vocab = np.asarray(["".join(rng.choice(syll, size=rng.integers(1, 5)))
                        for _ in range(60000)])
    p = 1 / np.arange(1, len(vocab) + 1) ** 1.05
    p /= p.sum()
    punct = np.array([" ", " ", " ", " ", " ", " ", " ", ", ", ". ", "; ", "\n"])
    rng = np.random.default_rng(seed)
    total = 0
    while total < mb * 1e6:
        n = int(rng.integers(80, 900))
        words = vocab[rng.choice(len(vocab), size=n, p=p)]
        caps = rng.random(n) < 0.06
        words[caps] = np.char.capitalize(words[caps])
        nums = rng.random(n) < 0.02
        words[nums] = rng.integers(0, 10000, nums.sum()).astype(str)
        text = "".join(np.char.add(words, rng.choice(punct, size=n)).tolist())
        total += len(text.encode())
        yield text


def make_corpus(folder: Path, mb: float, seed: int = 0, shard_mb: float = 4.0) -> int:
    """Write ``mb`` MB of text as .jsonl.zst shards of ~``shard_mb`` MB; return text bytes."""
    from alignpt.core.documents import Document
    from alignpt.core.shards import ShardWriter

    total = part = 0
    writer = None
    for i, text in enumerate(english_like(mb, seed)):
        if writer is None:
            writer = ShardWriter(folder, f"part-{total // int(shard_mb * 1e6):04d}-{i}",
                                 ".jsonl.zst")
        writer.write(Document(f"d{i}", text))
        n = len(text.encode())
        total += n
        part += n
        if part >= shard_mb * 1e6:
            writer.close()
            writer, part = None, 0
    if writer is not None:
        writer.close()
    return total


def train(corpus: Path, out: Path) -> float:
    from alignpt.core.executor import expand_inputs
    from alignpt.mix.tokenizer import train_tokenizer

    res = train_tokenizer(expand_inputs([corpus]), out, vocab_size=32000, sample_bytes=30_000_000)
    print(f"tokenizer: vocabulary {res.vocab_size:,} trained on {res.sample_bytes / 1e6:.0f} MB "
          f"in {res.seconds:.1f} s")
    return res.seconds


def _batches(texts: list[str], chars: int = 1 << 20) -> list[list[str]]:
    out, cur, size = [], [], 0
    for t in texts:                    # the ~1 MB batches the cache pipeline encodes
        cur.append(t)
        size += len(t)
        if size >= chars:
            out.append(cur)
            cur, size = [], 0
    return out + ([cur] if cur else [])


def _encode_worker(tok_path: str, batches: list[list[str]]) -> tuple[int, float]:
    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    from alignpt.mix.tokenizer import load_tokenizer

    tok = load_tokenizer(tok_path)
    tok.encode_batch(["warm up"])
    t0 = time.perf_counter()
    n = sum(int(tok.encode_batch(b)[0].size) for b in batches)
    return n, time.perf_counter() - t0


def encode_only(tok_path: str, mb: float, procs: int) -> dict:
    """Encoding alone, text in memory: one process with the tokenizer's threads, then
    ``procs`` processes with one thread each (the mixer's two modes). Returns the rates."""
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    from alignpt.mix.tokenizer import load_tokenizer

    texts = list(english_like(mb, seed=1))
    nbytes = sum(len(t.encode()) for t in texts)
    batches = _batches(texts)
    tok = load_tokenizer(tok_path)
    t0 = time.perf_counter()
    n = sum(int(tok.encode_batch(b)[0].size) for b in batches)
    dt = time.perf_counter() - t0
    print(f"encode, 1 process, tokenizer threads: {n / dt / 1e6:.2f} M tokens/s "
          f"({nbytes / dt / 1e6:.1f} MB/s, {nbytes / n:.2f} bytes/token, vocab {tok.vocab_size})")
    figures = {"text_mb": round(nbytes / 1e6, 1), "bytes_per_token": round(nbytes / n, 2),
               "one_process_m_tokens_per_s": round(n / dt / 1e6, 3),
               "one_process_mb_per_s": round(nbytes / dt / 1e6, 2)}
    shares = [batches[i::procs] for i in range(procs)]
    with ProcessPoolExecutor(procs, mp_context=get_context("spawn")) as pool:
        t0 = time.perf_counter()
        results = list(pool.map(_encode_worker, [tok_path] * procs, shares))
        wall = time.perf_counter() - t0
    n = sum(r[0] for r in results)
    slowest = max(r[1] for r in results)
    print(f"encode, {procs} processes x 1 thread: {n / slowest / 1e6:.2f} M tokens/s "
          f"({nbytes / slowest / 1e6:.1f} MB/s; {n / wall / 1e6:.2f} M/s counting process start)")
    figures.update({"processes": procs, "processes_m_tokens_per_s": round(n / slowest / 1e6, 3),
                    "processes_mb_per_s": round(nbytes / slowest / 1e6, 2),
                    "processes_m_tokens_per_s_with_start": round(n / wall / 1e6, 3)})
    return figures


def child(args: argparse.Namespace) -> None:
    """Run one stage in this fresh process and print its figures with peak RSS."""
    from alignpt.mix import load_recipe, run_mix
    from alignpt.mix.encode import TokenCache, encode_inputs
    from alignpt.mix.tokenizer import load_tokenizer
    from alignpt.core.executor import expand_inputs

    t0 = time.perf_counter()
    if args.child == "encode":
        tok = load_tokenizer(args.tok)
        st = encode_inputs(TokenCache(args.cache, tok), expand_inputs([args.corpus]),
                           workers=args.workers, progress=False)
        out = {"tokens": st.tokens, "bytes": st.bytes, "documents": st.documents}
    else:
        res = run_mix(load_recipe(args.recipe), args.out, cache_dir=args.cache, progress=False)
        written = sum(f.stat().st_size for fmt in ("native", "megatron", "parquet")
                      for f in (Path(args.out) / fmt).rglob("*") if f.is_file())
        out = {"tokens": res.stats["tokens"], "bytes_written": written}
    out["seconds"] = time.perf_counter() - t0
    # the largest of this process and its (finished) worker processes
    out["max_rss_mb"] = max(resource.getrusage(who).ru_maxrss / 1024
                            for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    print(json.dumps(out))


def run_child(*argv: str) -> dict:
    proc = subprocess.run([sys.executable, __file__, *argv], capture_output=True, text=True)
    if proc.returncode:
        raise SystemExit(proc.stderr[-3000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def mix_recipe(path: Path, tok: Path, corpus: Path, aligned: Path, tokens: int) -> Path:
    import yaml

    path.write_text(yaml.safe_dump({
        "name": "bench", "seed": 0, "tokenizer": {"path": str(tok)},
        "sources": {"base": {"paths": [str(corpus)], "max_repetition": 1},
                    "aligned": {"paths": [str(aligned)], "max_repetition": 50},
                    "cpt": {"paths": [str(aligned)], "max_repetition": 50}},
        "phases": [{"name": "pretrain", "tokens": tokens,
                    "mix": ["base", {"source": "aligned", "share": 0.01, "window": "last 10%"},
                            {"source": "cpt", "share": 0.005, "separate": True}]}],
        "output": {"formats": ["native", "megatron", "parquet"],
                   "max_tokens_per_file": 4_000_000}}))
    return path


def plot(folder: Path, rows: list[dict], mix_dir: Path) -> None:
    """Peak RSS against corpus size, and the mix's composition along its token stream."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from alignpt.core.tokens import open_token_shards

    folder.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(5.5, 3.4))
    mb = [r["text_mb"] for r in rows]
    ax.plot(mb, [r["encode_rss"] for r in rows], "o-", label="tokenize (largest of 2 processes)")
    ax.plot(mb, [r["mix_rss"] for r in rows], "s-", label="mix (3 formats)")
    ax.set(xlabel="corpus text (MB)", ylabel="peak RSS (MB)", ylim=(0, None),
           title="Peak memory does not grow with the corpus")
    ax.legend()
    fig.tight_layout()
    fig.savefig(folder / "memory.png", dpi=150)

    lengths, sources = [], []
    shards = open_token_shards(mix_dir / "native" / "pretrain")
    for shard in shards:
        docs = np.asarray(shard.docs)
        lengths.append(docs[:, 1] - docs[:, 0])
        sources.append(np.asarray(shard.sources)[docs[:, 2]])
    lengths, sources = np.concatenate(lengths), np.concatenate(sources)
    pos = (np.cumsum(lengths) - lengths) / lengths.sum()
    bins = np.linspace(0, 1, 101)
    total = np.histogram(pos, bins, weights=lengths)[0]
    aligned = np.histogram(pos[sources == "aligned"], bins,
                           weights=lengths[sources == "aligned"])[0]
    fig, ax = plt.subplots(figsize=(5.5, 3.0))
    ax.bar(bins[:-1] * 100, 100 * aligned / total, width=1.0, align="edge", color="tab:green")
    ax.set(xlabel="position in the pretraining token stream (%)",
           ylabel="aligned tokens (%)",
           title="1% aligned tokens, all in the last 10% of the stream")
    fig.tight_layout()
    fig.savefig(folder / "late-window.png", dpi=150)
    print(f"figures: {folder / 'memory.png'}, {folder / 'late-window.png'}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=float, default=40, help="text MB of the smallest corpus")
    ap.add_argument("--sizes", default="1,2,4", help="corpus sizes as multiples of --mb")
    ap.add_argument("--workers", type=int, default=2, help="processes for the per-core run")
    ap.add_argument("--encode-only", action="store_true",
                    help="only time encoding with --tok (needs just numpy and tokenizers)")
    ap.add_argument("--child", choices=["encode", "mix"])
    ap.add_argument("--tok")
    ap.add_argument("--cache")
    ap.add_argument("--corpus")
    ap.add_argument("--recipe")
    ap.add_argument("--out")
    ap.add_argument("--plot", type=Path, help="write figures to this folder")
    ap.add_argument("--no-record", action="store_true", help="print only; keep the recorded file")
    args = ap.parse_args()
    if args.child:
        return child(args)
    if args.encode_only:
        encode_only(args.tok, args.mb, args.workers)
        return

    load_start = os.getloadavg()[0]
    print(f"cores: {os.cpu_count()}, load average: {load_start:.2f}")
    root = Path(tempfile.mkdtemp(prefix="alignpt-tok-bench-"))
    sizes = [float(s) for s in args.sizes.split(",")]
    corpora = []
    for s in sizes:
        folder = root / f"corpus-{s:g}x"
        nbytes = make_corpus(folder, args.mb * s, seed=int(s * 10))
        corpora.append((s, folder, nbytes))
    aligned = root / "aligned"
    make_corpus(aligned, 2, seed=99, shard_mb=1)
    tok = root / "tok"
    train_seconds = train(corpora[0][1], tok)
    figures: dict = {"load_average_start": round(load_start, 2),
                     "tokenizer_train_s": round(train_seconds, 1),
                     "encode_in_memory": encode_only(str(tok), min(args.mb, 20), args.workers),
                     "cache_pipeline": [], "sizes": []}

    _, small, small_bytes = corpora[0]
    for workers, label in ((1, "1 process, tokenizer threads"),
                           (args.workers, f"{args.workers} processes")):
        r = run_child("--child", "encode", "--tok", str(tok), "--cache",
                      str(root / f"cache-w{workers}"), "--corpus", str(small),
                      "--workers", str(workers))
        print(f"cache pipeline ({label}): {r['tokens'] / r['seconds'] / 1e6:.2f} M tokens/s, "
              f"{r['bytes'] / r['seconds'] / 1e6:.1f} MB/s of JSON, peak RSS "
              f"{r['max_rss_mb']:.0f} MB ({r['tokens']:,} tokens)")
        figures["cache_pipeline"].append({
            "mode": label, "m_tokens_per_s": round(r["tokens"] / r["seconds"] / 1e6, 3),
            "mb_per_s_json": round(r["bytes"] / r["seconds"] / 1e6, 2),
            "peak_rss_mb": round(r["max_rss_mb"]), "tokens": r["tokens"]})

    rows = []
    print("\ncorpus   text MB   encode tok/s   encode RSS MB   mix tokens   mix tok/s   "
          "mix MB/s   mix RSS MB")
    for s, folder, nbytes in corpora:
        cache = root / f"cache-{s:g}x"
        enc = run_child("--child", "encode", "--tok", str(tok), "--cache", str(cache),
                        "--corpus", str(folder), "--workers", str(args.workers))
        recipe = mix_recipe(root / f"r{s:g}.yaml", tok, folder, aligned,
                            int(enc["tokens"] * 0.98))
        run_child("--child", "encode", "--tok", str(tok), "--cache", str(cache),
                  "--corpus", str(aligned), "--workers", "1")
        mix = run_child("--child", "mix", "--recipe", str(recipe), "--cache", str(cache),
                        "--out", str(root / f"mix-{s:g}x"))
        print(f"{s:>5g}x  {nbytes / 1e6:8.0f}   {enc['tokens'] / enc['seconds'] / 1e6:9.2f} M"
              f"   {enc['max_rss_mb']:13.0f}   {mix['tokens']:>10,}   "
              f"{mix['tokens'] / mix['seconds'] / 1e6:7.2f} M   "
              f"{mix['bytes_written'] / mix['seconds'] / 1e6:8.1f}   {mix['max_rss_mb']:10.0f}")
        rows.append({"text_mb": nbytes / 1e6, "encode_rss": enc["max_rss_mb"],
                     "mix_rss": mix["max_rss_mb"]})
        figures["sizes"].append({
            "size": s, "text_mb": round(nbytes / 1e6, 1),
            "encode_m_tokens_per_s": round(enc["tokens"] / enc["seconds"] / 1e6, 3),
            "encode_peak_rss_mb": round(enc["max_rss_mb"]), "mix_tokens": mix["tokens"],
            "mix_m_tokens_per_s": round(mix["tokens"] / mix["seconds"] / 1e6, 3),
            "mix_mb_per_s_written": round(mix["bytes_written"] / mix["seconds"] / 1e6, 1),
            "mix_peak_rss_mb": round(mix["max_rss_mb"])})
    if args.plot:
        plot(args.plot, rows, root / f"mix-{sizes[-1]:g}x")
    figures["load_average_end"] = round(os.getloadavg()[0], 2)
    record("tokenize_throughput", figures,
           args={"mb": args.mb, "sizes": args.sizes, "workers": args.workers})
    print(f"\n(files under {root}; delete when done)")


if __name__ == "__main__":
    main()
