"""Experiment runs on a local Ray cluster: the same numbers as the local pool, and the
failures a user can cause arrive as one-line alignpt errors."""

from __future__ import annotations

import copy
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import orjson
import pytest

from alignpt.core.errors import AlignptError, ConfigError, DataError, MissingDependencyError
from alignpt.experiment import load_experiment, load_state, run_experiment
from alignpt.experiment.ray_executor import execute_on_ray, run_resources
from alignpt.experiment.state import run_dir
from tests.experiment.conftest import TINY

pytest.importorskip("torch")
ray = pytest.importorskip("ray")

#: A baseline and a late arm that branches from it: the executor must start the late run
#: only once its parent's checkpoint is written.
RECIPE = {**copy.deepcopy(TINY), "name": "ray", "seeds": [0], "workers": 2,
          "arms": {"unfiltered": {},
                   "aligned_untested_late": {"inject": "aligned_untested", "schedule": "late"}}}
#: What may differ between two executions of the same run: how long it took (the only
#: timing field in result.json; report.json has none).
TIMING = {"train_seconds"}


def without_timing(node):
    if isinstance(node, dict):
        return {k: without_timing(v) for k, v in node.items() if k not in TIMING}
    if isinstance(node, list):
        return [without_timing(x) for x in node]
    return node


def recipe_file(tmp: Path, name: str, **changes) -> Path:
    import yaml

    path = tmp / f"{name}.yaml"
    path.write_text(yaml.safe_dump({**copy.deepcopy(RECIPE), **changes}))
    return path


@pytest.fixture(scope="module")
def both(tmp_path_factory) -> tuple[Path, Path]:
    """The recipe run by the local pool and by a local Ray cluster (2 CPUs)."""
    tmp = tmp_path_factory.mktemp("ray")
    run_experiment(load_experiment(recipe_file(tmp, "local")), tmp / "local", progress=False)
    ray_recipe = load_experiment(recipe_file(tmp, "ray", executor={"kind": "ray"}))
    run_experiment(ray_recipe, tmp / "ray", progress=False)
    assert not ray.is_initialized()            # the cluster it started is shut down
    return tmp / "local", tmp / "ray"


def test_ray_and_local_runs_give_identical_numbers(both):
    local, on_ray = both
    a, b = load_state(local), load_state(on_ray)
    assert a.done == b.done == 2
    for sa, sb in zip(a.runs, b.runs):
        assert sa.run.name == sb.run.name
        ra = orjson.loads((run_dir(local, sa.run) / "result.json").read_bytes())
        rb = orjson.loads((run_dir(on_ray, sb.run) / "result.json").read_bytes())
        assert ra["phases"] and without_timing(ra) == without_timing(rb), sa.run.arm
    late = {s.run.arm: s for s in b.runs}["aligned_untested_late"]
    assert late.result["branched_from"] is not None       # its parent finished first
    rep = [without_timing(orjson.loads((f / "report" / "report.json").read_bytes())) for f in both]
    recipes = [r.pop("recipe") for r in rep]        # the recipes differ in their executor only
    assert recipes[1].pop("executor") == {"kind": "ray", "address": None}
    assert recipes[0].pop("executor")["kind"] == "local" and recipes[0] == recipes[1]
    assert rep[0]["table"] and rep[0]["claims"] and rep[0] == rep[1]


def fake_run(name: str, threads: int = 1) -> SimpleNamespace:
    return SimpleNamespace(name=name, plan={"runtime": {"device": "cpu", "threads": threads}})


def test_a_run_reserves_its_threads_or_a_gpu():
    assert run_resources(fake_run("a", 3)) == {"num_cpus": 3.0}
    gpu = SimpleNamespace(name="g", plan={"runtime": {"device": "cuda", "threads": 2}})
    assert run_resources(gpu) == {"num_cpus": 2.0, "num_gpus": 1.0}


@pytest.fixture(scope="module")
def cluster():
    """One local cluster for the error tests, started as the executor starts one (an
    initialised Ray is used as is)."""
    from alignpt.experiment.ray_executor import _cluster

    with _cluster(None, 2, [fake_run("a")]):
        yield


def test_an_experiment_folder_the_workers_cannot_see_is_a_one_line_error(cluster, tmp_path):
    # The folder is checked on the worker, before the run: here no node has it.
    missing = tmp_path / "not-shared"
    with pytest.raises(ConfigError) as err:
        execute_on_ray(_record_run, str(missing), [fake_run("a")], {}, True, workers=1,
                       address=None)
    msg = str(err.value)
    assert "\n" not in msg and str(missing) in msg and socket.gethostname() in msg
    assert "shared filesystem" in msg


def _record_run(root: str, run, branch: bool):
    return run.name, {}


def _raise_data_error(root: str, run, branch: bool):
    if run.name == "bad":
        raise DataError("row is not JSON", path="corpus/shard-0.jsonl", line=7)
    return run.name, {}


def _raise_missing_dependency(root: str, run, branch: bool):
    raise MissingDependencyError("fasttext", "fasttext", "the quality filter")


def _raise_bug(root: str, run, branch: bool):
    raise ZeroDivisionError("a bug, not a user error")


