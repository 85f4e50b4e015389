"""What running an experiment on Ray costs: cluster start-up, and a tiny experiment end to
end on the local process pool vs a local Ray cluster of the same size.

    python benchmarks/ray_executor.py [--workers 2] [--repeat 3] [--no-record]

Start-up: a local cluster started exactly as ``executor: {kind: ray}`` starts one
(:func:`alignpt.experiment.ray_executor._cluster`: loopback only, quiet), one trivial task's
round trip, and the shutdown; best of ``--repeat``. The experiment: the runner tests' tiny
recipe (a 1-layer model, three arms incl. a late arm branching from its baseline, two
seeds, 12k pretraining tokens), run from an empty folder (corpora, six runs, report) with
``--workers`` runs at once, ``--repeat`` times per executor (alternating; best and all
recorded); the script checks every report's numbers are identical. Recorded in benchmarks/results/ray_executor.json.
"""

from __future__ import annotations

import argparse
import copy
import sys
import tempfile
import time
from pathlib import Path

import orjson
import yaml
from _results import record

def _tiny() -> dict:
    """The tests' tiny experiment (tests/experiment/conftest.py), one home for both."""
    import ast

    src = (Path(__file__).resolve().parents[1] / "tests" / "experiment" / "conftest.py").read_text()
    node = next(n for n in ast.parse(src).body if isinstance(n, ast.Assign)
                and getattr(n.targets[0], "id", "") == "TINY")
    return ast.literal_eval(node.value)


TINY = _tiny()


def startup(workers: int) -> dict[str, float]:
    from alignpt.experiment.ray_executor import _cluster

    run = type("Run", (), {"plan": {"runtime": {"threads": 1}}})()
    t0 = time.perf_counter()
    with _cluster(None, workers, [run]) as ray:
        t1 = time.perf_counter()
        ray.get(ray.remote(lambda: 0).remote())
        t2 = time.perf_counter()
    t3 = time.perf_counter()
    return {"init_s": t1 - t0, "first_task_s": t2 - t1, "shutdown_s": t3 - t2,
            "total_s": t3 - t0}


def experiment(tmp: Path, kind: str, workers: int) -> tuple[float, dict]:
    from alignpt.experiment import load_experiment, run_experiment

    body = copy.deepcopy(TINY)
    body.update(workers=workers, executor={"kind": kind})
    recipe = tmp / f"{kind}.yaml"
    recipe.write_text(yaml.safe_dump(body))
    started = time.perf_counter()
    run_experiment(load_experiment(recipe), tmp / kind, progress=False)
    seconds = time.perf_counter() - started
    report = orjson.loads((tmp / kind / "report" / "report.json").read_bytes())
    return seconds, {"table": report["table"], "claims": report["claims"]}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-record", action="store_true")
    args = ap.parse_args()
    starts = [startup(args.workers) for _ in range(args.repeat)]
    best = min(starts, key=lambda s: s["total_s"])
    print("ray start-up (best of {}): init {init_s:.2f} s, first task {first_task_s:.2f} s, "
          "shutdown {shutdown_s:.2f} s".format(args.repeat, **best))
    seconds: dict[str, list[float]] = {"local": [], "ray": []}
    numbers = []
    for i in range(args.repeat):         # alternating, so both see the same machine load
        for kind in seconds:
            with tempfile.TemporaryDirectory() as tmp:
                took, got = experiment(Path(tmp), kind, args.workers)
            seconds[kind].append(round(took, 2))
            numbers.append(got)
    same = all(n == numbers[0] for n in numbers)
    print(f"tiny experiment (6 runs, {args.workers} at once), best of {args.repeat}: local pool "
          f"{min(seconds['local']):.1f} s, ray {min(seconds['ray']):.1f} s; identical report "
          f"numbers: {same}")
    record("ray_executor", {
        "startup_best": {k: round(v, 3) for k, v in best.items()},
        "startup_total_all": [round(s["total_s"], 3) for s in starts],
        "tiny_experiment_best_s": {k: min(v) for k, v in seconds.items()},
        "tiny_experiment_all_s": seconds,
        "identical_numbers": same}, args=vars(args), packages=("ray",),
        notes="tiny recipe (tests/experiment/conftest.py TINY): corpora + 6 runs + report, "
              "from an empty folder, per executor; ray = a local cluster of workers CPUs")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
