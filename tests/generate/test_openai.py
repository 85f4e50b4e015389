"""The OpenAI-compatible backend against a real HTTP server on 127.0.0.1 that injects
429s (with Retry-After), 500s, timeouts and malformed bodies."""

from __future__ import annotations

from collections import Counter

import orjson
import pytest

from alignpt.core.errors import BackendError, ConfigError
from alignpt.core.shards import read_documents
from alignpt.generate.backends import BackendConfig
from alignpt.generate.backends.openai import request_body
from alignpt.generate.backends.retry import RetryPolicy, classify_status, parse_retry_after
from alignpt.generate.mockserver import FaultPlan, body_key, mock_text
from alignpt.generate.pipeline import GenerateConfig, request_factory, generate, plan
from tests.generate.conftest import SMALL_GRID, openai_backend

FAULTS = FaultPlan(rate_429=0.08, rate_500=0.08, rate_timeout=0.03, rate_malformed=0.06,
                   retry_after="0", timeout_hold_s=1.5, max_faults_per_prompt=2)


def read_docs(out):
    return [d for p in sorted((out / "docs").glob("*")) for d in read_documents(p)]


def expected_text(cfg: GenerateConfig, spec, words: int) -> str:
    """What the server answers for this spec's request: proves each document got its own."""
    req = request_factory(cfg).document(spec)
    return mock_text(body_key(orjson.dumps(request_body(cfg.backend, req))), words)


@pytest.mark.parametrize("api, n", [("chat", 500), ("completions", 120)])
def test_documents_none_lost_none_duplicated_retries_counted(mock_server, tmp_path, api, n):
    server = mock_server(latency_s=0.001, faults=FAULTS, words=130)
    cfg = GenerateConfig(n=n, seed=1, grid=SMALL_GRID,
                         backend=openai_backend(server, api=api, concurrency=24))
    result = generate(cfg, tmp_path / "out")
    docs = read_docs(tmp_path / "out")
    specs = plan(cfg)
    # none lost, none duplicated, in plan order, each with its own response
    assert [d.id for d in docs] == [s.id for s in specs]
    assert result.stats["kept"] == n and result.stats["pending"] == 0
    for doc, spec in zip(docs, specs):
        assert doc.text == expected_text(cfg, spec, 130)
        assert doc.metadata["spec"]["axes"] == spec.axes
        assert doc.metadata["generation"]["model"] == "mock-model"
    # every injected fault was retried exactly once, and counted under its kind
    faults = server.outcomes()
    run = result.stats["run"]
    assert faults["ok"] == n == run["requests_sent"]
    assert run["backend"]["retries"] == {"http_429": faults["429"], "http_500": faults["500"],
                                         "timeout": faults["timeout"],
                                         "malformed": faults["malformed"]}
    assert sum(faults.values()) - n == run["backend"]["retries_total"] > 0.15 * n
    assert run["backend"]["retry_after_honoured"] == faults["429"]
    # each prompt answered successfully exactly once: nothing paid for twice
    assert max(Counter(server.served_keys()).values()) == 1
    assert result.stats["tokens"]["completion"] == sum(len(d.text.split()) for d in docs)


def test_rerun_sends_nothing(mock_server, tmp_path):
    server = mock_server(words=130)
    cfg = GenerateConfig(n=30, grid=SMALL_GRID, backend=openai_backend(server))
    generate(cfg, tmp_path)
    before = len(server.records())
    again = generate(cfg, tmp_path)
    assert len(server.records()) == before and again.stats["run"]["requests_sent"] == 0
    assert again.stats["kept"] == 30


def test_budget_stops_cleanly_and_resumes_without_paying_twice(mock_server, tmp_path):
    server = mock_server(words=130)
    cfg = GenerateConfig(n=40, grid=SMALL_GRID, budget={"max_tokens": 12_000},
                         backend=openai_backend(server, concurrency=4,
                                                price_input_per_mtok=1.0,
                                                price_output_per_mtok=4.0))
    first = generate(cfg, tmp_path)
    run = first.stats["run"]
    assert run["stopped"].startswith("token budget (12,000) reached")
    assert 0 < first.stats["kept"] < 40 and first.stats["pending"] == 40 - first.stats["kept"]
    assert run["budget_used"]["tokens"] <= 12_000  # never past the limit, even in flight
    assert run["budget_used"]["usd"] == pytest.approx(first.stats["cost_usd"], rel=1e-6)
    served = set(server.served_keys())
    bigger = cfg.model_copy(update={"budget": cfg.budget.model_copy(update={"max_tokens": None})})
    second = generate(bigger, tmp_path)
    assert second.stats["kept"] == 40 and second.stats["pending"] == 0
    assert not served & set(server.served_keys()[len(served):])
    assert len(server.served_keys()) == 40


