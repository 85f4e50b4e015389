"""The executor: outputs, stats, markers, resume after SIGKILL, process and Ray backends."""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest
import yaml

from alignpt.convert import ConvertConfig, Passthrough, convert_shards
from alignpt.core.documents import Document
from alignpt.core.errors import DataError
from alignpt.core.executor import MARKER_DIR, OutputSpec, expand_inputs, plan_tasks, run_stage
from alignpt.core.shards import ReadOptions, ShardWriter, read_documents

from .stages import DropShort, FailOn

ROOT = Path(__file__).resolve().parents[2]


def make_corpus(folder: Path, shards: int = 4, docs: int = 200, ext: str = ".jsonl.zst",
                text_len=lambda i: i % 37) -> list[Path]:
    for k in range(shards):
        with ShardWriter(folder, f"part-{k:02d}", ext) as w:
            for i in range(docs):
                w.write(Document(f"{k}-{i}", "w " * text_len(i), {"k": k}))
    return sorted(folder.glob(f"*{ext}"))


def tree_bytes(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and ".alignpt" not in p.parts and p.name not in ("stats.json",
                                                                               "config.yaml")}


def test_stage_outputs_stats_and_exclusions(tmp_path):
    make_corpus(tmp_path / "in")
    out = tmp_path / "out"
    res = run_stage(DropShort(20), [tmp_path / "in"], OutputSpec(str(out), write_exclusions=True),
                    config={"min_chars": 20}, progress=False)
    # text is "w " * (i % 37): length 2 * (i % 37) >= 20 iff i % 37 >= 10
    kept_per_shard = sum(1 for i in range(200) if i % 37 >= 10)
    st = res.stats
    assert st["documents_in"] == 800
    assert st["documents_out"] == 4 * kept_per_shard
    assert st["dropped"] == {"too_short": 800 - 4 * kept_per_shard}
    assert st["counters"] == {"words": 4 * sum(i % 37 for i in range(200))}
    assert st["tasks"] == 4 and st["tasks_run"] == 4 and st["tasks_resumed"] == 0
    saved = orjson.loads((out / "stats.json").read_bytes())
    assert saved["documents_out"] == st["documents_out"]
    cfg = yaml.safe_load((out / "config.yaml").read_text())
    assert cfg["config"] == {"min_chars": 20} and cfg["alignpt_version"]
    assert [Path(i).name for i in cfg["inputs"]] == [f"part-{k:02d}.jsonl.zst" for k in range(4)]
    excluded = [d for p in sorted((out / "excluded").glob("*.zst")) for d in read_documents(p)]
    assert len(excluded) == st["dropped"]["too_short"]
    assert {d.metadata["drop_reason"] for d in excluded} == {"too_short"}
    kept = [d for p in sorted(out.glob("*.zst")) for d in read_documents(p)]
    assert all(len(d.text) >= 20 for d in kept) and len(kept) == st["documents_out"]


def test_resume_skips_finished_and_config_change_redoes(tmp_path):
    make_corpus(tmp_path / "in")
    out = tmp_path / "out"
    spec = OutputSpec(str(out))
    first = run_stage(DropShort(20), [tmp_path / "in"], spec, config={"m": 20}, progress=False)
    again = run_stage(DropShort(20), [tmp_path / "in"], spec, config={"m": 20}, progress=False)
    assert (again.tasks_run, again.tasks_resumed) == (0, 4)
    assert again.stats["documents_out"] == first.stats["documents_out"]
    # An unfinished task (marker gone) is redone alone.
    (out / MARKER_DIR / "part-02.json").unlink()
    third = run_stage(DropShort(20), [tmp_path / "in"], spec, config={"m": 20}, progress=False)
    assert (third.tasks_run, third.tasks_resumed) == (1, 3)
    # A changed config redoes everything.
    fourth = run_stage(DropShort(30), [tmp_path / "in"], spec, config={"m": 30}, progress=False)
    assert (fourth.tasks_run, fourth.tasks_resumed) == (4, 0)
    assert fourth.stats["documents_out"] < first.stats["documents_out"]
    # A rewritten input redoes its task.
    time.sleep(0.01)
    make_corpus(tmp_path / "in", shards=1)
    fifth = run_stage(DropShort(30), [tmp_path / "in"], spec, config={"m": 30}, progress=False)
    assert (fifth.tasks_run, fifth.tasks_resumed) == (1, 3)


def test_failed_task_publishes_nothing(tmp_path):
    make_corpus(tmp_path / "in", shards=1)
    out = tmp_path / "out"
    with pytest.raises(RuntimeError, match="injected failure"):
        run_stage(FailOn("0-150"), [tmp_path / "in"], OutputSpec(str(out), max_bytes=500),
                  progress=False)
    visible = [p for p in out.rglob("*") if p.is_file() and not p.name.startswith(".")
               and ".alignpt" not in p.parts]
    assert [p.name for p in visible] == ["config.yaml"]


@pytest.mark.parametrize("workers", [2])
def test_process_workers_match_single_process(tmp_path, workers):
    make_corpus(tmp_path / "in", shards=3)
    a = run_stage(DropShort(15), [tmp_path / "in"], OutputSpec(str(tmp_path / "a")),
                  progress=False)
    b = run_stage(DropShort(15), [tmp_path / "in"], OutputSpec(str(tmp_path / "b")),
                  workers=workers, progress=False)
    assert tree_bytes(tmp_path / "a") == tree_bytes(tmp_path / "b")
    assert a.stats["dropped"] == b.stats["dropped"]