def _timed_run(root: str, run, branch: bool):
    import time

    start = time.time_ns()
    time.sleep(0.3)
    Path(root, run.name).write_text(f"{start} {time.time_ns()}")
    return run.name, {}


def test_a_waiting_run_starts_after_its_parent_and_every_run_is_reported(cluster, tmp_path):
    done = []
    execute_on_ray(_timed_run, str(tmp_path), [fake_run("parent"), fake_run("other")],
                   {"parent": [fake_run("child")]}, True, workers=2, address=None,
                   on_done=done.append)
    assert sorted(done) == ["child", "other", "parent"]
    assert done.index("parent") < done.index("child")
    span = {n: [int(x) for x in (tmp_path / n).read_text().split()] for n in done}
    assert span["child"][0] >= span["parent"][1]


def test_an_error_inside_a_run_reaches_the_caller_as_its_alignpt_error(cluster, tmp_path):
    with pytest.raises(DataError) as err:
        execute_on_ray(_raise_data_error, str(tmp_path), [fake_run("good"), fake_run("bad")],
                       {"good": [fake_run("child")]}, True, workers=2, address=None)
    assert str(err.value) == "corpus/shard-0.jsonl:7: row is not JSON"
    # An error class that pickling cannot rebuild still arrives as one line, same message.
    with pytest.raises(AlignptError) as err:
        execute_on_ray(_raise_missing_dependency, str(tmp_path), [fake_run("a")], {}, True,
                       workers=1, address=None)
    assert str(err.value) == str(MissingDependencyError("fasttext", "fasttext",
                                                        "the quality filter"))
    # A bug keeps its type, with Ray's remote traceback chained for the reader.
    with pytest.raises(ZeroDivisionError) as err:
        execute_on_ray(_raise_bug, str(tmp_path), [fake_run("a")], {}, True, workers=1,
                       address=None)
    assert "_raise_bug" in str(err.value.__cause__)


#: A cluster in its own process, as `ray start` would leave one: started the way a local
#: one is (loopback only), kept until stdin closes.
HEAD = """
import sys
from types import SimpleNamespace
from alignpt.experiment.ray_executor import _cluster
with _cluster(None, 1, [SimpleNamespace(plan={})]) as ray:
    print(ray.get_runtime_context().gcs_address, flush=True)
    sys.stdin.read()
"""


@pytest.fixture(scope="module")
def head():
    proc = subprocess.Popen([sys.executable, "-c", HEAD], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    try:
        yield proc, proc.stdout.readline().strip()
    finally:
        proc.stdin.close()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_a_run_failing_on_an_existing_cluster_is_one_line_from_the_cli(both, head, tmp_path):
    # Corpora that look finished (the driver does not regenerate them) but whose base token
    # file is truncated: only the trainer, on the cluster's worker, finds out.
    proc, address = head
    out = tmp_path / "out"
    shutil.copytree(both[0] / "corpora", out / "corpora")
    base = next((out / "corpora").glob("base-s0-*")) / "part-00000.bin"
    base.write_bytes(base.read_bytes()[:64])
    recipe = recipe_file(tmp_path, "broken", arms={"unfiltered": {}},
                         executor={"kind": "ray", "address": address})
    # The cluster has a token (Ray's default); a driver naming an address sends one when told.
    env = {**os.environ, "RAY_AUTH_MODE": "token"}
    cli = subprocess.run([sys.executable, "-m", "alignpt", "experiment", "run", str(recipe),
                          "--out", str(out), "-q"], env=env, capture_output=True, text=True,
                         timeout=120)
    err = cli.stderr.strip()
    assert cli.returncode == 2 and len(err.splitlines()) == 1, err
    assert err == f"error: {base}: token file has 64 bytes, sidecar says 26624"
    # It failed inside the run (its folder made, no result), not before it ...
    (run,) = load_state(out).runs
    assert run_dir(out, run.run).is_dir() and not (run_dir(out, run.run) / "result.json").exists()
    # ... and the cluster, which this run did not start, is still there.
    assert proc.poll() is None


def test_a_cluster_address_where_nothing_listens_is_a_one_line_error(tmp_path):
    with socket.socket() as sock:       # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(ConfigError, match=f"cannot connect to the Ray cluster at "
                                          f"'127.0.0.1:{port}': Connection refused"):
        execute_on_ray(_record_run, str(tmp_path), [fake_run("a")], {}, True, workers=1,
                       address=f"127.0.0.1:{port}")


def test_executor_shorthand_and_an_address_without_ray():
    from alignpt.experiment.executors import ExecutorConfig

    assert ExecutorConfig.model_validate("ray") == ExecutorConfig(kind="ray")
    with pytest.raises(ValueError, match="set `kind: ray` too"):
        ExecutorConfig(address="auto")


def test_without_ray_installed_the_error_names_the_extra(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "ray", None)      # `import ray` fails as if not installed
    with pytest.raises(MissingDependencyError, match=r"pip install 'alignpt\[ray\]'") as err:
        execute_on_ray(_record_run, str(tmp_path), [fake_run("a")], {}, True, workers=1,
                       address=None)
    assert "\n" not in str(err.value)
