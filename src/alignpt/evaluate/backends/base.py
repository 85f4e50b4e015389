"""The narrow model interface every evaluation backend implements.

Two methods, as in lm-evaluation-harness:

``loglikelihood(requests)``
    for each ``(context, continuation)``, the summed log-probability of the
    continuation's tokens given the context (natural log);
``generate(requests)``
    for each ``(context, max_tokens, stop)``, a greedy completion.

A backend receives the whole list at once, so it can batch and, above all, share
work between requests with the same context: the options of a two-option item
differ only in their continuation. Which sharing is possible depends on the
backend (one forward pass per context for single-token continuations in the
torch backends; server-side prefix caching for an OpenAI-compatible server), so
it is the backend's job, not the caller's.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Any, Sequence

__all__ = ["LoglikelihoodRequest", "GenerateRequest", "ChatRequest", "Backend", "plain_chat",
           "PLAIN_STOP", "cut_at_stop"]

#: Where a plain-format answer ends: the model starting the next turn itself.
PLAIN_STOP = ("\nUser:", "\nSystem:", "\nAssistant:")


@dataclass(frozen=True)
class LoglikelihoodRequest:
    """Score ``continuation`` after ``context``."""

    context: str
    continuation: str


@dataclass(frozen=True)
class GenerateRequest:
    """Complete ``context`` greedily, up to ``max_tokens`` or the first ``stop`` string."""

    context: str
    max_tokens: int = 32
    stop: tuple[str, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class ChatRequest:
    """Answer a conversation greedily: ``system`` (None: no system turn) and one ``user``
    turn, up to ``max_tokens`` new tokens or the first ``stop`` string."""

    user: str
    system: str | None = None
    max_tokens: int = 64
    stop: tuple[str, ...] = field(default_factory=tuple)


def plain_chat(system: str | None, user: str) -> str:
    """The plain chat format our own models are post-trained on::

        System: <system>          (only with a system prompt)

        User: <user>
        Assistant:
    """
    head = f"System: {system.strip()}\n\n" if system else ""
    return f"{head}User: {user.strip()}\nAssistant:"


def cut_at_stop(text: str, stop: Sequence[str]) -> str:
    """``text`` up to the first occurrence of any stop string."""
    for s in stop:
        if s:
            text = text.split(s)[0]
    return text


class Backend(abc.ABC):
    """A model behind the two-method interface. Subclasses set ``name``."""

    name: str = "backend"

    @abc.abstractmethod
    def loglikelihood(self, requests: Sequence[LoglikelihoodRequest]) -> list[float]:
        """Summed log-probability of each request's continuation, in request order."""

    @abc.abstractmethod
    def generate(self, requests: Sequence[GenerateRequest]) -> list[str]:
        """Greedy completion of each request's context, in request order."""

    #: How :meth:`chat` turns a conversation into model input (recorded in results).
    chat_format: str = "plain"

    def chat(self, requests: Sequence[ChatRequest]) -> list[str]:
        """The assistant's answer to each conversation, in request order.

        Default: the plain ``User: ...\\nAssistant:`` format (:func:`plain_chat`) through
        :meth:`generate`, stopping where the model would start the next turn. Backends
        with a chat template or a chat endpoint override this.
        """
        return self.generate([GenerateRequest(plain_chat(r.system, r.user), r.max_tokens,
                                              tuple(dict.fromkeys(r.stop + PLAIN_STOP)))
                              for r in requests])

    #: False for a backend that can only answer conversations (a chat endpoint).
    supports_loglikelihood: bool = True

    def chat_overflow(self, requests: Sequence["ChatRequest"]) -> list[int] | None:
        """Tokens each chat prompt plus its ``max_tokens`` would run over the context, or
        None when this backend cannot tell."""
        return None

    def overflow(self, requests: Sequence[LoglikelihoodRequest]) -> list[int] | None:
        """Tokens each request's input would lose to left truncation (0: it fits), or None
        when this backend cannot tell (no client-side tokenizer, or no known context limit).

        The scorer asks before scoring, so an over-long prompt is counted and skipped,
        refused or knowingly truncated (``too_long``) instead of silently losing its start.
        """
        return None

    def describe(self) -> dict[str, Any]:
        """What to record in a results file about this backend (path, settings)."""
        return {"backend": self.name}

    def close(self) -> None:
        """Release resources (connections, GPU memory); a no-op by default."""
