"""How close does ``alignpt generate`` get to a server's ideal request rate?

A loopback OpenAI-compatible server (``alignpt.generate.mockserver``, in its own process)
answers every request after a fixed latency ``L`` with at most ``S`` requests in service
at once, like an inference server with ``S`` batch slots: no client can exceed ``S / L``
requests per second. The client is the real pipeline (plan, prompts, cache with fsync,
budget, retries, the openai backend) run with ``concurrency = S``; the figure is its
achieved rate over the generation phase divided by ``S / L`` (``fraction``), and the same
over the middle 80% of completions (``steady``: without connection ramp-up and the final
drain, which weigh on short runs).

    python benchmarks/generate_throughput.py                   # default grid, ~1 minute
    python benchmarks/generate_throughput.py --quick           # two points
    python benchmarks/generate_throughput.py --json out.json --figure throughput.png

The figures are recorded in benchmarks/results/generate_throughput.json (``--no-record``: don't).

Nothing leaves 127.0.0.1. Numbers depend on the machine's free cores: the server and the
client each need most of one core at the highest rates.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _results import record

from alignpt.generate.pipeline import GenerateConfig, generate

GRID = {"axes": {"length": {"values": ["short", "medium"]},
                 "genre": {"values": ["news_article", "diary", "incident_report"]}}}
#: (latency s, slots): LLM-server-like points first (seconds per response, hundreds of
#: slots), then short latencies that find the client's own ceiling
DEFAULT_POINTS = [(2.0, 512), (1.0, 256), (0.5, 64), (0.2, 64), (0.1, 64), (0.05, 64),
                  (0.05, 128)]


def start_server(latency: float, slots: int, words: int,
                 jitter: float = 0.0) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-m", "alignpt.generate.mockserver", "--latency",
                             str(latency), "--slots", str(slots), "--words", str(words),
                             "--jitter", str(jitter)],
                            stdout=subprocess.PIPE, text=True)
    url = proc.stdout.readline().strip()
    if not url.startswith("http://127.0.0.1:"):
        proc.kill()
        raise RuntimeError(f"mock server did not start (got {url!r})")
    return proc, url


def measure(latency: float, slots: int, transport: str, seconds: float, words: int) -> dict:
    ideal = slots / latency
    n = max(200, 8 * slots, int(ideal * seconds))  # at least 8 rounds of every slot
    stamps: list[float] = []
    proc, url = start_server(latency, slots, words)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            cfg = GenerateConfig(
                n=n, seed=0, grid=GRID,
                backend={"kind": "openai", "model": "bench", "base_url": url,
                         "api_key_env": None, "concurrency": slots, "transport": transport,
                         "timeout_s": 30},
                quality={"backfire": "off", "repetition": False}, dedup={"enabled": False})
            t0 = time.perf_counter()
            result = generate(cfg, tmp, progress=lambda done, total: stamps.append(
                time.perf_counter()))
            wall = time.perf_counter() - t0
    finally:
        proc.terminate()
        proc.wait(10)
    run = result.stats["run"]
    rate = run["requests_sent"] / run["generate_seconds"]
    # Steady state: completions between 10% and 90% of the run (no ramp-up, no drain).
    lo, hi = int(0.1 * len(stamps)), int(0.9 * len(stamps)) - 1
    steady = (hi - lo) / (stamps[hi] - stamps[lo])
    return {"latency_s": latency, "slots": slots, "transport": transport, "requests": n,
            "ideal_rps": round(ideal, 1), "achieved_rps": round(rate, 1),
            "fraction": round(rate / ideal, 3), "steady_rps": round(steady, 1),
            "steady_fraction": round(steady / ideal, 3), "generate_s": run["generate_seconds"],
            "client_cpu_ms_per_request": round(1000 * run["generate_cpu_seconds"]
                                               / run["requests_sent"], 3),
            "total_s": round(wall, 2), "kept": result.stats["kept"]}


def figure(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker  # noqa: F401 - used through matplotlib.ticker below

    fig, ax = plt.subplots(figsize=(7, 3.8))
    for transport, marker in (("aiohttp", "o"), ("httpx", "s")):
        pts = [r for r in rows if r["transport"] == transport]
        if pts:
            ax.scatter([r["ideal_rps"] for r in pts], [r["fraction"] for r in pts],
                       marker=marker, label=transport, s=40)
            for k, r in enumerate(pts):
                ax.annotate(f"L={r['latency_s'] * 1000:.0f}ms S={r['slots']}",
                            (r["ideal_rps"], r["fraction"]), fontsize=6,
                            xytext=(5, 6 if k % 2 else -9), textcoords="offset points")
    ax.axhline(0.9, color="grey", lw=0.8, ls="--")
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_xticks([128, 256, 512, 1024, 2048])
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("ideal rate S / L (requests/s)")
    ax.set_ylabel("achieved / ideal")
    ax.set_title("alignpt generate against a fixed-latency, fixed-slot server")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="two points only")
    ap.add_argument("--seconds", type=float, default=4.0, help="target length of each run")
    ap.add_argument("--words", type=int, default=200, help="words per response")
    ap.add_argument("--transports", default="aiohttp,httpx")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--figure", type=Path)
    ap.add_argument("--replot", type=Path, help="redraw --figure from a saved --json")
    ap.add_argument("--no-record", action="store_true", help="print only; keep the recorded file")
    args = ap.parse_args()
    if args.replot:
        figure(json.loads(args.replot.read_text())["rows"], args.figure)
        return
    points = [(0.5, 64), (0.1, 64)] if args.quick else DEFAULT_POINTS
    rows = []
    print(f"{'transport':9} {'L ms':>5} {'slots':>5} {'ideal/s':>8} {'achieved/s':>10} "
          f"{'fraction':>8} {'steady':>6} {'client cpu ms/req':>17}")
    for transport in args.transports.split(","):
        for latency, slots in points:
            r = measure(latency, slots, transport, args.seconds, args.words)
            rows.append(r)
            print(f"{transport:9} {latency * 1000:5.0f} {slots:5d} {r['ideal_rps']:8.1f} "
                  f"{r['achieved_rps']:10.1f} {r['fraction']:8.3f} {r['steady_fraction']:6.3f} "
                  f"{r['client_cpu_ms_per_request']:17.3f}", flush=True)
    meta = {"python": platform.python_version(), "cpus": os.cpu_count(),
            "machine": platform.machine()}
    record("generate_throughput", {"rows": rows},
           args={"quick": args.quick, "seconds": args.seconds, "words": args.words,
                 "transports": args.transports})
    if args.json:
        args.json.write_text(json.dumps({"meta": meta, "rows": rows}, indent=2) + "\n")
    if args.figure:
        figure(rows, args.figure)


if __name__ == "__main__":
    main()
