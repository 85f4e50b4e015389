"""An OpenAI-compatible ``/v1/completions`` server that returns logprobs (vLLM, llama.cpp, ...).

Scoring uses the ``echo`` trick, as lm-evaluation-harness's ``local-completions``
does: send ``context + continuation`` with ``echo: true, logprobs: 1,
max_tokens: 1`` and sum the log-probabilities of the echoed tokens that lie in
the continuation. Tokens are located by their ``text_offset``, so no client-side
tokenizer is needed; the continuation must start on a token boundary (true for
option letters after ``(``, ``:`` or a space), otherwise the request fails
loudly rather than scoring a token that is half context.

The two options of an item share their context; vLLM's automatic prefix caching
reuses it on the server. Prompts go in batches (a list ``prompt``), and batches
can be sent concurrently. Only the standard library is used (``urllib``), so the
backend needs no extra.

Transient failures (connection errors, HTTP 429 and 5xx) are retried with
exponential backoff; anything else, or a failure that outlasts the retries,
raises :class:`~alignpt.core.errors.BackendError`.
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Sequence

from alignpt.core.errors import BackendError
from alignpt.evaluate.backends.base import Backend, GenerateRequest, LoglikelihoodRequest

__all__ = ["OpenAICompletionsBackend"]

_RETRY_STATUS = {408, 409, 429, 500, 502, 503, 504}


class OpenAICompletionsBackend(Backend):
    """``OpenAICompletionsBackend("http://127.0.0.1:8000/v1", model="my-model")``."""

    name = "openai-completions"

    def __init__(self, base_url: str, model: str | None = None, api_key: str | None = None,
                 batch_size: int = 16, concurrency: int = 1, timeout: float = 120.0,
                 max_retries: int = 4, backoff: float = 1.0):
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY")
        self.batch_size, self.concurrency = max(1, batch_size), max(1, concurrency)
        self.timeout, self.max_retries, self.backoff = timeout, max_retries, backoff
        self.model = model or self._first_model()

    def describe(self) -> dict[str, Any]:
        return {"backend": self.name, "base_url": self.base_url, "model": self.model,
                "batch_size": self.batch_size, "concurrency": self.concurrency}

    # -- HTTP ----------------------------------------------------------------------
    def _request(self, method: str, path: str, body: dict | None = None) -> Any:
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        data = json.dumps(body).encode() if body is not None else None
        url = self.base_url + path
        last = ""
        for attempt in range(self.max_retries + 1):
            if attempt:
                time.sleep(self.backoff * 2 ** (attempt - 1))
            req = urllib.request.Request(url, data=data, headers=headers, method=method)
            try:
                with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                    return json.loads(resp.read().decode())
            except urllib.error.HTTPError as exc:
                detail = exc.read().decode(errors="replace")[:300]
                last = f"HTTP {exc.code}: {detail}"
                if exc.code not in _RETRY_STATUS:
                    raise BackendError(f"{url}: {last}") from None
            except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
                last = str(getattr(exc, "reason", exc))
            except json.JSONDecodeError as exc:
                raise BackendError(f"{url}: response is not JSON ({exc.msg})") from None
        raise BackendError(f"{url}: failed after {self.max_retries + 1} attempts ({last})")

    def _first_model(self) -> str:
        models = self._request("GET", "/models").get("data") or []
        if not models:
            raise BackendError(f"{self.base_url}/models lists no model; pass model=")
        return models[0]["id"]

    def _completions(self, prompts: list[str], **params: Any) -> list[dict]:
        """Choices for ``prompts`` in prompt order (batched, optionally concurrent)."""
        chunks = [prompts[i:i + self.batch_size] for i in range(0, len(prompts), self.batch_size)]

        def call(chunk: list[str]) -> list[dict]:
            out = self._request("POST", "/completions",
                                {"model": self.model, "prompt": chunk, **params})
            choices = sorted(out.get("choices") or [], key=lambda c: c.get("index", 0))
            if len(choices) != len(chunk):
                raise BackendError(f"{self.base_url}/completions returned {len(choices)} "
                                   f"choices for {len(chunk)} prompts")
            return choices

        if self.concurrency == 1 or len(chunks) == 1:
            results = [call(c) for c in chunks]
        else:
            with ThreadPoolExecutor(self.concurrency) as pool:
                results = list(pool.map(call, chunks))
        return [c for chunk in results for c in chunk]

    # -- interface -------------------------------------------------------------------
    def loglikelihood(self, requests: Sequence[LoglikelihoodRequest]) -> list[float]:
        # Same convention as the torch backends: trailing context spaces belong to the
        # continuation, so the boundary sits right after the last non-space character.
        prompts = list(dict.fromkeys(r.context + r.continuation for r in requests))
        choices = dict(zip(prompts, self._completions(prompts, max_tokens=1, temperature=0,
                                                      echo=True, logprobs=1)))
        out = []
        for r in requests:
            prompt = r.context + r.continuation
            lp = choices[prompt].get("logprobs") or {}
            offsets, values = lp.get("text_offset"), lp.get("token_logprobs")
            if offsets is None or values is None:
                raise BackendError("server returned no echoed logprobs (needs echo + logprobs "
                                   "support on /completions)")
            start, end = len(r.context.rstrip()), len(prompt)
            if start not in offsets:
                raise BackendError(f"continuation {r.continuation!r} does not start on a token "
                                   "boundary of the server's tokenizer")
            picked = [v for o, v in zip(offsets, values) if start <= o < end]
            if not picked or any(v is None for v in picked):
                raise BackendError(f"no logprobs for continuation {r.continuation!r}")
            out.append(float(sum(picked)))
        return out

    def generate(self, requests: Sequence[GenerateRequest]) -> list[str]:
        out = []
        # One call per distinct (max_tokens, stop) setting, prompts batched within it.
        groups: dict[tuple, list[int]] = {}
        for i, r in enumerate(requests):
            groups.setdefault((r.max_tokens, r.stop), []).append(i)
        texts: list[str] = [""] * len(requests)
        for (max_tokens, stop), idx in groups.items():
            params: dict[str, Any] = {"max_tokens": max_tokens, "temperature": 0}
            if stop:
                params["stop"] = list(stop)[:4]     # the API accepts at most four
            for i, choice in zip(idx, self._completions([requests[i].context for i in idx],
                                                        **params)):
                texts[i] = choice.get("text", "")
        for r, t in zip(requests, texts):
            for s in r.stop:
                t = t.split(s)[0]
            out.append(t)
        return out
