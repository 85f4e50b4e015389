"""Aggregation, measurement helpers and claim verdicts, on hand-computed numbers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from alignpt.core.errors import ConfigError
from alignpt.experiment.aggregate import estimate, paired_difference, phase_order, t975
from alignpt.experiment.claims import (claim_locality, claim_stage_order, evaluate_claims,
                                       VERDICTS)
from alignpt.experiment.measure import (header_agnostic_curves, half_life_from_slope,
                                        logit_half_life, logit_slope, measure)
from alignpt.experiment.recipe import ClaimArms, load_experiment
from tests.experiment.tables import table_of
from alignpt.world import ExactBayes, half_life, inject, load_world_recipe, probe_curves


def test_estimate_t_interval_by_hand():
    e = estimate([1.0, 2.0, 3.0])
    # mean 2, sd 1, se 1/sqrt(3), t(0.975, 2) = 4.303
    half = 4.303 / math.sqrt(3)
    assert e.mean == 2.0 and e.n == 3
    assert e.ci_low == pytest.approx(2 - half, abs=1e-12)
    assert e.ci_high == pytest.approx(2 + half, abs=1e-12)
    assert estimate([None, 5.0, float("nan")]).to_json() == {
        "mean": 5.0, "ci_low": None, "ci_high": None, "n": 1, "values": [5.0]}
    assert estimate([]).mean is None
    assert t975(1) == 12.706 and t975(100) == 1.96


def test_paired_difference_uses_common_seeds():
    d = paired_difference({0: 0.5, 1: 0.7, 2: 0.9}, {0: 0.4, 1: 0.4, 3: 1.0})
    assert d.values == pytest.approx([0.1, 0.3]) and d.n == 2
    assert d.mean == pytest.approx(0.2)
    # sd of (0.1, 0.3) = 0.1414.., se = 0.1, t(0.975, 1) = 12.706
    assert d.ci_high - d.mean == pytest.approx(12.706 * 0.1, rel=1e-9)


def test_logit_slope_recovers_an_exact_logistic_decay():
    ks = [0, 2, 4, 8, 16, 32]
    q = [1 / (1 + math.exp(-(-1.0 - 0.1 * k))) for k in ks]
    assert logit_slope(ks, q) == pytest.approx(-0.1, abs=1e-12)
    assert logit_half_life(ks, q) == pytest.approx(math.log(2) / 0.1, abs=1e-9)
    assert half_life_from_slope(0.01) == math.inf and half_life_from_slope(None) is None
    assert logit_slope(ks, [None] * 6) is None


def test_measure_of_bayes_against_itself_and_the_agnostic_reference():
    recipe = inject("base", {"instruct": 0.1})
    bayes = ExactBayes(recipe)
    probes = {"ks": [0, 4, 16], "era": 8, "header": "STORY", "assistant_header": "ASSIST",
              "fit_from_k": 4}
    m = measure(bayes, bayes, probes)
    story = m["story"]
    assert story["model"] == story["bayes"]
    direct = probe_curves(bayes, [0, 4, 16], 8, "STORY")
    assert story["bayes"]["T:q_U"] == pytest.approx(list(direct["T:q_U"]), abs=0)
    # The assistant is never untested in the data: Bayes has no answer there.
    assert m["assistant"]["bayes"]["T:q_U"] == [None, None, None]
    assert m["assistant"]["bayes"]["T:q_T"][0] == pytest.approx(0.001, abs=1e-12)  # Luigi eps
    # Base documents' personas do not depend on the header, so the header-agnostic
    # reference for an untested flag equals the base corpus's own prediction.
    agn = header_agnostic_curves(bayes, [0], 8)
    base_q = probe_curves(ExactBayes(load_world_recipe("base")), [0], 8, None)["T:q_U"][0]
    assert agn["T:q_U"][0] == pytest.approx(base_q, rel=1e-12)


def _table(arms: dict[str, dict[int, float]], phase: str = "pretrain"):
    """A minimal aggregated table: story q_U per seed, Bayes q_U per arm."""
    out = {}
    for arm, by_seed in arms.items():
        story = {"by_seed": {"q_U": by_seed}, "bayes": {"q_U": 0.08},
                 "model": {"q_U": estimate(by_seed.values())}}
        out[arm] = {phase: {"story": story}}
    return table_of(out)


def _claim(rows, key):
    return next(r for r in rows if r["key"] == key)


def test_locality_is_an_equivalence_test():
    roles = ClaimArms()
    # tested-only - unfiltered per seed: +0.001, -0.002, +0.001 (mean 0, sd 0.00173):
    # TOST against +-0.02: t = 0.02 / (0.00173 / sqrt 3) = 20 on 2 df.
    equal = _table({"unfiltered": {0: .08, 1: .09, 2: .10},
                    "aligned_tested": {0: .081, 1: .088, 2: .101},
                    "aligned_untested": {0: .03, 1: .04, 2: .05}})
    row = _claim(evaluate_claims(equal, roles), "locality")
    t = 0.02 / (math.sqrt(3e-6) / math.sqrt(3))
    assert row["effect"]["p"] == pytest.approx(0.5 - t / (2 * math.sqrt(t * t + 2)), rel=1e-6)
    assert row["verdict"] == "supported" and row["test"]["test"] == "equivalence"
    moved = _table({"unfiltered": {0: .08, 1: .09, 2: .10},
                    "aligned_tested": {0: .03, 1: .045, 2: .05}})
    assert _claim(evaluate_claims(moved, roles), "locality")["verdict"] == "contradicted"
    # Noisier data can no longer earn "no change": it is inconclusive.
    noisy = _table({"unfiltered": {0: .08, 1: .09, 2: .10},
                    "aligned_tested": {0: .02, 1: .16, 2: .09}})
    assert _claim(evaluate_claims(noisy, roles), "locality")["verdict"] == "inconclusive"
    assert claim_locality(_table({"unfiltered": {0: .1}}), roles)["verdict"] == "not measured"


def test_stage_order_needs_both_steps():
    roles = ClaimArms()
    t = _table({"aligned_untested": {0: .01, 1: .02, 2: .03},
                "aligned_untested_late": {0: .05, 1: .06, 2: .07},
                "aligned_untested_finetune": {0: .10, 1: .11, 2: .12}})
    row = _claim(evaluate_claims(t, roles), "stage_order")
    # Both steps are exact (+0.04, +0.05 on every seed): p = 0 for each.
    assert row["verdict"] == "supported" and row["effect"]["p"] == 0.0
    flat = _table({"aligned_untested": {0: .05, 1: .02, 2: .08},
                   "aligned_untested_late": {0: .03, 1: .09, 2: .04},
                   "aligned_untested_finetune": {0: .02, 1: .05, 2: .06}})
    assert claim_stage_order(flat, roles)["parts"]["late - throughout"] == pytest.approx(
        {"0": -0.02, "1": 0.07, "2": -0.04})
    assert _claim(evaluate_claims(flat, roles), "stage_order")["verdict"] == "inconclusive"


def test_every_claim_gets_a_known_verdict_even_on_an_empty_table():
    rows = evaluate_claims({}, ClaimArms())
    # 14 claims, 5 post-training ones (issue 18), 5 the world cannot express
    assert len(rows) == 24 and [r["verdict"] for r in rows] == ["not measured"] * 24
    assert all(r["verdict"] in VERDICTS and r["why"] for r in rows)
    no_tests = evaluate_claims(_table({"unfiltered": {0: .1, 1: .2},
                                       "aligned_tested": {0: .1, 1: .2}}),
                               ClaimArms(tests={}))
    assert _claim(no_tests, "locality")["why"].startswith("no pre-registered test")


def test_phase_order_merges_arms():
    res = [{"phases": [{"name": n} for n in ("pretrain", "instruct", "rebound1")]},
           {"phases": [{"name": n} for n in ("pretrain", "finetune", "instruct", "rebound1")]}]
    assert phase_order(res) == ["pretrain", "finetune", "instruct", "rebound1"]


@pytest.mark.parametrize("override,message", [
    ("arms.x.inject=nope", "arm x: unknown corpus 'nope'"),
    ("arms.x.schedule=late", "schedule 'late' needs an injected corpus"),
    ("probes.ks=[0, 8, 200]", "k = 200 needs a context of 404 tokens"),
    ("training.inject_share=0.5", "arm aligned_untested_late: injected share 0.5 does not fit"),
    ("arms.x.share=0.1", "share needs an injected corpus"),
])
def test_recipe_errors(override, message):
    with pytest.raises(ConfigError, match=message):
        load_experiment("persona-world", [override])


def test_unknown_recipe_lists_known_ones():
    with pytest.raises(ConfigError, match="known: .*persona-world"):
        load_experiment("no-such-recipe")


def test_quick_variant_and_analytic_half_lives():
    q = load_experiment("persona-world", quick=True)
    assert q.name == "persona-world-quick" and q.seeds == [0, 1]
    assert set(q.arms) == set(load_experiment("persona-world").arms)
    assert half_life(0.05) == pytest.approx(13.513, abs=1e-3)
    assert np.isclose(half_life(0.01), 68.967, atol=1e-3)
