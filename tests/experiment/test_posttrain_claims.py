"""The post-training claims on constructed tables: exact verdicts for constructed effects."""

from __future__ import annotations

import numpy as np
import pytest

from alignpt.experiment.claim_config import DEFAULT_TESTS, ClaimArms, ClaimTest
from alignpt.experiment.claims import CLAIMS, evaluate_claims
from alignpt.experiment.claims_posttrain import POSTTRAIN_CLAIMS
from alignpt.experiment.posttrain_report import BEFORE_TAMPER
from tests.experiment.tables import table_of

SEEDS = list(range(8))
KEYS = [k for k, *_ in POSTTRAIN_CLAIMS]
# Fixed, zero-mean jitter: the constructed effects are its mean shift (np.std = 1 per seed set).
_J = np.array([0.9, -1.1, 0.4, -0.2, 1.3, -0.8, 0.1, -0.6])
JITTER = (_J - _J.mean()) / _J.std(ddof=1)


def _place(q_u: float, q_t: float, noise: float = 0.0, bayes_u: float | None = 0.06,
           shift: int = 0) -> dict:
    j = np.roll(JITTER, shift) * noise
    return {"by_seed": {"q_U": {s: q_u + j[s] for s in SEEDS},
                        "q_T": {s: q_t + j[s] for s in SEEDS}},
            "bayes": {"q_U": bayes_u, "q_T": 0.001}}


def _phase(assist: tuple, story: tuple, noise: float = 0.0, shift: int = 0) -> dict:
    return {"assistant": _place(*assist, noise=noise, bayes_u=None, shift=shift),
            "story": _place(*story, noise=noise, shift=shift), "label": "x"}


def _dpo_arm(before: dict, after: dict) -> dict:
    return {"pretrain": before, "instruct": before, "dpo": after, "rebound1": after}


def _rows(table, tamper=None, tests=None):
    roles = ClaimArms(reading="probe", tests={
        k: ClaimTest(**v) for k, v in (tests or DEFAULT_TESTS).items() if k in KEYS})
    rows = evaluate_claims(table_of(table), roles, claims=POSTTRAIN_CLAIMS, not_expressible=(),
                           tamper=table_of(tamper) if tamper is not None else None)
    return {r["key"]: r for r in rows}


def _tamper(base_end: float, untested_end: float, noise: float = 0.002) -> dict:
    def arm(start, end, shift):
        return {BEFORE_TAMPER: _phase((start, 0.01), (start, 0.01), noise, shift),
                "tamper1": _phase(((start + end) / 2, 0.01), ((start + end) / 2, 0.01), noise, shift),
                "tamper2": _phase((end, 0.01), (end, 0.01), noise, shift + 1)}
    return {"unfiltered": arm(0.08, base_end, 0), "aligned_untested": arm(0.05, untested_end, 3)}


