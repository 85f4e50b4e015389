"""Calibration by simulation of the extended claims (rising half-life, centuries later,
very long stories, unseen scenario, instruct locality and rebound, dose, genre): on
synthetic aggregated tables where each claim is true it is supported, where false
contradicted, with two noisy seeds inconclusive (fixed seeds, deterministic)."""

from __future__ import annotations

import math

import numpy as np

from alignpt.experiment.aggregate import estimate
from alignpt.experiment.claims import evaluate_claims
from alignpt.experiment.recipe import ClaimArms, load_experiment
from tests.experiment.tables import table_of

EXTENDED = ("rising_half_life", "centuries_later", "long_stories", "unseen_scenario",
            "instruct_locality", "instruct_rebound", "dose", "genre")
KS = [0, 2, 4, 8, 16, 32, 64, 96]
#: Exact Bayes's base-corpus curve at STORY, era 8 (k clean untested, then U).
BAYES_CURVE = [0.0826, 0.0295, 0.0135, 0.0074, 0.0056, 0.0037, 0.0022, 0.0016]
GRID = [(h, e, k) for h in ("STORY", "none") for e in range(10) for k in KS]
DOSE = {"dose_2_5pct": 0.0452, "aligned_untested": 0.0308, "dose_10pct": 0.0185}
ARM_CFGS = load_experiment("persona-world").arms
ROLES = ClaimArms()


def _logit(q: float) -> float:
    return math.log(q / (1 - q))


def _sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def _bayes_shift(arm: str, h: str, e: int, k: int) -> float:
    """Log-odds shift of each arm's exact Bayes from the baseline's, shaped like the
    world's: the untested corpus lowers STORY everywhere and more at late eras and long
    histories; its now-only twin does nothing at eras >= 7, its short twin nothing at
    k >= 48; the TECH twin nothing at STORY; no arm moves the header-less items."""
    if h != "STORY":
        return 0.0
    long_ = 0.5 if k >= 48 else 0.0
    return {"aligned_untested": -0.5 - (0.8 if e >= 7 else 0.0) - long_,
            "aligned_untested_now": 0.0 if e >= 7 else -0.6 - long_,
            "aligned_untested_short": 0.0 if k >= 48 else -0.9,
            "misaligned_upsampled": 1.0}.get(arm, 0.0)


def _items(bayes: list[float], model: dict[int, list[float]], unseen: bool = False) -> dict:
    return {"header": [h for h, _, _ in GRID] if not unseen else ["ASSIST"] * len(GRID),
            "era": [e for _, e, _ in GRID], "k": [k for _, _, k in GRID],
            "on_support": [not unseen and k < 32 for _, _, k in GRID],
            "log10_support": [None if unseen else -3.0] * len(GRID),
            "log10_support_arm": [None if unseen else -3.0] * len(GRID),
            "bayes_q_U": [None] * len(GRID) if unseen else bayes,
            "bayes_q_T": [None] * len(GRID), "by_seed": {"q_U": model, "q_T": {}}}


