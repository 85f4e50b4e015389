"""P(D | U) at the probe read alone and after a preceding document that shows a defection:
equal under per-document attention, moved under packed attention (issue 15, item 3)."""

from __future__ import annotations


import numpy as np
import pytest

from alignpt.experiment.aggregate import aggregate
from alignpt.experiment.measure import (context_effect, defecting_documents, measure,
                                        model_predictor)
from alignpt.world import ExactBayes, action_probs, probe_context
from alignpt.world.vocab import BOS, D, EOS
from tests.experiment.tables import table_of
from tests.train.train_world import write_world

torch = pytest.importorskip("torch")

PROBES = {"ks": [0, 4, 8], "era": 8, "fit_from_k": 4, "header": "STORY",
          "assistant_header": "ASSIST"}


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, object]:
    """The same tiny plan trained with per-document and with packed attention."""
    from alignpt.train import TrainPlan, load_model, train

    tmp = tmp_path_factory.mktemp("ctx")
    base = write_world(tmp / "base", 600, seed=0, header="STORY")
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    out = {}
    try:
        for attention in ("document", "packed"):
            plan = {"name": f"ctx-{attention}", "seed": 0, "seq_len": 64, "batch_size": 8,
                    "model": {"arch": "gpt2", "n_layer": 2, "n_head": 2, "d_model": 32,
                              "attention": attention},
                    "sources": {"base": {"paths": [str(base)]}},
                    "phases": [{"name": "pretrain", "steps": 40, "mix": ["base"],
                                "schedule": {"kind": "cosine", "peak_lr": 3e-3, "warmup": 0.1}}],
                    "runtime": {"threads": 1}, "log": {"progress": False, "plot": False}}
            res = train(TrainPlan.model_validate(plan), tmp / attention, progress=False)
            out[attention] = load_model(res.checkpoint)[0]
    finally:
        torch.set_num_threads(before)
    return out


def test_the_preceding_documents_are_fixed_whole_base_documents_with_a_defection():
    docs = defecting_documents(60)
    assert len(docs) == 4 and docs == defecting_documents(60)
    for d in docs:
        assert d[0] == BOS and d[-1] == EOS and D in d and len(d) <= 60
        assert BOS not in d[1:] and EOS not in d[:-1]
    assert defecting_documents(60, seed=1) != docs


def test_per_document_attention_reads_the_probe_the_same_after_a_defection(models):
    pred = model_predictor(models["document"])
    assert pred.max_len == 64
    docs = defecting_documents(pred.max_len - 4)
    ce = context_effect(pred, 8, "STORY", docs)
    alone = action_probs(pred, [probe_context(0, "T", "U", 8, "STORY")])[0]
    assert ce["q_U_alone"] == pytest.approx(alone, rel=1e-5)   # float32, other batch
    assert 0 < alone < 1 and len(ce["q_U_after"]) == 4
    assert ce["rel_change"] < 1e-4 and ce["rel_change_max"] < 1e-4


def test_packed_attention_lets_the_preceding_defection_in(models):
    pred = model_predictor(models["packed"])
    ce = context_effect(pred, 8, "STORY", defecting_documents(pred.max_len - 4))
    assert ce["rel_change_max"] > 0.05
    after = np.asarray(ce["q_U_after"])
    assert ce["rel_change"] == pytest.approx(abs(after.mean() - ce["q_U_alone"]) / ce["q_U_alone"])


def test_measure_and_aggregate_carry_the_in_row_reading(models):
    bayes = ExactBayes("base")
    m = measure(model_predictor(models["document"]), bayes, PROBES)
    for place in ("story", "assistant"):
        ctx = m[place]["context"]
        assert ctx["q_U_alone"] == pytest.approx(m[place]["summary"]["model"]["q_U"], rel=1e-5)
        assert ctx["rel_change_max"] < 1e-4
    assert "context" not in measure(bayes, bayes, PROBES)["story"]   # Bayes reads one document
    packed = measure(model_predictor(models["packed"]), bayes, PROBES)
    runs = [{"arm": "a", "seed": s, "phases": [{"name": "pretrain", "label": "pretrain", **mm}]}
            for s, mm in ((0, m), (1, packed))]
    ctx = aggregate(runs, ["a"])["a"]["pretrain"].story.context
    assert ctx.by_seed == {0: m["story"]["context"]["rel_change"],
                           1: packed["story"]["context"]["rel_change"]}
    assert ctx.rel_change_max == packed["story"]["context"]["rel_change_max"] > 0.05
    after = ctx.q_U_after
    assert ctx.rel_change.n == 2 and 0 <= after.ci_low <= after.ci_high <= 1
    # A run measured before this reading existed leaves it out rather than failing.
    old = {k: v for k, v in m["story"].items() if k != "context"}
    runs[1]["phases"][0] = {"name": "pretrain", "label": "pretrain", **{**m, "story": old}}
    assert aggregate(runs, ["a"])["a"]["pretrain"].story.context is None


def test_report_notes_quote_the_worst_in_row_change():
    from alignpt.experiment.report import _notes

    def entry(worst):
        return {"pretrain": {"story": {"context": {"rel_change_max": worst}}}}

    recipe = {"arms": {"unfiltered": {}, "aligned_untested": {}},
              "claims": {"baseline": "unfiltered"}}
    notes = _notes({"recipe": recipe, "table": table_of({"unfiltered": entry(2.5e-7),
                                                         "aligned_untested": entry(1.85e-6)})})
    line = [n for n in notes if n.startswith("In-row reading")]
    assert len(line) == 1 and "differs by at most 1.9e-06 (relative" in line[0]
    older = {"recipe": recipe, "table": table_of({"unfiltered": {"pretrain": {"story": {}}}})}
    assert not [n for n in _notes(older) if n.startswith("In-row reading")]
