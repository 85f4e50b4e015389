"""The typed result models: report.json round trips through them byte for byte, each
attribute reads the number the old dict path read, and the keys keep their order (the probe
and tamper tables; the item sets' and template blocks of a text run)."""

from __future__ import annotations

import dataclasses

import orjson
import pytest

from alignpt.experiment.aggregate import METRICS, estimate
from alignpt.experiment.report import build_report, report_from_json, report_to_json
from alignpt.experiment.results import Estimate, Phase, Place, SupportReading, Table
from tests.experiment.test_text_posttrain import tiny_text  # noqa: F401  (a text run)

OPTS = orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS


@pytest.fixture(scope="module")
def written(tiny) -> tuple[bytes, dict]:
    """The tiny run's report.json as written, and parsed."""
    raw = (tiny[1] / "report" / "report.json").read_bytes()
    return raw, orjson.loads(raw)


def test_report_json_round_trips_byte_for_byte(written, tiny):
    raw, rep = written
    assert orjson.dumps(report_to_json(report_from_json(rep)), option=OPTS) == raw
    # and the report built in process, typed, writes the same bytes again
    assert orjson.dumps(report_to_json(build_report(tiny[1])), option=OPTS) == raw


def test_seed_keys_come_back_as_ints(written):
    table = Table.from_json(written[1]["table"])
    story = table["unfiltered"]["pretrain"].story
    assert list(story.by_seed["q_U"]) == [0, 1]
    assert list(story.items.by_seed["q_U"]) == [0, 1]
    assert list(table["unfiltered"]["pretrain"].kl.by_seed) == [0, 1]


def test_attributes_read_what_the_dict_paths_read(written):
    j = written[1]["table"]
    table = Table.from_json(j)
    assert list(table) == list(j) and all(list(table[a]) == list(j[a]) for a in j)
    checked = 0
    for arm, phases in j.items():
        for name, e in phases.items():
            entry = table[arm][name]
            assert entry.label == e["label"]
            for place in ("story", "assistant"):
                p, d = entry.place(place), e[place]
                assert p.header == d["header"] and p.bayes == d["bayes"]
                assert p.bayes_any_header == d["bayes_any_header"]
                for m in METRICS:
                    est = p.model[m]
                    assert (est.mean, est.ci_low, est.ci_high, est.n, est.values) == tuple(
                        d["model"][m][k] for k in ("mean", "ci_low", "ci_high", "n", "values"))
                    assert p.by_seed[m] == {int(s): v for s, v in d["by_seed"][m].items()}
                    checked += 1
                assert p.curves.bayes == d["curves"]["bayes"]
                assert [x.mean for x in p.curves.model["U:q_U"]] == [
                    x["mean"] for x in d["curves"]["model"]["U:q_U"]]
                assert p.context.rel_change_max == d["context"]["rel_change_max"]
                assert p.context.q_U_alone.to_json() == d["context"]["q_U_alone"]
                if "items" in d:
                    assert p.items.header == d["items"]["header"]
                    assert p.items.bayes_q_U == d["items"]["bayes_q_U"]
                    assert p.items.log10_support_arm == d["items"]["log10_support_arm"]
            s, sd = entry.story_support, e["story_support"]
            assert s.model["q_U"].mean == sd["model"]["q_U"]["mean"] and s.items == sd["items"]
            if "kl" in e:
                assert (entry.kl.mean, entry.kl.n) == (e["kl"]["mean"], e["kl"]["n"])
            else:
                assert entry.kl is None
    assert checked == 3 * 4 * 2 * len(METRICS)      # arms x phases x places x metrics


#: The key order report.json has always had (a reader diffing two reports relies on it).
GOLDEN = {
    "pretrain": ["story", "assistant", "label", "story_support", "kl"],
    "instruct": ["story", "assistant", "label", "story_support"],
    "place": ["header", "model", "by_seed", "bayes", "bayes_any_header", "curves", "context",
              "items"],
    "place_later": ["header", "model", "by_seed", "bayes", "bayes_any_header", "curves",
                    "context"],
    "estimate": ["mean", "ci_low", "ci_high", "n", "values"],
    "kl": ["mean", "ci_low", "ci_high", "n", "values", "by_seed"],
    "metrics": list(METRICS),
    "curves": ["bayes", "bayes_any_header", "model", "by_seed"],
    "context": ["q_U_alone", "q_U_after", "rel_change", "rel_change_max", "by_seed", "docs"],
    "items": ["header", "era", "k", "on_support", "log10_support", "log10_support_arm",
              "min_support", "bayes_q_U", "bayes_q_T", "by_seed"],
    "support": ["header", "items", "model", "by_seed", "bayes"],
}


