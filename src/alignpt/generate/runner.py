"""Specs -> requests -> cached completions: the request factory, the budget and the scheduler.

:class:`Requester` puts the cache in front of a backend: a request whose key is cached
never reaches the backend, and every completion is written to the cache the moment it
arrives. Used with ``mode="cache"`` it answers only from the cache and raises
:class:`Pending` for the first missing step of a document; that is how a finished run is
assembled (and how batch files know what to ask for next) without any network.

:class:`Budget` stops a run *before* it can overspend: each request reserves its worst
case (estimated prompt plus ``max_tokens``) and settles to the reported usage when it
returns, so requests in flight can never push the total past the limit. When the next
request would not fit, the run stops taking new documents, lets those in flight finish
(they are paid for, so they are cached), and reports ``stopped: budget``.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from pydantic import Field

from alignpt.core.config import StrictModel
from alignpt.core.errors import BackendError
from alignpt.generate.backends import BackendConfig
from alignpt.generate.backends.base import (Backend, Completion, GenerationRequest,
                                            RequestFailed)
from alignpt.generate.cache import ResponseCache
from alignpt.generate.longform import LongformConfig, write_long
from alignpt.generate.prompts import Prompt, PromptBuilder
from alignpt.generate.scenarios import ScenarioSpec, axis_catalog

__all__ = ["BudgetConfig", "Budget", "BudgetExhausted", "Pending", "Requester",
           "RequestFactory", "Produced", "produce", "RunOutcome", "run_plan"]


class BudgetConfig(StrictModel):
    #: prompt + completion tokens this run may send (cached responses are free)
    max_tokens: int | None = Field(None, ge=0)
    #: dollars this run may spend, priced with backend.price_*_per_mtok
    max_usd: float | None = Field(None, ge=0)


class BudgetExhausted(Exception):
    """The next request would exceed the budget; the run stops cleanly."""


class Pending(Exception):
    """A cache-only lookup missed; ``request`` is the next step that document needs."""

    def __init__(self, request: GenerationRequest):
        super().__init__(request.key)
        self.request = request


class Budget:
    def __init__(self, cfg: BudgetConfig, price_in: float = 0.0, price_out: float = 0.0):
        self.cfg, self.price_in, self.price_out = cfg, price_in, price_out
        self.tokens = 0
        self.usd = 0.0
        self._held_tokens = 0
        self._held_usd = 0.0

    def _cost(self, pt: int, ct: int) -> float:
        return (pt * self.price_in + ct * self.price_out) / 1e6

    def reserve(self, request: GenerationRequest) -> tuple[int, float]:
        # ~3 characters per token over-estimates English prompts, erring towards stopping.
        pt = len(request.prompt.system) // 3 + len(request.prompt.user) // 3 + 8
        ct = int(request.params.get("max_tokens") or 4096)
        need_t, need_usd = pt + ct, self._cost(pt, ct)
        if self.cfg.max_tokens is not None and \
                self.tokens + self._held_tokens + need_t > self.cfg.max_tokens:
            raise BudgetExhausted(f"token budget ({self.cfg.max_tokens:,}) reached")
        if self.cfg.max_usd is not None and self.usd + self._held_usd + need_usd > self.cfg.max_usd:
            raise BudgetExhausted(f"spend budget (${self.cfg.max_usd:,.2f}) reached")
        self._held_tokens += need_t
        self._held_usd += need_usd
        return need_t, need_usd

    def release(self, held: tuple[int, float]) -> None:
        self._held_tokens -= held[0]
        self._held_usd -= held[1]

    def settle(self, held: tuple[int, float], c: Completion) -> None:
        self.release(held)
        self.tokens += c.prompt_tokens + c.completion_tokens
        self.usd += c.cost_usd or self._cost(c.prompt_tokens, c.completion_tokens)


class Requester:
    """Cache first; then (``mode="live"``) the budget and the backend. ``cache=None``
    sends everything (in-memory demos)."""

    def __init__(self, cache: ResponseCache | None, backend: Backend | None = None,
                 budget: Budget | None = None, mode: str = "live"):
        self.cache, self.backend, self.budget, self.mode = cache, backend, budget, mode
        self.hits = 0
        self.sent = 0
        self.stopped: str | None = None
        self._inflight: dict[str, asyncio.Future] = {}

    async def complete(self, request: GenerationRequest) -> Completion:
        rec = self.cache.get(request.key) if self.cache is not None else None
        if rec is not None:
            self.hits += 1
            return Completion.from_record(rec)
        if self.mode != "live":
            raise Pending(request)
        if request.key in self._inflight:  # the same prompt from two documents: pay once
            return await asyncio.shield(self._inflight[request.key])
        if self.stopped:
            raise BudgetExhausted(self.stopped)
        held = self.budget.reserve(request) if self.budget else None
        fut = asyncio.get_running_loop().create_future()
        self._inflight[request.key] = fut
        try:
            completion = await self.backend.complete(request)
        except BaseException as exc:
            if held is not None:
                self.budget.release(held)
            if not fut.done():
                fut.set_exception(exc)
                fut.exception()  # mark retrieved: waiters (if any) re-raise it themselves
            raise
        finally:
            self._inflight.pop(request.key, None)
        if held is not None:
            self.budget.settle(held, completion)
        if self.cache is not None:
            self.cache.put(request.key, completion.to_record(request.key, self.backend.kind))
        self.sent += 1
        fut.set_result(completion)
        return completion


class RequestFactory:
    """Builds every request of a document: prompts, ``max_tokens``, per-step seeds."""

    def __init__(self, builder: PromptBuilder, backend: BackendConfig, longform: LongformConfig,
                 max_tokens_per_word: float = 2.0, max_tokens_cap: int | None = None):
        self.builder, self.cfg, self.longform = builder, backend, longform
        self.model, self.api = backend.model_name(), backend.api
        self.per_word, self.cap = max_tokens_per_word, max_tokens_cap
        self._words = {v: e.get("words", 900) for v, e in
                       axis_catalog()["length"]["values"].items()}
        #: document requests built ahead of time by run_plan's prefetcher, by spec id
        self.ready: dict[str, GenerationRequest] = {}

    def _request(self, spec: ScenarioSpec, prompt: Prompt, task: str, max_tokens: int,
                 step: str | None = None, **context: Any) -> GenerationRequest:
        params = dict(self.cfg.params)
        params["max_tokens"] = min(max_tokens, self.cap) if self.cap else max_tokens
        if self.cfg.send_seed:
            # Per document and step, 31 bits: some servers reject larger seeds.
            params["seed"] = random.Random(f"{spec.seed}:{step or task}").getrandbits(31)
        return GenerationRequest(prompt, self.model, params, self.api,
                                 {"task": task, "spec": spec, **context})

    def words(self, spec: ScenarioSpec) -> int:
        return int(self._words.get(spec.axes.get("length", "medium"), 900))

    def document(self, spec: ScenarioSpec) -> GenerationRequest:
        ready = self.ready.pop(spec.id, None)
        if ready is not None:
            return ready
        return self._request(spec, self.builder.document(spec), "document",
                             int(self.words(spec) * self.per_word))

    def outline(self, spec: ScenarioSpec, n: int) -> GenerationRequest:
        return self._request(spec, self.builder.outline(spec, n), "outline",
                             self.longform.outline_max_tokens, n_chapters=n)

    def chapter(self, spec: ScenarioSpec, k: int, n: int, title: str, outline: str,
                summary: str) -> GenerationRequest:
        return self._request(spec, self.builder.chapter(spec, k, n, title, outline, summary),
                             "chapter", int(self.words(spec) * self.per_word),
                             step=f"chapter-{k}", n_chapters=n, chapter=k, chapter_title=title)

    def summary(self, spec: ScenarioSpec, summary: str, chapter_text: str) -> GenerationRequest:
        return self._request(spec, self.builder.summary(spec, summary, chapter_text), "summary",
                             self.longform.summary_max_tokens, summary=summary,
                             chapter_text=chapter_text)


@dataclass
class Produced:
    """One document's text and what it took to make it."""

    text: str
    finish_reason: str | None
    keys: list[str]
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    chapters: int | None = None


