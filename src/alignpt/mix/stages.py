"""What an earlier stage's output folder publishes: its document shards, nothing else.

A source written ``stage: DIR`` reads only the documents that stage handed on.
Every stage's folder also holds files that are *not* its output (a generate
run's response cache and plan, the documents a filter or quality check
dropped, quarantined raw records), so the folder is never globbed: each stage
is recognised by what it wrote (``config.yaml``'s ``stage``, or a mix
manifest), and its published shards are read from the stage's own record.

* ``generate``: ``docs/*`` (kept documents; never ``cache/``, ``specs.jsonl.zst`` or
  ``excluded/``); count = ``stats.json``'s ``kept``;
* ``FilterStage`` (``alignpt filter``): the kept shards its task markers list, plus
  ``refill/`` when it refilled; count = ``filter_summary.json``'s ``documents_kept``
  (+ the refill's documents);
* ``TagStage`` with ``output: inline`` and ``Passthrough`` (``alignpt shards
  convert``): the shards their task markers list (never ``quarantine/``).

A tag run writing attributes (the default) holds tag records, not documents, and
a mix output holds token shards: both are refused with what to write instead.
Anything else is an unknown layout, refused in one line naming the folder.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import yaml

from alignpt.core.errors import DataError
from alignpt.core.executor import MARKER_DIR, expand_inputs, plan_tasks

__all__ = ["PublishedShards", "published_shards"]

#: executor stages whose outputs are documents (class names written to config.yaml)
_EXECUTOR_STAGES = {"FilterStage": "filter", "TagStage": "tag", "Passthrough": "convert",
                    "RefillStage": "refill"}


@dataclass
class PublishedShards:
    stage: str            # generate | filter | tag | convert | refill
    files: list[Path]     # the published document shards, sorted
    root: Path            # what relative shard names are taken from (the folder)
    documents: int        # how many documents the stage says it published


def _json(path: Path) -> dict[str, Any] | None:
    try:
        data = orjson.loads(path.read_bytes())
    except (FileNotFoundError, orjson.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None


def _config(folder: Path) -> dict[str, Any] | None:
    try:
        doc = yaml.safe_load((folder / "config.yaml").read_text(encoding="utf-8"))
    except (FileNotFoundError, yaml.YAMLError, UnicodeDecodeError):
        return None
    return doc if isinstance(doc, dict) else None


def published_shards(folder: str | Path) -> PublishedShards:
    """The document shards ``folder`` (a finished stage's output) published, or a
    one-line :class:`DataError` saying why it cannot be read as documents."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError("stage output folder not found", str(folder))
    if (folder / "manifest.json").is_file() and (folder / "plan.json").is_file():
        raise DataError("this is a mix output (token shards, not documents): train on it, or "
                        "give the document stage that fed it", str(folder))
    doc = _config(folder)
    stage = doc.get("stage") if doc else None
    if stage == "generate":
        return _generate(folder)
    if stage in _EXECUTOR_STAGES:
        if stage == "TagStage" and (doc.get("config") or {}).get("output", "attributes") \
                == "attributes":
            raise DataError("this tag run wrote attributes (tag records, not documents): give "
                            "the tagged corpus as paths: and this folder as attributes:",
                            str(folder))
        return _executor(folder, _EXECUTOR_STAGES[stage], doc)
    raise DataError("not a stage output alignpt can read as documents (expected the folder of "
                    "generate, filter, tag --output inline or shards convert, with its "
                    "config.yaml); give its shards as paths: instead", str(folder))


def _finished(folder: Path, name: str) -> dict[str, Any]:
    stats = _json(folder / name)
    if stats is None:
        raise DataError(f"stage output is not finished (no {name}); rerun that stage first",
                        str(folder))
    return stats


def _generate(folder: Path) -> PublishedShards:
    stats = _finished(folder, "stats.json")
    # finalize rewrites docs/ whole (stale parts removed), so docs/ is exactly the kept set
    files = expand_inputs([folder / "docs"]) if (folder / "docs").is_dir() else []
    return PublishedShards("generate", files, folder, int(stats.get("kept", 0)))


def _executor(folder: Path, stage: str, doc: dict[str, Any]) -> PublishedShards:
    """Shards listed by the task markers of this folder's latest run: its tasks (planned
    from the inputs config.yaml lists, as the executor planned them) under its config
    hash. A task of an earlier run into the same folder is not part of it."""
    stats = _finished(folder, "filter_summary.json" if stage == "filter" else "stats.json")
    config_hash = doc.get("config_hash")
    try:
        tasks = plan_tasks([Path(p) for p in doc.get("inputs") or []],
                           (doc.get("config") or {}).get("group_bytes"))
    except (OSError, ValueError):
        raise DataError("the stage's inputs (config.yaml) are gone; rerun that stage",
                        str(folder)) from None
    names = {t.name for t in tasks}
    files: list[Path] = []
    documents = 0
    markers = sorted((folder / MARKER_DIR).glob("*.json")) \
        if (folder / MARKER_DIR).is_dir() else []
    for path in markers:
        marker = _json(path) or {}
        task = marker.get("stats") or {}
        if marker.get("config_hash") != config_hash or task.get("task") not in names:
            continue          # a task of an earlier run of this folder, not of this one
        documents += int(task.get("documents_out", 0))
        files += [folder / o for o in marker.get("outputs", [])
                  if Path(o).parts[0] not in ("excluded", "quarantine")]
    expected = stats.get("documents_kept" if stage == "filter" else "documents_out")
    if expected is None or documents != expected:
        raise DataError(f"the stage's task records list {documents:,} documents, its summary "
                        f"{expected}; rerun that stage to finish it", str(folder))
    if stage == "filter" and stats.get("refill"):
        refill = published_shards(folder / "refill")
        files += refill.files
        documents += refill.documents
    return PublishedShards(stage, sorted(files), folder, documents)
