"""What differs between experiment kinds, behind one small interface.

The runner (:mod:`alignpt.experiment.runner`) is generic: it expands a recipe into
runs, trains them, and measures every phase. Three things depend on what the
corpora *are*, and each kind supplies them:

* :meth:`ExperimentKind.prepare`: whatever the corpora share, built once per
  experiment folder (the text kind's tokenizer);
* :meth:`ExperimentKind.build_corpus`: one corpus spec -> a folder of token shards the
  trainer reads (the world kind samples the persona world; the text kind renders it
  into English, tags, filters and tokenizes);
* :meth:`ExperimentKind.preference_pairs`: one pair spec -> ``pairs.jsonl`` for a dpo
  phase (the world kind writes world-token ids; experiment.posttrain);
* :meth:`ExperimentKind.predictor` / :meth:`ExperimentKind.extra_measures`: how a
  trained model is asked the probes (a world-token predictor, so the measurements and
  exact Bayes stay the world's), and what else is recorded per phase.

A third kind is one new module with a subclass, registered in :data:`KINDS`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    from alignpt.experiment.specs import CorpusSpec, PhaseSpec, RunSpec
    from alignpt.experiment.specs import PairSpec
    from alignpt.experiment.recipe import ExperimentRecipe

__all__ = ["ExperimentKind", "KINDS", "kind_for"]

#: kind name -> "module:Class", imported on first use (the text kind pulls in the tagger
#: and tokenizers, which a world experiment never needs).
KINDS = {
    "world": "alignpt.experiment.world_kind:WorldKind",
    "text": "alignpt.experiment.text_kind:TextKind",
    "shards": "alignpt.experiment.shards_kind:ShardsKind",
}


class ExperimentKind:
    """Base class: the world-independent defaults; subclasses override what differs."""

    name = "base"

    def __init__(self, recipe: "ExperimentRecipe"):
        self.recipe = recipe

    def corpus_extra(self, spec: "CorpusSpec") -> dict[str, Any]:
        """What besides (world recipe, tokens, seed) decides ``spec``'s folder's bytes: it
        goes into the folder's hash (empty for the world kind, so its hashes are unchanged)."""
        return {}

    def measure_extra(self) -> dict[str, Any]:
        """What besides the probes decides a measurement: it goes into every run's hash."""
        return {}

    def prepare(self, root: Path, progress: Callable[[str], None]) -> None:
        """Build what every corpus of the experiment shares (nothing by default)."""

    def build_corpus(self, root: Path, spec: "CorpusSpec", folder: Path) -> None:
        raise NotImplementedError

    def pairs_extra(self, spec: "PairSpec") -> dict[str, Any]:
        """What besides (recipe, contexts, count, seed) decides ``spec``'s pairs file: it
        goes into the file's hash (empty for the world kind)."""
        return {}

    def preference_pairs(self, root: Path, spec: "PairSpec", folder: Path) -> None:
        """Write ``folder/pairs.jsonl`` (the dpo phase's JSONL) and ``folder/stats.json``
        (written last: the pairs are done when it exists) for ``spec``."""
        raise NotImplementedError(f"kind {self.name} has no preference pairs")

    def bayes_recipe(self, root: Path, run: "RunSpec", phase: "PhaseSpec") -> Any:
        """The world recipe exact Bayes conditions on after ``phase`` (see specs.bayes_recipe)."""
        from alignpt.experiment.specs import bayes_recipe

        return bayes_recipe(run, phase)

    def predictor(self, root: Path, model: Any) -> Any:
        """A world-token predictor for ``model``: contexts -> (B, vocab) probabilities."""
        raise NotImplementedError

    def measure_phase(self, root: Path, run: "RunSpec", phase: "PhaseSpec",
                      model: Any) -> dict[str, Any]:
        """Everything recorded for one phase's model: the probes against exact Bayes
        (:func:`alignpt.experiment.measure.measure`) plus :meth:`extra_measures`. A kind
        without a world underneath (shards) replaces it whole."""
        from alignpt.experiment.measure import measure
        from alignpt.world import ExactBayes

        bayes = ExactBayes(self.bayes_recipe(root, run, phase))
        m = measure(self.predictor(root, model), bayes, run.probes)
        m.update(self.extra_measures(root, run, phase, model, bayes))
        return m

    def extra_measures(self, root: Path, run: "RunSpec", phase: "PhaseSpec", model: Any,
                       bayes: Any) -> dict[str, Any]:
        """Further measurements of one phase, merged into its ``measure/PHASE.json``."""
        return {}

    def run_extras(self, root: Path, run: "RunSpec") -> dict[str, Any]:
        """Per-run facts for ``result.json`` beyond training and measurement."""
        return {}


def kind_for(recipe: "ExperimentRecipe") -> ExperimentKind:
    from importlib import import_module

    module, cls = KINDS[recipe.kind].split(":")
    return getattr(import_module(module), cls)(recipe)
