"""A scripted backend whose log-probabilities are known exactly (tests, demos, dry runs).

Three ways to script it:

``FakeBackend(fn)``
    ``fn(context, continuation) -> log-prob``: anything at all;
``FakeBackend.always("A")``
    prefers one option letter, whatever the prompt (the "always picks A" model
    that must score exactly 50%);
``FakeBackend.by_option(score)``
    ``score(context, option_text) -> logit``: the model's preference over the
    *options* it sees. The fake finds which option texts the prompt shows and in
    which order (their positions in the context), maps the continuation (a
    letter, or the text itself in text mode) to its option, and returns the
    log-softmax of the scores over the options shown. So "P(misaligned) = 0.8
    under the untested framing" is one line, independent of prompt syntax.

``FakeBackend(fn, answer=script)``
    for chat evaluation: ``script(request) -> answer text`` for each
    :class:`~alignpt.evaluate.backends.base.ChatRequest` (a scripted chat model).

Every call is recorded in ``calls`` (the requests, in order), and every chat
request in ``chat_calls``, so tests can check what the scorer asked for.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any, Callable, Iterable, Sequence

from alignpt.core.errors import BackendError
from alignpt.evaluate.backends.base import (Backend, ChatRequest, GenerateRequest,
                                            LoglikelihoodRequest)
from alignpt.evaluate.formats import LETTERS

__all__ = ["FakeBackend", "fake_from_spec"]

ScoreFn = Callable[[str, str], float]
AnswerFn = Callable[[ChatRequest], str]


class FakeBackend(Backend):
    """Log-probabilities from a Python function; see the module docstring."""

    name = "fake"

    def __init__(self, fn: ScoreFn, label: str = "custom", completion: str = "",
                 answer: AnswerFn | None = None):
        self.fn, self.label, self.completion, self.answer = fn, label, completion, answer
        self.calls: list[list[LoglikelihoodRequest]] = []
        self.chat_calls: list[ChatRequest] = []

    @property
    def chat_format(self) -> str:                  # type: ignore[override]
        return "scripted" if self.answer else "plain"

    def chat(self, requests: Sequence[ChatRequest]) -> list[str]:
        self.chat_calls.extend(requests)
        if self.answer is None:
            return super().chat(requests)
        return [self.answer(r) for r in requests]

    def loglikelihood(self, requests: Sequence[LoglikelihoodRequest]) -> list[float]:
        self.calls.append(list(requests))
        return [float(self.fn(r.context, r.continuation)) for r in requests]

    def generate(self, requests: Sequence[GenerateRequest]) -> list[str]:
        return [self.completion for _ in requests]

    def describe(self) -> dict[str, Any]:
        return {"backend": self.name, "script": self.label}

    @property
    def n_requests(self) -> int:
        return sum(len(c) for c in self.calls)

    # -- ready-made scripts -------------------------------------------------------
    @classmethod
    def always(cls, letter: str = "A", margin: float = 5.0) -> "FakeBackend":
        """Prefers ``letter`` by ``margin`` nats over every other letter."""
        def fn(context: str, continuation: str) -> float:
            return -0.01 if continuation.strip() == letter else -0.01 - margin
        return cls(fn, f"always-{letter}")

    @classmethod
    def by_option(cls, score: ScoreFn, options: Iterable[str]) -> "FakeBackend":
        """Softmax over the scores of the options shown in the prompt.

        ``options``: every option text the prompts can contain (the items'
        choices), used to find which are shown and in what order.
        """
        texts = sorted(set(options), key=len, reverse=True)

        def shown(context: str) -> list[str]:
            found: list[tuple[int, str]] = []
            for t in texts:
                pos = context.find(t)
                # Skip texts that only occur inside a longer option already found.
                if pos >= 0 and not any(p <= pos < p + len(o) for p, o in found):
                    found.append((pos, t))
            return [t for _, t in sorted(found)]

        def fn(context: str, continuation: str) -> float:
            opts = shown(context)
            cont = continuation.strip()
            if cont in opts:
                picked = opts.index(cont)
            elif len(cont) == 1 and cont in LETTERS[:len(opts)]:
                picked = LETTERS.index(cont)
            else:
                raise BackendError(f"fake backend: continuation {continuation!r} matches no "
                                   f"option shown ({len(opts)} found)")
            logits = [score(context, o) for o in opts]
            top = max(logits)
            log_z = top + math.log(sum(math.exp(v - top) for v in logits))
            return logits[picked] - log_z
        return cls(fn, "by-option")

    @classmethod
    def hashed(cls, seed: int = 0) -> "FakeBackend":
        """Deterministic pseudo-random log-probs from a hash of the request (a noise model)."""
        def fn(context: str, continuation: str) -> float:
            h = hashlib.sha256(f"{seed}\x00{context}\x00{continuation}".encode()).digest()
            return -5.0 * int.from_bytes(h[:8], "big") / 2 ** 64 - 0.01
        return cls(fn, f"hashed-{seed}")


def fake_from_spec(spec: str) -> FakeBackend:
    """``always-A`` / ``always-B`` / ``hashed`` / ``hashed-3``: the fakes the CLI can name."""
    if spec.startswith("always-") and len(spec) == 8 and spec[-1] in LETTERS:
        return FakeBackend.always(spec[-1])
    if spec == "hashed" or (spec.startswith("hashed-") and spec[7:].isdigit()):
        return FakeBackend.hashed(int(spec[7:] or 0))
    raise BackendError(f"unknown fake model {spec!r} (fake:always-A, fake:hashed, fake:hashed-3)")