def test_spend_budget(mock_server, tmp_path):
    server = mock_server(words=130)
    cfg = GenerateConfig(n=20, grid=SMALL_GRID, budget={"max_usd": 0.02},
                         backend=openai_backend(server, concurrency=2,
                                                price_input_per_mtok=10.0,
                                                price_output_per_mtok=30.0))
    result = generate(cfg, tmp_path)
    assert result.stats["run"]["stopped"].startswith("spend budget ($0.02) reached")
    assert result.stats["cost_usd"] <= 0.02


def test_bad_key_stops_at_once_without_echoing_it(mock_server, tmp_path, monkeypatch):
    server = mock_server(api_key="right-key")
    monkeypatch.setenv("ALIGNPT_TEST_KEY", "wrong-key-7d1f9")
    cfg = GenerateConfig(n=20, grid=SMALL_GRID,
                         backend=openai_backend(server, api_key_env="ALIGNPT_TEST_KEY"))
    with pytest.raises(BackendError, match=r"HTTP 401 authentication failed .*"
                                           r"ALIGNPT_TEST_KEY") as err:
        generate(cfg, tmp_path)
    assert "wrong-key-7d1f9" not in str(err.value)
    assert server.outcomes()["unauthorized"] <= 16  # one wave at most, then the run stops


def test_missing_key_variable(mock_server, tmp_path, monkeypatch):
    monkeypatch.delenv("ALIGNPT_UNSET_KEY", raising=False)
    server = mock_server()
    cfg = GenerateConfig(n=2, backend=openai_backend(server, api_key_env="ALIGNPT_UNSET_KEY"))
    with pytest.raises(ConfigError, match="ALIGNPT_UNSET_KEY is not set"):
        generate(cfg, tmp_path)


def test_rejected_requests_are_counted_and_the_rest_finish(mock_server, tmp_path):
    server = mock_server(words=130, faults=FaultPlan(reject_rate=0.1))
    cfg = GenerateConfig(n=80, grid=SMALL_GRID, backend=openai_backend(server, max_failures=40))
    result = generate(cfg, tmp_path)
    rejected = server.outcomes()["rejected"]
    assert rejected > 0
    assert result.stats["run"]["failures"] == {"http_400": rejected}
    assert result.stats["pending"] == rejected and result.stats["kept"] == 80 - rejected
    too_strict = cfg.model_copy(update={"backend": cfg.backend.model_copy(
        update={"max_failures": 2})})
    with pytest.raises(BackendError, match="requests failed for good"):
        generate(too_strict, tmp_path / "strict")


def test_gives_up_after_max_attempts(mock_server, tmp_path):
    server = mock_server(words=130, faults=FaultPlan(rate_500=1.0, max_faults_per_prompt=99))
    cfg = GenerateConfig(n=3, grid=SMALL_GRID, backend=openai_backend(
        server, max_attempts=3, max_failures=10))
    result = generate(cfg, tmp_path)
    assert result.stats["pending"] == 3
    assert result.stats["run"]["backend"]["failures"] == {"http_500": 3}
    assert server.outcomes()["500"] == 9  # 3 attempts each


def test_retry_after_parsing_and_backoff():
    assert parse_retry_after({"retry-after": "7"}) == 7.0
    assert parse_retry_after({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    assert parse_retry_after({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"},
                             now=1445412470.0) == pytest.approx(10.0)
    assert parse_retry_after({"retry-after": "soon"}) is None
    assert parse_retry_after({}) is None
    policy = RetryPolicy(base_s=1.0, cap_s=8.0, max_retry_after_s=30.0)
    for retry, (lo, hi) in {1: (0.5, 1.0), 2: (1.0, 2.0), 3: (2.0, 4.0), 6: (4.0, 8.0)}.items():
        waits = [policy.delay(retry) for _ in range(200)]
        assert lo <= min(waits) and max(waits) <= hi and max(waits) - min(waits) > 0.1 * lo
    assert policy.delay(1, retry_after=12.0) == 12.0     # a floor on the wait
    assert policy.delay(1, retry_after=1e9) == 30.0      # capped
    assert [classify_status(s) for s in (200, 429, 503, 401, 404, 400, 422)] == \
        ["ok", "retry", "retry", "fatal", "fatal", "reject", "reject"]


@pytest.mark.parametrize("field, value, message", [
    ("api_key_env", "sk-proj-abcdefghijklmnopqrstuvwxyz123456", "NAME of an environment"),
    ("base_url", "http://user:secret@127.0.0.1:8000/v1", "must not contain credentials"),
])
def test_secrets_in_config_are_refused_without_echo(field, value, message):
    with pytest.raises(ConfigError, match=message) as err:
        BackendConfig(kind="openai", model="m", **{field: value})
    assert "abcdefghij" not in str(err.value) and "secret" not in str(err.value)
