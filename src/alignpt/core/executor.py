"""Run a document stage over shard files, in parallel, resumably.

A *stage* is a picklable callable ``stage(docs, ctx) -> Iterator[Document]``.
:func:`run_stage` maps it over input shards: one task per input shard (or per
group of small shards), one output shard per task (rolling into numbered parts
at a size limit). Each finished task leaves a completion marker that records a
hash of the stage config and a fingerprint of its inputs; a rerun skips tasks
whose marker matches and redoes the rest from scratch. Outputs are written
under temporary names and published only when the whole task is done, so a
killed run never leaves a half-written shard that looks finished.

The output folder must lie apart from every input, one run at a time holds it
(:mod:`alignpt.core.outdir`), and redoing a task removes only the files its own markers
name: the done marker of an outdated attempt, or the pending list a task writes
just before it publishes (so a kill during the renames is undone too).

Workers are spawned processes (safe with CUDA, threads and macOS), or Ray
tasks (``executor="ray"``) on a local or existing cluster with the same code.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Literal, Mapping, Protocol, Sequence

import orjson
from pydantic import BaseModel

from alignpt.core.atomic import atomic_write_text, stable_hash
from alignpt.core.config import write_resolved_config
from alignpt.core.documents import Document
from alignpt.core.errors import ConfigError, DataError
from alignpt.core.outdir import OutputLock, check_output_apart, clean_stale_temporaries
from alignpt.core.parallel import map_in_processes
from alignpt.core.shards import (FORMATS, Quarantine, ReadOptions, ReadStats, ShardWriter,
                                 check_compression_level, detect_format, read_documents,
                                 strip_format_suffix)

__all__ = [
    "Stage",
    "ShardContext",
    "ShardTask",
    "OutputSpec",
    "StageResult",
    "plan_tasks",
    "expand_inputs",
    "run_stage",
    "MARKER_DIR",
]

MARKER_DIR = ".alignpt/done"
#: what a task is about to publish, written just before the renames
PENDING_DIR = ".alignpt/pending"
ExecutorKind = Literal["local", "ray"]


class Stage(Protocol):
    """What :func:`run_stage` runs. Keep heavy state out of ``__init__`` (paths only)
    and load models lazily inside ``__call__``, so stages pickle to workers."""

    def __call__(self, docs: Iterator[Document], ctx: "ShardContext") -> Iterator[Document]: ...


@dataclass
class ShardTask:
    """One unit of parallel work: output stem (relative, no extension) and its inputs."""

    name: str
    inputs: list[str]


@dataclass
class OutputSpec:
    """Where and how a stage writes: format (None = same as the first input), part size."""

    out_dir: str
    fmt: str | None = None
    max_bytes: int | None = None
    compression_level: int | None = None
    write_exclusions: bool = False
    quarantine: bool = False


class ShardContext:
    """Per-task handle a stage uses to count things and drop documents with a reason."""

    def __init__(self, task: ShardTask, exclusion_writer: ShardWriter | None = None):
        self.task = task
        self.counters: Counter = Counter()
        self.dropped: Counter = Counter()
        self._exclusions = exclusion_writer

    def count(self, key: str, n: int = 1) -> None:
        self.counters[key] += n

    def drop(self, doc: Document, reason: str) -> None:
        """Record that ``doc`` is not passed on, and why (kept in the exclusion shard if on)."""
        self.dropped[reason] += 1
        if self._exclusions is not None:
            meta = dict(doc.metadata)
            meta["drop_reason"] = reason
            self._exclusions.write(Document(doc.id, doc.text, meta))


@dataclass
class StageResult:
    """Merged stats of a stage run, as written to ``stats.json``."""

    stats: dict[str, Any]
    out_dir: Path
    tasks_run: int
    tasks_resumed: int
    outputs: list[str] = field(default_factory=list)


# -- inputs and tasks --------------------------------------------------------
def expand_inputs(paths: Iterable[str | Path]) -> list[Path]:
    """Files, folders (searched recursively for known shard extensions) and globs."""
    import glob

    paths = list(paths)
    found: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            found.extend(q for q in sorted(p.rglob("*"))
                         if q.is_file() and not _hidden(q.relative_to(p)) and _is_shard(q))
        elif any(ch in str(raw) for ch in "*?["):
            matches = sorted(Path(q) for q in glob.glob(str(raw), recursive=True))
            found.extend(q for q in matches if q.is_file() and _is_shard(q))
            if not matches:
                raise DataError("glob matched no files", str(raw))
        elif p.is_file():
            detect_format(p)
            found.append(p)
        else:
            raise DataError("no such file or folder", str(raw))
    if not found:
        given = ", ".join(str(p) for p in paths)
        raise DataError("no input shards found (extensions: " + ", ".join(FORMATS) + ")",
                        given)
    seen: set[Path] = set()
    unique = []
    for q in found:
        r = q.resolve()
        if r not in seen:
            seen.add(r)
            unique.append(q)
    return unique


def _hidden(rel: Path) -> bool:
    return any(part.startswith(".") for part in rel.parts)


def _is_shard(path: Path) -> bool:
    try:
        detect_format(path)
        return True
    except DataError:
        return False


def _common_root(paths: Sequence[Path]) -> Path:
    parents = [p.resolve().parent for p in paths]
    return Path(os.path.commonpath([str(p) for p in parents]))


def plan_tasks(inputs: Sequence[Path], group_bytes: int | None = None) -> list[ShardTask]:
    """One task per input (named by its path under the common root), or, with
    ``group_bytes``, consecutive small inputs grouped until their file sizes add up."""
    root = _common_root(inputs)
    names = [strip_format_suffix(str(p.resolve().relative_to(root))) for p in inputs]
    dupes = {n for n in names if names.count(n) > 1}
    if dupes:
        first = sorted(dupes)[0]
        clash = " and ".join(str(p) for n, p in zip(names, inputs) if n == first)
        raise DataError(f"two inputs would write the same output '{first}' "
                        "(same name, different formats); rename one", clash)
    if not group_bytes:
        return [ShardTask(n, [str(p)]) for n, p in zip(names, inputs)]
    tasks: list[ShardTask] = []
    cur: list[str] = []
    cur_bytes = 0
    for p in inputs:
        size = p.stat().st_size
        if cur and cur_bytes + size > group_bytes:
            tasks.append(ShardTask(f"group-{len(tasks):05d}", cur))
            cur, cur_bytes = [], 0
        cur.append(str(p))
        cur_bytes += size
    if cur:
        tasks.append(ShardTask(f"group-{len(tasks):05d}", cur))
    return tasks


# -- markers -----------------------------------------------------------------
def _fingerprint(inputs: Sequence[str]) -> str:
    """Path, size and modification time of each input: cheap for terabyte corpora,
    and any rewrite of an input changes it."""
    parts = []
    for p in inputs:
        st = os.stat(p)
        parts.append([str(Path(p).resolve()), st.st_size, st.st_mtime_ns])
    return stable_hash(parts, 16)


def _task_file(out_dir: Path, folder: str, task: ShardTask) -> Path:
    return out_dir / folder / (task.name.replace("/", "__") + ".json")


def _marker_path(out_dir: Path, task: ShardTask) -> Path:
    return _task_file(out_dir, MARKER_DIR, task)


def _pending_path(out_dir: Path, task: ShardTask) -> Path:
    return _task_file(out_dir, PENDING_DIR, task)


def _read_marker(path: Path) -> dict[str, Any] | None:
    try:
        return orjson.loads(path.read_bytes())
    except (FileNotFoundError, orjson.JSONDecodeError):
        return None


def _task_done(out_dir: Path, task: ShardTask, config_hash: str) -> dict[str, Any] | None:
    marker = _read_marker(_marker_path(out_dir, task))
    if not marker or marker.get("config_hash") != config_hash:
        return None
    if marker.get("input_fingerprint") != _fingerprint(task.inputs):
        return None
    if not all((out_dir / o).exists() for o in marker.get("outputs", [])):
        return None
    return marker


def _clean_task_outputs(out_dir: Path, task: ShardTask) -> None:
    """Remove what an earlier attempt at this task published: only the files its own
    markers name (a done marker of an outdated run, or the pending marker written just
    before publishing), never anything else that happens to share a name."""
    root = out_dir.resolve()
    for marker_path in (_pending_path(out_dir, task), _marker_path(out_dir, task)):
        marker = _read_marker(marker_path) or {}
        for name in [*marker.get("outputs", []), *marker.get("side_outputs", [])]:
            target = out_dir / name
            # A marker is our own file, but never follow one out of the folder.
            if target.resolve().is_relative_to(root):
                target.unlink(missing_ok=True)
        marker_path.unlink(missing_ok=True)


# -- one task ---------------------------------------------------------------
@dataclass
class _Job:
    stage: Callable[..., Iterator[Document]]
    read: ReadOptions
    output: OutputSpec
    config_hash: str


def _process_task(job: _Job, task: ShardTask, report: Callable[[int, int], None] | None = None,
                  ) -> dict[str, Any]:
    out_dir = Path(job.output.out_dir)
    _clean_task_outputs(out_dir, task)
    started = time.perf_counter()
    fmt = job.output.fmt or _ext_of(task.inputs[0])
    rel = Path(task.name)
    writer = ShardWriter(out_dir / rel.parent, rel.name, fmt, max_bytes=job.output.max_bytes,
                         compression_level=job.output.compression_level,
                         text_field=job.read.text_field, id_field=job.read.id_field)
    excl = (ShardWriter(out_dir / "excluded" / rel.parent, rel.name, ".jsonl.zst")
            if job.output.write_exclusions else None)
    quarantine = (Quarantine(out_dir / "quarantine" / rel.parent / f"{rel.name}.jsonl")
                  if job.output.quarantine and job.read.on_error == "skip" else None)
    ctx = ShardContext(task, excl)
    read_stats = ReadStats()
    root = _common_root([Path(p) for p in task.inputs]) if len(task.inputs) > 1 else None

    def docs_in() -> Iterator[Document]:
        for path in task.inputs:
            prefix = str(Path(path).resolve().relative_to(root)) if root else None
            opts = ReadOptions(job.read.text_field, job.read.id_field, job.read.on_error, prefix)
            pending, mark = 0, read_stats.record_bytes
            for doc in read_documents(path, opts, read_stats, quarantine):
                yield doc
                pending += 1
                if report is not None and pending == 2048:
                    report(pending, read_stats.record_bytes - mark)
                    pending, mark = 0, read_stats.record_bytes
            if report is not None:
                report(pending, read_stats.record_bytes - mark)

    try:
        for doc in job.stage(docs_in(), ctx):
            writer.write(doc)
        outputs = writer.close(commit=False)
        excl_out = excl.close(commit=False) if excl else []
    except BaseException:
        writer.abort()
        if excl:
            excl.abort()
        if quarantine:
            quarantine.abort()
        raise
    published = [str(p.relative_to(out_dir)) for p in [*outputs, *excl_out]]
    side = [str(quarantine.path.relative_to(out_dir))] if quarantine and quarantine.count else []
    # Name what is about to appear before it appears: a kill during the renames leaves
    # visible files that a rerun can find and remove by this list alone.
    atomic_write_text(_pending_path(out_dir, task),
                      orjson.dumps({"outputs": [*published, *side]}).decode())
    if quarantine:
        quarantine.close()
    writer.publish()
    if excl:
        excl.publish()
    stats = {
        "task": task.name,
        "inputs": task.inputs,
        "documents_in": read_stats.documents,
        "documents_out": writer.documents,
        "bytes_in": read_stats.record_bytes,
        "file_bytes_in": read_stats.file_bytes,
        "bytes_out": writer.bytes,
        "dropped": dict(ctx.dropped),
        "skipped_input": dict(read_stats.skipped),
        "skipped_rows": dict(read_stats.skipped_rows),
        "quarantined": quarantine.count if quarantine else 0,
        "blank_lines": read_stats.blank_lines,
        "empty_files": read_stats.empty_files,
        "counters": dict(ctx.counters),
        "seconds": round(time.perf_counter() - started, 4),
    }
    marker = {
        "config_hash": job.config_hash,
        "input_fingerprint": _fingerprint(task.inputs),
        "outputs": published,
        "side_outputs": side,
        "stats": stats,
    }
    atomic_write_text(_marker_path(out_dir, task), orjson.dumps(marker).decode())
    _pending_path(out_dir, task).unlink()
    return marker


def _ext_of(path: str) -> str:
    name = path.lower()
    for ext in sorted(FORMATS, key=len, reverse=True):
        if name.endswith(ext):
            return ext
    raise DataError("unknown shard format", path)


# -- the driver -------------------------------------------------------------
def _config_body(config: BaseModel | Mapping[str, Any] | None) -> dict[str, Any]:
    if config is None:
        return {}
    if isinstance(config, BaseModel):
        return config.model_dump(mode="json")
    return dict(config)


def run_stage(stage: Callable[..., Iterator[Document]], inputs: Sequence[str | Path],
              output: OutputSpec, *, config: BaseModel | Mapping[str, Any] | None = None,
              read: ReadOptions | None = None, workers: int = 1,
              executor: ExecutorKind = "local", ray_address: str | None = None,
              group_bytes: int | None = None, progress: bool = True,
              description: str = "stage") -> StageResult:
    """Run ``stage`` over ``inputs`` into ``output.out_dir``; resume what is finished.

    ``config`` is the stage's resolved config: it is written to ``config.yaml``
    and hashed into every completion marker, so changing it redoes all tasks.
    """
    if workers < 1:
        raise ConfigError(f"workers must be >= 1, got {workers}")
    read = read or ReadOptions()
    out_dir = Path(output.out_dir)
    paths = expand_inputs(inputs)
    # Before anything is created or removed: clean-up must never reach an input.
    check_output_apart(out_dir, inputs)
    if out_dir.exists() and not out_dir.is_dir():
        raise ConfigError(f"--out {out_dir}: exists and is not a folder")
    tasks = plan_tasks(paths, group_bytes)
    for fmt in {output.fmt or _ext_of(t.inputs[0]) for t in tasks}:
        check_compression_level(fmt, output.compression_level)
    out_dir.mkdir(parents=True, exist_ok=True)
    # One writer per folder for the whole run (re-entrant: a command running several
    # stages into one folder may hold it already).
    with OutputLock(out_dir):
        stale = clean_stale_temporaries(out_dir)
        body = _config_body(config)
        config_hash = stable_hash({"stage": body, "stage_type": type(stage).__qualname__,
                                   "read": read.__dict__,
                                   "output": {k: v for k, v in output.__dict__.items()
                                              if k != "out_dir"}}, 16)
        write_resolved_config(out_dir, body, [str(p) for p in paths],
                              extra={"stage": type(stage).__qualname__,
                                     "config_hash": config_hash,
                                     "executor": executor, "workers": workers})
        job = _Job(stage, read, output, config_hash)
        markers: dict[str, dict[str, Any]] = {}
        todo: list[ShardTask] = []
        for task in tasks:
            done = _task_done(out_dir, task, config_hash)
            if done is not None:
                markers[task.name] = done
            else:
                todo.append(task)
        resumed = len(markers)
        started = time.perf_counter()
        _execute(job, todo, len(tasks), markers, workers, executor, ray_address,
                 progress, description)
        elapsed = time.perf_counter() - started

        ordered = [markers[t.name] for t in tasks]
        stats = _merge_stats([m["stats"] for m in ordered])
        stats.update({"tasks": len(tasks), "tasks_run": len(todo), "tasks_resumed": resumed,
                      "stale_temporaries_removed": stale, "wall_seconds": round(elapsed, 4)})
        atomic_write_text(out_dir / "stats.json",
                          orjson.dumps(stats, option=orjson.OPT_INDENT_2).decode())
    outputs = [o for m in ordered for o in m["outputs"]]
    return StageResult(stats, out_dir, len(todo), resumed, outputs)


def _execute(job: _Job, todo: list[ShardTask], total: int, markers: dict[str, dict[str, Any]],
             workers: int, executor: ExecutorKind, ray_address: str | None, progress: bool,
             description: str) -> None:
    """Run the unfinished tasks with a progress bar; each finished marker lands in ``markers``."""
    from alignpt.core.console import RateColumn, progress_bar

    with progress_bar(RateColumn("docs", "docs/s"), RateColumn("bytes", "MB/s", 1e6),
                      disable=not progress) as bar:
        tid = bar.add_task(description, total=total, completed=total - len(todo), docs=0,
                           bytes=0)

        def on_progress(docs: int, nbytes: int) -> None:
            t = bar.tasks[tid]
            bar.update(tid, docs=t.fields["docs"] + docs, bytes=t.fields["bytes"] + nbytes)

        def on_done(marker: dict[str, Any]) -> None:
            markers[marker["stats"]["task"]] = marker
            bar.advance(tid)

        if executor == "ray":
            _run_ray(job, todo, workers, ray_address, on_done)
        elif workers == 1 or len(todo) <= 1:
            for task in todo:
                on_done(_process_task(job, task, on_progress))
        else:
            map_in_processes(partial(_process_task, job), todo, workers, on_progress,
                             lambda _task, marker: on_done(marker))


def _run_ray(job: _Job, todo: list[ShardTask], workers: int, address: str | None,
             on_done: Callable[[dict[str, Any]], None]) -> None:
    from alignpt.core.errors import require

    ray = require("ray", "ray", "the Ray executor")
    if not ray.is_initialized():
        if address:
            ray.init(address=address, log_to_driver=False)
        else:
            ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
    remote = ray.remote(num_cpus=1)(_process_task)
    pending = [remote.remote(job, t) for t in todo]
    while pending:
        finished, pending = ray.wait(pending, num_returns=1)
        for ref in finished:
            on_done(ray.get(ref))


def _merge_stats(per_task: list[dict[str, Any]]) -> dict[str, Any]:
    total: dict[str, Any] = {"documents_in": 0, "documents_out": 0, "bytes_in": 0,
                             "file_bytes_in": 0, "bytes_out": 0, "quarantined": 0,
                             "blank_lines": 0, "empty_files": 0, "seconds": 0.0}
    dropped: Counter = Counter()
    skipped: Counter = Counter()
    skipped_rows: Counter = Counter()
    counters: Counter = Counter()
    for st in per_task:
        for key in total:
            total[key] += st.get(key, 0)
        dropped.update(st.get("dropped", {}))
        skipped.update(st.get("skipped_input", {}))
        skipped_rows.update(st.get("skipped_rows", {}))
        counters.update(st.get("counters", {}))
    total["seconds"] = round(total["seconds"], 4)
    total["dropped"] = dict(sorted(dropped.items()))
    total["skipped_input"] = dict(sorted(skipped.items()))
    total["skipped_rows"] = dict(sorted(skipped_rows.items()))
    total["counters"] = dict(sorted(counters.items()))
    return total
