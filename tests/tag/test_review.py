"""Review: corpus figures from stats.json and the per-label sample page."""

from __future__ import annotations

import pytest

from alignpt.tag.cascade import TagConfig
from alignpt.tag.review import sample_documents, summarize, write_review
from alignpt.tag.stages import run_tag

from .helpers import CRAFTED, write_shards


@pytest.fixture(scope="module")
def tagged(tmp_path_factory):
    root = tmp_path_factory.mktemp("review")
    write_shards(root / "in", shards=2, copies=3)
    run_tag([root / "in"], root / "tag", TagConfig(rules={"engine": "re2"}), progress=False)
    return root / "tag"


def test_summary_figures(tagged):
    s = summarize(tagged)
    n = 2 * 3 * len(CRAFTED)
    assert s["documents"] == n
    assert s["rules_flag_rate"] == round(sum(f for _, _, f, _ in CRAFTED) / len(CRAFTED), 6)
    assert s["routed_rate"] == round(sum(r for _, _, _, r in CRAFTED) / len(CRAFTED), 6)
    assert s["rules"]["instant"]["documents"] == 4 * 6
    assert s["categories"]["scifi_agents"] == {"documents": 6, "rate": round(6 / n, 6)}
    assert ("Skynet", 6) in s["top_terms"]["scifi_agents"]
    assert sum(s["labels"].values()) == n
    assert s["stages"]["rules"] == 6 * sum(not r for _, _, _, r in CRAFTED)


def test_samples_are_per_label_seeded_and_bounded(tagged):
    a = sample_documents(tagged, per_label=2, seed=1)
    assert set(a) <= {"non_ai", "ai_neutral", "ai_aligned", "ai_misaligned"}
    assert all(1 <= len(v) <= 2 for v in a.values())
    assert all(d["record"]["label"] == label for label, docs in a.items() for d in docs)
    assert sample_documents(tagged, per_label=2, seed=1) == a
    assert {d["id"] for v in sample_documents(tagged, 2, seed=2).values() for d in v} != \
        {d["id"] for v in a.values() for d in v}


@pytest.mark.parametrize("fmt", ["md", "html"])
def test_review_page(tagged, fmt):
    path = write_review(tagged, fmt=fmt, per_label=3)
    text = path.read_text()
    assert path.name == f"review.{fmt}"
    assert "Sample: non_ai" in text and "entity_negative" in text
    mark = "<mark>Skynet</mark>" if fmt == "html" else "**Skynet**"
    if "Skynet" in text:
        assert mark in text
    if fmt == "html":
        assert text.startswith("<!doctype html>") and "<table>" in text
