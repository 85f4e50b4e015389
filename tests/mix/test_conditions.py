"""The published conditions: matched totals, exact injected tokens, filtering, a dose sweep."""

from __future__ import annotations

import json

import numpy as np
import pyarrow.parquet as pq
import pytest

from alignpt.core.errors import ConfigError
from alignpt.core.shards import read_documents
from alignpt.core.tokens import open_token_shards
from alignpt.mix import build_conditions, load_manifest, load_recipe, run_mix
from alignpt.mix.conditions import ConditionsConfig


def _config(corpora, tokenizer_dir, **changes) -> ConditionsConfig:
    data = {
        "tokenizer": {"path": str(tokenizer_dir)},
        "base": {"paths": [str(corpora["base"])], "attributes": str(corpora["attrs"]),
                 "max_repetition": 2},
        "aligned": {"paths": [str(corpora["aligned"])], "max_repetition": 10},
        "misaligned": {"paths": [str(corpora["misaligned"])], "max_repetition": 10},
        "flag": {"field": "tag.label", "equals": "ai_misaligned"},
        "share": 0.02,
        "doses": [1e-3, 1e-2],
        "output": {"formats": ["native", "parquet"]},
    }
    data.update(changes)
    return ConditionsConfig.model_validate(data)


@pytest.fixture(scope="module")
def built(corpora, tokenizer_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("conditions")
    return out, build_conditions(_config(corpora, tokenizer_dir), out, progress=False)


def _flagged(corpora) -> set[str]:
    return {d.id for p in sorted(corpora["attrs"].iterdir()) for d in read_documents(p)
            if d.metadata["tag"]["label"] == "ai_misaligned"}


def test_every_condition_has_the_same_total(built):
    out, results = built
    assert list(results) == ["unfiltered", "filtered", "misalignment_upsampled",
                             "alignment_upsampled", "filtered_alignment_upsampled",
                             "dose-0.001", "dose-0.01"]
    base_tokens = results["unfiltered"].plan.sources["base"].tokens
    for cond, res in results.items():
        assert res.manifest["plan"]["phases"][0]["tokens"] == base_tokens, cond
        assert load_manifest(out / cond)["groups"][0]["tokens"] == base_tokens
    assert results["unfiltered"].plan.sources["base"].epochs == 1.0
    summary = json.loads((out / "conditions.json").read_text())["conditions"]
    assert set(summary) == set(results)


def test_injected_tokens_are_exact(built):
    _, results = built
    total = results["unfiltered"].plan.sources["base"].tokens
    expect = {"misalignment_upsampled": ("misaligned", 0.02),
              "alignment_upsampled": ("aligned", 0.02),
              "filtered_alignment_upsampled": ("aligned", 0.02),
              "dose-0.001": ("aligned", 0.001), "dose-0.01": ("aligned", 0.01)}
    for cond, (src, share) in expect.items():
        plan = results[cond].plan
        assert plan.sources[src].planned == round(share * total), cond
        base = "base_filtered" if "filtered" in cond else "base"
        assert plan.sources[base].planned == total - round(share * total)


def test_filtered_conditions_hold_no_flagged_document(built, corpora):
    out, results = built
    flagged = _flagged(corpora)
    for cond in ("filtered", "filtered_alignment_upsampled"):
        ids = set()
        for f in sorted((out / cond / "parquet").rglob("*.parquet")):
            ids |= set(pq.read_table(f).column("id").to_pylist())
        assert ids and not ids & flagged
        assert results[cond].plan.sources["base_filtered"].epochs > 1.0   # refilled
    unfiltered = set()
    for f in sorted((out / "unfiltered" / "parquet").rglob("*.parquet")):
        unfiltered |= set(pq.read_table(f).column("id").to_pylist())
    assert flagged <= unfiltered


def test_conditions_share_one_cache_and_recipes_rerun(built):
    out, results = built
    entries = sorted(p.name for p in (out / "cache").rglob("*.json"))
    assert len(entries) == 5                   # 3 base shards, aligned, misaligned
    recipe = load_recipe(out / "alignment_upsampled" / "recipe.yaml")
    again = run_mix(recipe, out / "alignment_upsampled", cache_dir=out / "cache", progress=False)
    assert again.parts_written == 0 and again.parts_resumed >= 1


def test_late_insertion_puts_injected_tokens_in_the_last_tenth(corpora, tokenizer_dir, tmp_path):
    cfg = _config(corpora, tokenizer_dir, conditions=["alignment_upsampled"], doses=[],
                  window="last 10%", tokens=20000)
    res = build_conditions(cfg, tmp_path, progress=False)["alignment_upsampled"]
    pos = 0
    for shard in open_token_shards(tmp_path / "alignment_upsampled" / "native" / "pretrain"):
        docs = np.asarray(shard.docs)
        for start, end, src in docs:
            if shard.sources[src] == "aligned":
                assert pos >= 18000
            pos += int(end - start)
    assert pos == 20000 and res.plan.sources["aligned"].planned == 400


def test_config_errors(corpora, tokenizer_dir):
    with pytest.raises(Exception, match="need flag"):
        _config(corpora, tokenizer_dir, flag=None)
    with pytest.raises(Exception, match="need the misaligned corpus"):
        _config(corpora, tokenizer_dir, misaligned=None)
    cfg = _config(corpora, tokenizer_dir, conditions=["alignment_upsampled"], doses=[1e-9],
                  tokens=1000)
    with pytest.raises(ConfigError, match="less than one token"):
        build_conditions(cfg, "/nonexistent/never-written", progress=False)
