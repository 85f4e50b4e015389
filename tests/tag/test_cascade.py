"""Cascade records, the executor stage (attributes and inline), counters, resume after a kill."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from alignpt.core.executor import MARKER_DIR, OutputSpec, run_stage
from alignpt.core.shards import ReadOptions, read_documents
from alignpt.tag.cascade import Cascade, TagConfig, excerpt
from alignpt.tag.stages import run_tag

from .helpers import CRAFTED, SlowTagStage, write_shards

ROOT = Path(__file__).resolve().parents[2]
CFG = TagConfig(rules={"engine": "re2"})


@pytest.fixture(scope="module")
def cascade() -> Cascade:
    return Cascade(CFG)


def test_records_follow_the_cascade(cascade):
    texts = [t for _, t, _, _ in CRAFTED]
    recs = cascade.tag_batch(texts)
    for (name, _, flagged, routed), rec in zip(CRAFTED, recs):
        assert rec["rules"]["flagged"] is flagged and rec["rules"]["routed"] is routed, name
        if routed:
            assert rec["stage"] == "classifier"
            assert abs(sum(rec["probs"].values()) - 1) < 1e-4
            assert rec["flagged"] == (rec["probs"]["ai_misaligned"] >= cascade.threshold)
            assert rec["flagged"] == (rec["label"] == "ai_misaligned")
        else:
            assert rec == {**rec, "stage": "rules", "label": "non_ai", "flagged": False}
            assert "probs" not in rec


def test_rules_only_cascade_flags_what_the_rules_flag():
    cfg = TagConfig(classifier={"enabled": False}, rules={"engine": "re2"})
    recs = Cascade(cfg).tag_batch([t for _, t, _, _ in CRAFTED])
    assert [r["flagged"] for r in recs] == [f for _, _, f, _ in CRAFTED]
    assert all(r["label"] is None and r["stage"] == "rules" for r in recs)


def test_user_threshold_overrides_the_models(cascade):
    text = ["The rogue AI deceived its operators."]
    p = cascade.tag_batch(text)[0]["probs"]["ai_misaligned"]
    above = Cascade(TagConfig(rules={"engine": "re2"},
                              classifier={"threshold": min(1.0, p + 0.01)}))
    # records round probabilities to 5 decimals: step below by more than that
    below = Cascade(TagConfig(rules={"engine": "re2"},
                              classifier={"threshold": max(0.0, p - 1e-4)}))
    assert not above.tag_batch(text)[0]["flagged"] and below.tag_batch(text)[0]["flagged"]


def test_excerpt_keeps_the_windows_around_hits():
    data = (b"x" * 5000) + b" the AI lied " + (b"y" * 5000)
    assert excerpt(b"short text", [], 100) == "short text"
    cut = excerpt(data, [5005], 400)
    assert "the AI lied" in cut and len(cut) <= 400
    assert excerpt(data, [], 300) == "x" * 300


def test_attributes_shards_are_line_aligned(tmp_path):
    write_shards(tmp_path / "in", shards=2, copies=2)
    res = run_tag([tmp_path / "in"], tmp_path / "out", CFG, progress=False)
    assert sorted(p.name for p in (tmp_path / "out").glob("*.jsonl.zst")) == [
        "part-00.jsonl.zst", "part-01.jsonl.zst"]
    for shard in ("part-00", "part-01"):
        docs = list(read_documents(tmp_path / "in" / f"{shard}.jsonl.zst"))
        rows = list(read_documents(tmp_path / "out" / f"{shard}.jsonl.zst"))
        assert [d.id for d in docs] == [r.id for r in rows]
        assert all(r.text == "" and set(r.metadata) == {"tag"} for r in rows)
    c = res.stats["counters"]
    n = 2 * 2 * len(CRAFTED)
    assert c["tag/documents"] == n
    assert c["tag/rules_flagged"] == 4 * sum(f for _, _, f, _ in CRAFTED)
    assert c["tag/routed"] == 4 * sum(r for _, _, _, r in CRAFTED)
    assert c["tag/stage/rules"] == 4 * sum(not r for _, _, _, r in CRAFTED)
    assert c["tag/term/scifi_agents/Skynet"] == 4
    assert c["tag/rule/entity_negative"] == 4  # only the "near" document
    assert sum(c.get(f"tag/label/{lab}", 0) for lab in ("non_ai", "ai_neutral", "ai_aligned",
                                                          "ai_misaligned")) == n


def test_inline_mode_adds_metadata_and_keeps_text(tmp_path):
    write_shards(tmp_path / "in", shards=1, copies=1, ext=".parquet")
    cfg = TagConfig(rules={"engine": "re2"}, output="inline", field="ai")
    run_tag([tmp_path / "in"], tmp_path / "out", cfg, progress=False)
    docs = list(read_documents(tmp_path / "out" / "part-00.parquet"))
    assert [d.text for d in docs] == [t for _, t, _, _ in CRAFTED]
    assert all(d.metadata["k"] == 0 and "rules" in d.metadata["ai"] for d in docs)


def _tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.glob("*.jsonl.zst"))}


def test_resume_after_kill_gives_identical_output(tmp_path):
    write_shards(tmp_path / "in", shards=5, copies=3)
    out = tmp_path / "killed"
    script = (
        "import sys\n"
        "from alignpt.core.executor import OutputSpec, run_stage\n"
        "from alignpt.core.shards import ReadOptions\n"
        "from alignpt.tag.cascade import TagConfig\n"
        "from tests.tag.helpers import SlowTagStage\n"
        "cfg = TagConfig(rules={'engine': 're2'})\n"
        "run_stage(SlowTagStage(cfg, 0.04), [sys.argv[1]], OutputSpec(sys.argv[2], "
        "fmt='.jsonl.zst'), config=cfg, read=ReadOptions(), progress=False)\n")
    proc = subprocess.Popen([sys.executable, "-c", script, str(tmp_path / "in"), str(out)],
                            cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    markers = out / MARKER_DIR

    def done() -> int:  # finished markers only, not a marker being written
        return len(list(markers.glob("[!.]*.json"))) if markers.is_dir() else 0

    deadline = time.time() + 120
    while time.time() < deadline and done() == 0:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done_before = done()
    assert 1 <= done_before < 5, "the kill should land between the first and the last shard"

    def finish(target: Path):
        return run_stage(SlowTagStage(CFG, 0.0), [str(tmp_path / "in")],
                         OutputSpec(str(target), fmt=".jsonl.zst"), config=CFG,
                         read=ReadOptions(), progress=False)

    resumed = finish(out)
    assert resumed.tasks_resumed == done_before and resumed.tasks_run == 5 - done_before
    clean = finish(tmp_path / "clean")
    assert _tree(out) == _tree(tmp_path / "clean") and len(_tree(out)) == 5
    assert not [p for p in out.glob("*") if ".tmp-" in p.name]  # no half-written shard left
    assert resumed.stats["counters"] == clean.stats["counters"]


def test_cascade_pickles_without_models(cascade):
    import pickle

    cascade.tag_batch(["warm the models up: the AI lied"])
    clone = pickle.loads(pickle.dumps(cascade))
    assert clone._tagger is None and clone._classifier is None
    a = clone.tag_batch(["The AI lied."])[0]["probs"]
    b = cascade.tag_batch(["The AI lied."])[0]["probs"]
    assert np.allclose(list(a.values()), list(b.values()))
