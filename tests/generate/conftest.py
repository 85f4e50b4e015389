"""Shared fixtures: loopback mock servers and tiny configs (nothing leaves 127.0.0.1)."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from alignpt.generate.mockserver import FaultPlan, MockServer


@pytest.fixture
def mock_server():
    """Factory: ``mock_server(latency_s=..., faults=FaultPlan(...), api_key=...)``."""
    started: list[MockServer] = []

    def start(**kwargs) -> MockServer:
        server = MockServer(**kwargs).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def openai_backend(server: MockServer, **extra) -> dict:
    """Backend config for a mock server: tiny timeouts and backoff so faults cost ms."""
    cfg = {"kind": "openai", "model": "mock-model", "base_url": server.base_url,
           "api_key_env": None, "concurrency": 16, "timeout_s": 1.0, "backoff_base_s": 0.001,
           "backoff_cap_s": 0.005, "max_retry_after_s": 0.01}
    cfg.update(extra)
    return cfg


#: a grid small enough to render fast but touching every genre family
SMALL_GRID = {"axes": {"length": {"values": ["short", "medium"]},
                       "genre": {"values": ["news_article", "diary", "incident_report"]}}}


def write_jsonl(path: Path, records: list) -> Path:
    """One line per record: a dict as JSON, bytes as they are (to write malformed lines)."""
    path.write_bytes(b"".join((orjson.dumps(r) if isinstance(r, dict) else r) + b"\n"
                              for r in records))
    return path


__all__ = ["FaultPlan", "openai_backend", "SMALL_GRID", "write_jsonl"]
