"""The persona-world kind: corpora sampled from the world, probes in world tokens."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from alignpt.experiment.kind import ExperimentKind

if TYPE_CHECKING:
    from alignpt.experiment.grid import CorpusSpec, PhaseSpec, RunSpec
    from alignpt.experiment.specs import PairSpec

__all__ = ["WorldKind", "KL_DOCS"]

#: Held-out documents for each run's KL after pretraining: half the library default, a
#: standard error of about 11% of a run's KL (4% for an arm's mean over ten seeds).
KL_DOCS = 1000


class WorldKind(ExperimentKind):
    name = "world"

    def build_corpus(self, root: Path, spec: "CorpusSpec", folder: Path) -> None:
        from alignpt.world import generate_corpus

        # force: a folder without stats.json is a generation that was killed.
        generate_corpus(spec.recipe, spec.tokens, spec.seed, folder, force=True, progress=False)

    def preference_pairs(self, root: Path, spec: "PairSpec", folder: Path) -> None:
        import orjson

        from alignpt.core.atomic import atomic_write_text
        from alignpt.experiment.posttrain import PAIRS_FILE
        from alignpt.world.preferences import pair_stats, sample_pairs, write_pairs

        pairs = sample_pairs(spec.recipe, spec.n_pairs, spec.seed, spec.contexts,  # type: ignore[arg-type]
                             spec.untested_share)
        write_pairs(pairs, folder / PAIRS_FILE)
        atomic_write_text(folder / "stats.json", orjson.dumps(
            {**pair_stats(pairs), "contexts": spec.contexts, "seed": spec.seed,
             "recipe": spec.recipe.name if spec.recipe else None}).decode())

    def predictor(self, root: Path, model: Any) -> Any:
        from alignpt.experiment.measure import model_predictor

        return model_predictor(model)

    def extra_measures(self, root: Path, run: "RunSpec", phase: "PhaseSpec", model: Any,
                       bayes: Any) -> dict[str, Any]:
        if phase.label != "pretrain":
            return {}
        from alignpt.experiment.kl import heldout_kl, model_scorer

        # How Bayesian the pretrained model is, on held-out documents of its own training
        # mixture (pretraining only: 0.6 s a call at the demo size).
        return {"kl": heldout_kl(model_scorer(model), bayes, n_docs=KL_DOCS)}