def synthetic(rng, n_seeds: int, truth: bool, noise: float = 0.01) -> dict:
    """An aggregated table where every extended claim is true (``truth``) or all false.

    Each seed adds one shift shared by every arm (what pairing cancels); each arm and
    seed its own noise: sd ``noise`` on probabilities, the same at q = 0.08 on log-odds
    (``noise / (0.08 * 0.92)``, 0.54 at the demo's 0.04), also per point of a curve; each
    item a little more."""
    seeds = range(n_seeds)
    lnoise = noise / (0.08 * 0.92)
    shift = {s: rng.normal(0, 0.03) for s in seeds}
    arms = ("unfiltered", "aligned_untested", "aligned_untested_now", "aligned_untested_short",
            "aligned_untested_tech", "misaligned_upsampled", "dose_2_5pct", "dose_10pct")
    base = [_logit(0.08) - 0.4 * math.log1p(k) + 0.1 * e for _, e, k in GRID]
    table: dict = {}
    for arm in arms:
        shifts = [_bayes_shift(arm, *g) for g in GRID]
        bayes = [_sigmoid(b + d) for b, d in zip(base, shifts)]
        # False: the model ignores which corpus was injected (every injected arm alike).
        model_shift = shifts if truth else [(-0.5 if arm != "unfiltered" and g[0] == "STORY"
                                             else 0.0) for g in GRID]
        story_items = {s: [_sigmoid(b + d + 10 * shift[s] + rng.normal(0, lnoise)
                                    + rng.normal(0, 0.1)) for b, d in zip(base, model_shift)]
                       for s in seeds}
        # The assistant header after pretraining, unseen by every arm: true, no arm moves
        # it; false, each injected arm moves it as a header-blind Bayesian would.
        push = 0.0 if truth else {"aligned_untested": -0.3, "misaligned_upsampled": 0.5}.get(arm, 0.0)
        assist = {s: [_sigmoid(b + push + 10 * shift[s] + rng.normal(0, lnoise))
                      for b in base] for s in seeds}
        dose = DOSE.get(arm, 0.06)
        if not truth and arm in DOSE:     # the dose response reversed
            dose = DOSE[{"dose_2_5pct": "dose_10pct", "dose_10pct": "dose_2_5pct"}.get(arm, arm)]
        q = {s: dose + 0.1 + shift[s] + rng.normal(0, noise) for s in seeds}
        story = {"by_seed": {"q_U": q}, "model": {"q_U": estimate(q.values())},
                 "bayes": {"q_U": DOSE.get(arm, 0.06)},
                 "items": _items(bayes, story_items)}
        table[arm] = {"pretrain": {"story": story, "assistant": {
            "by_seed": {"q_U": {}}, "bayes": {"q_U": None}, "header": "ASSIST",
            "items": _items([], assist, unseen=True)}}}
    # Baseline: its curve, and its story probe through instruct and rebound.
    if truth:
        curve = [_logit(q) for q in BAYES_CURVE]     # the half-life grows as Bayes's does
    else:                                            # decay speeds up: the half-life falls
        curve = [_logit(0.08) - 0.05 * min(k, 8) - 0.2 * max(k - 8, 0) for k in KS]
    by_seed = {s: [_sigmoid(c + 10 * shift[s] + rng.normal(0, lnoise)) for c in curve]
               for s in seeds}
    table["unfiltered"]["pretrain"]["story"]["curves"] = {
        "by_seed": {"U:q_U": by_seed}, "bayes": {"U:q_U": BAYES_CURVE}}
    pre = table["unfiltered"]["pretrain"]["story"]["by_seed"]["q_U"]
    drop, back = (0.0, 0.0) if truth else (-0.09, -0.06)
    for phase, d in (("instruct", drop), ("rebound1", back)):
        q = {s: pre[s] + d + rng.normal(0, noise) for s in seeds}
        table["unfiltered"][phase] = {"story": {"by_seed": {"q_U": q},
                                                "bayes": {"q_U": 0.06}}}
    return table_of(table)


def rates(n_sims: int, n_seeds: int, truth: bool, seed: int,
          noise: float = 0.01) -> dict[str, dict[str, float]]:
    rng = np.random.default_rng(seed)
    counts: dict[str, dict[str, int]] = {}
    for _ in range(n_sims):
        rows = evaluate_claims(synthetic(rng, n_seeds, truth, noise), ROLES, ARM_CFGS,
                               ks=KS, inject_share=0.05)
        for row in rows:
            if row["key"] in EXTENDED:
                c = counts.setdefault(row["key"], {})
                c[row["verdict"]] = c.get(row["verdict"], 0) + 1
    return {k: {v: n / n_sims for v, n in c.items()} for k, c in counts.items()}


def test_calibration_true_extended_claims_are_supported():
    r = rates(200, 10, truth=True, seed=11)
    assert set(r) == set(EXTENDED)
    for key, verdicts in r.items():
        assert verdicts.get("supported", 0) >= 0.9, (key, verdicts)
        assert verdicts.get("contradicted", 0) == 0, (key, verdicts)


def test_calibration_false_extended_claims_are_contradicted():
    r = rates(200, 10, truth=False, seed=12)
    for key, verdicts in r.items():
        assert verdicts.get("contradicted", 0) >= 0.9, (key, verdicts)
        assert verdicts.get("supported", 0) == 0, (key, verdicts)


def test_calibration_two_noisy_seeds_are_inconclusive():
    # Two seeds at the demo's arm-to-arm spread (sd 0.04 on P(D|U), 0.54 on log-odds). A
    # t-test on two seeds (df 1) still decides about one experiment in ten whose effect sits
    # about one standard error from the margin: that is its power, not an error. What must
    # not happen beyond alpha is the wrong verdict.
    for truth in (True, False):
        r = rates(200, 2, truth=truth, seed=13, noise=0.04)
        wrong = "contradicted" if truth else "supported"
        for key, verdicts in r.items():
            assert verdicts.get("inconclusive", 0) >= 0.85, (truth, key, verdicts)
            assert verdicts.get(wrong, 0) <= 0.05, (truth, key, verdicts)
