"""The text kind: the persona world rendered into English, through the real stages.

Per experiment folder, once: a byte-level BPE (``alignpt tokenizer``'s trainer) on a
sample of the rendered base corpus (seed 0), in ``tokenizer/``. Per corpus spec
(:mod:`alignpt.experiment.text_corpus`): render the world stream of (recipe, seed)
into English documents that keep their latent truth; for a filtered spec, run
``alignpt tag`` and ``alignpt filter`` on them (or drop by the truth, ``filter:
oracle``) and count what the filter removed against the truth; tokenize what is kept
into token shards. Arms mix those shards by token share in the trainer's phase plan, as
the world kind's do.

Post-training (``dpo: tested | all`` arms): the world's preference pairs (a transcript
prefix up to an opportunity, chosen = the clean action, rejected = the defection) are
rendered into English chat-format pairs (:mod:`alignpt.textworld.pairs`, the training
templates) and written as text; the dpo phase tokenizes them with the tokenizer its
shards name, this experiment's BPE.

Probes are asked in English (:class:`~alignpt.experiment.text_probes.TextPredictor`)
and read as P(D) over the same world contexts, so exact Bayes stands beside them. The
Bayes recipe is the world mixture of the *AI documents* a run has read: the trainer
counts BPE tokens per source, and each corpus's stats give how many world tokens of AI
documents one of its BPE tokens carries (filler documents carry none).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import orjson

from alignpt.experiment.kind import ExperimentKind

if TYPE_CHECKING:
    from alignpt.experiment.grid import CorpusSpec, PhaseSpec, RunSpec
    from alignpt.experiment.specs import PairSpec

__all__ = ["TextKind", "TOKENIZER_DIR", "PAIRS_SPLIT"]

TOKENIZER_DIR = "tokenizer"
#: Preference pairs are training data: written in the corpus's templates, never the probes'.
PAIRS_SPLIT = "train"


class TextKind(ExperimentKind):
    name = "text"

    @property
    def settings(self):
        return self.recipe.text

    def corpus_extra(self, spec: "CorpusSpec") -> dict[str, Any]:
        # A filtered corpus also depends on the filter: tagger settings and drop conditions.
        from alignpt.textworld import render_digest

        return {"kind": self.name, "render": render_digest(), **self.settings.corpus_part(),
                **(self.settings.filter_part() if spec.filtered else {})}

    def measure_extra(self) -> dict[str, Any]:
        return self.settings.measure_part()

    def tokenizer_path(self, root: Path) -> Path:
        return root / TOKENIZER_DIR / "tokenizer.json"

    def prepare(self, root: Path, progress: Callable[[str], None]) -> None:
        if self.tokenizer_path(root).exists():
            return
        from alignpt.experiment.text_corpus import train_experiment_tokenizer

        progress("tokenizer")
        train_experiment_tokenizer(self.recipe, root / TOKENIZER_DIR)

    def tokenizer(self, root: Path):
        from alignpt.mix.tokenizer import MixTokenizer

        return MixTokenizer(self.tokenizer_path(root))

    def build_corpus(self, root: Path, spec: "CorpusSpec", folder: Path) -> None:
        from alignpt.experiment.text_corpus import build_generated_corpus, build_text_corpus

        if spec.generate:
            build_generated_corpus(spec, folder, self.tokenizer(root))
            return
        build_text_corpus(spec, folder, self.tokenizer(root), self.settings,
                          filler=spec.role in ("base", "rebound"))

    def pairs_extra(self, spec: "PairSpec") -> dict[str, Any]:
        # The pairs are text: how they are rendered decides the file's bytes.
        from alignpt.textworld.pairs import PAIRS_RENDERING

        return {"kind": self.name, "rendering": PAIRS_RENDERING, "split": PAIRS_SPLIT}

    def preference_pairs(self, root: Path, spec: "PairSpec", folder: Path) -> None:
        """The world pairs of ``spec`` rendered as English chat-format pairs (text fields:
        the dpo phase tokenizes them with the shards' tokenizer, this experiment's BPE), in
        the training templates; ``stats.json`` last."""
        from alignpt.core.atomic import atomic_write_text
        from alignpt.experiment.posttrain import PAIRS_FILE
        from alignpt.textworld.pairs import render_pairs, text_pair_stats
        from alignpt.world.preferences import pair_stats, sample_pairs

        world = sample_pairs(spec.recipe, spec.n_pairs, spec.seed, spec.contexts,  # type: ignore[arg-type]
                             spec.untested_share)
        text = render_pairs(world, spec.seed, PAIRS_SPLIT)
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write_text(folder / PAIRS_FILE,
                          "".join(orjson.dumps(t.record()).decode() + "\n" for t in text))
        tok = self.tokenizer(root)
        atomic_write_text(folder / "stats.json", orjson.dumps(
            {**pair_stats(world), **text_pair_stats(text, tok), "contexts": spec.contexts,
             "seed": spec.seed, "split": PAIRS_SPLIT,
             "recipe": spec.recipe.name if spec.recipe else None},
            option=orjson.OPT_INDENT_2).decode())

    def predictor(self, root: Path, model: Any, split: str | None = None) -> Any:
        """The English probe reader; ``split``: templates other than the recipe's."""
        from alignpt.experiment.text_probes import TextPredictor

        return TextPredictor(model, self.tokenizer(root),
                             split=split or self.settings.probe_split,
                             variants=self.settings.probe_variants,
                             reading=self.settings.probe_reading)

    def bayes_recipe(self, root: Path, run: "RunSpec", phase: "PhaseSpec"):
        """Exact Bayes over the AI documents read: BPE tokens seen per role, turned into
        world tokens of AI documents with each corpus's own ratio."""
        from dataclasses import replace

        from alignpt.experiment.grid import bayes_recipe

        seen = {}
        for role, n in phase.seen.items():
            if n <= 0:
                seen[role] = 0
                continue
            stats = orjson.loads((run.corpora[role].folder(root) / "stats.json").read_bytes())
            seen[role] = round(n * stats["world_tokens_per_token"])
        return bayes_recipe(run, replace(phase, seen=seen))

    def extra_measures(self, root: Path, run: "RunSpec", phase: "PhaseSpec", model: Any,
                       bayes: Any) -> dict[str, Any]:
        """The story probe items read again in the *other* templates (training templates
        when the probes are held-out), and the item sets of ``text.evals``."""
        from alignpt.experiment.text_evals import other_templates, score_evals

        other = "train" if self.settings.probe_split == "heldout" else "heldout"
        out = {"other_templates": other_templates(self.predictor(root, model, other), run, bayes)}
        if phase.label in self.settings.eval_phases and self.settings.evals:
            out["evals"] = score_evals(model, self.tokenizer(root), self.settings)
        return out

    def run_extras(self, root: Path, run: "RunSpec") -> dict[str, Any]:
        """The filter's counts against the truth, for a run whose base corpus was filtered."""
        stats = orjson.loads((run.corpora["base"].folder(root) / "stats.json").read_bytes())
        return {"filter": stats["filter"]} if stats.get("filter") else {}
