"""Tagging throughput on this machine, on English text, beside GNU grep as the reference.

One run measures, on the same text and the same term list (the shipped rules,
brace-expanded: every literal of every category):

1. the rules stage (all categories, the two-stage window rule, per-term
   counts) in MB/s with each matcher engine, against
   ``grep -F -i -w -f TERMS`` on the same documents, one per line;
2. the whole cascade (rules -> classifier on routed documents) on
   ``.jsonl.zst`` shards through the executor, in MB/s per core, with the
   flag rates it produced: each size in a fresh process (start-up included),
   the marginal rate between the 1x and 4x inputs, and warm (the 4x input
   timed in a process that has just tagged the 1x input: start-up excluded
   without differencing two noisy timings);
3. peak resident memory of the cascade for 1x, 2x and 4x the input (each in a
   fresh process), which should stay flat: documents stream in batches.

The English text is what this machine has: the prose documentation shipped
with Python (pydoc topics) and the installed packages (README, METADATA, rst),
cut into ~3 KB documents, with the dev set's AI documents mixed in at 2% so
the classifier has work. Each timing is the best of ``--repeat`` runs.

Usage: python benchmarks/tag_throughput.py [--mb 30] [--shard-mb 32] [--json out.json]
                                           [--rules-disable NAMES] [--no-record]
The figures are recorded in benchmarks/results/tag_throughput.json;
``--rules-disable ''`` (every routing rule on, the broad one included) times the
cascade on the same text and records tag_throughput-rules_all.json.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson
from _results import record

from alignpt.core.documents import Document
from alignpt.core.shards import ShardWriter
from alignpt.tag.matchers import available_engines
from alignpt.tag.rules import load_rules
from alignpt.tag.tagger import RuleTagger


def english_pool() -> list[str]:
    """~3 KB documents of English prose found on this machine, plus dev-set AI documents."""
    import pydoc_data.topics as topics

    texts = list(topics.topics.values())
    site = Path(sys.prefix) / "lib"
    for pattern in ("**/METADATA", "**/*.md", "**/*.rst"):
        for f in sorted(glob.glob(str(site / pattern), recursive=True)):
            try:
                texts.append(Path(f).read_text(encoding="utf-8"))
            except (UnicodeDecodeError, OSError):
                continue
    for f in sorted(glob.glob("/usr/share/common-licenses/*")):
        try:
            texts.append(Path(f).read_text(encoding="utf-8"))
        except (UnicodeDecodeError, OSError, IsADirectoryError):
            continue
    docs = []
    for t in texts:
        for i in range(0, len(t), 3000):
            chunk = t[i:i + 3000].strip()
            if len(chunk) > 200:
                docs.append(chunk)
    from importlib import resources

    dev = resources.files("alignpt") / "data" / "tag" / "devset.jsonl"
    ai = [orjson.loads(line)["text"] for line in dev.read_bytes().splitlines()]
    rng = random.Random(0)
    rng.shuffle(docs)
    out = []
    for i, d in enumerate(docs):
        out.append(d)
        if i % 50 == 0:
            out.append(ai[(i // 50) % len(ai)])
    return out


def web_density(pool: list[str], share: float) -> list[str]:
    """The pool with routed documents subsampled to ``share`` of the whole.

    The pool is AI-dense (the default rules route 30% of it); on a web crawl
    the published filter flagged 9.3%. Every document the rules do not route is
    kept, and routed ones are kept in their order until they are ``share``.
    """
    tagger = RuleTagger()  # the rules as the cascade runs them by default
    routed = [r.routed for r in tagger.tag_many([d.encode() for d in pool])]
    plain = sum(not r for r in routed)
    budget = int(share / (1 - share) * plain)
    out = []
    for d, r in zip(pool, routed):
        if r:
            if budget <= 0:
                continue
            budget -= 1
        out.append(d)
    return out


def corpus(pool: list[str], mb: float) -> list[str]:
    out, size, i = [], 0, 0
    while size < mb * 1e6:
        d = pool[i % len(pool)]
        out.append(d)
        size += len(d.encode())
        i += 1
    return out


def best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def bench_rules(docs: list[str], tmp: Path, repeat: int) -> dict:
    nbytes = sum(len(d.encode()) for d in docs)
    rules = load_rules()
    terms = sorted({lit.decode() for c in rules.categories.values() for t in c.terms
                    for lit in t.literals})
    (tmp / "terms.txt").write_text("\n".join(terms) + "\n")
    with open(tmp / "docs.txt", "w", encoding="utf-8") as fh:
        for d in docs:
            fh.write(" ".join(d.split()) + "\n")
    out: dict = {"mb": round(nbytes / 1e6, 2), "documents": len(docs), "terms": len(terms)}
    # grep -i in a UTF-8 locale is ~30x slower than in the C locale here, so it is
    # timed once on the first tenth of the lines; the C locale is the reference.
    lines = (tmp / "docs.txt").read_text(encoding="utf-8").splitlines(keepends=True)
    (tmp / "docs10.txt").write_text("".join(lines[: len(lines) // 10]), encoding="utf-8")
    for locale, name, rep in (("C", "docs.txt", repeat), ("C.UTF-8", "docs10.txt", 1)):
        env = {**os.environ, "LC_ALL": locale}
        path = tmp / name
        cmd = ["grep", "-c", "-F", "-i", "-w", "-f", str(tmp / "terms.txt"), str(path)]
        secs = best(lambda: subprocess.run(cmd, env=env, capture_output=True, check=False), rep)
        out[f"grep_LC_ALL={locale}"] = round(path.stat().st_size / secs / 1e6, 1)
    datas = [d.encode() for d in docs]
    for engine in available_engines():
        tagger = RuleTagger(rules, engine)
        tagger.tag_many([b"warm up", b"the AI"])
        sample = datas if engine != "re" else datas[: max(1, len(datas) // 100)]
        size = sum(map(len, sample))
        rep = repeat if engine != "re" else 1
        # batches of 256, as the cascade calls it (one scan per batch), and one
        # call per document for comparison
        secs = best(lambda: [tagger.tag_many(sample[i:i + 256])
                             for i in range(0, len(sample), 256)], rep)
        out[engine] = round(size / secs / 1e6, 1)
        secs = best(lambda: [tagger.tag(d) for d in sample], rep)
        out[f"{engine}_per_document"] = round(size / secs / 1e6, 1)
    ref = out["grep_LC_ALL=C"]
    out["x_grep"] = {e: round(out[e] / ref, 2) for e in available_engines()}
    return out


def write_shards(docs: list[str], folder: Path, shards: int) -> int:
    per = len(docs) // shards
    total = 0
    for s in range(shards):
        with ShardWriter(folder, f"shard-{s:03d}", ".jsonl.zst") as w:
            for i, d in enumerate(docs[s * per:(s + 1) * per]):
                w.write(Document(f"{s}-{i}", d, {"url": f"https://example.org/{s}/{i}"}))
            total += w.bytes
    return total


_CHILD = """
import json, os, resource, shutil, sys, time
from alignpt.tag.cascade import TagConfig
from alignpt.tag.stages import run_tag
cfg = TagConfig(workers=int(sys.argv[3]))
if os.environ.get("ALIGNPT_BENCH_RULES_DISABLE") is not None:
    names = os.environ["ALIGNPT_BENCH_RULES_DISABLE"]
    cfg.rules.disable = [n for n in names.split(",") if n]
