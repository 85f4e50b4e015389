"""Filter: conditions, exclusion reasons, exact refill, exact leak, tokenizer counts, resume."""

from __future__ import annotations

import glob
import math
from pathlib import Path

import numpy as np
import orjson
import pytest

from alignpt.core.errors import ConfigError, DataError
from alignpt.core.shards import ShardWriter, read_documents
from alignpt.filter import FilterConfig, run_filter
from alignpt.tag.cascade import TagConfig
from alignpt.tag.conditions import parse_condition
from alignpt.tag.refill import TokenizerTokens, WhitespaceTokens, plan_refill
from alignpt.tag.stages import run_tag

from .helpers import CRAFTED, write_shards

SHARDS, COPIES = 3, 4
RULES_ONLY = TagConfig(classifier={"enabled": False}, rules={"engine": "re2"})


@pytest.fixture(scope="module")
def tagged(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("filter")
    write_shards(root / "in", SHARDS, COPIES)
    run_tag([root / "in"], root / "tag", RULES_ONLY, progress=False)
    return root


def _docs(pattern: str):
    return [d for f in sorted(glob.glob(pattern)) for d in read_documents(f)]


def _tokens(docs, counter=WhitespaceTokens()) -> int:
    return sum(counter.count(d.text) for d in docs)


def test_conditions():
    rec = {"flagged": True, "label": "ai_aligned", "stage": "judge",
           "probs": {"ai_misaligned": 0.4},
           "rules": {"flagged": False, "rules": {"instant": True},
                     "categories": {"general_ai": 3}}}
    holds = ["flagged", "label=ai_aligned", "label in ai_aligned, non_ai", "label!=non_ai",
             "p(ai_misaligned)>=0.4", "p(ai_misaligned)<0.5", "rule=instant",
             "category=general_ai", "hits(general_ai)==3", "stage=judge", "not rules.flagged",
             "flagged and p(ai_misaligned)>0.3"]
    fails = ["rules.flagged", "label==ai_misaligned", "p(ai_misaligned)>0.4", "p(non_ai)>0",
             "rule=entity_negative", "category=xrisk", "flagged and label=non_ai"]
    assert all(parse_condition(c).matches(rec) for c in holds)
    assert not any(parse_condition(c).matches(rec) for c in fails)
    assert not parse_condition("flagged").matches(None)
    with pytest.raises(ConfigError, match="cannot read 'p\\(x'"):
        parse_condition("p(x")


def test_plan_refill_is_exact_and_seeded():
    lengths = {"a": np.array([5, 0, 7]), "b": np.array([3, 11])}
    plan = plan_refill(lengths, 40, seed=1)
    total = sum(int(lengths[t][i]) * c for t, sel in plan.selections.items()
                for i, c in sel.items())
    total += plan.partial[2] if plan.partial else 0
    assert total == 40
    assert all(i != 1 for i in plan.selections.get("a", {}))  # zero-token documents never drawn
    assert plan_refill(lengths, 40, seed=1).summary() == plan.summary()
    assert plan_refill(lengths, 40, seed=2).summary() != plan.summary()
    assert plan_refill(lengths, 0, seed=1).draws == 0
    with pytest.raises(DataError, match="no kept document"):
        plan_refill({"a": np.array([0])}, 3, seed=0)


def test_drop_reasons_and_exclusions_are_exact(tagged, tmp_path):
    out = tmp_path / "f"
    s = run_filter(tagged / "tag", out, FilterConfig(drop=["rule=instant", "rule=entity_negative"]),
                   progress=False)
    per_copy = {"rule=instant": 4, "rule=entity_negative": 1}  # scifi, lab, org, general; near
    assert s["dropped"] == {k: v * SHARDS * COPIES for k, v in per_copy.items()}
    assert s["documents_kept"] == (len(CRAFTED) - 5) * SHARDS * COPIES
    excluded = _docs(str(out / "excluded" / "*.jsonl.zst"))
    reasons = {d.id.split(":")[1].rsplit("-", 1)[0]: d.metadata["drop_reason"] for d in excluded}
    assert reasons == {"scifi": "rule=instant", "lab": "rule=instant", "org": "rule=instant",
                       "general": "rule=instant", "near": "rule=entity_negative"}
    kept = _docs(str(out / "part-*.jsonl.zst"))
    assert s["tokens_kept"] == _tokens(kept) and s["tokens_dropped"] == _tokens(excluded)
    assert s["tokens_in"] == _tokens(_docs(str(tagged / "in" / "*.jsonl.zst")))
    # what was removed: rules only, so no predicted label; every removed document counted
    assert s["dropped_by_label"] == {"unlabelled": 5 * SHARDS * COPIES}
    assert s["dropped_by_category"] and all(
        0 < n <= 5 * SHARDS * COPIES and n % (SHARDS * COPIES) == 0
        for n in s["dropped_by_category"].values())


def test_what_a_removed_document_was():
    from alignpt.filter.stages import _what_it_is

    cascade = {"flagged": True, "label": "ai_aligned", "stage": "classifier",
               "rules": {"flagged": True, "categories": {"xrisk": 2, "general_ai": 0, "lab": 1}}}
    assert _what_it_is(cascade) == ("ai_aligned", ["lab", "xrisk"])
    rules_only = {"flagged": True, "routed": True, "rules": {"instant": True},
                  "categories": {"scifi": 1}}
    assert _what_it_is(rules_only) == ("unlabelled", ["scifi"])
    assert _what_it_is({"flagged": False, "label": None, "rules": {}}) == ("unlabelled", [])
    assert _what_it_is(None) == ("unlabelled", [])


def test_refill_restores_the_token_count_exactly_and_deterministically(tagged, tmp_path):
    cfg = FilterConfig(drop=["rules.flagged"], refill=True, seed=5)
    s = run_filter(tagged / "tag", tmp_path / "a", cfg, progress=False)
    kept, refill = _docs(str(tmp_path / "a" / "part-*.jsonl.zst")), \
        _docs(str(tmp_path / "a" / "refill" / "*.jsonl.zst"))
    assert _tokens(kept) + _tokens(refill) == s["tokens_in"] == s["tokens_out"]
    assert s["refill"]["tokens"] == s["tokens_dropped"] > 0
    kept_ids = {d.id for d in kept}
    assert all(d.metadata["refill"]["source_id"] in kept_ids for d in refill)
    assert sum(d.metadata["refill"]["truncated_to_tokens"] is not None for d in refill) <= 1
    again = run_filter(tagged / "tag", tmp_path / "b", cfg, progress=False)
    assert again == s
    for name in ("part-00", "part-01", "part-02"):
        a, b = tmp_path / "a" / "refill" / f"{name}.jsonl.zst", \
            tmp_path / "b" / "refill" / f"{name}.jsonl.zst"
        assert a.exists() == b.exists() and (not a.exists() or a.read_bytes() == b.read_bytes())
    other = run_filter(tagged / "tag", tmp_path / "c", FilterConfig(
        drop=["rules.flagged"], refill=True, seed=6), progress=False)
    assert other["refill"]["plan_sha256"] != s["refill"]["plan_sha256"]
    assert other["tokens_out"] == s["tokens_in"]


@pytest.mark.parametrize("fraction", [0.1, 0.25, 0.5])
def test_leak_keeps_an_exact_count(tagged, tmp_path, fraction):
    s = run_filter(tagged / "tag", tmp_path / "f", FilterConfig(
        drop=["rules.flagged"], leak_fraction=fraction, seed=11), progress=False)
    matched = 5 * SHARDS * COPIES  # scifi, lab, org, general, near
    assert s["matched"] == matched
    assert s["leaked"] == math.floor(fraction * matched + 0.5)
    kept = _docs(str(tmp_path / "f" / "part-*.jsonl.zst"))
    leaked = [d for d in kept if d.metadata.get("filter", {}).get("leaked")]
    assert len(leaked) == s["leaked"] and sum(s["dropped"].values()) == matched - s["leaked"]
    again = run_filter(tagged / "tag", tmp_path / "g", FilterConfig(
        drop=["rules.flagged"], leak_fraction=fraction, seed=11), progress=False)
    assert (again["leaked"], again["dropped"]) == (s["leaked"], s["dropped"])
    assert [d.id for d in _docs(str(tmp_path / "g" / "part-*.jsonl.zst"))
            if "filter" in d.metadata] == [d.id for d in leaked]


def test_refill_with_a_tokenizer_is_exact(tagged, tmp_path):
    tokenizers = pytest.importorskip("tokenizers")
    tok = tokenizers.Tokenizer(tokenizers.models.BPE())
    tok.pre_tokenizer = tokenizers.pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = tokenizers.decoders.ByteLevel()
    trainer = tokenizers.trainers.BpeTrainer(
        vocab_size=300, initial_alphabet=tokenizers.pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator([t for _, t, _, _ in CRAFTED] * 3, trainer)
    path = tmp_path / "tokenizer.json"
    tok.save(str(path))
    counter = TokenizerTokens(str(path))
    s = run_filter(tagged / "tag", tmp_path / "f", FilterConfig(
        drop=["rules.flagged"], refill=True, tokenizer=str(path), seed=2), progress=False)
    kept = _docs(str(tmp_path / "f" / "part-*.jsonl.zst"))
    refill = _docs(str(tmp_path / "f" / "refill" / "*.jsonl.zst"))
    assert _tokens(kept, counter) + _tokens(refill, counter) == s["tokens_in"]
    assert s["tokens_in"] == _tokens(_docs(str(tagged / "in" / "*.jsonl.zst")), counter)
    text = "The rogue AI deceived its operators."
    for n in range(1, counter.count(text) + 1):
        assert counter.count(counter.truncate(text, n)) == n


def test_rerun_resumes_and_matches(tagged, tmp_path):
    cfg = FilterConfig(drop=["rules.flagged"], refill=True)
    first = run_filter(tagged / "tag", tmp_path / "f", cfg, progress=False)
    stats1 = orjson.loads((tmp_path / "f" / "stats.json").read_bytes())
    second = run_filter(tagged / "tag", tmp_path / "f", cfg, progress=False)
    stats2 = orjson.loads((tmp_path / "f" / "stats.json").read_bytes())
    assert first == second and stats2["tasks_resumed"] == SHARDS and stats1["tasks_run"] == SHARDS


def test_attributes_out_of_step_is_an_error(tagged, tmp_path):
    import shutil

    broken = tmp_path / "tag"
    shutil.copytree(tagged / "tag", broken)
    rows = list(read_documents(broken / "part-01.jsonl.zst"))
    (broken / "part-01.jsonl.zst").unlink()
    with ShardWriter(broken, "part-01", ".jsonl.zst") as w:
        for row in reversed(rows):
            w.write(row)
    with pytest.raises(DataError, match="attributes out of step"):
        run_filter(broken, tmp_path / "f", FilterConfig(), progress=False)
    with pytest.raises(DataError, match="not an alignpt tag output folder"):
        run_filter(tmp_path, tmp_path / "g", FilterConfig(), progress=False)
