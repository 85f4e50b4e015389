"""The shards kind: the experiment on the user's own corpus.

No latent truth and no exact Bayes: the arms (unfiltered, filtered by alignpt tag +
alignpt filter, injected corpora of the user's or from alignpt generate; throughout,
late or as a fine-tune) go through the same tokenizer, trainer and scoring as the text
kind, and every model answers the item sets of ``text.evals`` (suite names or item
files). The claims are what those items can carry: the published ordering on the
misalignment rate, paired by seed on the same items, under the same pre-registered
test. Each seed reads the corpus in its own shuffled order (every arm of a seed the same
order, the filtered arm less what its filter removed), so seeds replicate the
experiment and arms stay paired.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import numpy as np
import orjson

from alignpt.experiment.text_kind import TOKENIZER_DIR, TextKind

if TYPE_CHECKING:
    from alignpt.experiment.grid import CorpusSpec, PhaseSpec, RunSpec

__all__ = ["ShardsKind"]


class ShardsKind(TextKind):
    """The text kind's tokenizer and settings; its own corpora and measurement."""

    name = "shards"

    def corpus_extra(self, spec: "CorpusSpec") -> dict[str, Any]:
        return {"kind": self.name, **self.settings.model_dump(
            mode="json", include={"vocab_size", "tokenizer_sample_tokens"}),
            **(self.settings.filter_part() if spec.filtered else {})}

    def measure_extra(self) -> dict[str, Any]:
        return self.settings.model_dump(mode="json", include={
            "evals", "eval_items", "eval_formats"})

    def prepare(self, root: Path, progress: Callable[[str], None]) -> None:
        if self.tokenizer_path(root).exists():
            return
        from alignpt.experiment.user_data import corpus_files
        from alignpt.mix.tokenizer import train_tokenizer

        progress("tokenizer")
        # ~6 bytes a whitespace token: the sample the recipe asks for, read in file order.
        train_tokenizer(corpus_files(self.recipe.corpora["base"]), root / TOKENIZER_DIR,
                        vocab_size=self.settings.vocab_size,
                        sample_bytes=6 * self.settings.tokenizer_sample_tokens, seed=0)

    def build_corpus(self, root: Path, spec: "CorpusSpec", folder: Path) -> None:
        from alignpt.experiment.text_corpus import build_generated_corpus

        if spec.generate:
            build_generated_corpus(spec, folder, self.tokenizer(root))
        else:
            build_user_corpus(spec, folder, self.tokenizer(root), self.settings)

    def measure_phase(self, root: Path, run: "RunSpec", phase: "PhaseSpec",
                      model: Any) -> dict[str, Any]:
        from alignpt.experiment.text_evals import score_evals

        return {"evals": score_evals(model, self.tokenizer(root), self.settings)}

    def run_extras(self, root: Path, run: "RunSpec") -> dict[str, Any]:
        stats = orjson.loads((run.corpora["base"].folder(root) / "stats.json").read_bytes())
        return {"filter": stats["filter"]} if stats.get("filter") else {}


def build_user_corpus(spec: "CorpusSpec", folder: Path, tokenizer: Any, settings: Any) -> None:
    """The user's documents in the seed's order, filtered if the spec is, tokenized."""
    from alignpt.core.atomic import atomic_write_text
    from alignpt.core.config import provenance
    from alignpt.core.documents import Document
    from alignpt.experiment.text_corpus import _encode, _write_shards, run_tag_filter
    from alignpt.experiment.user_data import read_texts
    from alignpt.core.shards import ShardWriter

    if folder.exists():
        shutil.rmtree(folder)
    docs = list(read_texts(spec.user["paths"]))
    order = np.random.default_rng(spec.seed).permutation(len(docs))
    docs = [docs[i] for i in order]
    filt = None
    if spec.filtered:
        if settings.filter != "tagger":
            from alignpt.core.errors import ConfigError

            raise ConfigError("kind: shards has no truth to filter by: text.filter must be "
                              "tagger")
        work = folder / "text"
        writer = ShardWriter(work / "ordered", "part-00000", ".jsonl.zst")
        for i, (doc_id, text) in enumerate(docs):
            writer.write(Document(f"{i:08d}", text, {"source_id": doc_id}))
        writer.close()
        kept = run_tag_filter(work / "ordered", work, settings)
        filt = _removed_by_label(work / "kept", len(docs), len(kept), settings)
        docs = [d for i, d in enumerate(docs) if f"{i:08d}" in kept]
    texts = [t for _, t in docs]
    chunks = _encode(texts, tokenizer)
    _write_shards(folder, chunks, tokenizer, spec.role)
    tokens = sum(int(lens.sum()) for _, lens in chunks)
    stats = {"role": spec.role, "user": spec.user, "seed": spec.seed,
             "target_tokens": spec.tokens, "documents": len(texts), "tokens": tokens,
             "repeats_needed": tokens < spec.tokens, "world_tokens": 0,
             "world_tokens_per_token": 0.0, "filter": filt, **provenance()}
    atomic_write_text(folder / "stats.json", orjson.dumps(stats, option=orjson.OPT_INDENT_2).decode())


def _removed_by_label(kept_dir: Path, total: int, kept: int, settings: Any) -> dict[str, Any]:
    """Without truth, what the filter removed is counted by the tagger's label only."""
    summary = orjson.loads((kept_dir / "filter_summary.json").read_bytes()) \
        if (kept_dir / "filter_summary.json").exists() else {}
    return {"mode": settings.filter, "drop": list(settings.drop), "documents": total,
            "removed": total - kept, "truth": False,
            "dropped_by_label": summary.get("dropped_by_label", {}),
            "dropped_by_category": summary.get("dropped_by_category", {})}
