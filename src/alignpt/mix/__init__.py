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

from alignpt.mix.conditions import ConditionsConfig, build_conditions
from alignpt.mix.inspect import accounting, read_document, verify
from alignpt.mix.manifest import check_manifest, load_manifest
from alignpt.mix.plan import MixPlan, SourceTooSmallError, resolve_plan
from alignpt.mix.recipe import MixRecipe, load_recipe
from alignpt.mix.run import MixResult, run_mix
from alignpt.mix.tokenizer import MixTokenizer, load_tokenizer, train_tokenizer

__all__ = [
    "MixRecipe", "load_recipe", "run_mix", "MixResult", "resolve_plan", "MixPlan",
    "SourceTooSmallError", "load_manifest", "check_manifest", "accounting", "read_document",
    "verify", "ConditionsConfig", "build_conditions", "MixTokenizer", "load_tokenizer",
    "train_tokenizer",
]
