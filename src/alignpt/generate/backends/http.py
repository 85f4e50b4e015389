"""A minimal async HTTP POST over aiohttp or httpx(2), whichever is installed.

The OpenAI-compatible backend needs one thing from HTTP: POST bytes, get status, headers
and body back, with a connection pool sized to the concurrency limit and timeouts that
raise one exception type. Both clients are supported because they trade off differently:
aiohttp costs several times less CPU per request (measured on the loopback benchmark, it
is what keeps a 2-core client near the server's ideal rate), while httpx2 ships with
``huggingface_hub`` and the openai SDK, so it is present almost everywhere.
"""

from __future__ import annotations

import asyncio
import importlib
import ipaddress
from typing import Any
from urllib.parse import urlsplit

from alignpt.core.errors import ConfigError, MissingDependencyError

__all__ = ["TransportError", "TransportTimeout", "make_transport", "is_loopback_url"]


class TransportError(Exception):
    """The connection failed (refused, reset, protocol error); worth a retry."""


class TransportTimeout(TransportError):
    """No complete response within the timeout; worth a retry."""


def is_loopback_url(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _Aiohttp:
    def __init__(self, concurrency: int, timeout_s: float, connect_s: float, trust_env: bool):
        import aiohttp

        self._aiohttp = aiohttp
        self._args = (concurrency, timeout_s, connect_s, trust_env)
        self._session: Any = None

    async def post(self, url: str, body: bytes, headers: dict[str, str]):
        aiohttp = self._aiohttp
        if self._session is None:  # created inside the running loop, as aiohttp requires
            concurrency, timeout_s, connect_s, trust_env = self._args
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=concurrency, limit_per_host=concurrency),
                timeout=aiohttp.ClientTimeout(total=timeout_s, sock_connect=connect_s),
                trust_env=trust_env, auto_decompress=True)
        try:
            async with self._session.post(url, data=body, headers=headers) as resp:
                data = await resp.read()
                # The header mapping is case-insensitive already; copying it per response
                # cost more than parsing the body.
                return resp.status, resp.headers, data
        except asyncio.TimeoutError:
            raise TransportTimeout("timed out") from None
        except aiohttp.ClientError as exc:
            raise TransportError(type(exc).__name__) from None

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


class _Httpx:
    def __init__(self, module: Any, concurrency: int, timeout_s: float, connect_s: float,
                 trust_env: bool):
        self._httpx = module
        self._client = module.AsyncClient(
            timeout=module.Timeout(timeout_s, connect=connect_s),
            limits=module.Limits(max_connections=concurrency,
                                 max_keepalive_connections=concurrency),
            trust_env=trust_env)

    async def post(self, url: str, body: bytes, headers: dict[str, str]):
        httpx = self._httpx
        try:
            resp = await self._client.post(url, content=body, headers=headers)
        except httpx.TimeoutException:
            raise TransportTimeout("timed out") from None
        except httpx.TransportError as exc:
            raise TransportError(type(exc).__name__) from None
        return resp.status_code, resp.headers, resp.content

    async def aclose(self) -> None:
        await self._client.aclose()


def _find(name: str) -> Any:
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


def make_transport(kind: str, concurrency: int, timeout_s: float, connect_s: float,
                   trust_env: bool):
    """``kind``: ``auto`` (aiohttp, then httpx2, then httpx), ``aiohttp`` or ``httpx``."""
    if kind not in ("auto", "aiohttp", "httpx"):
        raise ConfigError(f"backend.transport: unknown transport {kind!r}")
    if kind in ("auto", "aiohttp") and _find("aiohttp") is not None:
        return _Aiohttp(concurrency, timeout_s, connect_s, trust_env)
    if kind == "aiohttp":
        raise MissingDependencyError("aiohttp", "gen", "the aiohttp transport")
    module = _find("httpx2") or _find("httpx")
    if module is None:
        raise MissingDependencyError("httpx2", "gen", "the OpenAI-compatible backend")
    return _Httpx(module, concurrency, timeout_s, connect_s, trust_env)
