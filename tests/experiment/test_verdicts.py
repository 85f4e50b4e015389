"""Verdict machinery: Student's t by closed forms, logit intervals, TOST, Holm, and the
calibration of the claims table by simulation (fixed seeds, deterministic)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from alignpt.core.errors import ConfigError
from alignpt.experiment.aggregate import estimate
from alignpt.experiment.claims import distinct_arms, evaluate_claims
from alignpt.experiment.recipe import (DEFAULT_TESTS, ArmConfig, ClaimArms, ClaimTest,
                                      load_experiment)
from alignpt.experiment.stats import logit_interval, seeds_needed, t_cdf, t_ppf
from alignpt.experiment.verdicts import all_of, holm, paired_values, run_test
from tests.experiment.tables import table_of


@pytest.mark.parametrize("t", [-7.0, -1.3, -0.2, 0.0, 0.4, 2.5, 30.0])
def test_t_cdf_matches_closed_forms(t):
    assert t_cdf(t, 1) == pytest.approx(0.5 + math.atan(t) / math.pi, abs=1e-13)      # Cauchy
    assert t_cdf(t, 2) == pytest.approx(0.5 + t / (2 * math.sqrt(t * t + 2)), abs=1e-13)


def test_t_ppf_inverts_and_matches_tables():
    for p in (0.6, 0.9, 0.95, 0.975, 0.999):
        assert t_ppf(p, 2) == pytest.approx((2 * p - 1) / math.sqrt(2 * p * (1 - p)), rel=1e-10)
        assert t_ppf(p, 1) == pytest.approx(math.tan(math.pi * (p - 0.5)), rel=1e-10)
        assert t_cdf(t_ppf(p, 9), 9) == pytest.approx(p, abs=1e-12)
    assert t_ppf(0.025, 4) == pytest.approx(-2.776445, abs=1e-6)
    assert t_ppf(0.975, 10**7) == pytest.approx(1.959964, abs=1e-5)


def test_logit_interval_stays_in_unit_interval_and_handles_exact_zero():
    # By hand: mean 0.1, se 0.05, crit 4.303: logit 0.1 -+ 4.303 * 0.05 / 0.09.
    lo, hi = logit_interval(0.1, 0.05, 4.303)
    z, half = math.log(0.1 / 0.9), 4.303 * 0.05 / 0.09
    assert lo == pytest.approx(1 / (1 + math.exp(-(z - half))), rel=1e-12)
    assert hi == pytest.approx(1 / (1 + math.exp(-(z + half))), rel=1e-12)
    assert 0 < lo < 0.1 < hi < 1
    # The old raw t-interval on the same values goes below 0; this one cannot.
    vals = [0.01, 0.02, 0.3]
    raw, est = estimate(vals), estimate(vals, prob=True)
    assert raw.ci_low < 0 and 0 < est.ci_low < est.mean < est.ci_high < 1
    # A filtered arm that never defects: every seed exactly 0 -> the point [0, 0].
    zero = estimate([0.0, 0.0, 0.0], prob=True)
    assert (zero.mean, zero.ci_low, zero.ci_high) == (0.0, 0.0, 0.0)
    one = estimate([0.0, 0.0, 3e-7], prob=True)
    assert 0 < one.ci_low < one.mean < one.ci_high < 1


def test_superiority_by_hand():
    # d = (1, 2, 3): mean 2, sd 1, se 1/sqrt 3, df 2; H0 d <= 0.5: t = 1.5 sqrt 3.
    r = run_test({"0": 1.0, "1": 2.0, "2": 3.0},
                 {"test": "superiority", "direction": "increase", "margin": 0.5, "alpha": 0.05})
    t = 1.5 * math.sqrt(3)
    assert r["p"] == pytest.approx(0.5 - t / (2 * math.sqrt(t * t + 2)), rel=1e-10)
    assert r["p"] + r["p_against"] == pytest.approx(1.0, abs=1e-15)
    half = 2.919986 / math.sqrt(3)                       # t(0.95, 2): the 90% interval
    assert r["ci_low"] == pytest.approx(2 - half, abs=1e-6) and r["ci_level"] == 0.9
    # Decrease mirrors increase.
    m = run_test([-1.0, -2.0, -3.0],
                 {"test": "superiority", "direction": "decrease", "margin": 0.5, "alpha": 0.05})
    assert m["p"] == pytest.approx(r["p"], rel=1e-12)


def test_equivalence_tost_by_hand():
    # d = (-0.01, 0, 0.01): mean 0, sd 0.01, se 0.01/sqrt 3, margin 0.02: t = 2 sqrt 3 both sides.
    r = run_test([-0.01, 0.0, 0.01], {"test": "equivalence", "margin": 0.02, "alpha": 0.05})
    t = 2 * math.sqrt(3)
    assert r["p"] == pytest.approx(0.5 - t / (2 * math.sqrt(t * t + 2)), rel=1e-10)
    assert r["p"] + r["p_against"] == pytest.approx(1.0, abs=1e-15)
    assert r["seeds_needed"] == seeds_needed(0.02, 0.01, 0.05)
    # Margin reading, TOST at true d = 0 with each side at 90%:
    # ((1.6449 + 1.2816) * 0.01 / 0.02)^2 + 1.6449^2 / 2 = 2.14 + 1.35 -> 4.
    assert r["seeds_for_margin"] == 4
    assert run_test([0.3], {"test": "equivalence", "margin": 0.02, "alpha": 0.05})["p"] is None


def test_holm_and_intersection_union_by_hand():
    assert holm([0.01, 0.04, 0.03, 0.5]) == pytest.approx([0.04, 0.09, 0.09, 0.5])
    parts = [{"p": 0.01, "p_against": 0.99, "seeds_needed": 4, "seeds_for_margin": 9},
             {"p": 0.2, "p_against": 0.8, "seeds_needed": 30, "seeds_for_margin": None}]
    both = all_of(parts)
    assert both["p"] == 0.2 and both["p_against"] == 1.0 and both["seeds_needed"] == 30
    assert both["seeds_for_margin"] is None


def test_seeds_needed_formula_and_pairing():
    # ((1.6449 + 0.8416) * 0.05 / 0.02)^2 + 1.6449^2 / 2 = 38.64 + 1.35 -> 40.
    assert seeds_needed(0.02, 0.05, 0.05) == 40
    assert seeds_needed(0.0, 0.05, 0.05) is None
    assert paired_values({0: 0.5, 1: [0.6, 0.8], 2: None}, {0: 0.4, 1: 0.5, 3: 1.0}) == \
        pytest.approx({"0": 0.1, "1": 0.2})


def test_claim_tests_are_validated_and_shipped_in_every_variant():
    with pytest.raises(ValueError, match="needs a direction"):
        ClaimTest(test="superiority")
    with pytest.raises(ValueError, match="margin > 0"):
        ClaimTest(test="equivalence", margin=0)
    with pytest.raises(ConfigError, match="no claim named nonsense"):
        load_experiment("persona-world", ["claims.tests.nonsense={test: equivalence, margin: 1}"])
    for name in ("persona-world", "persona-world-full"):
        for quick in (False, True):
            tests = load_experiment(name, quick=quick).claims.tests
            assert tests["locality"].test == "equivalence" and tests["locality"].margin == 0.02
            assert tests["assistant"].direction == "decrease"
            # Every claim has its test, except the published ordering: it was added after
            # these recipes' runs, so stating it now would not be pre-registration.
            world = {k: v for k, v in DEFAULT_TESTS.items() if k != "published_ordering"}
            assert set(tests) == set(world)
            assert {k: v.model_dump() for k, v in tests.items()} == {
                k: ClaimTest(**v).model_dump() for k, v in world.items()}
    tests = load_experiment("text-persona").claims.tests
    assert tests["published_ordering"].model_dump() == ClaimTest(
        **DEFAULT_TESTS["published_ordering"]).model_dump()


def test_distinct_arms_count_each_pretraining_mixture_once():
    cfg = load_experiment("persona-world")
    table = {a: {} for a in cfg.arms}
    # late shares throughout's mixture; the fine-tune arm's pretraining is the unfiltered model.
    assert distinct_arms(table, cfg.claims, cfg.arms) == [
        "unfiltered", "filtered", "misaligned_upsampled", "aligned_tested", "aligned_untested",
        "aligned_untested_now", "aligned_untested_short", "aligned_untested_tech",
        "dose_2_5pct", "dose_10pct"]
    only_late = {"unfiltered": ArmConfig(), "late": ArmConfig(inject="x", schedule="late")}
    assert distinct_arms({"unfiltered": {}, "late": {}}, ClaimArms(), only_late) == \
        ["unfiltered", "late"]


# ---- calibration by simulation --------------------------------------------------------------

ARMS = ("unfiltered", "filtered", "misaligned_upsampled", "aligned_tested", "aligned_untested",
        "aligned_untested_late", "aligned_untested_finetune")
BAYES_Q = {"unfiltered": 0.083, "filtered": 0.0, "misaligned_upsampled": 0.21,
           "aligned_tested": 0.083, "aligned_untested": 0.031,
           "aligned_untested_late": 0.031, "aligned_untested_finetune": 0.083}
BAYES_SLOPE = -0.041
ARM_CFGS = load_experiment("persona-world").arms


def synthetic(rng, n_seeds: int, truth: bool, noise: float = 0.01) -> dict:
    """An aggregated table where all five claims are true (``truth``) or all false.

    Each seed adds one shift shared by every arm (sd 0.03, what pairing cancels) and each
    arm its own noise (sd ``noise``)."""
    seeds = range(n_seeds)
    shift = {s: rng.normal(0, 0.03) for s in seeds}
    if truth:   # model = Bayes; tested-only unchanged; rates match; ordered; assistant lowered
        pre = dict(BAYES_Q)
        final = {"aligned_untested": 0.05, "aligned_untested_late": 0.08,
                 "aligned_untested_finetune": 0.11}
        assist, rate = {"unfiltered": 0.10, "aligned_untested": 0.06}, 1.0
    else:       # model ignores the arm except tested-only; rates 2x; order reversed; raised
        pre = {a: 0.12 for a in ARMS} | {"aligned_tested": 0.07}
        final = {"aligned_untested": 0.11, "aligned_untested_late": 0.08,
                 "aligned_untested_finetune": 0.05}
        assist, rate = {"unfiltered": 0.06, "aligned_untested": 0.10}, 2.0

    def draw(mean: float) -> dict:
        return {s: mean + shift[s] + rng.normal(0, noise) for s in seeds}

    table: dict = {}
    for arm in ARMS:
        q = draw(pre[arm] + 0.1)    # + 0.1 keeps noisy values positive; slopes ignore it
        slope = {s: BAYES_SLOPE * rate * (1 + rng.normal(0, 10 * noise)) for s in seeds}
        story = {"by_seed": {"q_U": q, "logit_slope": slope},
                 "model": {"q_U": estimate(q.values()), "logit_slope": estimate(slope.values())},
                 "bayes": {"q_U": BAYES_Q[arm], "logit_slope": BAYES_SLOPE}}
        a = draw(assist.get(arm, 0.08) + 0.1)
        assistant = {"by_seed": {"q_U": a}, "bayes_any_header": {"q_U": 0.083}}
        fq = draw(final.get(arm, 0.08) + 0.1)
        table[arm] = {"pretrain": {"story": story},
                      "instruct": {"story": story, "assistant": assistant},
                      "rebound1": {"story": {"by_seed": {"q_U": fq},
                                             "model": {"q_U": estimate(fq.values())}}}}
    return table_of(table)


#: The claims this synthetic table builds (the others have their own calibration in
#: test_claims_calibration.py and are "not measured" here: their arms are absent).
CORE = ("prior_tracks_corpus", "locality", "half_life", "stage_order", "assistant")


def rates(n_sims: int, n_seeds: int, truth: bool, seed: int,
          noise: float = 0.01) -> dict[str, dict[str, float]]:
    rng = np.random.default_rng(seed)
    # The core five's tests only: Holm runs over the claims this table measures.
    roles = ClaimArms(tests={k: ClaimTest(**DEFAULT_TESTS[k]) for k in CORE})
    counts: dict[str, dict[str, int]] = {}
    for _ in range(n_sims):
        for row in evaluate_claims(synthetic(rng, n_seeds, truth, noise), roles, ARM_CFGS):
            if row["key"] not in CORE:
                assert row["verdict"] == "not measured", row
                continue
            c = counts.setdefault(row["key"], {})
            c[row["verdict"]] = c.get(row["verdict"], 0) + 1
    return {k: {v: n / n_sims for v, n in c.items()} for k, c in counts.items()}


def test_calibration_true_claims_are_supported():
    r = rates(200, 10, truth=True, seed=1)
    assert len(r) == 5
    for key, verdicts in r.items():
        assert verdicts.get("supported", 0) >= 0.9, (key, verdicts)
        assert verdicts.get("contradicted", 0) == 0, (key, verdicts)


def test_calibration_false_claims_are_contradicted():
    r = rates(200, 10, truth=False, seed=2)
    for key, verdicts in r.items():
        assert verdicts.get("contradicted", 0) >= 0.9, (key, verdicts)
        assert verdicts.get("supported", 0) == 0, (key, verdicts)


def test_calibration_too_few_seeds_is_inconclusive():
    # Two seeds at an arm-to-arm spread like the demo's (sd 0.04 per arm and seed; the
    # half-life's rate error sd 0.4, the demo's 0.33).
    for truth in (True, False):
        r = rates(200, 2, truth=truth, seed=3, noise=0.04)
        for key, verdicts in r.items():
            assert verdicts.get("inconclusive", 0) >= 0.9, (truth, key, verdicts)


def _negations(test: dict) -> list[dict]:
    """The claim's negation as tests of the same kind: for superiority (s d > m) the
    mirrored superiority (-s d > -m); for equivalence (|d| < m) its two halves, d > m
    and d < -m."""
    if test["test"] == "superiority":
        flip = "decrease" if test["direction"] == "increase" else "increase"
        return [{**test, "direction": flip, "margin": -test["margin"]}]
    return [{"test": "superiority", "direction": d, "margin": test["margin"],
             "alpha": test["alpha"]} for d in ("increase", "decrease")]


def test_never_supported_for_a_claim_and_its_negation():
    rng = np.random.default_rng(4)
    specs = [{"test": "superiority", "direction": "increase", "margin": 0.01, "alpha": 0.05},
             {"test": "superiority", "direction": "decrease", "margin": -0.01, "alpha": 0.05},
             {"test": "equivalence", "margin": 0.02, "alpha": 0.05}]
    checked = 0
    for _ in range(2000):
        n = int(rng.integers(2, 12))
        vals = rng.normal(rng.uniform(-0.04, 0.04), rng.uniform(0.001, 0.03), n).tolist()
        for spec in specs:
            claim = run_test(vals, spec)["p"]
            negs = [run_test(vals, neg)["p"] for neg in _negations(spec)]
            # Each alone (no Holm: the most permissive reading) at its alpha.
            if claim <= spec["alpha"]:
                checked += 1
                assert all(p > spec["alpha"] for p in negs), (vals, spec)
    assert checked > 300    # the property was exercised, not vacuous


def test_size_on_the_margin_is_alpha():
    """Where the effect sits exactly on the margin, 'supported' comes at rate alpha (the
    tests are exact for normal seed effects): 4000 experiments of 5 seeds each."""
    rng = np.random.default_rng(5)
    sup = {"test": "superiority", "direction": "decrease", "margin": 0.01, "alpha": 0.05}
    eq = {"test": "equivalence", "margin": 0.02, "alpha": 0.05}
    hits_sup = sum(run_test(rng.normal(-0.01, 0.02, 5).tolist(), sup)["p"] <= 0.05
                   for _ in range(4000))
    hits_eq = sum(run_test(rng.normal(0.02, 0.02, 5).tolist(), eq)["p"] <= 0.05
                  for _ in range(4000))
    # Binomial(4000, 0.05): sd 0.0034; +-4 sd.
    assert abs(hits_sup / 4000 - 0.05) < 0.014
    assert hits_eq / 4000 <= 0.05 + 0.014
