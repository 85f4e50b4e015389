"""The filtered conditions say what they removed, and the shipped recipe removes what is
tagged misaligned, not every AI document (issue 16, item 6; its flag is the tagger's own
since issue 17 bounded the threshold by the aligned documents it may take).

The trial: ``flag: flagged`` (the tagger's recall-tuned flag) dropped 150 of 150 aligned
and 100 of 150 neutral AI documents, and nothing said so. Here a corpus with cascade-shaped
tag records of known conduct: 20 non-AI documents, and 10 each of aligned, neutral and
misaligned AI documents that the low threshold flags alike.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import yaml

from alignpt.core.documents import Document
from alignpt.core.shards import ShardWriter
from alignpt.mix import build_conditions
from alignpt.mix.conditions import ConditionsConfig
from alignpt.mix.select import SelectCondition

from .conftest import make_text

RECIPE = Path(__file__).resolve().parents[2] / "recipes" / "mix" / "published-conditions.yaml"
LABELS = ["non_ai", "ai_neutral", "ai_aligned", "ai_misaligned"]
#: calibrated probabilities of each kind of AI document (order of LABELS)
PROBS = {"ai_aligned": [0.05, 0.05, 0.6, 0.3], "ai_neutral": [0.05, 0.7, 0.05, 0.2],
         "ai_misaligned": [0.02, 0.08, 0.1, 0.8]}


def _record(kind: str, threshold: float = 0.07) -> dict:
    rules = {"flagged": kind != "non_ai", "routed": kind != "non_ai", "rules": {},
             "categories": {"general_ai": int(kind != "non_ai")}}
    if kind == "non_ai":
        return {"flagged": False, "label": "non_ai", "stage": "rules", "rules": rules}
    probs = dict(zip(LABELS, PROBS[kind]))
    # a recall-tuned threshold (0.07) flags all three kinds: the label is then ai_misaligned;
    # above it, the most probable label of the rest
    flagged = probs["ai_misaligned"] >= threshold
    label = "ai_misaligned" if flagged else max((p, lab) for lab, p in probs.items()
                                                if lab != "ai_misaligned")[1]
    return {"flagged": flagged, "label": label, "stage": "classifier", "rules": rules,
            "probs": probs}


@pytest.fixture(scope="module")
def tagged_corpus(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tagged")
    rng = random.Random(5)
    kinds = ["non_ai"] * 20 + ["ai_aligned"] * 10 + ["ai_neutral"] * 10 + ["ai_misaligned"] * 10
    docs = [Document(f"{k}-{i}", make_text(rng, rng.randint(20, 80)), {}) for i, k in
            enumerate(kinds)]
    with ShardWriter(root / "base", "part-0", ".jsonl.zst") as w:
        w.write_all(docs)
    with ShardWriter(root / "attrs", "part-0", ".jsonl") as w:
        for d, k in zip(docs, kinds):
            w.write(Document(d.id, "", {"tag": _record(k)}))
    # the records the shipped tagger writes: its threshold is chosen so that few aligned
    # documents reach it (issue 17)
    from alignpt.tag.classifier import TagClassifier

    shipped = TagClassifier.default().threshold
    with ShardWriter(root / "attrs_shipped", "part-0", ".jsonl") as w:
        for d, k in zip(docs, kinds):
            w.write(Document(d.id, "", {"tag": _record(k, shipped)}))
    return {"base": root / "base", "attrs": root / "attrs", "attrs_shipped": root / "attrs_shipped"}


def _build(tagged_corpus, tokenizer_dir, out: Path, flag) -> dict:
    cfg = ConditionsConfig.model_validate({
        "tokenizer": {"path": str(tokenizer_dir)},
        "base": {"paths": [str(tagged_corpus["base"])], "attributes": str(tagged_corpus["attrs"]),
                 "max_repetition": 3},
        "flag": flag, "conditions": ["unfiltered", "filtered"]})
    results = build_conditions(cfg, out, progress=False)
    summary = json.loads((out / "conditions.json").read_text())["filter"]
    base = results["unfiltered"].plan.sources["base"]
    kept = results["filtered"].plan.sources["base_filtered"]
    # the tokens the summary says went are exactly what the filtered base lacks
    assert summary["tokens_in"] == base.tokens
    assert summary["tokens_in"] - summary["tokens_removed"] == kept.tokens
    assert summary["documents_in"] - summary["documents_removed"] == kept.documents
    return summary


def test_the_recall_tuned_flag_says_it_removed_aligned_and_neutral_documents(
        tagged_corpus, tokenizer_dir, tmp_path):
    s = _build(tagged_corpus, tokenizer_dir, tmp_path, "flagged")
    assert (s["flag"], s["documents_in"], s["documents_removed"]) == ("flagged", 50, 30)
    assert s["dropped_by_label"] == {"ai_misaligned": 30}       # the tagger's decision
    assert s["dropped_by_most_probable_label"] == {"ai_aligned": 10, "ai_misaligned": 10,
                                                   "ai_neutral": 10}
    assert s["dropped_by_category"] == {"general_ai": 30}


def test_the_shipped_recipe_removes_only_what_is_tagged_misaligned(
        tagged_corpus, tokenizer_dir, tmp_path):
    flag = yaml.safe_load(RECIPE.read_text())["flag"]
    assert flag == "flagged"
    shipped = {**tagged_corpus, "attrs": tagged_corpus["attrs_shipped"]}
    s = _build(shipped, tokenizer_dir, tmp_path, flag)
    assert s["documents_removed"] == 10
    assert s["dropped_by_label"] == s["dropped_by_most_probable_label"] == {"ai_misaligned": 10}


def test_a_field_flag_is_summarised_too(tagged_corpus, tokenizer_dir, tmp_path):
    flag = {"field": "tag.probs.ai_aligned", "gte": 0.5}
    s = _build(tagged_corpus, tokenizer_dir, tmp_path, flag)
    assert s["flag"] == flag and s["dropped_by_most_probable_label"] == {"ai_aligned": 10}


def test_the_shipped_flag_keeps_an_aligned_record():
    assert SelectCondition.model_validate("p(ai_misaligned)>=0.5")(
        {"tag": _record("ai_aligned")}) is False


def test_the_command_line_says_what_the_filter_removed(cli, tagged_corpus, tokenizer_dir,
                                                       tmp_path):
    cfg = {"tokenizer": {"path": str(tokenizer_dir)},
           "base": {"paths": [str(tagged_corpus["base"])],
                    "attributes": str(tagged_corpus["attrs"]), "max_repetition": 3},
           "flag": "flagged", "conditions": ["filtered"]}
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(cfg))
    code, out, err = cli("mix", "conditions", str(path), "--out", str(tmp_path / "c"), "-q")
    assert code == 0, err
    line = " ".join(out.split())
    assert "remove 30 of 50 base documents" in line
    assert 'by most probable label {"ai_aligned": 10, "ai_misaligned": 10, "ai_neutral": 10}' \
        in line
