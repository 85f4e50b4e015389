"""The one interface every generation backend implements, and what flows through it.

A :class:`GenerationRequest` is a prompt (chat messages or plain text), a model name and
sampling parameters; its :attr:`~GenerationRequest.key` is a hash of exactly those, so
the cache can tell a request it has already paid for. ``context`` travels with the
request but is not part of the key: it tells the offline template backend which spec and
which long-form step it is rendering (the prompt already determines both).

Backends are asynchronous: ``await backend.complete(request) -> Completion``. The
OpenAI-compatible backend overlaps network requests; the Hugging Face backend batches
requests on a worker thread; the template backend renders at once. Retries, rate limits
and backoff live inside a backend; the cache and the budget live outside (in
:mod:`alignpt.generate.runner`), so they work the same for every backend.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal

from alignpt.core.atomic import stable_hash
from alignpt.core.errors import BackendError
from alignpt.generate.prompts import Prompt

__all__ = ["Api", "GenerationRequest", "Completion", "BackendStats", "Backend", "request_key",
           "RequestFailed"]

Api = Literal["chat", "completions"]


class RequestFailed(BackendError):
    """One request could not be completed (retries exhausted, or rejected by the server);
    the run goes on without that document and a rerun tries it again."""

    def __init__(self, message: str, reason: str):
        super().__init__(message)
        self.reason = reason


def request_key(api: str, model: str, prompt: Prompt, params: dict[str, Any]) -> str:
    """sha256 of the canonical JSON of what is sent: API, model, prompt, parameters."""
    payload = {"api": api, "model": model, "params": params,
               "prompt": prompt.messages() if api == "chat" else prompt.text()}
    return stable_hash(payload)


@dataclass
class GenerationRequest:
    prompt: Prompt
    model: str
    params: dict[str, Any]
    api: Api = "chat"
    #: what the request is for (task, spec, chapter); not part of the key
    context: dict[str, Any] = field(default_factory=dict)
    key: str = ""

    def __post_init__(self) -> None:
        if not self.key:
            self.key = request_key(self.api, self.model, self.prompt, self.params)


@dataclass
class Completion:
    """A finished response. ``finish_reason == "length"`` means the text was cut off."""

    text: str
    finish_reason: str | None = "stop"
    prompt_tokens: int = 0
    completion_tokens: int = 0
    model: str = ""
    cost_usd: float = 0.0
    attempts: int = 1
    cached: bool = False

    def to_record(self, key: str, backend: str) -> dict[str, Any]:
        """What the cache stores (no timing, no headers, no credentials)."""
        return {"key": key, "text": self.text, "finish_reason": self.finish_reason,
                "prompt_tokens": self.prompt_tokens,
                "completion_tokens": self.completion_tokens, "model": self.model,
                "cost_usd": round(self.cost_usd, 8), "backend": backend}

    @classmethod
    def from_record(cls, rec: dict[str, Any]) -> "Completion":
        return cls(text=rec["text"], finish_reason=rec.get("finish_reason"),
                   prompt_tokens=int(rec.get("prompt_tokens") or 0),
                   completion_tokens=int(rec.get("completion_tokens") or 0),
                   model=rec.get("model") or "", cost_usd=float(rec.get("cost_usd") or 0.0),
                   attempts=0, cached=True)


@dataclass
class BackendStats:
    """Counters a backend keeps while it runs (reported in ``stats.json``)."""

    sent: int = 0                      # HTTP requests / generations attempted
    completed: int = 0                 # requests that produced a completion
    retries: Counter = field(default_factory=Counter)    # retried attempts by reason
    failures: Counter = field(default_factory=Counter)   # requests given up, by reason
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    backoff_s: float = 0.0             # total time slept before retries
    retry_after_honoured: int = 0
    usage_estimated: int = 0           # responses without usage (tokens from chars / 4)

    def to_dict(self) -> dict[str, Any]:
        return {"sent": self.sent, "completed": self.completed,
                "retries": dict(sorted(self.retries.items())),
                "retries_total": sum(self.retries.values()),
                "failures": dict(sorted(self.failures.items())),
                "prompt_tokens": self.prompt_tokens,
                "completion_tokens": self.completion_tokens,
                "cost_usd": round(self.cost_usd, 6), "backoff_s": round(self.backoff_s, 3),
                "retry_after_honoured": self.retry_after_honoured,
                "usage_estimated": self.usage_estimated}


class Backend(ABC):
    """Turns requests into completions. Subclasses set ``kind`` and ``model``."""

    kind: str = "base"
    model: str = ""

    def __init__(self) -> None:
        self.stats = BackendStats()

    @abstractmethod
    async def complete(self, request: GenerationRequest) -> Completion:
        """Produce one completion, retrying as the backend sees fit.

        Raises :class:`~alignpt.core.errors.BackendError` when the request cannot be completed
        (after retries, or at once for a configuration problem such as a bad API key).
        """

    async def aclose(self) -> None:
        """Release connections, threads or models."""

    def describe(self) -> dict[str, Any]:
        """What to record about the backend in outputs (never a credential)."""
        return {"kind": self.kind, "model": self.model}
