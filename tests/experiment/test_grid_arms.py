"""Arm options that shape the run grid: per-arm seeds and pretraining-only arms."""

from __future__ import annotations

from alignpt.experiment.grid import expand_runs
from alignpt.experiment.recipe import load_experiment


def _runs(overrides):
    return expand_runs(load_experiment("persona-world", overrides, quick=True))


def test_a_pretraining_only_arm_has_no_instruct_or_rebound():
    runs = _runs(["arms.filtered.posttrain=false"])
    filt = [r for r in runs if r.arm == "filtered"]
    assert filt and all([p.name for p in r.phases] == ["pretrain"] for r in filt)
    assert all(set(r.corpora) == {"base"} for r in filt)
    assert all([p["name"] for p in r.plan["phases"]] == ["pretrain"] for r in filt)
    # other arms keep the whole schedule, and the unchanged arms keep their hashes
    base = {r.name for r in _runs([]) if r.arm != "filtered"}
    assert base == {r.name for r in runs if r.arm != "filtered"}
    unf = [r for r in runs if r.arm == "unfiltered"][0]
    assert [p.name for p in unf.phases][:2] == ["pretrain", "instruct"]


def test_an_arm_on_fewer_seeds_runs_a_prefix_of_the_recipes_seeds():
    runs = _runs(["seeds=[3,5,7]", "arms.misaligned_upsampled.seeds=2"])
    # (each arm's own runs: the recipe's tamper block adds a twin per run, same seed)
    seeds = {a: sorted(r.seed for r in runs if r.arm == a and r.tamper_of is None)
             for a in {r.arm for r in runs}}
    assert seeds["misaligned_upsampled"] == [3, 5]
    assert seeds["unfiltered"] == [3, 5, 7]
