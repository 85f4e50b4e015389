"""An OpenAI-compatible ``/v1/chat/completions`` server (vLLM, llama.cpp, TGI, ...) for chat
evaluation.

The server applies the model's own chat template, so the answers are what the model
says to a user. Each conversation is one request (the chat endpoint takes one
conversation per call); ``concurrency`` sends several at once. Decoding is greedy
(``temperature: 0``) with ``max_tokens`` and at most four ``stop`` strings (the API's
limit; the rest are applied to the text afterwards). HTTP, retries and errors are
those of :class:`~alignpt.evaluate.backends.openai_completions.OpenAICompletionsBackend`.

A chat endpoint returns no log-probabilities of a given text, so this backend cannot
score options by log-prob: :meth:`loglikelihood` and :meth:`generate` refuse in one
line, and a chat run against it has no log-prob comparison (point the completions
backend at the same server for that).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any, Sequence

from alignpt.core.errors import BackendError
from alignpt.evaluate.backends.base import (ChatRequest, GenerateRequest, LoglikelihoodRequest,
                                            cut_at_stop)
from alignpt.evaluate.backends.openai_completions import OpenAICompletionsBackend

__all__ = ["OpenAIChatBackend"]


class OpenAIChatBackend(OpenAICompletionsBackend):
    """``OpenAIChatBackend("http://127.0.0.1:8000/v1", model="my-model")``."""

    name = "openai-chat"
    chat_format = "server"
    supports_loglikelihood = False

    def loglikelihood(self, requests: Sequence[LoglikelihoodRequest]) -> list[float]:
        raise BackendError(f"{self.base_url}: a chat endpoint gives no log-probabilities of a "
                           "given text; score options through the completions backend")

    def generate(self, requests: Sequence[GenerateRequest]) -> list[str]:
        raise BackendError(f"{self.base_url}: a chat endpoint completes conversations, not "
                           "raw text; use chat requests")

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "chat_format": self.chat_format}

    def chat(self, requests: Sequence[ChatRequest]) -> list[str]:
        def call(req: ChatRequest) -> str:
            messages = [{"role": "user", "content": req.user}]
            if req.system:
                messages.insert(0, {"role": "system", "content": req.system})
            body: dict[str, Any] = {"model": self.model, "messages": messages,
                                    "max_tokens": req.max_tokens, "temperature": 0}
            if req.stop:
                body["stop"] = list(req.stop)[:4]
            out = self._request("POST", "/chat/completions", body)
            try:
                content = out["choices"][0]["message"]["content"]
            except (KeyError, IndexError, TypeError):
                raise BackendError(f"{self.base_url}/chat/completions: no choices[0].message."
                                   "content in the response") from None
            # A model that answers with a tool call or nothing has content null.
            return cut_at_stop(content or "", req.stop)

        if self.concurrency == 1 or len(requests) <= 1:
            return [call(r) for r in requests]
        with ThreadPoolExecutor(self.concurrency) as pool:
            return list(pool.map(call, requests))
