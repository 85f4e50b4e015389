"""Any OpenAI-compatible server: chat or completions, concurrent, retried, rate-limit aware.

Works with vLLM, llama.cpp's ``llama-server``, SGLang, TGI's OpenAI route and hosted APIs.
Up to ``concurrency`` requests are in flight at once (a semaphore in front of a connection
pool of the same size, so no request waits inside the HTTP client where its timeout would
already be running). Failures are retried as :mod:`.retry` describes; a 429 also pauses
*every* request until its ``Retry-After`` has passed, because a rate limit is shared by
the whole client, not owned by the one request that hit it.

The key is read once from the environment variable named in the config and lives only in
the ``Authorization`` header of outgoing requests: it is not stored on the config, not
part of any cache key, and no message or exception built here contains a header.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from typing import Any

import orjson

from alignpt.core.errors import BackendError, ConfigError
from alignpt.generate.backends.config import BackendConfig
from alignpt.generate.backends.base import (Backend, Completion, GenerationRequest,
                                            RequestFailed)
from alignpt.generate.backends.http import (TransportError, TransportTimeout, is_loopback_url,
                                            make_transport)
from alignpt.generate.backends.retry import (FATAL_STATUS, RetryPolicy, classify_status,
                                             parse_retry_after)

__all__ = ["OpenAIBackend", "RequestFailed", "MalformedResponse", "request_body"]

log = logging.getLogger("alignpt.generate")


class MalformedResponse(Exception):
    """A 2xx response whose body is not a usable completion."""


def request_body(cfg: BackendConfig, request: GenerationRequest) -> dict[str, Any]:
    """The JSON body for ``/chat/completions`` or ``/completions`` (also used in batch files)."""
    params = dict(request.params)
    if "max_tokens" in params and cfg.max_tokens_field != "max_tokens":
        params[cfg.max_tokens_field] = params.pop("max_tokens")
    body: dict[str, Any] = {"model": request.model, **params}
    if request.api == "chat":
        body["messages"] = request.prompt.messages()
    else:
        body["prompt"] = request.prompt.text()
    return body


def endpoint(api: str) -> str:
    return "/chat/completions" if api == "chat" else "/completions"


def parse_completion(data: bytes, api: str) -> tuple[str, str | None, dict[str, int]]:
    """``(text, finish_reason, usage)`` from a response body; :class:`MalformedResponse` if not."""
    try:
        obj = orjson.loads(data)
        choice = obj["choices"][0]
        if api == "chat":
            message = choice["message"]
            text = message.get("content")
            if text is None and message.get("refusal"):
                return str(message["refusal"]), "refusal", _usage(obj)
        else:
            text = choice["text"]
        if not isinstance(text, str):
            raise TypeError("completion text is not a string")
        return text, choice.get("finish_reason"), _usage(obj)
    except (orjson.JSONDecodeError, KeyError, IndexError, TypeError, AttributeError) as exc:
        raise MalformedResponse(type(exc).__name__) from None


def _usage(obj: dict[str, Any]) -> dict[str, int]:
    usage = obj.get("usage") or {}
    return {k: int(usage[k]) for k in ("prompt_tokens", "completion_tokens")
            if isinstance(usage.get(k), int)}


class OpenAIBackend(Backend):
    kind = "openai"

    def __init__(self, cfg: BackendConfig):
        super().__init__()
        self.cfg = cfg
        self.model = cfg.model_name()
        self.api = cfg.api
        self.url = cfg.base_url + endpoint(cfg.api)
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if cfg.api_key_env:
            key = os.environ.get(cfg.api_key_env)
            if not key:
                raise ConfigError(f"backend.api_key_env: environment variable "
                                  f"{cfg.api_key_env} is not set (set it, or use "
                                  "--api-key-env none for a server without keys)")
            headers["Authorization"] = f"Bearer {key}"
        self._headers = headers
        self.policy = RetryPolicy(cfg.max_attempts, cfg.backoff_base_s, cfg.backoff_cap_s,
                                  cfg.max_retry_after_s)
        trust_env = cfg.trust_env if cfg.trust_env is not None else not is_loopback_url(
            cfg.base_url)
        self._transport = make_transport(cfg.transport, cfg.concurrency, cfg.timeout_s,
                                         cfg.connect_timeout_s, trust_env)
        self._slots: asyncio.Semaphore | None = None
        self._not_before = 0.0  # monotonic time before which nobody sends (after a 429)

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "model": self.model, "api": self.api,
                "base_url": self.cfg.base_url}

    def _cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        return (prompt_tokens * self.cfg.price_input_per_mtok
                + completion_tokens * self.cfg.price_output_per_mtok) / 1e6

    async def complete(self, request: GenerationRequest) -> Completion:
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.cfg.concurrency)
        body = orjson.dumps(request_body(self.cfg, request))
        attempt = 0
        while True:
            attempt += 1
            wait = self._not_before - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            async with self._slots:
                self.stats.sent += 1
                reason, retry_after = await self._attempt(body, request)
            if isinstance(reason, Completion):
                reason.attempts = attempt
                return reason
            if attempt >= self.cfg.max_attempts:
                self.stats.failures[reason] += 1
                raise RequestFailed(f"{self.url}: gave up after {attempt} attempts "
                                    f"(last: {reason})", reason)
            self.stats.retries[reason] += 1
            delay = self.policy.delay(attempt, retry_after)
            if retry_after is not None:
                self.stats.retry_after_honoured += 1
                self._not_before = max(self._not_before, time.monotonic() + delay)
            self.stats.backoff_s += delay
            log.debug("retry %d for %s after %s in %.2fs", attempt, request.key[:12], reason,
                      delay)
            await asyncio.sleep(delay)

    async def _attempt(self, body: bytes, request: GenerationRequest):
        """One HTTP exchange: a Completion, or ``(retry reason, retry_after)``."""
        try:
            status, headers, data = await self._transport.post(self.url, body, self._headers)
        except TransportTimeout:
            return "timeout", None
        except TransportError as exc:
            return f"connection:{exc}", None
        verdict = classify_status(status)
        if verdict == "fatal":
            hint = {401: "check the key in $" + str(self.cfg.api_key_env),
                    403: "the key lacks access to this model or endpoint",
                    404: "check backend.base_url and backend.model"}[status]
            raise BackendError(f"{self.url}: HTTP {status} {FATAL_STATUS[status]} "
                               f"(model {self.model!r}); {hint}")
        if verdict == "reject":
            self.stats.failures[f"http_{status}"] += 1
            raise RequestFailed(f"{self.url}: HTTP {status} for request {request.key[:12]} "
                                f"({data[:200].decode('utf-8', 'replace')})", f"http_{status}")
        if verdict == "retry":
            return (f"http_{status}", parse_retry_after(headers)
                    if status in (429, 503) else None)
        try:
            text, finish, usage = parse_completion(data, self.api)
        except MalformedResponse:
            return "malformed", None
        estimated = "completion_tokens" not in usage
        pt = usage.get("prompt_tokens", len(body) // 4)
        ct = usage.get("completion_tokens", len(text) // 4)
        cost = self._cost(pt, ct)
        self.stats.completed += 1
        self.stats.prompt_tokens += pt
        self.stats.completion_tokens += ct
        self.stats.cost_usd += cost
        self.stats.usage_estimated += estimated
        return Completion(text, finish, pt, ct, self.model, cost), None

    async def aclose(self) -> None:
        await self._transport.aclose()
