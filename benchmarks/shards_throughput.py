"""Shard I/O throughput on this machine, beside `zstdcat FILE | wc -l` as the floor.

Prints MB/s of uncompressed JSONL for: zstdcat | wc -l (the machine's floor),
reading .jsonl.zst into Documents, reading Parquet into Documents, and a
.jsonl.zst -> Parquet convert through the executor (one worker). All on one
core. Usage: python benchmarks/shards_throughput.py [--mb 200] [--no-record]
The figures are recorded in benchmarks/results/shards_throughput.json.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
from _results import record

from alignpt.convert import ConvertConfig, convert_shards
from alignpt.core.documents import Document
from alignpt.core.shards import ShardWriter, read_documents


def english_like(rng: np.random.Generator, n_words: int, vocab: list[str], p: np.ndarray) -> str:
    words = rng.choice(len(vocab), size=n_words, p=p)
    return " ".join(vocab[i] for i in words)


def make_corpus(folder: Path, target_mb: int) -> tuple[Path, int]:
    rng = np.random.default_rng(0)
    syll = ["an", "ti", "mo", "re", "la", "ne", "so", "ku", "pri", "ast", "ol", "em", "ing", "ed"]
    vocab = ["".join(rng.choice(syll, size=rng.integers(1, 4))) for _ in range(20000)]
    ranks = np.arange(1, len(vocab) + 1)
    p = 1 / ranks
    p /= p.sum()
    path_stem = "bench"
    raw_bytes = 0
    with ShardWriter(folder, path_stem, ".jsonl.zst") as w:
        i = 0
        while w.bytes < target_mb * 1_000_000:
            text = english_like(rng, int(rng.integers(100, 900)), vocab, p)
            w.write(Document(f"doc-{i}", text, {"url": f"https://example.org/{i}", "lang": "en"}))
            i += 1
        raw_bytes = w.bytes
    return folder / f"{path_stem}.jsonl.zst", raw_bytes


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--mb", type=int, default=200, help="uncompressed corpus size in MB")
    ap.add_argument("--no-record", action="store_true", help="print only; keep the recorded file")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="alignpt-bench-"))
    try:
        zst, raw = make_corpus(tmp / "in", args.mb)
        mb = raw / 1e6
        print(f"corpus: {mb:.0f} MB uncompressed JSONL, {zst.stat().st_size / 1e6:.0f} MB .zst")
        # warm the page cache so every reader starts equal
        zst.read_bytes()

        floor = min(timed(lambda: subprocess.run(f"zstdcat {zst} | wc -l", shell=True, check=True,
                                                 capture_output=True)) for _ in range(3))
        read_zst = min(timed(lambda: sum(1 for _ in read_documents(zst))) for _ in range(2))
        conv = timed(lambda: convert_shards([zst], tmp / "pq", ConvertConfig(to="parquet"),
                                            progress=False))
        pq = next((tmp / "pq").glob("*.parquet"))
        read_pq = min(timed(lambda: sum(1 for _ in read_documents(pq))) for _ in range(2))

        rows = [("zstdcat | wc -l (floor)", floor), ("read .jsonl.zst -> Documents", read_zst),
                ("read .parquet -> Documents", read_pq), ("convert .jsonl.zst -> .parquet", conv)]
        print(f"{'what':34s} {'seconds':>8s} {'MB/s':>8s} {'vs floor':>9s}")
        for name, sec in rows:
            print(f"{name:34s} {sec:8.2f} {mb / sec:8.1f} {floor / sec:8.0%}")
        record("shards_throughput", {
            "corpus_mb_uncompressed": round(mb, 1), "corpus_mb_zst": round(zst.stat().st_size / 1e6, 1),
            "rows": [{"what": name, "seconds": round(sec, 3), "mb_per_s": round(mb / sec, 1),
                      "vs_floor": round(floor / sec, 3)} for name, sec in rows]},
            args={"mb": args.mb})
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