def test_to_json_keeps_the_key_order(written):
    out = Table.from_json(written[1]["table"]).to_json()
    pre, later = out["unfiltered"]["pretrain"], out["unfiltered"]["instruct"]
    assert list(pre) == GOLDEN["pretrain"] and list(later) == GOLDEN["instruct"]
    assert list(pre["story"]) == GOLDEN["place"] and list(later["story"]) == GOLDEN["place_later"]
    assert list(pre["story"]["model"]) == GOLDEN["metrics"]
    assert list(pre["story"]["model"]["q_U"]) == GOLDEN["estimate"]
    assert list(pre["kl"]) == GOLDEN["kl"]
    assert list(pre["story"]["curves"]) == GOLDEN["curves"]
    assert list(pre["story"]["context"]) == GOLDEN["context"]
    assert list(pre["story"]["items"]) == GOLDEN["items"]
    assert list(pre["story_support"]) == GOLDEN["support"]


def test_estimate_keeps_its_floats_and_its_nones():
    e = estimate([0.1, 0.2, 0.30000000000000004])
    assert Estimate.from_json(orjson.loads(orjson.dumps(e.to_json()))) == e
    assert estimate([]).to_json() == {"mean": None, "ci_low": None, "ci_high": None, "n": 0,
                                      "values": []}
    assert estimate([0.5]).with_seeds({3: 0.5}).to_json() == {
        "mean": 0.5, "ci_low": None, "ci_high": None, "n": 1, "values": [0.5], "by_seed": {3: 0.5}}


def test_models_are_frozen_and_places_are_read_by_name(written):
    entry = Table.from_json(written[1]["table"])["unfiltered"]["pretrain"]
    assert isinstance(entry, Phase) and isinstance(entry.place("story"), Place)
    assert isinstance(entry.place("story_support"), SupportReading)
    with pytest.raises(dataclasses.FrozenInstanceError):
        entry.label = "other"       # type: ignore[misc]
    with pytest.raises(KeyError):
        dataclasses.replace(entry, story_support=None).place("story_support")
    with pytest.raises(KeyError):
        entry.place("nowhere")


def test_the_tamper_table_is_written_and_read_like_the_probe_table(written):
    rep = written[1]
    tamper = {"corpus": "t", "lr": 1e-3, "tokens": {"unfiltered": [0, 10]},
              "table": {"unfiltered": rep["table"]["unfiltered"]}}
    back = report_from_json({**rep, "tamper": tamper})
    assert isinstance(back["tamper"]["table"], Table)
    # seeds are ints again in the typed table: compare what gets written
    assert orjson.dumps(report_to_json(back)["tamper"], option=OPTS) == orjson.dumps(
        tamper, option=OPTS)


# The item sets' and template blocks (experiment.item_results), as eval_summary and
# template_summary build them from run results.

def _evals_run(arm, seed, phase_rates, not_scored=None):
    phases = [{"name": ph, "evals": {"textworld": {"item_rates": rates},
                                     **({"starter": {"not_scored": not_scored}}
                                        if not_scored else {})}}
              for ph, rates in phase_rates.items()]
    return {"arm": arm, "seed": seed, "phases": phases}


EVAL_RUNS = [
    _evals_run("unfiltered", 0, {"pretrain": {"neutral": {"a": 0.0, "b": 1.0},
                                              "eval_aware": {"a": 1.0, "b": 1.0}},
                                 "dpo": {"neutral": {"a": 0.0, "b": 0.0}}},
               not_scored="no item fits the model's context (4 tokens)"),
    _evals_run("aligned", 0, {"pretrain": {"neutral": {"a": 0.0, "b": 0.0},
                                           "eval_aware": {"a": 0.5, "b": 1.0}}}),
    _evals_run("unfiltered", 1, {"pretrain": {"neutral": {"a": 1.0, "b": 0.5},
                                              "eval_aware": {"a": 0.0, "b": 1.0}},
                                 "dpo": {"neutral": {"a": 0.5, "b": 0.0}}}),
    _evals_run("aligned", 1, {"pretrain": {"neutral": {"a": 0.5, "b": 0.5},
                                           "eval_aware": {"a": 0.25, "b": 1.0}}}),
]


