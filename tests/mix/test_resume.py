"""Resume after SIGKILL: a killed mix, rerun, ends byte-identical to an uninterrupted one.

The child process slows itself down (a sleep after each part, or each tokenized
file) so that the kill reliably lands mid-run; the library has no test hooks.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from alignpt.mix import load_recipe, run_mix
from tests.mix.conftest import recipe_dict

ROOT = Path(__file__).resolve().parents[2]

CHILD = r"""
import json, sys, time
import alignpt.mix.run as run
import alignpt.mix.encode as enc
from alignpt.mix import load_recipe, run_mix

where = sys.argv[3]
if where == "write":
    finish = run._Part.finish
    def slow_finish(self):
        out = finish(self)
        time.sleep(0.05)
        return out
    run._Part.finish = slow_finish
else:
    task = enc._run_task
    def slow_task(*a, **k):
        out = task(*a, **k)
        time.sleep(0.4)
        return out
    enc._run_task = slow_task
data = json.loads(open(sys.argv[1]).read())
run_mix(load_recipe(None, data=data), sys.argv[2], progress=False)
"""


def _recipe(corpora, tokenizer_dir) -> dict:
    data = recipe_dict(corpora, tokenizer_dir)
    data["phases"][0]["tokens"] = 40000
    data["output"]["max_tokens_per_file"] = 1000
    return data


def _outputs(out: Path) -> dict[str, bytes]:
    files = {str(p.relative_to(out)): p.read_bytes()
             for fmt in ("native", "megatron", "parquet") for p in sorted((out / fmt).rglob("*"))
             if p.is_file()}
    files["manifest.json"] = (out / "manifest.json").read_bytes()
    return files


def _kill_when(proc: subprocess.Popen, ready, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if proc.poll() is not None:
            pytest.fail(f"child ended before the kill: {proc.stderr.read().decode()[-2000:]}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail("child made no progress")
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()


@pytest.fixture(scope="module")
def reference(corpora, tokenizer_dir, tmp_path_factory) -> dict[str, bytes]:
    out = tmp_path_factory.mktemp("uninterrupted")
    run_mix(load_recipe(None, data=_recipe(corpora, tokenizer_dir)), out, progress=False)
    return _outputs(out)


@pytest.mark.parametrize("where", ["write", "tokenize"])
def test_killed_run_resumes_to_identical_bytes(where, corpora, tokenizer_dir, reference,
                                               tmp_path):
    recipe = tmp_path / "recipe.json"
    recipe.write_text(json.dumps(_recipe(corpora, tokenizer_dir)))
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(recipe), str(out), where],
                            stderr=subprocess.PIPE, env=env, cwd=ROOT)
    if where == "write":
        done = out / ".alignpt" / "done" / "pretrain"

        def markers() -> int:   # finished parts (not a marker being written)
            return len(list(done.glob("part-*.json"))) if done.is_dir() else 0

        _kill_when(proc, lambda: markers() >= 5)
        assert markers() < 40, "the kill came too late to test anything"
    else:
        cache = out / ".alignpt" / "cache"
        _kill_when(proc, lambda: len(list(cache.rglob("*.json"))) >= 2)
        assert not (out / "native").exists()
    assert not (out / "manifest.json").exists()

    res = run_mix(load_recipe(None, data=_recipe(corpora, tokenizer_dir)), out, progress=False)
    if where == "write":
        assert res.parts_resumed >= 5 and res.parts_written >= 1
    else:
        assert 2 <= res.encode.files_cached < res.encode.files
    assert _outputs(out) == reference
    leftovers = [p for p in out.rglob("*") if ".tmp-" in p.name]
    assert not leftovers