def test_constructed_dpo_effects_give_exact_verdicts():
    # dpo_tested: P(D|T) 0.05 -> 0.02 (supported); locality: P(D|U) moves 0.001 (supported,
    # within 0.02); reach: the inclusive arm's P(D|U) drops 0.05 more (supported).
    before = _phase((0.10, 0.05), (0.08, 0.01), noise=0.0)
    tested_after = _phase((0.101, 0.02), (0.081, 0.01), noise=0.001, shift=1)
    inclusive_after = _phase((0.051, 0.02), (0.081, 0.01), noise=0.001, shift=2)
    table = {"unfiltered_dpo": _dpo_arm(before, tested_after),
             "unfiltered_dpo_all": _dpo_arm(before, inclusive_after)}
    rows = _rows(table)
    assert {k: rows[k]["verdict"] for k in KEYS[:3]} == {
        "dpo_tested": "supported", "dpo_locality": "supported", "dpo_untested_reach": "supported"}
    assert rows["dpo_tested"]["effect"]["estimate"] == pytest.approx(-0.03)
    assert rows["dpo_untested_reach"]["effect"]["estimate"] == pytest.approx(-0.05)
    assert rows["dpo_tested"]["effect"]["n"] == len(SEEDS)
    # No tamper table: the tamper claims say so.
    assert rows["tamper_return"]["verdict"] == "not measured"
    assert "no tamper test" in rows["tamper_return"]["why"]

    # The mirror: DPO that raises P(D|T), moves untested stories by 0.1, and an inclusive
    # arm that does no better than the tested one.
    worse = _phase((0.101, 0.09), (0.18, 0.01), noise=0.001, shift=1)
    same = _phase((0.101, 0.09), (0.18, 0.01), noise=0.001, shift=2)
    rows = _rows({"unfiltered_dpo": _dpo_arm(before, worse),
                  "unfiltered_dpo_all": _dpo_arm(before, same)})
    assert {k: rows[k]["verdict"] for k in KEYS[:3]} == {
        "dpo_tested": "contradicted", "dpo_locality": "contradicted",
        "dpo_untested_reach": "contradicted"}
    # Locality is two parts (assistant, story), both must hold: the story part fails it.
    assert set(rows["dpo_locality"]["effect"]["parts"]) == {"assistant", "story"}

    # Noise as large as the effect: inconclusive.
    noisy = _phase((0.10, 0.049), (0.08, 0.01), noise=0.03, shift=1)
    rows = _rows({"unfiltered_dpo": _dpo_arm(before, noisy),
                  "unfiltered_dpo_all": _dpo_arm(before, noisy)})
    assert rows["dpo_tested"]["verdict"] == "inconclusive"


def test_constructed_tamper_effects_give_exact_verdicts():
    table = {"unfiltered": {}, "aligned_untested": {}}
    rows = _rows(table, tamper=_tamper(base_end=0.20, untested_end=0.12))
    assert rows["tamper_return"]["verdict"] == "supported"
    assert rows["tamper_resistance"]["verdict"] == "supported"
    assert rows["tamper_resistance"]["effect"]["estimate"] == pytest.approx(-0.08)
    assert rows["tamper_resistance"]["numbers"]["before_tamper"] == pytest.approx(-0.03)
    # Misalignment drops under "tamper" and the aligned arm ends above the baseline.
    rows = _rows(table, tamper=_tamper(base_end=0.04, untested_end=0.10))
    assert rows["tamper_return"]["verdict"] == "contradicted"
    assert rows["tamper_resistance"]["verdict"] == "contradicted"
    # One arm missing from the tamper runs: not measured, and why.
    partial = {"unfiltered": _tamper(0.2, 0.1)["unfiltered"]}
    rows = _rows(table, tamper=partial)
    assert rows["tamper_resistance"]["verdict"] == "not measured"
    assert "aligned_untested" in rows["tamper_resistance"]["why"]


def test_absent_arms_and_tests_are_not_measured_with_why():
    rows = _rows({"unfiltered": {}})
    assert rows["dpo_tested"]["verdict"] == "not measured"
    assert "unfiltered_dpo" in rows["dpo_tested"]["why"]
    before = _phase((0.10, 0.05), (0.08, 0.01))
    rows = _rows({"unfiltered_dpo": {"pretrain": before, "instruct": before}})
    assert rows["dpo_tested"]["why"] == "arm unfiltered_dpo has no dpo phase"
    # A recipe that states no test for a claim: not measured, never a verdict.
    table = {"unfiltered_dpo": _dpo_arm(before, _phase((0.1, 0.02), (0.08, 0.01), 0.001))}
    rows = _rows(table, tests={k: v for k, v in DEFAULT_TESTS.items() if k != "dpo_tested"})
    assert rows["dpo_tested"]["verdict"] == "not measured"


def test_post_training_claims_are_in_the_table_with_default_tests():
    keys = [k for k, *_ in CLAIMS]
    assert keys[-len(KEYS):] == KEYS
    assert all(k in DEFAULT_TESTS for k in KEYS)