def test_grouping_and_resharding(tmp_path):
    files = make_corpus(tmp_path / "in", shards=5, docs=50)
    tasks = plan_tasks(files, group_bytes=2 * files[0].stat().st_size)
    assert [len(t.inputs) for t in tasks] == [2, 2, 1]
    cfg = ConvertConfig(to="parquet", group_bytes=2 * files[0].stat().st_size, max_bytes="2KB")
    res = convert_shards([tmp_path / "in"], tmp_path / "out", cfg, progress=False)
    docs = [d for p in sorted((tmp_path / "out").glob("*.parquet")) for d in read_documents(p)]
    original = [d for f in files for d in read_documents(f)]
    assert docs == original and res.stats["documents_out"] == 250
    assert all(n.startswith("group-") for n in os.listdir(tmp_path / "out") if n.endswith("quet"))


def test_expand_inputs_errors(tmp_path):
    with pytest.raises(DataError, match="no such file or folder"):
        expand_inputs([tmp_path / "missing"])
    with pytest.raises(DataError, match="glob matched no files"):
        expand_inputs([str(tmp_path / "*.jsonl")])
    (tmp_path / "a.jsonl").write_text('{"text": "x"}\n')
    (tmp_path / "a.parquet").write_bytes(b"")
    with pytest.raises(DataError, match="same output 'a'"):
        plan_tasks(expand_inputs([tmp_path]))


def test_skip_policy_counts_and_quarantines_through_stage(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "x.jsonl").write_bytes(b'{"text": "ok"}\nnot json\n{"text": 5}\n')
    cfg = ConvertConfig(on_error="skip")
    res = convert_shards([tmp_path / "in"], tmp_path / "out", cfg, progress=False)
    assert res.stats["skipped_input"] == {"invalid_json": 1, "non_string_text": 1}
    assert res.stats["quarantined"] == 2
    lines = (tmp_path / "out" / "quarantine" / "x.jsonl").read_bytes().splitlines()
    assert [orjson.loads(x)["where"] for x in lines] == [2, 3]


def _convert_cmd(inp: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "alignpt", "shards", "convert", str(inp), "--out", str(out),
            "--to", "parquet", "--max-size", "300KB", "--quiet"]


def test_sigkill_mid_run_then_resume_is_byte_identical(tmp_path):
    # Shards big enough that converting one takes a noticeable fraction of a second.
    make_corpus(tmp_path / "in", shards=8, docs=6000, text_len=lambda i: 20 + i % 50)
    ref = tmp_path / "ref"
    subprocess.run(_convert_cmd(tmp_path / "in", ref), check=True, cwd=ROOT)
    out = tmp_path / "out"
    proc = subprocess.Popen(_convert_cmd(tmp_path / "in", out), cwd=ROOT)
    markers = out / MARKER_DIR
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if markers.is_dir() and len(list(markers.glob("*.json"))) >= 2:
            break
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done_before = len(list(markers.glob("*.json")))
    assert 2 <= done_before < 8, "kill did not land mid-run; make the shards larger"
    # Whatever is visible belongs to a finished shard; the rest is hidden temporaries.
    finished = {orjson.loads(p.read_bytes())["stats"]["task"] for p in markers.glob("*.json")}
    visible = {p.name.rsplit("-", 1)[0] for p in out.glob("*.parquet")}
    assert visible <= finished
    rerun = subprocess.run(_convert_cmd(tmp_path / "in", out) + ["-q"], cwd=ROOT,
                           capture_output=True, text=True, check=True)
    said = " ".join(rerun.stdout.split())
    assert f"{8 - done_before} shard(s) converted, {done_before} already done" in said
    assert tree_bytes(out) == tree_bytes(ref)
    assert not [p for p in out.rglob(".*tmp*")]


@pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="needs alignpt[ray]")
def test_ray_executor_matches_local(tmp_path):
    import ray

    make_corpus(tmp_path / "in", shards=3)
    local = run_stage(DropShort(15), [tmp_path / "in"], OutputSpec(str(tmp_path / "local")),
                      config={"m": 15}, progress=False)
    try:
        remote = run_stage(DropShort(15), [tmp_path / "in"], OutputSpec(str(tmp_path / "ray")),
                           config={"m": 15}, executor="ray", workers=2, progress=False)
    finally:
        ray.shutdown()
    assert tree_bytes(tmp_path / "local") == tree_bytes(tmp_path / "ray")
    for key in ("documents_in", "documents_out", "dropped", "counters", "bytes_out"):
        assert local.stats[key] == remote.stats[key]
    assert len(list((tmp_path / "ray" / MARKER_DIR).glob("*.json"))) == 3


def test_read_options_respected(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.jsonl").write_text('{"body": "hello", "key": "k1"}\n')
    res = run_stage(Passthrough(), [tmp_path / "in"], OutputSpec(str(tmp_path / "o")),
                    read=ReadOptions(text_field="body", id_field="key"), progress=False)
    assert res.stats["documents_out"] == 1
    line = orjson.loads((tmp_path / "o" / "a.jsonl").read_bytes())
    assert line == {"key": "k1", "body": "hello"}
