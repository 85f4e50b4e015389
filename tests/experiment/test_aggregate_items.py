"""Aggregation carries the probe items per seed and each seed's own evidence curve into
the table, for the claims that select items and for the per-seed rising half-life."""

from __future__ import annotations

import math

import pytest

from alignpt.experiment.aggregate import aggregate
from alignpt.experiment.plots import local_half_lives
from tests.experiment.tables import table_of

CURVES = ("T:q_U", "T:q_T", "U:q_U", "U:q_T")


def _block(seed: int, items: bool = True) -> dict:
    curve = [0.1 + 0.01 * seed, 0.05, 0.02]
    block = {"header": "STORY",
             "model": {c: curve for c in CURVES}, "bayes": {c: [0.08, 0.04, 0.02] for c in CURVES},
             "bayes_any_header": {c: [0.08, 0.04, 0.02] for c in CURVES},
             "summary": {who: {"q_U": 0.1 + 0.01 * seed, "q_T": 0.01, "gap": 0.09,
                               "q_U_after_tested": 0.05, "logit_slope": -0.1}
                         for who in ("model", "bayes", "bayes_any_header")}}
    if items:
        block["items"] = {"header": ["STORY", "none"], "era": [8, 0], "k": [0, 64],
                          "log10_support": [-3.1, -2.6], "log10_support_arm": [-3.0, -2.6],
                          "on_support": [False, True], "min_support": 1e-3, "too_long": 0,
                          "n_on_support": 1,
                          "model": {"q_U": [0.2 + seed, 0.3], "q_T": [0.01, 0.02]},
                          "bayes": {"q_U": [0.08, 0.003], "q_T": [0.001, 0.001]}}
    return block


def _result(seed: int, items: bool = True, k_last: int = 64) -> dict:
    phase = {"name": "pretrain", "label": "pretrain", "story": _block(seed, items),
             "assistant": _block(seed, items)}
    if items:
        phase["story"]["items"]["k"][-1] = k_last
    return {"arm": "unfiltered", "seed": seed, "phases": [phase]}


def test_items_and_per_seed_curves_reach_the_table():
    table = aggregate([_result(0), _result(1)], ["unfiltered"])
    story = table["unfiltered"]["pretrain"].story
    items = story.items
    assert items.header == ["STORY", "none"] and items.k == [0, 64]
    assert items.on_support == [False, True] and items.bayes_q_U == [0.08, 0.003]
    assert items.by_seed["q_U"] == {0: [0.2, 0.3], 1: [1.2, 0.3]}
    assert items.min_support == 1e-3
    assert story.curves.by_seed["U:q_U"] == {0: [0.1, 0.05, 0.02],
                                             1: pytest.approx([0.11, 0.05, 0.02])}
    # Runs measured before items existed: no items key, everything else as before.
    old = aggregate([_result(0, items=False), _result(1, items=False)], ["unfiltered"])
    assert "items" not in old["unfiltered"]["pretrain"].story.to_json()
    # Seeds of one arm read on different grids cannot be averaged item by item.
    with pytest.raises(ValueError, match="differ between seeds"):
        aggregate([_result(0), _result(1, k_last=96)], ["unfiltered"])


def test_local_half_lives_by_hand():
    def sig(x):
        return 1 / (1 + math.exp(-x))

    ks = [0, 2, 6]
    # seed rates 0.2 and 0.3 on [0, 2] (mean 0.25), 0.1 and 0.1 on [2, 6]
    seeds = {0: [sig(-1), sig(-1.4), sig(-1.8)], 1: [sig(-1), sig(-1.6), sig(-2.0)]}
    bayes = [sig(-1), sig(-1.5), sig(-1.0)]            # the odds rise on [2, 6]: no half-life
    hl = local_half_lives(ks, seeds, bayes)
    assert hl["model"][0]["mean"] == pytest.approx(math.log(2) / 0.25)
    assert hl["model"][1]["mean"] == pytest.approx(math.log(2) / 0.1)
    # equal rates: no spread, the interval is the point (up to float rounding)
    assert hl["model"][1]["low"] == pytest.approx(math.log(2) / 0.1, rel=1e-9)
    assert hl["model"][1]["high"] == pytest.approx(math.log(2) / 0.1, rel=1e-9)
    # rates 0.2, 0.3: sd 0.0707, se 0.05, t(0.975, 1) 12.706: the interval reaches below 0
    assert hl["model"][0]["high"] == math.inf and hl["model"][0]["low"] > 0
    assert hl["bayes"] == [pytest.approx(math.log(2) / 0.25), None]
    # plotted at the geometric middle of each step (k = 0 counted as 1 on the log axis)
    assert hl["k"] == pytest.approx([math.sqrt(2), math.sqrt(12)])


def test_the_support_reading_averages_the_on_support_start_items():
    from alignpt.experiment.aggregate import SUPPORT_PLACE, _support_reading
    from alignpt.experiment.claim_data import story_place
    from alignpt.experiment.recipe import ClaimArms

    def block(q_u):
        return {"items": {"header": ["none", "none", "STORY", "LOG"], "era": [0, 0, 8, 1],
                          "k": [0, 4, 0, 0], "on_support": [True, True, False, True],
                          "model": {"q_U": q_u, "q_T": [0.01, 0.01, 0.02, 0.03]},
                          "bayes": {"q_U": [0.06, 0.03, 0.08, 0.10],
                                    "q_T": [0.01, 0.01, 0.01, 0.02]}}}
    # k = 0 and on support: items 0 and 3 only
    got = _support_reading([block([0.05, 0.9, 0.9, 0.07]), block([0.03, 0.9, 0.9, 0.05])], [0, 1])
    assert got.by_seed["q_U"] == pytest.approx({0: 0.06, 1: 0.04})
    assert got.bayes == pytest.approx({"q_U": 0.08, "q_T": 0.015})
    assert got.items == [["none", 0], ["LOG", 1]] and got.header.startswith("2 on-support")
    assert got.model["q_U"].n == 2 and got.model["q_U"].mean == pytest.approx(0.05)
    assert _support_reading([{}], [0]) is None
    # the claims read it when the recipe says so and every entry has it
    table = {"a": {"pretrain": {"story": {}, SUPPORT_PLACE: got.to_json()}}}
    assert story_place(table_of(table), ClaimArms()) == SUPPORT_PLACE
    assert story_place(table_of(table), ClaimArms(reading="probe")) == "story"
    table["b"] = {"pretrain": {"story": {}}}             # measured before probe items
    assert story_place(table_of(table), ClaimArms()) == "story"
