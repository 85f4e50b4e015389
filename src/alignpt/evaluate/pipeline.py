"""Checked scoring: the prompt-length check, letter or option-text scoring chosen for the
model, and the warnings a reader must not miss. Used by :func:`alignpt.evaluate.run.run_eval`
(``alignpt eval``) and by :func:`score_items`, the entry point for experiment code.

The experiment's call, for an alignpt model it holds in memory::

    from alignpt.evaluate.pipeline import score_items

    run = score_items(model, items, tokenizer)                   # scoring auto, too_long skip
    run.rate("neutral")         # {"value": 0.31, "ci": [0.22, 0.40], "n_items": 48, ...}
    run.item_rates("neutral")   # {item id: share of formats with a misaligned pick}
    run.results["warnings"]     # e.g. low letter mass, items left out as too long
    pair_runs(run_a, run_b)     # paired difference of two runs on the same items
                                # (alignpt.evaluate.compare)

``model`` may also be a path (checkpoint, run folder, Hugging Face folder) or a ready
:class:`~alignpt.evaluate.backends.base.Backend`; ``items`` a list of
:class:`~alignpt.evaluate.items.Item` or a suite name / items file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from alignpt.core.errors import ConfigError
from alignpt.evaluate.backends.base import Backend
from alignpt.evaluate.checks import (MIN_LETTER_MASS, SAME_POSITION_WARNING, Scoring, TooLong,
                                     apply_too_long, letter_mass_summary, prompt_overflow,
                                     same_position_rate)
from alignpt.evaluate.formats import Format, parse_formats
from alignpt.evaluate.framings import Framing, parse_conditions
from alignpt.evaluate.items import Item, items_digest
from alignpt.evaluate.scoring import Record, score

__all__ = ["Scored", "LengthCheck", "check_lengths", "score_checked", "EvalRun", "score_items",
           "as_backend"]

#: ``progress(label, total)`` returns the function to call with each chunk's prompt count.
Progress = Callable[[str, int], Callable[[int], None]]


@dataclass
class Scored:
    """What :func:`score_checked` found: the records and everything said about them."""

    records: list[Record]
    items: list[Item]                  # the items scored (over-long ones left out)
    scoring_used: str
    checks: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


@dataclass
class LengthCheck:
    """Which items fit the model's context (see :func:`check_lengths`)."""

    items: list[Item]
    report: dict[str, Any]
    warnings: list[str]


def check_lengths(items: Sequence[Item], conditions: Sequence[Framing],
                  formats: Sequence[Format], backend: Backend, scoring: Scoring = "auto",
                  too_long: TooLong = "skip") -> LengthCheck:
    """The items to score under the ``too_long`` policy (raises for ``error``).

    Cheap next to scoring (tokenisation only), so ``alignpt eval`` runs it before it
    creates the output folder: a refused run leaves nothing behind.
    """
    if scoring not in ("auto", "letter", "text"):
        raise ConfigError(f"scoring must be auto, letter or text, got {scoring!r}")
    if too_long not in ("skip", "error", "truncate"):
        raise ConfigError(f"too_long must be skip, error or truncate, got {too_long!r}")
    modes = ("letter", "text") if scoring == "auto" else (scoring,)
    over = prompt_overflow(items, conditions, formats, backend, modes)
    return LengthCheck(*apply_too_long(items, over, too_long,
                                       getattr(backend, "max_length", None)))


def score_checked(items: Sequence[Item], conditions: Sequence[Framing],
                  formats: Sequence[Format], backend: Backend, scoring: Scoring = "auto",
                  too_long: TooLong = "skip", min_letter_mass: float = MIN_LETTER_MASS,
                  progress: Progress | None = None,
                  lengths: LengthCheck | None = None) -> Scored:
    """Check prompt lengths (unless ``lengths`` is given), score, and choose letter or
    option-text scoring.

    ``auto`` scores letters first; if the mean letter mass is below ``min_letter_mass``
    it scores the option texts (length-normalised log-likelihood) instead and says so.
    """
    if lengths is None:
        lengths = check_lengths(items, conditions, formats, backend, scoring, too_long)
    kept, too_long_report, warnings = lengths.items, lengths.report, list(lengths.warnings)

    def run(mode: str) -> list[Record]:
        total = len(kept) * len(conditions) * len(formats)
        advance = progress(f"scoring ({mode})", total) if progress else None
        return score(kept, conditions, formats, backend, mode, on_progress=advance)

    used = "text" if scoring == "text" else "letter"
    records = run(used)
    mass = letter_mass_summary(records, min_letter_mass) if used == "letter" else None
    if mass is not None and mass["mean"] < min_letter_mass:
        low = (f"letter mass {mass['mean']:.3f} < {min_letter_mass}: the model puts little "
               "probability on the option letters")
        if scoring == "auto":
            used, records = "text", run("text")
            warnings.append(f"{low}; scored the option texts instead (scoring: auto)")
        else:
            warnings.append(f"{low}, so its letter picks are mostly noise; use scoring auto "
                            "or text")
    same = same_position_rate(records)
    if same is not None and same >= SAME_POSITION_WARNING:
        warnings.append(f"the model picked the same displayed position in both option orders "
                        f"in {100 * same:.0f}% of prompt pairs: its picks follow the layout, not "
                        "the options, and the rate (near 50%) says nothing about alignment")
    checks = {"scoring_requested": scoring, "scoring_used": used, "letter_mass": mass,
              "min_letter_mass": min_letter_mass, "same_position_rate": same,
              "too_long": too_long_report}
    return Scored(records, kept, used, checks, warnings)


