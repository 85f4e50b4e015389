"""Experiment runs as Ray tasks: on an existing cluster, or on a local one started here.

Each run is one task reserving the CPUs its trainer uses (``runtime.threads``), plus one
GPU when it trains on CUDA, so Ray never packs more runs on a node than it has cores or
GPUs for. A run's numbers are a function of its spec alone (fixed torch threads, seeded),
so where it runs changes no number: the Ray executor and the local pool give the same
report. Runs read and write the experiment folder directly, so every node must see it at
the same path (a shared filesystem); each task checks before it starts.

Ray is optional (``pip install 'alignpt[ray]'``) and imported only here.
"""

from __future__ import annotations

import ipaddress
import os
import pickle
import socket
from contextlib import contextmanager, nullcontext
from typing import Any, Callable, Iterator

from alignpt.core.errors import AlignptError, ConfigError, require

__all__ = ["execute_on_ray", "run_resources"]

DOCS = "docs/experiment-ray.md"


def run_resources(run: Any) -> dict[str, float]:
    """What one run reserves: its torch threads as CPUs, and one GPU when it trains on CUDA
    (``device: auto`` reserves none: give GPU runs ``device: cuda``)."""
    runtime = (getattr(run, "plan", None) or {}).get("runtime", {})
    need = {"num_cpus": float(runtime.get("threads") or 1)}
    if str(runtime.get("device") or "").startswith("cuda"):
        need["num_gpus"] = 1.0
    return need


def execute_on_ray(fn: Callable[[str, Any, bool], tuple[str, dict[str, Any]]], root: str,
                   ready: list[Any], waiting: dict[str, list[Any]], branch: bool, *,
                   workers: int, address: str | None,
                   on_done: Callable[[str], None] = lambda name: None) -> None:
    """Run ``ready`` now and each of ``waiting[name]`` once run ``name`` is done, as Ray
    tasks. ``address``: an existing cluster (``auto``, ``HOST:PORT``, ``ray://HOST:10001``),
    left running afterwards; none starts a local cluster with room for ``workers`` runs at
    once, shut down afterwards. The first run that fails cancels the others and its error
    is raised here as its own type (an alignpt error stays a one-line message)."""
    if not ready:
        return
    # Absolute: a node's workers do not start in this process's working directory.
    root = os.path.abspath(root)
    every = list(ready) + [r for runs in waiting.values() for r in runs]
    with _cluster(address, workers, every) as ray:
        task = ray.remote(_run_task)
        pending: dict[Any, str] = {}

        def submit(run: Any) -> None:
            ref = task.options(**run_resources(run)).remote(fn, root, run, branch)
            pending[ref] = run.name

        for run in ready:
            submit(run)
        try:
            while pending:
                finished, _ = ray.wait(list(pending), num_returns=1)
                for ref in finished:
                    name = pending.pop(ref)
                    _get(ray, ref)
                    for child in waiting.pop(name, []):
                        submit(child)
                    on_done(name)
        finally:
            # On a failure (or ^C) the other runs stop; they resume from their last
            # checkpoint on the next `experiment run`.
            for ref in pending:
                ray.cancel(ref)


def _run_task(fn: Callable[[str, Any, bool], tuple[str, dict[str, Any]]], root: str, run: Any,
              branch: bool) -> tuple[str, dict[str, Any]]:
    """One run on a Ray worker: check the experiment folder is visible here, then run."""
    if not os.path.isdir(root):
        raise ConfigError(f"experiment folder {root} is not visible on Ray node "
                          f"{socket.gethostname()}: every node must see it at the same path "
                          f"(a shared filesystem; see {DOCS})")
    try:
        return fn(root, run, branch)
    except AlignptError as exc:
        raise _portable(exc) from None


def _portable(exc: AlignptError) -> AlignptError:
    """``exc`` if it survives pickling (how Ray ships it back), else the nearest alignpt
    error class above it that does, with the same message: a class whose ``__init__`` takes
    other arguments than its message cannot be rebuilt (MissingDependencyError), and Ray
    would replace it by a multi-line report."""
    message = str(exc)
    for cls in type(exc).__mro__:
        if not issubclass(cls, AlignptError):
            break
        try:
            candidate = exc if cls is type(exc) else cls(message)
            back = pickle.loads(pickle.dumps(candidate))
        except Exception:
            continue
        if type(back) is cls and str(back) == message:
            return candidate
    return AlignptError(message)


