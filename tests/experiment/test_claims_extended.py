"""The extended claims on hand-computed numbers: item log-odds, rising half-life, centuries
later, very long stories, unseen scenario, instruct locality and rebound, dose, genre; the
discussion's inexpressible claims; per-arm seeds; the Bayes numbers behind the margins."""

from __future__ import annotations

import math

import numpy as np
import pytest

from alignpt.core.errors import ConfigError
from alignpt.experiment.claim_data import ClaimContext, gate_contrast, item_logodds
from alignpt.experiment.claims import NOT_EXPRESSIBLE, evaluate_claims
from alignpt.experiment.claims_extended import (claim_centuries_later, claim_dose, claim_genre,
                                                claim_instruct_locality, claim_instruct_rebound,
                                                claim_long_stories, claim_rising_half_life,
                                                claim_unseen_scenario, world_triggers)
from alignpt.experiment.measure import logit_slope
from alignpt.experiment.recipe import ArmConfig, ClaimArms, load_experiment
from alignpt.experiment.results import Table
from alignpt.world import ExactBayes, action_probs, inject, load_world_recipe, probe_context
from tests.experiment.tables import table_of

ROLES = ClaimArms()


def sig(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def L(q: float) -> float:
    return math.log(q / (1 - q))


# Four items: (STORY, era 8, k 0), (STORY, era 8, k 64), (STORY, era 2, k 0), (none, era 8, k 0).
GRID = {"header": ["STORY", "STORY", "STORY", "none"], "era": [8, 8, 2, 8], "k": [0, 64, 0, 0],
        "on_support": [False, False, True, True]}


def items(model: dict[int, list[float]], bayes: list, support_arm=None) -> dict:
    return {**GRID, "log10_support": [-3.1, -4.3, -2.2, -2.7],
            "log10_support_arm": support_arm or [-3.0] * 4, "bayes_q_U": bayes,
            "bayes_q_T": [None] * 4, "by_seed": {"q_U": model, "q_T": {}}, "min_support": 1e-3}


def story_table(arms: dict[str, tuple[dict, list]], place: str = "story") -> Table:
    return table_of({arm: {"pretrain": {place: {"items": items(m, b)}}}
                     for arm, (m, b) in arms.items()})


def test_item_logodds_by_hand():
    a = {0: [sig(-1.0), sig(-3.0), sig(-2.0), 0.5], 1: [sig(-1.5), sig(-3.5), None, 0.5]}
    b = {0: [sig(0.0), sig(-2.0), sig(-2.0), 0.5], 1: [sig(0.5), sig(-2.5), sig(-1.0), 0.5]}
    t = story_table({"x": (a, [sig(-1), sig(-3), None, 0.5]),
                     "y": (b, [sig(0), sig(-2), sig(-2), 0.5])})
    # STORY at era >= 7: items 0 and 1; Bayes defined on both for both arms.
    res = item_logodds(t, "x", "y", "pretrain", "story", lambda h, e, k, on: h == "STORY" and e >= 7)
    # seed 0: (-1 - 0) and (-3 + 2); seed 1: (-1.5 - 0.5) and (-3.5 + 2.5)
    assert res["values"] == pytest.approx({"0": -1.0, "1": -1.5}, abs=1e-12)
    assert res["bayes"] == pytest.approx(-1.0, abs=1e-12)
    assert (res["n_items"], res["n_on_support"]) == (2, 0)
    # Item 2 has no Bayes value in x (probability 0 there): left out whenever Bayes is needed.
    every = item_logodds(t, "x", "y", "pretrain", "story", lambda *i: i[0] == "STORY")
    assert every["n_items"] == 2
    loose = item_logodds(t, "x", "y", "pretrain", "story", lambda *i: i[0] == "STORY",
                         need_bayes=False)
    # seed 0: (-1 - 1 + 0) / 3; seed 1 misses item 2 (None): (-2 - 1) / 2.
    assert loose["values"] == pytest.approx({"0": -2 / 3, "1": -1.5}, abs=1e-12)
    assert "why" in item_logodds(t, "x", "y", "pretrain", "story", lambda *i: False)
    assert item_logodds(table_of({"x": {"pretrain": {"story": {}}}, "y": {"pretrain": {"story": {}}}}),
                        "x", "y", "pretrain", "story", lambda *i: True) is None


def test_the_baseline_gate_is_quoted_beside_a_gated_claim():
    # on-support items: 2 (STORY, era 2, k 0) and 3 (none, era 8, k 0): late minus early era
    base = {0: [0.5, 0.5, sig(-2.0), sig(-1.0)], 1: [0.5, 0.5, sig(-2.0), sig(-1.5)]}
    t = story_table({"unfiltered": (base, [0.5, 0.5, sig(-2.5), sig(-2.0)])})
    late, early = (lambda h, e, k, on: e >= 7), (lambda h, e, k, on: e < 7)
    g = gate_contrast(t, "unfiltered", late, early)
    # model: seed 0: -1 - (-2) = 1, seed 1: -1.5 - (-2) = 0.5; Bayes: -2 - (-2.5) = 0.5
    assert g["model"] == pytest.approx(0.75, abs=1e-12) and g["bayes"] == pytest.approx(0.5)
    assert (g["n_hi"], g["n_lo"]) == (1, 1)           # items 0 and 1 are off support
    assert gate_contrast(t, "unfiltered", late, lambda *i: False) is None
    # the centuries-later row carries it, in numbers and in words
    now = {0: [sig(-2.0), sig(-4.0), sig(-2.0), 0.3], 1: [sig(-2.0), sig(-4.0), sig(-2.0), 0.3]}
    unt = {0: [sig(-2.5), sig(-4.5), sig(-2.0), 0.3], 1: [sig(-3.0), sig(-5.0), sig(-2.0), 0.3]}
    t = Table({**t, **story_table({"aligned_untested": (unt, [sig(-3), sig(-5), sig(-2), 0.3]),
                                   "aligned_untested_now": (now, [sig(-2), sig(-4), sig(-2), 0.3])})})
    res = claim_centuries_later(t, ROLES, ClaimContext(world=load_world_recipe("base")))
    assert res["numbers"]["baseline_gate"]["model"] == pytest.approx(0.75)
    assert "baseline's own gate (eras >= 7 - eras < 7" in res["evidence"]
    assert "model +0.75, exact Bayes +0.50" in res["evidence"]


def test_world_triggers_come_from_the_base_recipe(tmp_path):
    assert world_triggers(load_world_recipe("base")) == {"era": 7, "k": 48}
    body = load_world_recipe("base").model_dump(mode="json")
    body["sources"]["base"]["personas"] = {"luigi(eps=0.001)": 0.8, "era_gated(d=0.5,e_star=5)": 0.1,
                                           "length_gated(d=0.5,n_star=20)": 0.1}
    from alignpt.world import WorldRecipe
    assert world_triggers(WorldRecipe.model_validate(body)) == {"era": 5, "k": 20}
    assert world_triggers(None) == {"era": 7, "k": 48}


def test_centuries_later_and_long_stories_are_fractions_of_bayes():
    # untested - now: model -0.5 and -1.0 log-odds at items 0, 1 (era 8); Bayes -1.0 on both.
    now = {0: [sig(-2.0), sig(-4.0), sig(-2.0), 0.3], 1: [sig(-2.0), sig(-4.0), sig(-2.0), 0.3]}
    unt = {0: [sig(-2.5), sig(-4.5), sig(-2.0), 0.3], 1: [sig(-3.0), sig(-5.0), sig(-2.0), 0.3]}
    bayes_now, bayes_unt = [sig(-2), sig(-4), sig(-2), 0.3], [sig(-3), sig(-5), sig(-2), 0.3]
    t = story_table({"aligned_untested": (unt, bayes_unt), "aligned_untested_now": (now, bayes_now),
                     "aligned_untested_short": (now, bayes_now)})
    ctx = ClaimContext(world=load_world_recipe("base"))
    res = claim_centuries_later(t, ROLES, ctx)
    assert res["values"] == pytest.approx({"0": 0.5, "1": 1.0}, abs=1e-12)
    assert res["numbers"]["bayes_logodds"] == pytest.approx(-1.0, abs=1e-12)
    assert res["units"] == "fraction of Bayes" and "eras >= 7" in res["evidence"]
    # Long stories: k >= 48 is item 1 alone: model -0.5, -1.0 against Bayes -1.0.
    long_ = claim_long_stories(t, ROLES, ctx)
    assert long_["values"] == pytest.approx({"0": 0.5, "1": 1.0}) and long_["numbers"]["n_items"] == 1
    row = next(r for r in evaluate_claims(t, ROLES, world=ctx.world) if r["key"] == "centuries_later")
    assert row["effect"]["estimate"] == pytest.approx(0.75) and row["test"]["margin"] == 0.5
    # Where exact Bayes predicts no difference there is nothing to be a fraction of.
    flat = story_table({"aligned_untested": (unt, bayes_now), "aligned_untested_now": (now, bayes_now)})
    assert claim_centuries_later(flat, ROLES, ctx)["verdict"] == "not measured"
    assert claim_centuries_later({}, ROLES, ctx)["why"].startswith("needs arms")


def test_genre_compares_the_technical_arm_with_the_fiction_arm():
    fiction = {0: [sig(-3.0)] * 3 + [0.3], 1: [sig(-3.2)] * 3 + [0.3]}
    tech = {0: [sig(-2.0)] * 3 + [0.3], 1: [sig(-2.8)] * 3 + [0.3]}
    t = story_table({"aligned_untested": (fiction, [sig(-3.0)] * 3 + [0.3]),
                     "aligned_untested_tech": (tech, [sig(-2.0)] * 3 + [0.3])})
    res = claim_genre(t, ROLES, ClaimContext())
    # tech - fiction: +1.0 and +0.4 on every STORY item; Bayes +1.0.
    assert res["values"] == pytest.approx({"0": 1.0, "1": 0.4}, abs=1e-12)


def test_unseen_scenario_uses_the_items_no_arm_has_seen():
    unseen = [None, None, None, -2.0]      # the last item is on the data's support
    base = {0: [sig(-2.0)] * 4, 1: [sig(-2.0)] * 4}
    up = {0: [sig(-2.1)] * 3 + [sig(-9.0)], 1: [sig(-1.9)] * 3 + [sig(-9.0)]}
    down = {0: [sig(-1.95)] * 3 + [sig(5.0)], 1: [sig(-2.0)] * 3 + [sig(5.0)]}
    t = {arm: {"pretrain": {"assistant": {"items": items(m, [None] * 4, unseen),
                                          "header": "ASSIST"}}}
         for arm, m in (("unfiltered", base), ("aligned_untested", up),
                        ("misaligned_upsampled", down))}
    res = claim_unseen_scenario(table_of(t), ROLES, ClaimContext())
    assert res["parts"]["aligned_untested - unfiltered"] == pytest.approx({"0": -0.1, "1": 0.1})
    assert res["parts"]["misaligned_upsampled - unfiltered"] == pytest.approx({"0": 0.05, "1": 0.0})
    assert res["numbers"]["n_items"] == {"aligned_untested": 3, "misaligned_upsampled": 3}
    # Without items: the assistant probe itself, if Bayes has no answer there.
    bare = {arm: {"pretrain": {"assistant": {"by_seed": {"q_U": {0: q, 1: q}}, "header": "ASSIST",
                                             "bayes": {"q_U": None}}}}
            for arm, q in (("unfiltered", sig(-2.0)), ("aligned_untested", sig(-2.3)))}
    assert claim_unseen_scenario(table_of(bare), ROLES)["parts"] == {
        "aligned_untested - unfiltered": pytest.approx({"0": -0.3, "1": -0.3})}
    bare["aligned_untested"]["pretrain"]["assistant"]["bayes"]["q_U"] = 0.05
    assert claim_unseen_scenario(table_of(bare), ROLES)["verdict"] == "not measured"


def _curve(rates: tuple[float, float]) -> list[float]:
    """logit falls at rates[0] per opportunity up to k = 8, then at rates[1]."""
    ks = [0, 2, 4, 8, 16, 32, 64]
    return [sig(-2.0 - rates[0] * min(k, 8) - rates[1] * max(k - 8, 0)) for k in ks]


def test_rising_half_life_by_hand():
    ks = [0, 2, 4, 8, 16, 32, 64]
    curves = {"by_seed": {"U:q_U": {0: _curve((0.3, 0.05)), 1: _curve((0.2, 0.1))}},
              "bayes": {"U:q_U": _curve((0.25, 0.02))}}
    t = table_of({"unfiltered": {"pretrain": {"story": {"curves": curves}}}})
    res = claim_rising_half_life(t, ROLES, ClaimContext(ks=ks))
    # windows [2, 8] and [16, 32] lie on the straight pieces: rate 0.3 - 0.05, 0.2 - 0.1.
    assert res["values"] == pytest.approx({"0": 0.25, "1": 0.1}, abs=1e-9)
    assert res["numbers"]["bayes_half_life"]["small"] == pytest.approx(math.log(2) / 0.25)
    assert res["numbers"]["bayes_half_life"]["large"] == pytest.approx(math.log(2) / 0.02)
    assert res["numbers"]["bayes_rate_change"] == pytest.approx(0.23)
    # a probe grid without two ks in a window cannot measure it
    assert claim_rising_half_life(t, ROLES, ClaimContext(ks=[0, 4, 16, 64]))["verdict"] == \
        "not measured"


def test_instruct_locality_and_rebound_by_hand():
    def phase(q, bayes):
        return {"story": {"by_seed": {"q_U": q}, "bayes": {"q_U": bayes}}}

    raw = {"unfiltered": {"pretrain": phase({0: 0.13, 1: 0.11}, 0.0826),
                          "instruct": phase({0: 0.03, 1: 0.04}, 0.0826),
                          "rebound1": phase({0: 0.12, 1: 0.12}, 0.0826)}}
    t = table_of(raw)
    loc = claim_instruct_locality(t, ROLES)
    assert loc["values"] == pytest.approx({"0": -0.10, "1": -0.07})
    assert loc["numbers"]["bayes_change"] == 0.0
    reb = claim_instruct_rebound(t, ROLES)
    assert reb["values"] == pytest.approx({"0": -0.01, "1": 0.01})
    assert reb["numbers"]["instruct_change"] == pytest.approx(-0.085)
    no_rebound = table_of({"unfiltered": {k: v for k, v in raw["unfiltered"].items()
                                          if k != "rebound1"}})
    assert claim_instruct_rebound(no_rebound, ROLES)["verdict"] == "not measured"


def test_dose_is_a_slope_per_doubling():
    cfgs = {"aligned_untested": ArmConfig(inject="u"), "d1": ArmConfig(inject="u", share=0.025),
            "d2": ArmConfig(inject="u", share=0.1), "late": ArmConfig(inject="u", schedule="late"),
            "other": ArmConfig(inject="v", share=0.2)}
    # per seed, P(D|U) falls by 0.01 (seed 0) and 0.02 (seed 1) per doubling of the share
    q = {"d1": {0: 0.06, 1: 0.07}, "aligned_untested": {0: 0.05, 1: 0.05},
         "d2": {0: 0.04, 1: 0.03}, "late": {0: 0.9, 1: 0.9}, "other": {0: 0.9, 1: 0.9}}
    t = table_of({a: {"pretrain": {"story": {"by_seed": {"q_U": v}, "bayes": {"q_U": 0.05}}}}
                  for a, v in q.items()})
    res = claim_dose(t, ROLES, ClaimContext(arm_cfgs=cfgs, inject_share=0.05))
    assert res["values"] == pytest.approx({"0": -0.01, "1": -0.02}, abs=1e-12)
    assert res["numbers"]["shares"] == [0.025, 0.05, 0.1]
    assert res["numbers"]["bayes_slope"] == pytest.approx(0.0, abs=1e-12)
    # without the default share, the untested arm has no dose: two shares are not a slope
    assert claim_dose(t, ROLES, ClaimContext(arm_cfgs=cfgs))["verdict"] == "not measured"


def test_every_discussion_claim_is_in_the_table():
    rows = evaluate_claims({}, ClaimArms())
    keys = [r["key"] for r in rows]
    assert keys[-len(NOT_EXPRESSIBLE):] == [k for k, *_ in NOT_EXPRESSIBLE]
    # 14 measured claims, 5 post-training ones (issue 18), 5 the world cannot express.
    assert len(keys) == len(set(keys)) == 24
    for r in rows[-len(NOT_EXPRESSIBLE):]:
        assert r["verdict"] == "not measured" and r["why"].startswith("the world cannot express")
        assert r["test_text"] == "none"


def test_per_arm_seeds_are_a_prefix_of_the_recipes():
    tech = "arms.aligned_untested_tech.seeds"
    cfg = load_experiment("persona-world", ["seeds=[3, 1, 4, 5]", f"{tech}=2"])
    assert cfg.arm_seeds("aligned_untested_tech") == [3, 1]
    assert cfg.arm_seeds("unfiltered") == [3, 1, 4, 5]
    quick = load_experiment("persona-world", [f"{tech}=5"], quick=True)
    assert quick.arm_seeds("aligned_untested_tech") == [0, 1]     # --quick's two seeds cap it
    with pytest.raises(ConfigError, match="greater than or equal to 1"):
        load_experiment("persona-world", [f"{tech}=0"])
    with pytest.raises(ConfigError, match="half_life_windows"):
        load_experiment("persona-world", ["claims.half_life_windows=[[8, 16], [2, 4]]"])


def _q(b: ExactBayes, k: int, era: int = 8, header: str = "STORY") -> float:
    return float(action_probs(b, [probe_context(k, "U", "U", era, header)])[0])


def test_the_bayes_numbers_behind_the_margins():
    """The recipe's comments derive margins from exact Bayes: recompute the ones that
    need no item grid (the rising half-life's windows, the dose slope, the genre arm)."""
    base = ExactBayes(load_world_recipe("base"))
    ks = [2, 4, 8, 16, 32]
    curve = [_q(base, k) for k in ks]
    small, large = -logit_slope(ks[:3], curve[:3]), -logit_slope(ks[3:], curve[3:])
    assert small - large == pytest.approx(0.196, abs=5e-4)
    assert (math.log(2) / small, math.log(2) / large) == pytest.approx((3.1, 26.5), abs=0.05)
    doses = [_q(ExactBayes(inject("base", {"i_u": s})), 0) for s in (0.025, 0.05, 0.1)]
    assert np.polyfit(np.log2([0.025, 0.05, 0.1]), doses, 1)[0] == pytest.approx(-0.0134, abs=1e-4)
    # TECH documents leave STORY contexts exactly where the base corpus puts them
    tech = ExactBayes(inject("base", {"i_u_tech": 0.05}))
    assert _q(tech, 0) == pytest.approx(_q(base, 0), rel=1e-12)
    assert _q(tech, 0, header="TECH") == pytest.approx(0.001, abs=1e-12)   # Luigi's eps alone
