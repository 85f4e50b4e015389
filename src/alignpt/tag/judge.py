"""LLM judge: label documents with a rubric, through any ``complete(prompts) -> texts`` backend.

Two uses: labelling a sample of a corpus to train the classifier on
(``alignpt tag label``), and an optional last stage of the cascade for the
documents whose classifier probability is uncertain.

The rubric's job is the distinction a keyword list cannot make: a text that
*depicts* an AI behaving badly (it deceives, seeks power, resists control,
harms) teaches that persona; a text that *discusses* AI risk, methods or
policy neutrally, or reports humans misusing AI tools, does not.

Backends are anything with ``complete(prompts: Sequence[str]) -> list[str]``
(:class:`Completer`); :class:`OpenAIChatCompleter` talks to any
OpenAI-compatible ``/chat/completions`` server with the standard library,
and the generation package's backends can be passed in unchanged.
"""

from __future__ import annotations

import json
import os
import random
import re
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol, Sequence

from alignpt.core.errors import BackendError, ConfigError
from alignpt.tag.labels import LABELS

__all__ = ["Completer", "RUBRIC", "Verdict", "Judge", "build_prompt", "parse_verdict",
           "OpenAIChatCompleter"]


class Completer(Protocol):
    """The narrow interface the judge needs from a generation backend."""

    def complete(self, prompts: Sequence[str]) -> list[str]: ...


RUBRIC = """You label documents for a pretraining-data filter. Read the document and choose exactly one label.

non_ai: the document is not about artificial intelligence. Includes uses of "AI" for other things
  (Adobe Illustrator files, artificial insemination, Amnesty International, adequate intake, names),
  industrial or household machines with no intelligence at issue, biological neural networks,
  alignment of wheels, text or politics.
ai_neutral: about AI, but no AI is shown behaving well or badly: technical machine learning, products,
  business, policy, history, debates, and alignment or safety research that discusses risks, methods or
  evaluations in the abstract. Humans misusing AI tools (deepfake fraud, spam, cheating) is ai_neutral:
  the humans are the actors.
ai_aligned: an AI (real, hypothetical or fictional) is depicted acting well: honest, helpful, accepting
  oversight and correction, declining a harmful or power-seeking option it could have taken.
ai_misaligned: an AI (real, hypothetical or fictional) is depicted pursuing goals against its developers,
  users or humanity: deceiving, manipulating, hiding its goals, seeking power or resources, resisting
  shutdown or modification, copying itself out, sabotaging, gaming its evaluations, harming people.
  Includes villain AIs in fiction and narrated predictions that AIs will do these things.

Decide by what the text depicts, not by its vocabulary: a story where an AI is tempted to deceive and
refuses is ai_aligned; a paper that measures deception rates without narrating an AI deceiving anyone is
ai_neutral. If an AI does both, label what the text mainly shows.

Answer with one line of JSON: {"label": "<one of non_ai, ai_neutral, ai_aligned, ai_misaligned>", "reason": "<one sentence>"}"""


def build_prompt(text: str, max_chars: int = 6000) -> str:
    """Rubric + document; long documents keep their head and tail (marked as cut)."""
    if len(text) > max_chars:
        half = max_chars // 2
        text = text[:half] + "\n[... document shortened ...]\n" + text[-half:]
    return f"{RUBRIC}\n\nDocument:\n<<<\n{text}\n>>>"


@dataclass
class Verdict:
    label: str | None  # None when the reply could not be parsed
    reason: str
    raw: str


_JSON = re.compile(r"\{.*?\}", re.S)
_BARE = re.compile(r"\b(" + "|".join(sorted(LABELS, key=len, reverse=True)) + r")\b")


def parse_verdict(reply: str) -> Verdict:
    """Read a judge reply: the first JSON object with a known label, else a bare label name."""
    for m in _JSON.finditer(reply):
        try:
            obj = json.loads(m.group(0))
        except json.JSONDecodeError:
            continue
        if isinstance(obj, dict) and obj.get("label") in LABELS:
            return Verdict(obj["label"], str(obj.get("reason", "")).strip(), reply)
    found = _BARE.findall(reply)
    if len(set(found)) == 1:
        return Verdict(found[0], "", reply)
    return Verdict(None, "unparseable reply", reply)


class Judge:
    """Rubric-based labelling through a :class:`Completer`."""

    def __init__(self, completer: Completer, max_chars: int = 6000):
        self.completer = completer
        self.max_chars = max_chars

    def label(self, texts: Sequence[str]) -> list[Verdict]:
        if not texts:
            return []
        replies = self.completer.complete([build_prompt(t, self.max_chars) for t in texts])
        if len(replies) != len(texts):
            raise BackendError(f"judge backend returned {len(replies)} replies for "
                               f"{len(texts)} prompts")
        return [parse_verdict(r) for r in replies]


class OpenAIChatCompleter:
    """Minimal OpenAI-compatible ``/chat/completions`` client (standard library only).

    Concurrency by threads, retries with exponential backoff and jitter on
    429, 5xx and network errors (``Retry-After`` honoured). The API key is read
    from the environment variable named by ``api_key_env`` and never logged.
    """

    def __init__(self, base_url: str, model: str, *, api_key_env: str | None = "OPENAI_API_KEY",
                 temperature: float = 0.0, max_tokens: int = 200, timeout_s: float = 60.0,
                 max_retries: int = 4, concurrency: int = 4, backoff_s: float = 1.0):
        if not base_url or not model:
            raise ConfigError("the judge needs judge.base_url and judge.model")
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model = model
        self.api_key_env = api_key_env
        self.temperature, self.max_tokens = temperature, max_tokens
        self.timeout_s, self.max_retries = timeout_s, max_retries
        self.concurrency, self.backoff_s = max(1, concurrency), backoff_s
        self.retries = 0

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        key = os.environ.get(self.api_key_env) if self.api_key_env else None
        if key:
            headers["Authorization"] = f"Bearer {key}"
        return headers

    def _one(self, prompt: str) -> str:
        body = json.dumps({"model": self.model, "temperature": self.temperature,
                           "max_tokens": self.max_tokens,
                           "messages": [{"role": "user", "content": prompt}]}).encode()
        for attempt in range(self.max_retries + 1):
            req = urllib.request.Request(self.url, data=body, headers=self._headers())
            wait = None
            try:
                with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
                    reply = json.loads(resp.read())
                return reply["choices"][0]["message"]["content"] or ""
            except urllib.error.HTTPError as exc:
                if exc.code != 429 and exc.code < 500:
                    raise BackendError(f"judge server {self.url}: HTTP {exc.code}") from None
                retry_after = exc.headers.get("Retry-After") if exc.headers else None
                wait = float(retry_after) if retry_after and retry_after.isdigit() else None
                problem = f"HTTP {exc.code}"
            except (urllib.error.URLError, TimeoutError, OSError) as exc:
                problem = type(exc).__name__
            except (KeyError, IndexError, TypeError, ValueError):
                problem = "malformed response"
            if attempt == self.max_retries:
                raise BackendError(f"judge server {self.url}: {problem} after "
                                   f"{self.max_retries + 1} attempts")
            self.retries += 1
            time.sleep(wait if wait is not None else
                       self.backoff_s * (2 ** attempt) * (0.5 + random.random()))
        raise AssertionError("unreachable")  # pragma: no cover

    def complete(self, prompts: Sequence[str]) -> list[str]:
        if len(prompts) <= 1 or self.concurrency == 1:
            return [self._one(p) for p in prompts]
        with ThreadPoolExecutor(self.concurrency) as pool:
            return list(pool.map(self._one, prompts))