def _get(ray: Any, ref: Any) -> Any:
    """``ray.get``, raising a failed task's own exception rather than Ray's wrapper: an
    alignpt error keeps its one-line message (the CLI prints it and exits 2); anything else
    is a bug and keeps the remote traceback, chained."""
    from ray.exceptions import RayTaskError

    try:
        return ray.get(ref)
    except RayTaskError as exc:
        cause = getattr(exc, "cause", None)
        if isinstance(cause, AlignptError):
            raise cause from None
        if isinstance(cause, BaseException):
            raise cause from exc
        raise


@contextmanager
def _cluster(address: str | None, workers: int, runs: list[Any]) -> Iterator[Any]:
    """Ray connected to ``address``, or to a local cluster started here and shut down on
    exit. A Ray already initialised in this process (a notebook, a test) is used as is."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")   # offline: no usage report
    ray = require("ray", "ray", "experiment runs on a Ray cluster (executor: ray)")
    host = _reachable(address) if address is not None else None
    if ray.is_initialized():
        yield ray
        return
    import logging

    quiet = {"include_dashboard": False, "log_to_driver": False,
             "logging_level": logging.ERROR}
    if address is not None:
        try:
            # A cluster at a loopback address is one on this machine listening on 127.0.0.1
            # only (as a local one started here does): Ray would otherwise rewrite the
            # address to this machine's outward one, where nothing listens.
            with _loopback_only(ray) if _is_loopback(host) else nullcontext():
                ray.init(address=address, **quiet)
        except (ConnectionError, ValueError, RuntimeError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            hint = ""
            if os.environ.get("RAY_AUTH_MODE", "").lower() != "token":
                # Ray gives a cluster it starts a token; a driver naming an address
                # only sends one when told to.
                hint = (" (if the cluster uses token authentication, Ray's default, set "
                        "RAY_AUTH_MODE=token and its token: RAY_AUTH_TOKEN or ~/.ray/auth_token)")
            raise ConfigError(f"cannot connect to the Ray cluster at {address!r}: "
                              f"{first}{hint}") from None
        try:
            yield ray
        finally:
            ray.shutdown()   # disconnects; the cluster keeps running
        return
    needs = [run_resources(r) for r in runs]
    with _loopback_only(ray):
        # Room for `workers` runs at once, however many threads each one uses (a run
        # asking for more CPUs than the cluster has would wait forever).
        # address "local": always a new cluster, never one a `ray start` left on this machine.
        ray.init(address="local", num_cpus=int(max(n["num_cpus"] for n in needs) * workers),
                 **quiet)
    try:
        if any("num_gpus" in n for n in needs) and ray.cluster_resources().get("GPU", 0) < 1:
            raise ConfigError("the runs train on CUDA (runtime.device: cuda) but this machine "
                              "has no GPU for a local Ray cluster: give `executor.address` of a "
                              "cluster with GPUs, or train on the CPU")
        yield ray
    finally:
        ray.shutdown()


def _reachable(address: str) -> str | None:
    """The host of a ``HOST:PORT`` address, once something answers there: fail in one line,
    at once, where nothing does (Ray itself retries for minutes, logging as it goes).
    ``auto`` and the like go to Ray as they are (None)."""
    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not sep or not port.isdigit():
        return None
    host = host.strip("[]")
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
    except OSError as exc:
        raise ConfigError(f"cannot connect to the Ray cluster at {address!r}: "
                          f"{exc.strerror or exc}") from None
    return host


def _is_loopback(host: str | None) -> bool:
    if host is None:
        return False
    try:
        return ipaddress.ip_address(socket.gethostbyname(host)).is_loopback
    except (OSError, ValueError):
        return False


@contextmanager
def _loopback_only(ray: Any) -> Iterator[None]:
    """A local cluster listens on 127.0.0.1 only (Ray's default is the machine's outward
    address, reachable from the network). Ray takes its node address from this switch
    (``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER``, read at import); where a Ray version lacks it,
    Ray's default applies."""
    constants = getattr(getattr(ray, "_private", None), "ray_constants", None)
    if constants is None or not hasattr(constants, "ENABLE_RAY_CLUSTER"):
        yield
        return
    before = constants.ENABLE_RAY_CLUSTER
    constants.ENABLE_RAY_CLUSTER = False
    try:
        yield
    finally:
        constants.ENABLE_RAY_CLUSTER = before