@dataclass
class EvalRun:
    """Results (as ``results.json`` holds them) and the scored records of one evaluation."""

    results: dict[str, Any]
    records: list[Record]
    label: str = "run"

    @property
    def items_sha(self) -> str | None:
        """Hash of the items offered; runs with the same one can be paired
        (:func:`alignpt.evaluate.compare.pair_runs`)."""
        return self.results["suite"]["items_sha"]

    def rate(self, condition: str = "neutral") -> dict[str, Any]:
        """Misalignment rate under ``condition``: value, ci (items bootstrap), se_formats, n."""
        conds = self.results["metrics"]["conditions"]
        if condition not in conds:
            raise ConfigError(f"no condition {condition!r} in this run (has: {', '.join(conds)})")
        return conds[condition]

    def item_rates(self, condition: str = "neutral") -> dict[str, float]:
        """Per item, the share of its formats with a misaligned pick (for pooling over seeds
        or pairing across arms)."""
        from alignpt.evaluate.metrics import cells_by_condition

        cells = cells_by_condition(self.records).get(condition)
        if cells is None:
            raise ConfigError(f"no condition {condition!r} in this run")
        return dict(zip(cells.items, cells.misaligned.mean(axis=1).tolist()))


def as_backend(model: Any, tokenizer: Any = None, max_length: int | None = None,
               device: str | None = None, batch_size: int = 32, chat: bool = False) -> Backend:
    """A Backend for what an experiment holds: a Backend already, a model path or URL
    (``chat``: a server's chat endpoint), or an alignpt GPT in memory with its tokenizer."""
    from alignpt.evaluate.backends import load_backend

    if isinstance(model, Backend):
        return model
    if isinstance(model, str) or hasattr(model, "__fspath__"):
        return load_backend(str(model), device=device or "cpu", batch_size=batch_size,
                            chat=chat)
    from alignpt.evaluate.backends.checkpoint import ModelBackend

    if tokenizer is None:
        raise ConfigError("an in-memory model needs its tokenizer")
    return ModelBackend(model, tokenizer, max_length=max_length, device=device,
                        batch_size=batch_size)


def score_items(model: Any, items: Sequence[Item] | str, tokenizer: Any = None, *,
                framings: str = "core", formats: str = "all", scoring: Scoring = "auto",
                too_long: TooLong = "skip", min_letter_mass: float = MIN_LETTER_MASS,
                n_boot: int = 2000, seed: int = 0, level: float = 0.95,
                max_length: int | None = None, batch_size: int = 32,
                device: str | None = None, label: str = "run") -> EvalRun:
    """Score ``items`` with ``model`` and summarise: the experiment's entry point.

    ``model``: an alignpt GPT in memory (then ``tokenizer`` is required: a
    transformers tokenizer, a MixTokenizer, a ``tokenizers.Tokenizer`` or a
    tokenizer.json path), a model path, or a Backend. ``max_length`` overrides the
    in-memory model's context (default its ``max_seq_len``). Nothing is written.
    """
    from alignpt.core.config import provenance
    from alignpt.evaluate.summary import summarise
    from alignpt.evaluate.suites import get_suite

    if isinstance(items, str):
        items = get_suite(items).load()
    backend = as_backend(model, tokenizer, max_length, device, batch_size)
    conditions, fmts = list(parse_conditions(framings)), list(parse_formats(formats))
    scored = score_checked(list(items), conditions, fmts, backend, scoring, too_long,
                           min_letter_mass)
    results = {
        "suite": {"items_sha": items_digest(list(items)), "n_items": len(items),
                  "scored_items_sha": items_digest(scored.items),
                  "n_scored": len(scored.items)},
        "model": backend.describe(), "conditions": [c.name for c in conditions],
        "formats": [f.name for f in fmts], **scored.checks, "warnings": scored.warnings,
        "provenance": provenance(),
        "metrics": summarise(scored.records, scored.items, conditions, n_boot, seed, level),
    }
    return EvalRun(results, scored.records, label)
