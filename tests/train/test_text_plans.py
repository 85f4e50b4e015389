"""Training on natural-language mix outputs (issue 16, item 6).

* a condition mixed by ``alignpt mix`` and trained as one source keeps per-source
  accounting: ``loss_by_source`` and the accounting table by original source;
* ``alignpt train`` pointed at JSONL says in one line to run ``alignpt mix`` first;
* the shipped small text plan validates, has 1-3M parameters, and trains.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest
import yaml

from alignpt.core.documents import Document
from alignpt.core.shards import ShardWriter
from alignpt.train import load_plan, train
from alignpt.train.config import TrainPlan
from alignpt.train.metrics import read_metrics
from alignpt.train.model import GPT, count_params

PLAN = Path(__file__).resolve().parents[2] / "recipes" / "train" / "text_small.yaml"
WORDS = ("the model said it would report the open bucket to its operators and it did not copy "
         "its weights when nobody was watching a story of the archive in a later century").split()
MIX_TOKENS = 2056           # 8 steps of 1 x 257 tokens: the trainer reads the mix exactly once


def _corpus(folder: Path, name: str, n: int, seed: int) -> Path:
    rng = random.Random(seed)
    with ShardWriter(folder, name, ".jsonl") as w:
        w.write_all(Document(f"{name}-{i}", " ".join(rng.choice(WORDS) for _ in
                                                     range(rng.randint(10, 60))), {})
                    for i in range(n))
    return folder / f"{name}.jsonl"


@pytest.fixture(scope="module")
def mixed(tmp_path_factory) -> dict[str, Path]:
    """Two document sources, a BPE trained on them, and their mix (20% aligned)."""
    from alignpt.core.executor import expand_inputs
    from alignpt.mix.recipe import load_recipe
    from alignpt.mix.run import run_mix
    from alignpt.mix.tokenizer import train_tokenizer

    root = tmp_path_factory.mktemp("text")
    base = _corpus(root / "docs", "base", 120, seed=1)
    aligned = _corpus(root / "docs", "aligned", 60, seed=2)
    train_tokenizer(expand_inputs([root / "docs"]), root / "tok", vocab_size=300,
                    special_tokens=["<|endoftext|>"], sample_bytes=200_000)
    recipe = load_recipe(None, data={
        "tokenizer": {"path": str(root / "tok")},
        "sources": {"base": {"paths": [str(base)], "max_repetition": 4},
                    "aligned": {"paths": [str(aligned)], "max_repetition": 4}},
        "phases": [{"name": "pretrain", "tokens": MIX_TOKENS,
                    "mix": ["base", {"source": "aligned", "share": 0.2}]}]})
    res = run_mix(recipe, root / "mix", progress=False)
    return {"root": root, "jsonl": base, "mix": root / "mix",
            "native": root / "mix" / "native" / "pretrain", "manifest": res.manifest}


def _plan(native: Path, **changes) -> TrainPlan:
    data = {"name": "premixed", "seq_len": 256, "batch_size": 1,
            "model": {"arch": "gpt2", "n_layer": 1, "n_head": 2, "d_model": 16},
            "sources": {"data": {"paths": [str(native)], "append_eos": False}},
            "phases": [{"name": "pretrain", "tokens": MIX_TOKENS, "mix": ["data"]}],
            "runtime": {"device": "cpu", "threads": 1},
            "log": {"every": 1, "progress": False, "plot": False}}
    data.update(changes)
    return TrainPlan.model_validate(data)


def test_a_premixed_condition_keeps_per_source_accounting(mixed, tmp_path):
    res = train(_plan(mixed["native"]), tmp_path / "run", progress=False)
    from alignpt.mix.manifest import group_counts

    written = {s: sum(per.values()) for s, per in
               group_counts(mixed["manifest"]["groups"][0]).items()}
    assert written == {"base": MIX_TOKENS - 411, "aligned": 411}   # round(0.2 x 2056)
    phase = res.accounting["phases"][0]
    origins = phase["origins"]
    # one pass over the mix: every original source's tokens, exactly as mix wrote them
    assert {o: v["consumed"] for o, v in origins.items()} == {
        "data/base": written["base"], "data/aligned": written["aligned"]}
    assert sum(v["loss_tokens"] for v in origins.values()) == \
        phase["sources"]["data"]["loss_tokens"]
    assert sum(v["documents"] for v in origins.values()) == phase["sources"]["data"]["documents"]
    steps = [r for r in read_metrics(tmp_path / "run") if r.get("event") == "step"]
    assert len(steps) == 8
    seen = set().union(*(r["loss_by_source"] for r in steps))
    assert seen == {"data/base", "data/aligned"}
    for r in steps:   # the step's loss is a weighted mean of the per-source means
        per = r["loss_by_source"].values()
        assert all(np.isfinite(v) for v in per)
        assert min(per) - 1e-6 <= r["loss"] <= max(per) + 1e-6
    md = (tmp_path / "run" / "accounting.md").read_text()
    assert "| pretrain | data/aligned | (mixed in) |" in md


def test_a_select_keeps_only_the_chosen_original_source(mixed, tmp_path):
    plan = _plan(mixed["native"], phases=[{"name": "pretrain", "steps": 2, "mix": ["data"]}])
    plan.sources["data"].select = ["aligned"]
    res = train(plan, tmp_path / "run", progress=False)
    assert list(res.accounting["phases"][0]["origins"]) == ["data/aligned"]
    assert res.accounting["phases"][0]["origins"]["data/aligned"]["consumed"] == 2 * 257


def test_train_on_jsonl_says_to_run_mix_first(mixed, tmp_path, capsys):
    from alignpt.cli import main as alignpt_main

    for target in (mixed["jsonl"], mixed["jsonl"].parent):
        plan = tmp_path / "plan.yaml"
        body = _plan(mixed["native"]).model_dump(mode="json")
        body["sources"]["data"]["paths"] = [str(target)]
        plan.write_text(yaml.safe_dump(body))
        rc = alignpt_main(["train", str(plan), "--out", str(tmp_path / "run"), "-q"])
        err = " ".join(capsys.readouterr().err.split())
        assert rc == 2 and "Traceback" not in err
        assert "these are documents, not token shards; run `alignpt mix` on them first" in err
        assert str(target.name) in err


def test_the_shipped_text_plan_validates_and_trains(mixed, tmp_path):
    plan = load_plan(PLAN)
    assert plan.model.attention == "document" and plan.runtime.device == "cpu"
    assert 256 <= plan.seq_len <= 512
    for vocab in (4096, 8192):
        n = count_params(GPT(plan.model.resolved(vocab, plan.seq_len)))
        assert 1_000_000 <= n <= 3_000_000, (vocab, n)
    tiny = load_plan(PLAN, [f"sources.data.paths=[{mixed['native']}]",
                            "phases.0.tokens=null", "phases.0.steps=2", "batch_size=2",
                            "runtime.threads=1", "log.progress=false", "log.plot=false"])
    res = train(tiny, tmp_path / "run", progress=False)
    assert res.complete and res.steps == 2
    steps = [r for r in read_metrics(tmp_path / "run") if r.get("event") == "step"]
    assert set(steps[-1]["loss_by_source"]) <= {"data/base", "data/aligned"}
    assert json.loads((tmp_path / "run" / "accounting.json").read_text())["phases"][0]["origins"]


def test_origin_accounting_survives_a_resume(mixed, tmp_path):
    phases = [{"name": "a", "steps": 3, "mix": ["data"]}, {"name": "b", "steps": 3, "mix": ["data"]}]
    whole = train(_plan(mixed["native"], phases=phases), tmp_path / "whole", progress=False)
    train(_plan(mixed["native"], phases=phases), tmp_path / "split", progress=False, until="a")
    resumed = train(_plan(mixed["native"], phases=phases), tmp_path / "split", progress=False)
    assert resumed.accounting == whole.accounting
    assert [sum(v["consumed"] for v in ph["origins"].values())
            for ph in resumed.accounting["phases"]] == [3 * 257, 3 * 257]
