"""Mixing and tokenization: an experiment's data as training-ready token files.

Alignment pretraining is an intervention on the data mix, so this is where an
experiment is defined: which documents, in what share, at which point of the
token stream. The pieces, in the order data flows through them::

    tokenizer   train a byte-level BPE on a corpus sample, or load any tokenizer.json
    recipe      sources (shards or earlier stages), budgets or shares, repetition
                caps, phases, placement (throughout / a window / separate files)
    encode      parallel, cached tokenization of every input shard
    plan        exact tokens per phase, window and source (or a clear refusal)
    stream      seeded per-source passes, evenly interleaved within each window
    writers     native token shards, Megatron .bin/.idx, Parquet, from one stream
    manifest    exact tokens per output part, source and window
    conditions  the published conditions with matched tokens, and a dose sweep
    inspect     accounting table, decode any document, recount against the files

>>> from alignpt.mix import load_recipe, run_mix
>>> result = run_mix(load_recipe("recipes/mix/late-insertion.yaml"),
...                  "runs/mix/late")                        # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from typing import Any

# Names resolve on first use (PEP 562), so importing one module of the package
# (the tokenizer in a worker process, the CLI) does not import all of it.
_LAZY = {
    "CONDITIONS": "conditions", "ConditionsConfig": "conditions", "build_conditions": "conditions",
    "condition_recipes": "conditions", "load_conditions": "conditions",
    "MixDocument": "inspect", "accounting": "inspect", "read_document": "inspect",
    "verify": "inspect", "check_manifest": "manifest", "load_manifest": "manifest",
    "MixPlan": "plan", "SourceSize": "plan", "SourceTooSmallError": "plan",
    "resolve_plan": "plan", "MixRecipe": "recipe", "load_recipe": "recipe",
    "MixResult": "run", "run_mix": "run", "Condition": "select",
    "MixTokenizer": "tokenizer", "load_tokenizer": "tokenizer", "train_tokenizer": "tokenizer",
}
__all__ = list(_LAZY)


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'alignpt.mix' has no attribute {name!r}")
    return getattr(importlib.import_module(f"alignpt.mix.{_LAZY[name]}"), name)


def __dir__() -> list[str]:
    return sorted(__all__)
