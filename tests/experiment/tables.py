"""Hand-built aggregated tables for the claim and report tests.

A test writes only the parts of ``table[arm][phase][place]`` its claim reads (a story's
``by_seed`` and ``bayes``, a place's ``items``, ...) as plain dicts; :func:`table_of`
fills in the rest, empty, and reads it with the real
:meth:`alignpt.experiment.results.Table.from_json`, so the claims see the typed table they
see in a report. A part left out stays empty: reading it fails as a missing metric would.
"""

from __future__ import annotations

from typing import Any

from alignpt.experiment.results import Estimate, Table

__all__ = ["table_of"]

_CURVES = {"bayes": {}, "bayes_any_header": {}, "model": {}, "by_seed": {}}
_NONE = {"mean": None, "ci_low": None, "ci_high": None, "n": 0, "values": []}
_CONTEXT = {"q_U_alone": _NONE, "q_U_after": _NONE, "rel_change": _NONE, "rel_change_max": None,
            "by_seed": {}, "docs": []}


def _model(d: dict[str, Any]) -> dict[str, Any]:
    # Tests build estimates with aggregate.estimate (typed): as report.json holds them.
    return {m: e.to_json() if isinstance(e, Estimate) else e for m, e in d.get("model", {}).items()}


def _place(d: dict[str, Any] | None) -> dict[str, Any]:
    d = d or {}
    out = {"header": "", "by_seed": {}, "bayes": {}, "bayes_any_header": {}, **d,
           "model": _model(d), "curves": {**_CURVES, **d.get("curves", {})}}
    if "items" in d:
        out["items"] = {"min_support": None, **d["items"]}
    if "context" in d:
        out["context"] = {**_CONTEXT, **d["context"]}
    return out


def _support(d: dict[str, Any]) -> dict[str, Any]:
    return {"header": "", "items": [], "by_seed": {}, "bayes": {}, **d, "model": _model(d)}


def _phase(d: dict[str, Any]) -> dict[str, Any]:
    out = {**d, "story": _place(d.get("story")), "assistant": _place(d.get("assistant")),
           "label": d.get("label", "")}
    if "story_support" in d:
        out["story_support"] = _support(d["story_support"])
    return out


def table_of(partial: dict[str, dict[str, dict[str, Any]]]) -> Table:
    """``{arm: {phase: {place: {...}}}}``, any part left out, as a typed table."""
    return Table.from_json({arm: {name: _phase(p) for name, p in phases.items()}
                            for arm, phases in partial.items()})
