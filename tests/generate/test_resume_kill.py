"""Kill the CLI with SIGKILL mid-run, rerun it: only what is missing is requested, nothing
is lost or duplicated, and the API key appears in no output file, log or console output."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
import yaml

from alignpt.core.shards import read_documents
from alignpt.generate.backends.openai import request_body
from alignpt.generate.cache import ResponseCache
from alignpt.generate.mockserver import FaultPlan, body_key, mock_text
from alignpt.generate.pipeline import GenerateConfig, request_factory, plan
from tests.generate.conftest import SMALL_GRID, openai_backend

ROOT = Path(__file__).resolve().parents[2]
N, CONCURRENCY = 500, 8


def test_sigkill_then_rerun(mock_server, tmp_path):
    key = "sk-alignpt-test-" + secrets.token_hex(12)
    server = mock_server(latency_s=0.01, slots=CONCURRENCY, api_key=key, words=130,
                         faults=FaultPlan(rate_429=0.05, rate_500=0.05, retry_after="0"))
    data = {"n": N, "seed": 4, "grid": SMALL_GRID,
            "backend": openai_backend(server, api_key_env="ALIGNPT_KILL_TEST_KEY",
                                      concurrency=CONCURRENCY)}
    cfg_path = tmp_path / "gen.yaml"
    cfg_path.write_text(yaml.safe_dump(data))
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "alignpt.generate.cli", str(cfg_path), "--out", str(out), "-q"]
    env = {**os.environ, "ALIGNPT_KILL_TEST_KEY": key}

    proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    deadline = time.monotonic() + 90
    while len(server.served_keys()) < 150 and proc.poll() is None:
        assert time.monotonic() < deadline, "the run never got going"
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    killed_out, killed_err = proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed"

    # Map client cache keys to the server's view of each request body.
    cfg = GenerateConfig.model_validate(data)
    factory = request_factory(cfg)
    specs = plan(cfg)
    to_server = {}
    for spec in specs:
        req = factory.document(spec)
        to_server[req.key] = body_key(orjson.dumps(request_body(cfg.backend, req)))
    with ResponseCache(out / "cache" / "responses.jsonl") as cache:
        stored = {to_server[k] for k in cache.keys()}
    served_before = set(server.served_keys())
    seen_before = len(server.records())
    assert 150 - CONCURRENCY <= len(stored) < N  # the last few may still be in flight
    # Responses the server sent but the killed process never stored: at most one per slot.
    assert len(served_before - stored) <= CONCURRENCY

    rerun = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, timeout=120)
    assert rerun.returncode == 0, rerun.stderr.decode()
    after = server.records()[seen_before:]
    assert after, "the rerun sent nothing"
    assert not {r.key for r in after} & stored, "a completed prompt was requested again"
    assert len(after) >= N - len(stored)

    docs = [d for p in sorted((out / "docs").glob("*")) for d in read_documents(p)]
    assert [d.id for d in docs] == [s.id for s in specs]  # none lost, none duplicated
    for doc, spec in zip(docs, specs):
        assert doc.text == mock_text(to_server[factory.document(spec).key], 130)
    assert "unauthorized" not in server.outcomes()  # the key was sent, and it was right

    secret = key.encode()
    for path in out.rglob("*"):
        if path.is_file():
            assert secret not in path.read_bytes(), f"API key found in {path}"
    for stream in (killed_out, killed_err, rerun.stdout, rerun.stderr):
        assert secret not in stream
    assert (out / "logs" / "generate.log").is_file()
    assert b"500 documents kept" in rerun.stdout