if len(sys.argv) > 4:
    # warm: imports, matcher and model loaded, and every code path run once, on a
    # separate input, before the clock starts
    run_tag([sys.argv[4]], sys.argv[2] + "-warmup", cfg, progress=False)
    shutil.rmtree(sys.argv[2] + "-warmup")
t0, c0 = time.perf_counter(), os.times()
res = run_tag([sys.argv[1]], sys.argv[2], cfg, progress=False)
wall, c1 = time.perf_counter() - t0, os.times()
# CPU seconds of this process and its workers: on a shared or virtual machine this
# is steadier than wall time, and bytes per CPU second is the rate per core
cpu = (c1.user - c0.user) + (c1.system - c0.system) + (c1.children_user - c0.children_user) \
    + (c1.children_system - c0.children_system)
c = res.stats["counters"]
print(json.dumps({"bytes_in": res.stats["bytes_in"], "wall": wall, "cpu": cpu,
                  "documents": c["tag/documents"], "rules_flagged": c.get("tag/rules_flagged", 0),
                  "routed": c.get("tag/routed", 0), "flagged": c.get("tag/flagged", 0),
                  "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "children_maxrss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
                  / 1024}))
"""


def rates(runs: list[dict]) -> dict:
    """MB/s wall and MB per CPU second, each from the best of ``runs`` (same input)."""
    size = runs[0]["bytes_in"]
    return {"mb_per_s": round(size / min(x["wall"] for x in runs) / 1e6, 1),
            "mb_per_cpu_s": round(size / min(x["cpu"] for x in runs) / 1e6, 1)}


def run_cascade(shards: Path, out: Path, workers: int, warm: Path | None = None) -> dict:
    shutil.rmtree(out, ignore_errors=True)
    args = [sys.executable, "-c", _CHILD, str(shards), str(out), str(workers)]
    proc = subprocess.run(args + ([str(warm)] if warm else []), capture_output=True, text=True,
                          check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mb", type=float, default=30, help="text for the rules benchmark, MB")
    ap.add_argument("--shard-mb", type=float, default=32, help="size of one cascade shard, MB "
                    "(runs of 1, 2 and 4 shards; larger shards amortise process start-up)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--web-share", type=float, default=0.10,
                    help="also time the cascade on the text with routed documents cut to this "
                         "share (0 = skip)")
    ap.add_argument("--rules-disable", default=None, metavar="NAMES",
                    help="comma-separated rules the cascade switches off ('' = every rule on, "
                         "the broad routing rule included); default: the shipped default. The "
                         "web-density text is still cut by the default routing, so the runs "
                         "compare on the same text")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    ap.add_argument("--no-record", action="store_true", help="print only; keep the recorded file")
    args = ap.parse_args()
    if args.rules_disable is not None:
        os.environ["ALIGNPT_BENCH_RULES_DISABLE"] = args.rules_disable
    tmp = Path(tempfile.mkdtemp(prefix="alignpt-tag-bench-"))
    results: dict = {"cpus": os.cpu_count(), "load_average": os.getloadavg()}
    try:
        pool = english_pool()
        rules = bench_rules(corpus(pool, args.mb), tmp, args.repeat)
        results["rules"] = rules
        print(f"rules stage on {rules['mb']} MB ({rules['documents']:,} documents, "
              f"{rules['terms']:,} terms), MB/s on one core:")
        for k in ("grep_LC_ALL=C", "grep_LC_ALL=C.UTF-8", *available_engines()):
            extra = (f"  ({rules['x_grep'][k]}x grep; one call per document: "
                     f"{rules[k + '_per_document']})") if k in rules["x_grep"] else ""
            print(f"  {k:22s} {rules[k]:8.1f}{extra}")

        cascade, cascade_runs = [], []
        for mult in (1, 2, 4):
            folder = tmp / f"in-{mult}"
            raw = write_shards(corpus(pool, args.shard_mb * mult), folder, mult)
            runs = [run_cascade(folder, tmp / f"out-{mult}", 1) for _ in range(args.repeat)]
            cascade_runs.append(runs)
            r = min(runs, key=lambda x: x["wall"])
            r["raw_mb"] = round(raw / 1e6, 1)
            r.update(rates(runs))
            r["peak_rss_mb"] = round(max(x["maxrss_mb"] for x in runs), 1)
            cascade.append(r)
        results["cascade"] = cascade
        # startup (imports, model loading) is paid once per process; the marginal rate
        # between the 1x and 4x inputs is what a long run over many shards sees
        a, b = cascade[0], cascade[-1]
        results["cascade_steady_mb_per_s"] = round(
            (b["bytes_in"] - a["bytes_in"]) / (b["wall"] - a["wall"]) / 1e6, 1)
        cpu_a = min(x["cpu"] for x in cascade_runs[0])
        cpu_b = min(x["cpu"] for x in cascade_runs[-1])
        results["cascade_steady_mb_per_cpu_s"] = round(
            (b["bytes_in"] - a["bytes_in"]) / (cpu_b - cpu_a) / 1e6, 1)
        # the same 4x input timed in a process that has already tagged the 1x input:
        # the warm rate without differencing two noisy timings
        warm = [run_cascade(tmp / "in-4", tmp / "out-warm", 1, warm=tmp / "in-1")
                for _ in range(args.repeat)]
        warm_rates = rates(warm)
        results["cascade_warm_mb_per_cpu_s"] = warm_rates["mb_per_cpu_s"]
        results["cascade_warm_mb_per_s"] = warm_rates["mb_per_s"]
        if args.web_share:
            web = tmp / "in-web"
            web_pool = web_density(pool, args.web_share)
            write_shards(corpus(web_pool, args.shard_mb * 4), web, 4)
            warm_in = tmp / "in-web-warm"
            write_shards(corpus(web_pool[::-1], args.shard_mb), warm_in, 1)
            runs = [run_cascade(web, tmp / "out-web", 1, warm=warm_in)
                    for _ in range(args.repeat)]
            results["cascade_web_density"] = {
                "routed_share": round(runs[0]["routed"] / runs[0]["documents"], 4),
                **rates(runs)}
        print("whole cascade, .jsonl.zst shards -> attributes, one worker (MB/s per core):")
        for r in cascade:
            n = r["documents"]
            print(f"  {r['raw_mb']:6.1f} MB {n:7,} docs: {r['mb_per_s']:6.1f} MB/s wall, "
                  f"{r['mb_per_cpu_s']:6.1f} MB per CPU second, peak RSS "
                  f"{r['peak_rss_mb']:6.1f} MB; rules flag {r['rules_flagged'] / n:.2%}, route "
                  f"{r['routed'] / n:.2%}, cascade flags {r['flagged'] / n:.2%}")
        print(f"  steady state (marginal rate between 1x and 4x): "
              f"{results['cascade_steady_mb_per_s']} MB/s wall, "
              f"{results['cascade_steady_mb_per_cpu_s']} MB per CPU second")
        print(f"  warm (4x input after a 1x warm-up in the same process, best of "
              f"{args.repeat}): {results['cascade_warm_mb_per_s']} MB/s wall, "
              f"{results['cascade_warm_mb_per_cpu_s']} MB per CPU second")
        if args.web_share:
            w = results["cascade_web_density"]
            print(f"  warm, the same text with routed documents cut to {w['routed_share']:.1%} "
                  f"(web density; the published filter flagged 9.3% of DCLM): "
                  f"{w['mb_per_s']} MB/s wall, {w['mb_per_cpu_s']} MB per CPU second")
        two = run_cascade(tmp / "in-4", tmp / "out-4w", 2)
        results["cascade_2_workers"] = {"mb_per_s": round(two["bytes_in"] / two["wall"] / 1e6, 1)}
        print(f"  4 shards on 2 workers: {results['cascade_2_workers']['mb_per_s']} MB/s")
        print(f"(load average while running: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cpus)")
        results["load_average_end"] = os.getloadavg()
        if args.json:
            args.json.write_text(json.dumps(results, indent=2))
        name = "tag_throughput"
        if args.rules_disable is not None:
            name += "-rules_" + (args.rules_disable.replace(",", "+") or "all")
        record(name, results,
               args={"mb": args.mb, "shard_mb": args.shard_mb, "repeat": args.repeat,
                     "web_share": args.web_share, "rules_disable": args.rules_disable})
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
