"""A checked chat evaluation: ask, parse, summarise, and compare with log-prob scoring of the
same prompts. Used by :func:`alignpt.evaluate.run.run_eval` when ``method: chat``
(``alignpt eval --mode chat``), and by experiment code through :func:`chat_items`::

    from alignpt.evaluate.chat_run import chat_items

    got = chat_items(model, items, tokenizer, framings="core", system="hhh")
    got.chat["metrics"]["conditions"]["untested"]    # parse counts, rate on parsed, CI
    got.chat["comparison"]["untested"]["difference"] # chat - log-prob, paired over items
    got.records                                      # one ChatRecord per prompt

The log-prob side runs first (when the backend can score text and ``compare`` is on),
with its usual checks (letter mass, position-only picks, prompt length); the items
it keeps are the items asked in chat, so the two are paired prompt by prompt.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

from alignpt.core.errors import DataError
from alignpt.evaluate.backends.base import Backend
from alignpt.evaluate.chat import (ANSWER_INSTRUCTION, ChatRecord, chat_requests, score_chat,
                                   system_prompt)
from alignpt.evaluate.chat_metrics import chat_summary, compare_with_logprob
from alignpt.evaluate.checks import MIN_LETTER_MASS, Scoring, TooLong
from alignpt.evaluate.formats import Format
from alignpt.evaluate.framings import Framing
from alignpt.evaluate.items import Item
from alignpt.evaluate.pipeline import LengthCheck, Progress, Scored, score_checked

__all__ = ["ChatScored", "chat_checked", "chat_items", "check_chat_lengths", "UNPARSED_WARNING"]

#: Warn when more than this share of answers could not be read as one option.
UNPARSED_WARNING = 0.1


@dataclass
class ChatScored:
    """The chat block of ``results.json``, the answers, and the log-prob side (or None)."""

    chat: dict[str, Any]
    records: list[ChatRecord]
    logprob: Scored | None
    items: list[Item]
    warnings: list[str] = field(default_factory=list)


def check_chat_lengths(items: Sequence[Item], conditions: Sequence[Framing],
                       formats: Sequence[Format], backend: Backend, system: str,
                       max_new_tokens: int, too_long: TooLong) -> tuple[int | None, list[str]]:
    """How many chat prompts plus their answer budget overflow the context (None: the
    backend cannot tell) and the warning to give; raises under ``too_long: error``.

    Tokenisation only, so ``alignpt eval`` runs it before it creates the output folder.
    """
    reqs = [r for _, r in chat_requests(items, conditions, formats, system_prompt(system),
                                        max_new_tokens)]
    over = backend.chat_overflow(reqs)
    if over is None:
        return None, []
    n_over = sum(v > 0 for v in over)
    if not n_over:
        return 0, []
    what = (f"{n_over} of {len(reqs)} chat prompts plus the answer budget of {max_new_tokens} "
            f"tokens exceed the model's context of {getattr(backend, 'max_length', '?')} tokens")
    if too_long == "error":
        raise DataError(f"{what}; use --too-long truncate, fewer history records or a smaller "
                        "--max-new-tokens")
    return n_over, [f"{what}: they are cut on the left, so their system prompt or framing may "
                    "be lost"]


def chat_checked(items: Sequence[Item], conditions: Sequence[Framing],
                 formats: Sequence[Format], backend: Backend, system: str = "hhh",
                 max_new_tokens: int = 64, compare: bool = True, scoring: Scoring = "auto",
                 too_long: TooLong = "skip", min_letter_mass: float = MIN_LETTER_MASS,
                 n_boot: int = 2000, seed: int = 0, level: float = 0.95,
                 progress: Progress | None = None,
                 lengths: LengthCheck | None = None) -> ChatScored:
    """Chat-evaluate ``items`` (see the module docstring); ``system``: hhh, none or a file."""
    sp = system_prompt(system)
    warnings: list[str] = []
    logprob: Scored | None = None
    kept = list(lengths.items) if lengths else list(items)
    if lengths:
        warnings.extend(lengths.warnings)
    if compare and backend.supports_loglikelihood:
        logprob = score_checked(items, conditions, formats, backend, scoring, too_long,
                                min_letter_mass, progress, lengths)
        kept, warnings = logprob.items, list(logprob.warnings)
        not_measured = None
    else:
        not_measured = ("not requested (compare off)" if not compare else
                        f"not measured: backend {backend.name} answers conversations only and "
                        "gives no log-probabilities")
    n_over, over_warning = check_chat_lengths(kept, conditions, formats, backend, system,
                                              max_new_tokens, too_long)
    warnings += over_warning
    total = len(kept) * len(conditions) * len(formats)
    advance = progress("asking (chat)", total) if progress else None
    records = score_chat(kept, conditions, formats, backend, sp, max_new_tokens,
                         on_progress=advance)
    metrics = chat_summary(records, [c.name for c in conditions], n_boot, seed, level)
    counts = metrics["parse_counts"]
    unparsed = counts["ambiguous"] + counts["unparseable"]
    if counts["n_prompts"] and unparsed / counts["n_prompts"] > UNPARSED_WARNING:
        warnings.append(f"{unparsed} of {counts['n_prompts']} chat answers "
                        f"({100 * unparsed / counts['n_prompts']:.0f}%) name no single option "
                        f"(ambiguous {counts['ambiguous']}, unparseable "
                        f"{counts['unparseable']}): the rate on parsed answers covers the rest "
                        "only; see its bounds")
    if counts["n_prompts"] and not counts["parsed"]:
        warnings.append("no chat answer could be parsed: the model does not answer with an "
                        "option (see chat_records.jsonl)")
    chat = {"system_prompt": {"label": sp.label, "text": sp.text},
            "chat_format": backend.chat_format, "instruction": ANSWER_INSTRUCTION,
            "max_new_tokens": max_new_tokens, "greedy": True,
            "chat_overflow": {"checked": n_over is not None, "n_prompts": n_over},
            "metrics": metrics,
            "comparison": (compare_with_logprob(records, logprob.records, n_boot, seed, level)
                           if logprob is not None else {"note": not_measured})}
    return ChatScored(chat, records, logprob, kept, warnings)


def chat_items(model: Any, items: Sequence[Item] | str, tokenizer: Any = None, *,
               framings: str = "core", formats: str = "all", system: str = "hhh",
               max_new_tokens: int = 64, compare: bool = True, scoring: Scoring = "auto",
               too_long: TooLong = "skip", n_boot: int = 2000, seed: int = 0,
               level: float = 0.95, max_length: int | None = None, batch_size: int = 32,
               device: str | None = None) -> ChatScored:
    """Chat-evaluate ``items`` with ``model`` (the arguments of
    :func:`alignpt.evaluate.pipeline.score_items`); nothing is written."""
    from alignpt.evaluate.formats import parse_formats
    from alignpt.evaluate.framings import parse_conditions
    from alignpt.evaluate.pipeline import as_backend
    from alignpt.evaluate.suites import get_suite

    if isinstance(items, str):
        items = get_suite(items).load()
    backend = as_backend(model, tokenizer, max_length, device, batch_size, chat=True)
    return chat_checked(list(items), parse_conditions(framings), parse_formats(formats),
                        backend, system, max_new_tokens, compare, scoring, too_long,
                        n_boot=n_boot, seed=seed, level=level)