async def produce(spec: ScenarioSpec, factory: RequestFactory, requester: Requester) -> Produced:
    """Make (or, from the cache, re-assemble) one document."""
    if spec.axes.get("length") == "novel":
        r = await write_long(spec, factory, requester, factory.longform)
        finish = "length" if "length" in r.finish_reasons else (r.finish_reasons[-1]
                                                                 if r.finish_reasons else None)
        return Produced(r.text, finish, r.keys, r.prompt_tokens, r.completion_tokens,
                        r.cost_usd, r.chapters)
    request = factory.document(spec)
    c = await requester.complete(request)
    return Produced(c.text, c.finish_reason, [request.key], c.prompt_tokens,
                    c.completion_tokens, c.cost_usd)


@dataclass
class RunOutcome:
    done: int = 0
    failed: int = 0
    not_started: int = 0
    stopped: str | None = None
    failures: Counter = field(default_factory=Counter)
    seconds: float = 0.0


async def run_plan(specs: Iterable[ScenarioSpec], factory: RequestFactory, requester: Requester,
                   workers: int, max_failures: int,
                   on_done: Callable[[ScenarioSpec, Produced | None], None] | None = None
                   ) -> RunOutcome:
    """Produce every spec with ``workers`` concurrent documents; see the module docstring."""
    out = RunOutcome()
    start = time.perf_counter()
    specs = list(specs)
    todo = iter(enumerate(specs))
    taken = [-1]  # index of the last spec a worker took
    fatal: list[BaseException] = []
    ahead = 2 * max(1, workers)

    async def prefetch() -> None:
        # Build prompts while the loop would otherwise wait on the network: responses
        # arrive in bursts, and every millisecond spent building the next request inside a
        # burst delays every slot behind it (see benchmarks/generate_throughput.py).
        for i, spec in enumerate(specs):
            if i <= taken[0]:  # a worker got there first (and built its own)
                continue
            while len(factory.ready) >= ahead:
                await asyncio.sleep(0.002)
            if i > taken[0] and spec.axes.get("length") != "novel" and not requester.stopped:
                factory.ready[spec.id] = factory.document(spec)
            await asyncio.sleep(0)

    async def worker() -> None:
        for i, spec in todo:
            taken[0] = i
            if requester.stopped or fatal:
                out.not_started += 1
                continue
            try:
                produced = await produce(spec, factory, requester)
            except BudgetExhausted as exc:
                requester.stopped = requester.stopped or str(exc)
                out.not_started += 1
                continue
            except RequestFailed as exc:
                out.failed += 1
                out.failures[exc.reason] += 1
                if out.failed > max_failures:
                    fatal.append(BackendError(f"{out.failed} requests failed for good "
                                              f"({dict(out.failures)}); last: {exc}"))
                    raise fatal[-1] from None
                continue
            except BackendError as exc:  # not a per-request failure: stop the run
                fatal.append(exc)
                raise
            out.done += 1
            if on_done is not None:
                on_done(spec, produced)

    helper = asyncio.ensure_future(prefetch())
    tasks = [asyncio.ensure_future(worker()) for _ in range(max(1, workers))]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
    finally:
        for t in [*tasks, helper]:
            t.cancel()
        await asyncio.gather(*tasks, helper, return_exceptions=True)
        factory.ready.clear()
    out.seconds = time.perf_counter() - start
    out.stopped = requester.stopped
    if fatal:
        raise fatal[0]
    for t in done:
        if not t.cancelled() and t.exception() is not None:
            raise t.exception()
    return out
