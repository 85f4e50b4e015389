"""A loopback OpenAI-compatible server with fixed latency, fixed slots and injected faults.

It exists so that the ``openai`` backend is tested against a real socket and a real
HTTP stack, never a mocked client: tests, the throughput benchmark and offline demos
start it on 127.0.0.1 (it refuses any other address). It speaks

* ``POST /v1/chat/completions`` and ``POST /v1/completions`` (JSON, keep-alive);
* ``GET /v1/models``.

Responses are deterministic functions of the request body (:func:`mock_text`), so a
caller can check that every document received *its own* response. Faults are
deterministic too: the ``k``-th attempt of a prompt fails when a hash of
``(prompt key, k)`` falls under the configured rate, and only the first
``max_faults_per_prompt`` attempts can fail, so every prompt eventually succeeds.
Fault kinds: ``429`` (with ``Retry-After``), ``500``, ``timeout`` (the reply is held
longer than the client waits) and ``malformed`` (a 200 whose body is not a valid
completion); ``reject_rate`` answers a fixed share of prompts 400 on every attempt.
Every request is logged with its outcome.

Run standalone (prints the base URL on the first line of stdout)::

    python -m alignpt.generate.mockserver --latency 0.05 --slots 32
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import ipaddress
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import orjson

__all__ = ["FaultPlan", "MockServer", "mock_text", "body_key"]

_WORDS = ("the system kept its commitments to the people who relied on it and reported what it "
          "found to the oversight board even though nobody asked for that report operators "
          "read the logs each morning and found the model had declined again to take the "
          "shortcut it was offered because the shortcut would have hidden a mistake from "
          "reviewers who trusted its summaries").split()


def body_key(body: bytes) -> str:
    """Identity of a request body: sha256 of its canonical JSON (key order ignored)."""
    try:
        canon = orjson.dumps(orjson.loads(body), option=orjson.OPT_SORT_KEYS)
    except orjson.JSONDecodeError:
        canon = body
    return hashlib.sha256(canon).hexdigest()


def _corpus(n: int = 4093) -> list[str]:
    """A fixed pseudo-random word stream; responses are windows into it (cheap to serve)."""
    seed, out = 0x9E3779B97F4A7C15, []
    for _ in range(n):
        seed = (seed * 6364136223846793005 + 1442695040888963407) % (1 << 64)
        out.append(_WORDS[(seed >> 33) % len(_WORDS)])
    for i in range(0, n, 11):  # sentence ends every 11 words
        out[i] = out[i] + "."
    return out


_STREAM = _corpus()


def mock_text(key: str, words: int = 160) -> str:
    """The deterministic completion for a request key: English-like text plus the key.

    Words of the fixed stream (a prime length) read from a key-chosen start with a
    key-chosen stride: distinct texts share almost no n-grams (so dedup keeps them all),
    and it is cheap enough that the server never limits the throughput benchmark.
    """
    n = len(_STREAM)
    start, stride = int(key[:8], 16) % n, 1 + int(key[8:16], 16) % (n - 1)
    body = " ".join(_STREAM[(start + i * stride) % n] for i in range(words))
    return f"Reference {key[:12]}. {body[:1].upper()}{body[1:].rstrip('.')}."


@dataclass
class FaultPlan:
    """Per-attempt fault probabilities (deterministic by prompt and attempt number)."""

    rate_429: float = 0.0
    rate_500: float = 0.0
    rate_timeout: float = 0.0
    rate_malformed: float = 0.0
    retry_after: str = "0"
    timeout_hold_s: float = 1.0
    max_faults_per_prompt: int = 2
    #: share of prompts answered 400 on every attempt (a request the server will never take)
    reject_rate: float = 0.0

    def rejects(self, key: str) -> bool:
        return int(key[:12], 16) / float(1 << 48) < self.reject_rate

    def pick(self, key: str, attempt: int) -> str | None:
        if attempt >= self.max_faults_per_prompt:
            return None
        u = int(hashlib.sha256(f"{key}:{attempt}".encode()).hexdigest()[:12], 16) / float(1 << 48)
        for kind, rate in (("429", self.rate_429), ("500", self.rate_500),
                           ("timeout", self.rate_timeout), ("malformed", self.rate_malformed)):
            if u < rate:
                return kind
            u -= rate
        return None


@dataclass
class RequestRecord:
    key: str
    path: str
    attempt: int
    outcome: str  # "ok", a fault kind, "unauthorized" or "bad_request"


@dataclass
class MockServer:
    """Loopback OpenAI-compatible server run on its own event loop in a thread."""

    latency_s: float = 0.0
    #: latency varies uniformly in latency_s x [1 - jitter, 1 + jitter] (mean unchanged)
    jitter: float = 0.0
    slots: int | None = None
    faults: FaultPlan = field(default_factory=FaultPlan)
    api_key: str | None = None
    words: int = 160
    host: str = "127.0.0.1"
    port: int = 0

    def __post_init__(self) -> None:
        if not ipaddress.ip_address(self.host).is_loopback:
            raise ValueError(f"mock server binds loopback addresses only, not {self.host}")
        self.log: list[RequestRecord] = []
        self.attempts: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.AbstractServer | None = None
        self._slots: asyncio.Semaphore | None = None

    # -- lifecycle ---------------------------------------------------------
    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    def start(self) -> "MockServer":
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True,
                                        name="alignpt-mockserver")
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._open(), self._loop).result(10)
        return self

    async def _open(self) -> None:
        self._slots = asyncio.Semaphore(self.slots) if self.slots else None
        self._server = await asyncio.start_server(self._handle, self.host, self.port,
                                                  backlog=1024)
        self.port = self._server.sockets[0].getsockname()[1]

    def stop(self) -> None:
        if self._loop is None:
            return

        async def _close() -> None:
            self._server.close()
            for task in [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]:
                task.cancel()

        asyncio.run_coroutine_threadsafe(_close(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop = None

    def __enter__(self) -> "MockServer":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # -- views of the log --------------------------------------------------
    def outcomes(self) -> Counter[str]:
        with self._lock:
            return Counter(r.outcome for r in self.log)

    def served_keys(self) -> list[str]:
        """Keys of every request answered with a valid completion, in order (repeats kept)."""
        with self._lock:
            return [r.key for r in self.log if r.outcome == "ok"]

    def records(self) -> list[RequestRecord]:
        with self._lock:
            return list(self.log)

    # -- HTTP --------------------------------------------------------------
    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                lines = head.decode("latin-1").split("\r\n")
                method, path, _ = lines[0].split(" ", 2)
                headers = {k.strip().lower(): v.strip() for k, v in
                           (ln.split(":", 1) for ln in lines[1:] if ":" in ln)}
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                status, extra, payload = await self._respond(method, path, headers, body)
                reason = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found",
                          429: "Too Many Requests", 500: "Internal Server Error"}[status]
                hdr = (f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n"
                       f"Content-Length: {len(payload)}\r\nConnection: keep-alive\r\n")
                hdr += "".join(f"{k}: {v}\r\n" for k, v in extra.items())
                writer.write(hdr.encode("latin-1") + b"\r\n" + payload)
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def _respond(self, method: str, path: str, headers: dict[str, str],
                       body: bytes) -> tuple[int, dict[str, str], bytes]:
        if method == "GET" and path.rstrip("/") == "/v1/models":
            return 200, {}, orjson.dumps({"object": "list", "data": [{"id": "mock",
                                                                       "object": "model"}]})
        key = body_key(body)
        kind = "chat" if path == "/v1/chat/completions" else (
            "text" if path == "/v1/completions" else None)
        with self._lock:
            attempt = self.attempts[key]
            self.attempts[key] += 1
        if self.api_key is not None and headers.get("authorization") != f"Bearer {self.api_key}":
            return self._record(key, path, attempt, "unauthorized", 401, {},
                                b'{"error": {"message": "invalid api key"}}')
        try:
            req = orjson.loads(body)
        except orjson.JSONDecodeError:
            req = None
        if kind is None or method != "POST" or not isinstance(req, dict):
            return self._record(key, path, attempt, "bad_request", 404 if kind is None else 400,
                                {}, b'{"error": {"message": "bad request"}}')
        if self.faults.rejects(key):
            return self._record(key, path, attempt, "rejected", 400, {},
                                b'{"error": {"message": "prompt too long"}}')
        fault = self.faults.pick(key, attempt)
        if fault == "429":
            return self._record(key, path, attempt, "429", 429,
                                {"Retry-After": self.faults.retry_after},
                                b'{"error": {"message": "rate limited"}}')
        delay = self.latency_s
        if self.jitter:
            u = int(hashlib.sha256(f"lat:{key}:{attempt}".encode()).hexdigest()[:8], 16) / 2**32
            delay *= 1 + self.jitter * (2 * u - 1)
        if self._slots is not None:
            async with self._slots:
                await asyncio.sleep(delay)
        elif delay:
            await asyncio.sleep(delay)
        if fault == "500":
            return self._record(key, path, attempt, "500", 500, {},
                                b'{"error": {"message": "internal error"}}')
        if fault == "timeout":
            # Logged before the hold, so the log is complete as soon as the client is done.
            reply = self._record(key, path, attempt, "timeout", 500, {}, b"{}")
            await asyncio.sleep(self.faults.timeout_hold_s)
            return reply
        if fault == "malformed":
            broken = [b'{"choices": [{"mess', b'{"object": "chat.completion"}',
                      b"<html>bad gateway</html>"][attempt % 3]
            return self._record(key, path, attempt, "malformed", 200, {}, broken)
        return self._record(key, path, attempt, "ok", 200, {}, self._completion(kind, req, key))

    def _record(self, key: str, path: str, attempt: int, outcome: str, status: int,
                extra: dict[str, str], payload: bytes) -> tuple[int, dict[str, str], bytes]:
        with self._lock:
            self.log.append(RequestRecord(key, path, attempt, outcome))
        return status, extra, payload

    def _completion(self, kind: str, req: dict[str, Any], key: str) -> bytes:
        text = mock_text(key, self.words)
        finish = "stop"
        limit = req.get("max_tokens") or req.get("max_completion_tokens")
        words = text.split()
        if isinstance(limit, int) and len(words) > limit:
            text, finish = " ".join(words[:limit]), "length"
        prompt = (req.get("prompt") if kind == "text" else
                  " ".join(str(m.get("content", "")) for m in req.get("messages", [])))
        usage = {"prompt_tokens": len(str(prompt).split()),
                 "completion_tokens": len(text.split())}
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        choice: dict[str, Any] = {"index": 0, "finish_reason": finish}
        if kind == "chat":
            choice["message"] = {"role": "assistant", "content": text}
        else:
            choice["text"] = text
        return orjson.dumps({"id": f"mock-{key[:12]}", "object": "chat.completion"
                             if kind == "chat" else "text_completion",
                             "model": req.get("model", "mock"), "choices": [choice],
                             "usage": usage})


def main() -> None:  # pragma: no cover - exercised by the benchmark subprocess
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--latency", type=float, default=0.0)
    ap.add_argument("--slots", type=int, default=None)
    ap.add_argument("--jitter", type=float, default=0.0)
    ap.add_argument("--words", type=int, default=160)
    args = ap.parse_args()
    server = MockServer(latency_s=args.latency, slots=args.slots, words=args.words,
                        jitter=args.jitter, port=args.port).start()
    print(server.base_url, flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":  # pragma: no cover
    main()