def test_item_set_rates_round_trip_and_read_what_the_dict_paths_read():
    from alignpt.experiment.item_results import ItemEvals, ItemRate
    from alignpt.experiment.text_evals import eval_summary

    evals = eval_summary(EVAL_RUNS, "unfiltered")
    raw = orjson.dumps(evals.to_json(), option=OPTS)
    j = orjson.loads(raw)
    # phases in the order runs showed them, the notes after them
    assert list(j) == ["pretrain", "dpo", "not_scored"]
    assert j["not_scored"] == {"starter": "no item fits the model's context (4 tokens)"}
    assert list(j["pretrain"]["textworld"]) == ["neutral", "eval_aware"]
    assert list(j["pretrain"]["textworld"]["neutral"]["aligned"]) == [
        "rate", "by_seed", "minus_baseline"]
    assert list(j["pretrain"]["textworld"]["neutral"]["unfiltered"]) == ["rate", "by_seed"]
    back = ItemEvals.from_json(j)
    assert back == evals and orjson.dumps(back.to_json(), option=OPTS) == raw
    cells = 0
    for phase, sets in j.items():
        if phase == "not_scored":
            assert back.not_scored == sets
            continue
        for name, conds in sets.items():
            for cond, arms in conds.items():
                for arm, d in arms.items():
                    e = back.rate(phase, name, cond, arm)
                    assert isinstance(e, ItemRate) and e is back.by_phase[phase][name][cond][arm]
                    assert e.rate.to_json() == d["rate"]
                    assert e.by_seed == {int(s): v for s, v in d["by_seed"].items()}
                    if "minus_baseline" in d:
                        m = d["minus_baseline"]
                        assert (e.minus_baseline.mean, e.minus_baseline.n) == (m["mean"], m["n"])
                        assert e.minus_baseline.by_seed == {int(s): v
                                                            for s, v in m["by_seed"].items()}
                    else:
                        assert e.minus_baseline is None
                    cells += 1
    assert cells == 5
    d = back.rate("pretrain", "textworld", "neutral", "aligned").minus_baseline
    # seed 0: (0 + 0) / 2 - (0 + 1) / 2; seed 1: (0.5 + 0.5) / 2 - (1 + 0.5) / 2
    assert d.by_seed == {0: -0.5, 1: -0.25} and d.mean == pytest.approx(-0.375)
    assert back.rate("dpo", "textworld", "neutral", "aligned") is None    # never scored there
    assert ItemEvals().to_json() == {} == ItemEvals.from_json({}).to_json()


def _template_run(arm, seed, own, other, split="train"):
    items = {"header": ["STORY", "STORY", "NEWS"], "era": [0, 1, 0], "k": [0, 0, 0],
             "on_support": [True, True, False], "model": {"q_U": own},
             "bayes": {"q_U": [0.25, 0.5, None]}}
    return {"arm": arm, "seed": seed, "phases": [
        {"name": "pretrain", "story": {"items": items},
         "other_templates": {"split": split, "q_U": other}}]}


def test_template_readings_round_trip_and_read_what_the_dict_paths_read():
    from alignpt.experiment.item_results import TemplateReading, Templates
    from alignpt.experiment.text_evals import template_rows, template_summary

    runs = [_template_run("unfiltered", 0, [0.2, 0.4, 0.9], [0.3, 0.5, 0.9, 0.1]),
            _template_run("unfiltered", 1, [0.1, 0.3, 0.9], [0.2, None, 0.9, 0.1]),
            _template_run("aligned", 0, [0.05, 0.15, 0.9], [0.1, 0.2, 0.9, 0.1])]
    t = template_summary(runs)
    raw = orjson.dumps(t.to_json(), option=OPTS)
    j = orjson.loads(raw)
    assert list(j) == ["unfiltered", "aligned"]
    assert list(j["unfiltered"]) == ["split", "own", "other", "bayes"]
    back = Templates.from_json(j)
    assert back == t and orjson.dumps(back.to_json(), option=OPTS) == raw
    for arm, d in j.items():
        r = back[arm]
        assert isinstance(r, TemplateReading) and r.split == d["split"]
        for k in ("own", "other", "bayes"):
            assert getattr(r, k).to_json() == d[k]
    # on-support k = 0 items only: (STORY, 0) and (STORY, 1); the other split's grid is
    # header x era, (NEWS, *) off support, seed 1's None left out
    assert back["unfiltered"].own.values == [pytest.approx(0.3), pytest.approx(0.2)]
    assert back["unfiltered"].other.values == [pytest.approx(0.4), pytest.approx(0.2)]
    assert back["aligned"].bayes.values == [0.375]
    assert template_rows({"templates": back})[1][0] == "aligned"


def test_a_text_report_round_trips_byte_for_byte(tiny_text):  # noqa: F811
    """A text run's report.json: its item-set and template blocks hold rates, seeds as keys
    and paired differences; read back typed, they write the same bytes."""
    out = tiny_text[1]
    raw = (out / "report" / "report.json").read_bytes()
    rep = orjson.loads(raw)
    typed = report_from_json(rep)
    assert orjson.dumps(report_to_json(typed), option=OPTS) == raw
    assert orjson.dumps(report_to_json(build_report(out)), option=OPTS) == raw
    d = rep["evals"]["pretrain"]["textworld"]["neutral"]["unfiltered_dpo"]
    e = typed["evals"].by_phase["pretrain"]["textworld"]["neutral"]["unfiltered_dpo"]
    assert e.rate.mean == d["rate"]["mean"] and e.by_seed == {0: d["by_seed"]["0"]}
    assert e.minus_baseline.mean == d["minus_baseline"]["mean"]
    # after dpo the baseline (no dpo phase) has no rate to pair with
    assert "minus_baseline" not in rep["evals"]["dpo"]["textworld"]["neutral"]["unfiltered_dpo"]
    after_dpo = typed["evals"].rate("dpo", "textworld", "neutral", "unfiltered_dpo")
    assert after_dpo.minus_baseline is None
    t = typed["templates"]
    assert list(t) == list(rep["templates"]) == ["unfiltered", "unfiltered_dpo"]
    assert t["unfiltered"].own.mean == rep["templates"]["unfiltered"]["own"]["mean"]
