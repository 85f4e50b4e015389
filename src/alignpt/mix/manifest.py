"""The manifest: what a mix output holds, to the token, per part, source and window.

``manifest.json`` sits at the top of a mix output folder::

    {"format": "alignpt-mix-manifest", "version": 1, "recipe": ..., "seed": ...,
     "tokenizer": {...}, "vocab_size": ..., "eos_id": ..., "dtype": "uint16",
     "formats": ["native", "megatron", "parquet"], "sources": [...], "inputs": [...],
     "plan": {...},                                  # resolve_plan(...).to_dict()
     "groups": [{"name": "pretrain", "phase": "pretrain", "kind": "stream",
                 "segments": [{"index": 0, "start": 0, "end": 9000, "quotas": {...}}, ...],
                 "parts": [{"part": 0, "files": {"native": [...], ...}, "first_token": 0,
                            "documents": ..., "tokens": ...,
                            "counts": {"base": {"0": 9000, "1": 900}, ...},
                            "repeated": {"aligned": 40}}]}]}

A **group** is one token stream with its own files: a phase's mixed stream, or a
``separate`` source of a phase (named ``PHASE.SOURCE``). ``counts`` are tokens per
source per segment (window) of the group, counted from the pieces actually
written; ``repeated`` counts tokens read on a second or later pass. Every writer
format of a part holds exactly those tokens.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import orjson

from alignpt.core.errors import DataError

__all__ = ["MANIFEST_FORMAT", "MANIFEST_VERSION", "load_manifest", "group_counts",
           "check_manifest", "accounting_rows"]

MANIFEST_FORMAT = "alignpt-mix-manifest"
MANIFEST_VERSION = 1


def load_manifest(out_dir: str | Path) -> dict[str, Any]:
    """Read ``OUT/manifest.json`` (a finished mix)."""
    path = Path(out_dir) / "manifest.json"
    try:
        data = orjson.loads(path.read_bytes())
    except FileNotFoundError:
        raise DataError("no manifest.json here (not a mix output, or the mix has not finished; "
                        "rerun it to resume)", str(path)) from None
    except orjson.JSONDecodeError as exc:
        raise DataError(f"invalid manifest JSON: {exc}", str(path)) from None
    if data.get("format") != MANIFEST_FORMAT or data.get("version") != MANIFEST_VERSION:
        raise DataError(f"not an {MANIFEST_FORMAT} v{MANIFEST_VERSION} file", str(path))
    return data


def group_counts(group: dict[str, Any]) -> dict[str, dict[int, int]]:
    """Tokens per source per segment of a group, summed over its parts."""
    out: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    for part in group["parts"]:
        for src, per_seg in part["counts"].items():
            for seg, n in per_seg.items():
                out[src][int(seg)] += n
    return {s: dict(v) for s, v in out.items()}


def check_manifest(manifest: dict[str, Any]) -> None:
    """Every source's tokens per segment equal the plan's quotas, or raise."""
    for group in manifest["groups"]:
        counts = group_counts(group)
        for seg in group["segments"]:
            for src, quota in seg["quotas"].items():
                got = counts.get(src, {}).get(seg["index"], 0)
                if got != quota:
                    raise AssertionError(f"group {group['name']} segment {seg['index']}: {src} "
                                         f"has {got} tokens, plan says {quota}")
        extra = {s for s, per in counts.items() for j, n in per.items() if n and s not in
                 group["segments"][j]["quotas"]}
        if extra:
            raise AssertionError(f"group {group['name']}: unplanned tokens of {sorted(extra)}")


def accounting_rows(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per group, segment and source: planned and written tokens, share, repeats.

    ``share`` is of the segment; ``window`` is the segment's span as fractions of
    its group's stream.
    """
    rows = []
    for group in manifest["groups"]:
        counts = group_counts(group)
        total = sum(s["end"] - s["start"] for s in group["segments"])
        repeated: dict[str, int] = defaultdict(int)
        for part in group["parts"]:
            for src, n in part.get("repeated", {}).items():
                repeated[src] += n
        for seg in group["segments"]:
            span = seg["end"] - seg["start"]
            for src, quota in seg["quotas"].items():
                got = counts.get(src, {}).get(seg["index"], 0)
                rows.append({
                    "group": group["name"], "phase": group["phase"], "segment": seg["index"],
                    "window": (seg["start"] / total, seg["end"] / total), "source": src,
                    "planned": quota, "tokens": got, "share": got / span if span else 0.0,
                    "repeated_in_group": repeated.get(src, 0)})
    return rows
