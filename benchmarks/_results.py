"""Record a benchmark's figures where the docs can quote them.

Every figure in README.md and docs/ must be traceable to a recorded run: the
exact command, the machine, the library versions and the numbers. A benchmark
calls :func:`record` once at the end; it writes
``benchmarks/results/<name>.json`` (the latest run; git keeps the history) and
prints where. Pass ``--no-record`` to a benchmark, or set
``ALIGNPT_BENCH_NO_RECORD=1``, to print figures without writing the file (for a
quick look that should not replace the quoted run).
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import shlex
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any, Iterable

RESULTS_DIR = Path(__file__).resolve().parent / "results"

_PACKAGES = ("alignpt", "numpy", "pyarrow", "orjson", "zstandard", "tokenizers", "torch",
             "transformers", "google-re2", "hyperscan", "scikit-learn", "lm_eval")


def _versions(extra: Iterable[str]) -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in (*_PACKAGES, *extra):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def _git_revision() -> str | None:
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, cwd=Path(__file__).resolve().parent, timeout=10)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True,
                               cwd=Path(__file__).resolve().parent, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    if rev.returncode != 0:
        return None
    return rev.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def machine() -> dict[str, Any]:
    """What the figures were measured on: CPU count, memory, processor, and any GPU."""
    info: dict[str, Any] = {"system": platform.system(), "machine": platform.machine(),
                            "processor": platform.processor() or None,
                            "cpus": os.cpu_count()}
    try:
        info["cpus_usable"] = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        pass
    try:
        with open("/proc/meminfo") as fh:
            kb = int(fh.readline().split()[1])
        info["memory_gib"] = round(kb / 2**20, 1)
    except (OSError, ValueError, IndexError):
        pass
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    info["cpu_model"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        import torch

        if torch.cuda.is_available():
            info["gpu"] = torch.cuda.get_device_name(0)
            info["gpus"] = torch.cuda.device_count()
    except ImportError:
        pass
    return info


def record_enabled(argv: list[str] | None = None) -> bool:
    argv = sys.argv if argv is None else argv
    return "--no-record" not in argv and os.environ.get("ALIGNPT_BENCH_NO_RECORD") != "1"


def record(name: str, figures: dict[str, Any], *, args: dict[str, Any] | None = None,
           notes: str | None = None, packages: Iterable[str] = ()) -> Path | None:
    """Write ``benchmarks/results/<name>.json`` with the command, machine, versions and
    ``figures`` (any JSON-serialisable mapping); return its path (None when disabled)."""
    if not record_enabled():
        return None
    body = {
        "benchmark": name,
        "command": "python " + " ".join(shlex.quote(a) for a in
                                        [os.path.relpath(sys.argv[0]), *sys.argv[1:]]),
        "args": args or {},
        "recorded_at": _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat(),
        "git_revision": _git_revision(),
        "machine": machine(),
        "versions": _versions(packages),
        "figures": figures,
    }
    if notes:
        body["notes"] = notes
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(body, indent=2, sort_keys=False, default=str) + "\n")
    os.replace(tmp, path)
    print(f"recorded: {os.path.relpath(path)}")
    return path


def best_of(fn, repeat: int) -> tuple[float, float]:
    """Best wall-clock and best CPU seconds of ``repeat`` runs. On a shared machine
    the CPU time (this process only) is the fairer one-core figure."""
    import time

    wall, cpu = [], []
    for _ in range(repeat):
        w0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - w0)
        cpu.append(time.process_time() - c0)
    return min(wall), min(cpu)
