"""The ideal learner's dose-response (experiment.law_bayes) against the runs' own Bayes path."""

from __future__ import annotations

import numpy as np
import pytest

from alignpt.experiment.grid import bayes_recipe, expand_runs
from alignpt.experiment.law_bayes import bayes_dose_curve, bayes_reading, dose_grid
from alignpt.experiment.recipe import load_experiment


@pytest.fixture(scope="module")
def recipe():
    return load_experiment("persona-world")


def test_curve_equals_the_runs_bayes_for_the_same_mixture(recipe):
    # The dose arms' Bayes comes from grid.bayes_recipe (token-weighted mixture of what the
    # run read); the curve builds the mixture from the share. At the same share they agree.
    items = recipe.probes.items.model_dump(mode="json")
    runs = {r.arm: r for r in expand_runs(recipe) if r.seed == 0 and r.tamper_of is None}
    for arm in ("unfiltered", "dose_2_5pct", "aligned_untested", "dose_10pct"):
        run = runs[arm]
        share = run.phases[0].seen.get("inject", 0) / sum(run.phases[0].seen.values())
        direct = bayes_reading(bayes_recipe(run, run.phases[0]), items)
        curve = bayes_dose_curve(recipe, "aligned_untested", [share])["q_U"][0]
        assert curve == pytest.approx(direct, rel=1e-12, abs=1e-15)


def test_baseline_value_and_monotone_in_the_share(recipe):
    curve = bayes_dose_curve(recipe, "aligned_untested", [0.0] + dose_grid(1e-4, 0.2, 9))
    q = np.array(curve["q_U"])
    # share 0 is the base corpus itself: the baseline's Bayes reading in the demo report
    assert q[0] == pytest.approx(0.060725, abs=1e-9)
    # more clean untested stories can only lower P(D|U) under the mixture
    assert np.all(np.diff(q) < 0)
    assert curve["logit"][0] == pytest.approx(np.log(q[0] / (1 - q[0])))
    # the misaligned corpus pushes the other way
    up = bayes_dose_curve(recipe, "misaligned", [0.0, 0.05])["q_U"]
    assert up[1] > up[0]


def test_dose_grid_is_log_spaced():
    g = dose_grid(1e-4, 1e-1, 4)
    assert g == pytest.approx([1e-4, 1e-3, 1e-2, 1e-1])
