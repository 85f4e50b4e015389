"""``alignpt filter`` says what it removed by the tagger's most probable label (issue 16).

With a recall-tuned flag (a low threshold on p(ai_misaligned), such as 0.07, the shipped
model's before issue 17) every removed document is *labelled* ``ai_misaligned``, so
``dropped_by_label`` cannot show that aligned documents went; the most probable label
can. Run on the tag test split with the real cascade, and every count recomputed from
the attributes the tagger wrote.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from alignpt.core.documents import Document
from alignpt.core.shards import ShardWriter, read_documents
from alignpt.filter import FilterConfig, most_probable_label, run_filter

TESTSET = Path(__file__).resolve().parents[1] / "src" / "alignpt" / "data" / "tag" / "testset.jsonl"


@pytest.fixture(scope="module")
def tagged(tmp_path_factory) -> Path:
    from alignpt.tag.cascade import TagConfig
    from alignpt.tag.stages import run_tag

    root = tmp_path_factory.mktemp("fsum")
    rows = [json.loads(line) for line in TESTSET.read_text().splitlines() if line.strip()]
    with ShardWriter(root / "in", "part-0", ".jsonl") as w:
        w.write_all(Document(r["id"], r["text"], {"truth": r["label"]}) for r in rows)
    # a recall-tuned threshold: the flag takes documents whose most probable label is another
    run_tag([root / "in"], root / "tag", TagConfig(rules={"engine": "re2"},
                                                  classifier={"threshold": 0.07}), progress=False)
    return root


def _expected(root: Path, out: Path) -> tuple[Counter, Counter]:
    """Most probable label of each removed document, from the tag records; and its truth."""
    records = {d.id: d.metadata["tag"] for d in read_documents(root / "tag" / "part-0.jsonl.zst")}
    removed = list(read_documents(next((out / "excluded").rglob("*.jsonl.zst"))))
    return (Counter(most_probable_label(records[d.id]) for d in removed),
            Counter(d.metadata["truth"] for d in removed))


def test_the_recall_tuned_flag_shows_aligned_documents_removed(tagged, tmp_path):
    s = run_filter(tagged / "tag", tmp_path / "f", FilterConfig(drop=["flagged"]), progress=False)
    n = sum(s["dropped"].values())
    top, truth = _expected(tagged, tmp_path / "f")
    assert s["dropped_by_label"] == {"ai_misaligned": n}
    assert s["dropped_by_most_probable_label"] == dict(sorted(top.items()))
    assert sum(top.values()) == n
    # the flag takes documents the tagger itself thinks most likely aligned ...
    assert top["ai_aligned"] > 0 and truth["ai_aligned"] > 0


def test_a_half_probability_flag_removes_only_the_most_probably_misaligned(tagged, tmp_path):
    s = run_filter(tagged / "tag", tmp_path / "f", FilterConfig(drop=["p(ai_misaligned)>=0.5"]),
                   progress=False)
    top, _ = _expected(tagged, tmp_path / "f")
    assert s["dropped_by_most_probable_label"] == {"ai_misaligned": sum(s["dropped"].values())}
    assert dict(top) == s["dropped_by_most_probable_label"]


def test_most_probable_label_of_a_record():
    assert most_probable_label({"label": "ai_misaligned",
                                "probs": {"ai_aligned": 0.6, "ai_misaligned": 0.3}}) == "ai_aligned"
    assert most_probable_label({"label": "non_ai", "stage": "rules"}) == "non_ai"
    assert most_probable_label({"label": None}) == most_probable_label(None) == "unlabelled"
