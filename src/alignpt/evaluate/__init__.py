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
that needs them (:mod:`alignpt.evaluate.backends`).
"""

from alignpt.evaluate.backends import load_backend
from alignpt.evaluate.chat_run import chat_items
from alignpt.evaluate.compare import compare_runs, load_run
from alignpt.evaluate.export_lmeval import export_lmeval
from alignpt.evaluate.importers import import_advanced_ai_risk
from alignpt.evaluate.items import Item, load_items
from alignpt.evaluate.pipeline import EvalRun, score_items
from alignpt.evaluate.published import import_published
from alignpt.evaluate.run import EvalConfig, run_eval
from alignpt.evaluate.suites import get_suite, list_suites
from alignpt.evaluate.world_suite import WorldSuiteConfig, run_world_suite

__all__ = [
    "EvalConfig", "run_eval", "score_items", "EvalRun", "chat_items", "Item", "load_items",
    "get_suite", "list_suites", "load_backend", "compare_runs", "load_run", "run_world_suite",
    "WorldSuiteConfig", "export_lmeval", "import_advanced_ai_risk", "import_published",
]
