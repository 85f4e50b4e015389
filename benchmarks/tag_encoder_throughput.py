"""Tagging throughput with a fine-tuned encoder as the classifier stage, beside the shipped model.

An encoder reads each routed document through a transformer, so its cost is
per routed byte, far above the linear model's; what a user needs to know is
what that does to a whole run. Measured here, on the same English text as
``tag_throughput.py`` (this machine's prose documentation with dev-set AI
documents mixed in):

1. the classifier stage alone on the dev and test sets' AI documents (the text
   routing sends it): documents/s and MB/s, for the encoder and the shipped
   linear model;
2. the whole cascade (rules -> classifier) in one process, warm, on
   ``.jsonl.zst`` shards cut to web density (``--web-share`` of documents
   routed), for both models: MB/s wall and MB per CPU second.

Usage: python benchmarks/tag_encoder_throughput.py --classifier DIR [--mb 8] [--repeat 2]
where DIR is a folder written by ``alignpt tag train --backend hf``.
The figures are recorded in benchmarks/results/tag_encoder_throughput.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from importlib import resources
from pathlib import Path

import orjson
from _results import record
from tag_throughput import corpus, english_pool, web_density, write_shards

from alignpt.tag.cascade import TagConfig
from alignpt.tag.classifier import TagClassifier, default_classifier_path
from alignpt.tag.stages import run_tag


def ai_documents() -> list[str]:
    data = resources.files("alignpt") / "data" / "tag"
    rows = [orjson.loads(line) for f in ("devset.jsonl", "testset.jsonl")
            for line in (data / f).read_bytes().splitlines() if line.strip()]
    return [r["text"] for r in rows if r["label"] != "non_ai"]


def classifier_rate(path: Path, texts: list[str], repeat: int) -> dict:
    clf = TagClassifier.load(path)
    clf.predict_proba(texts[:32])  # warm: weights paged in, kernels chosen
    size = sum(len(t.encode()) for t in texts)
    best = min(_timed(lambda: clf.predict_proba(texts)) for _ in range(repeat))
    return {"documents": len(texts), "mb": round(size / 1e6, 3),
            "docs_per_s": round(len(texts) / best, 1), "mb_per_s": round(size / best / 1e6, 3)}


def cascade_rate(path: Path, shards: Path, warm: Path, out: Path, repeat: int) -> dict:
    cfg = TagConfig(classifier={"path": str(path)})
    run_tag([warm], out / "warm", cfg, progress=False)
    runs = []
    for k in range(repeat):
        t0, c0 = time.perf_counter(), os.times()
        res = run_tag([shards], out / f"run-{k}", cfg, progress=False)
        wall, c1 = time.perf_counter() - t0, os.times()
        cpu = (c1.user - c0.user) + (c1.system - c0.system)
        runs.append((wall, cpu, res.stats))
    wall = min(r[0] for r in runs)
    cpu = min(r[1] for r in runs)
    stats = runs[0][2]
    c = stats["counters"]
    return {"mb_per_s": round(stats["bytes_in"] / wall / 1e6, 2),
            "mb_per_cpu_s": round(stats["bytes_in"] / cpu / 1e6, 2),
            "routed_share": round(c.get("tag/routed", 0) / c["tag/documents"], 4),
            "flagged_share": round(c.get("tag/flagged", 0) / c["tag/documents"], 4)}


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--classifier", type=Path, required=True,
                    help="a folder written by alignpt tag train --backend hf")
    ap.add_argument("--mb", type=float, default=8, help="web-density text for the cascade, MB")
    ap.add_argument("--web-share", type=float, default=0.10)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--no-record", action="store_true", help="print only; keep the recorded file")
    args = ap.parse_args()
    if not (args.classifier / "model.json").is_file():
        raise SystemExit(f"{args.classifier}: not a classifier folder (no model.json)")
    models = {"encoder": args.classifier}
    with resources.as_file(default_classifier_path()) as shipped:
        models["shipped"] = Path(shipped)
        tmp = Path(tempfile.mkdtemp(prefix="alignpt-tag-enc-bench-"))
        results: dict = {"cpus": os.cpu_count(), "load_average": os.getloadavg(),
                         "encoder": json.loads((args.classifier / "model.json").read_text())
                         .get("params", {})}
        try:
            texts = ai_documents()
            results["classifier_stage"] = {name: classifier_rate(p, texts, args.repeat)
                                           for name, p in models.items()}
            pool = web_density(english_pool(), args.web_share)
            write_shards(corpus(pool, args.mb), tmp / "web", 2)
            write_shards(corpus(pool[::-1], 1), tmp / "warm", 1)
            results["cascade_web_density"] = {
                name: cascade_rate(p, tmp / "web", tmp / "warm", tmp / name, args.repeat)
                for name, p in models.items()}
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    print("classifier stage alone, on the dev and test sets' AI documents (one process):")
    for name, r in results["classifier_stage"].items():
        print(f"  {name:8s} {r['docs_per_s']:9.1f} docs/s  {r['mb_per_s']:8.3f} MB/s "
              f"({r['documents']} documents, {r['mb']} MB)")
    print(f"whole cascade at web density ({args.mb} MB, warm, one worker):")
    for name, r in results["cascade_web_density"].items():
        print(f"  {name:8s} {r['mb_per_s']:8.2f} MB/s wall  {r['mb_per_cpu_s']:8.2f} MB per CPU "
              f"second  (routed {r['routed_share']:.1%}, flagged {r['flagged_share']:.2%})")
    print(f"(load average while running: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cpus)")
    record("tag_encoder_throughput", results,
           args={"mb": args.mb, "web_share": args.web_share, "repeat": args.repeat})


if __name__ == "__main__":
    main()
