"""The source accounting table: planned vs consumed tokens, per phase, window and source.

A source whose shards are a mix output (``alignpt mix``) is also broken down by the
source each document came from (``origins``: ``data/base``, ``data/aligned``), so a
condition mixed beforehand and trained as one source keeps its per-source accounting.

Written as ``accounting.json`` (everything), ``accounting.csv`` (one row per phase x
segment x source, for spreadsheets and reports) and ``accounting.md`` (for people)
into the run folder and into every checkpoint.

A dpo phase reads preference pairs, not sources: its row counts pairs, the tokens
its pairs put through the model (prompt twice, both completions) and completion
tokens, planned (its steps' pairs in order) and consumed.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any, Sequence

from alignpt.core.atomic import atomic_write_text
from alignpt.train.phases import ResolvedPhase

__all__ = ["accounting_table", "write_accounting"]

CSV_FIELDS = ["phase", "kind", "start_step", "end_step", "source", "planned_tokens",
              "consumed_tokens", "status"]


def accounting_table(phases: Sequence[ResolvedPhase], accounting: Sequence[dict[str, Any]],
                     passes: dict[str, float] | None = None,
                     dpo: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """Merge the plan's quotas with what the sampler recorded (and the dpo phases' pairs)."""
    out = []
    for ph, acc in zip(phases, accounting):
        if ph.is_dpo and dpo and ph.name in dpo:
            got = dpo[ph.name]
            out.append({"phase": ph.name, "kind": ph.kind, "steps": ph.steps, "tokens": ph.tokens,
                        "consumed": got["consumed"]["tokens"],
                        "complete": got["consumed"] == got["planned"], "segments": [], "sources": {},
                        "pairs": got})
            continue
        segs = []
        for seg, consumed in zip(ph.segments, acc["segments"]):
            segs.append({"start_step": seg.start_step, "end_step": seg.end_step,
                         "planned": {s: seg.quotas.get(s, 0) for s in ph.sources},
                         "consumed": {s: int(consumed.get(s, 0)) for s in ph.sources}})
        sources = {}
        for s in ph.sources:
            got = acc["sources"][s]
            sources[s] = {"planned": ph.planned[s], **{k: int(v) for k, v in got.items()},
                          "window_steps": list(ph.windows[s])}
        consumed_total = sum(v["consumed"] for v in sources.values())
        row = {"phase": ph.name, "kind": ph.kind, "steps": ph.steps, "tokens": ph.tokens,
               "consumed": consumed_total, "complete": consumed_total == ph.tokens,
               "segments": segs, "sources": sources}
        if acc.get("origins"):
            # a pre-mixed source's tokens by the source mix took them from ("data/aligned")
            row["origins"] = {o: {k: int(v) for k, v in got.items()}
                              for o, got in acc["origins"].items()}
        out.append(row)
    return {"phases": out, "source_passes": dict(passes or {})}


def _csv(table: dict[str, Any]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=CSV_FIELDS, lineterminator="\n")
    w.writeheader()
    for ph in table["phases"]:
        if "pairs" in ph:
            got = ph["pairs"]["consumed"]["tokens"]
            status = "done" if ph["complete"] else ("not started" if got == 0 else "partial")
            w.writerow({"phase": ph["phase"], "kind": ph["kind"], "start_step": 0, "end_step": ph["steps"],
                        "source": "(preference pairs)", "planned_tokens": ph["tokens"],
                        "consumed_tokens": got, "status": status})
        for seg in ph["segments"]:
            for s, planned in seg["planned"].items():
                got = seg["consumed"][s]
                status = "done" if got == planned else ("not started" if got == 0 else "partial")
                w.writerow({"phase": ph["phase"], "kind": ph["kind"], "start_step": seg["start_step"],
                            "end_step": seg["end_step"], "source": s, "planned_tokens": planned,
                            "consumed_tokens": got, "status": status})
    return buf.getvalue()


def _markdown(table: dict[str, Any]) -> str:
    lines = ["| phase | source | window (steps) | planned | consumed | loss tokens | documents | repeated |",
             "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |"]
    for ph in table["phases"]:
        if "pairs" in ph:
            pl, got = ph["pairs"]["planned"], ph["pairs"]["consumed"]
            lines.append(f"| {ph['phase']} | {got['pairs']:,} of {pl['pairs']:,} preference pairs "
                         f"({ph['pairs']['unique_pairs']:,} unique) | 0-{ph['steps']} of {ph['steps']} | "
                         f"{pl['tokens']:,} | {got['tokens']:,} | {got['completion_tokens']:,} | "
                         f"{got['pairs']:,} | |")
        for s, v in ph["sources"].items():
            a, b = v["window_steps"]
            lines.append(f"| {ph['phase']} | {s} | {a}-{b} of {ph['steps']} | {v['planned']:,} | "
                         f"{v['consumed']:,} | {v['loss_tokens']:,} | {v['documents']:,} | "
                         f"{v['repeated']:,} |")
        for o, v in ph.get("origins", {}).items():
            lines.append(f"| {ph['phase']} | {o} | (mixed in) | | {v['consumed']:,} | "
                         f"{v['loss_tokens']:,} | {v['documents']:,} | |")
    if table.get("source_passes"):
        lines += ["", "Passes over each source so far: " + ", ".join(
            f"{s} {p:.3f}" for s, p in table["source_passes"].items())]
    return "\n".join(lines) + "\n"


def write_accounting(folder: str | Path, table: dict[str, Any]) -> None:
    folder = Path(folder)
    atomic_write_text(folder / "accounting.json", json.dumps(table, indent=2) + "\n")
    atomic_write_text(folder / "accounting.csv", _csv(table))
    atomic_write_text(folder / "accounting.md", _markdown(table))
