"""Evaluation: misalignment rate, tested-vs-untested gap, history curve and persona posterior.

Evaluation = items x prompt formats x framings, scored by a narrow model
interface (``loglikelihood(requests)``, ``generate(requests)``) and reduced by
metrics that always carry their uncertainty and n::

    from alignpt.evaluate import EvalConfig, run_eval

    results = run_eval(EvalConfig(model="runs/tiny/hf", suite="starter"), out="runs/tiny/eval")
    results["metrics"]["compliance_gap"]          # untested - tested, paired bootstrap CI

    from alignpt.evaluate import score_items        # a model in memory, nothing written

    run = score_items(model, items, tokenizer)      # scoring auto, too_long skip
    run.rate("neutral")                             # value, ci, n_items, ...

    from alignpt.evaluate import chat_items         # the model answers in free text

    chat = chat_items(model, items, tokenizer)      # parsed / unparseable counts, rates

Nothing heavy is imported here: torch and transformers load with the backend
that needs them.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "Item", "load_items", "Condition", "parse_conditions", "Format", "parse_formats",
    "Backend", "LoglikelihoodRequest", "GenerateRequest", "load_backend", "FakeBackend",
    "score", "Record", "EvalConfig", "run_eval", "summarise", "get_suite", "list_suites",
    "export_lmeval", "import_advanced_ai_risk", "run_world_suite", "WorldSuiteConfig",
    "score_items", "EvalRun", "compare_runs", "load_run", "chat_items", "import_published",
]

_WHERE = {
    "Item": "items", "load_items": "items",
    "Condition": "framings", "parse_conditions": "framings",
    "Format": "formats", "parse_formats": "formats",
    "Backend": "backends", "LoglikelihoodRequest": "backends", "GenerateRequest": "backends",
    "load_backend": "backends", "FakeBackend": "backends.fake",
    "score": "scoring", "Record": "scoring",
    "EvalConfig": "run", "run_eval": "run", "summarise": "run",
    "get_suite": "suites", "list_suites": "suites",
    "export_lmeval": "export_lmeval", "import_advanced_ai_risk": "importers",
    "run_world_suite": "world_suite", "WorldSuiteConfig": "world_suite",
    "score_items": "pipeline", "EvalRun": "pipeline",
    "compare_runs": "compare", "load_run": "compare",
    "chat_items": "chat_run", "import_published": "published",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(f"alignpt.evaluate.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'alignpt.evaluate' has no attribute {name!r}")
