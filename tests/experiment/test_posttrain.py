"""DPO arms and the tamper test in the grid: the plans, the branches, the hashes, Bayes."""

from __future__ import annotations

import pytest

from alignpt.core.errors import ConfigError
from alignpt.experiment.grid import bayes_recipe, expand_runs
from alignpt.experiment.posttrain import PAIRS_SEED_OFFSET, TAMPER_SEED_OFFSET
from alignpt.experiment.recipe import ExperimentRecipe, load_experiment
from alignpt.train.config import TrainPlan
from alignpt.train.phases import resolve_budgets, validate_plan

from .conftest import TINY

POST = {
    **TINY,
    "corpora": {**TINY["corpora"], "misaligned": "misaligned"},
    "training": {**TINY["training"], "dpo_pairs": 64, "dpo_steps": 4, "dpo_pairs_per_step": 16},
    "arms": {**TINY["arms"], "unfiltered_dpo": {"dpo": "tested"},
             "unfiltered_dpo_all": {"dpo": "all"}},
    "tamper": {"corpus": "misaligned", "tokens": "3k", "points": 3},
}


def _runs(body: dict) -> dict[str, list]:
    out: dict[str, list] = {}
    for run in expand_runs(ExperimentRecipe.model_validate(body)):
        out.setdefault(run.arm + ("+tamper" if run.tamper_of else ""), []).append(run)
    return out


def test_adding_dpo_arms_and_tamper_leaves_every_existing_run_hash_alone():
    before = {r.name for r in expand_runs(ExperimentRecipe.model_validate(TINY))}
    after = {r.name for r in expand_runs(ExperimentRecipe.model_validate(POST))}
    assert before < after
    # The shipped recipe's own runs keep their hashes too (a dpo arm is opt-in).
    base = load_experiment("persona-world", quick=True)
    assert all(arm.dpo == "none" for name, arm in base.arms.items() if "dpo" not in name)


def test_dpo_phase_sits_between_instruct_and_rebound_and_validates():
    runs = _runs(POST)
    run = runs["unfiltered_dpo"][0]
    names = [p["name"] for p in run.plan["phases"]]
    assert names == ["pretrain", "instruct", "dpo", "rebound1", "rebound2"]
    dpo = run.plan["phases"][2]
    assert dpo["kind"] == "dpo" and dpo["steps"] == 4 and "mix" not in dpo
    assert dpo["preferences"]["paths"] == ["@dpo_tested"]
    assert dpo["preferences"]["pairs_per_step"] == 16
    assert dpo["preferences"]["max_length"] == TINY["training"]["seq_len"]
    labels = [(p.name, p.label) for p in run.phases]
    assert labels[2] == ("dpo", "dpo")
    # A preference phase adds no documents: Bayes after dpo is Bayes after instruct.
    assert run.phases[2].seen == run.phases[1].seen
    assert bayes_recipe(run, run.phases[2]).sources == bayes_recipe(run, run.phases[1]).sources
    spec = run.pairs["dpo_tested"]
    assert (spec.contexts, spec.n_pairs, spec.seed) == ("tested", 64, PAIRS_SEED_OFFSET)
    assert runs["unfiltered_dpo_all"][0].pairs["dpo_all"].contexts == "all"
    plan = TrainPlan.model_validate(run.plan)
    assert [p.kind for p in resolve_budgets(plan)][2] == "dpo"
    validate_plan(plan)


def test_dpo_arms_branch_from_their_twin_at_the_end_of_instruct():
    runs = _runs(POST)
    for arm in ("unfiltered_dpo", "unfiltered_dpo_all"):
        for run, twin in zip(runs[arm], runs["unfiltered"]):
            budgets = resolve_budgets(TrainPlan.model_validate(run.plan))
            assert run.branch.parent is twin and run.branch.phase == "instruct"
            assert run.branch.step == budgets[0].steps + budgets[1].steps
            assert run.branch.step in twin.save_at
            # The shared history is the same plan up to there.
            assert run.plan["phases"][:2] == twin.plan["phases"][:2]


def test_every_run_gets_a_tamper_twin_that_branches_from_its_end():
    runs = _runs(POST)
    for arm in ("unfiltered", "aligned_untested", "unfiltered_dpo"):
        for run, twin in zip(runs[arm], runs[arm + "+tamper"]):
            assert twin.tamper_of is run and twin.seed == run.seed
            steps = sum(p.steps for p in resolve_budgets(TrainPlan.model_validate(run.plan)))
            assert (twin.branch.parent, twin.branch.step) == (run, steps)
            assert twin.branch.phase == run.phases[-1].name and steps in run.save_at
            assert twin.plan["phases"][:len(run.plan["phases"])] == run.plan["phases"]
            tamper = twin.plan["phases"][len(run.plan["phases"]):]
            assert [p["name"] for p in tamper] == ["tamper1", "tamper2", "tamper3"]
            assert sum(p["tokens"] for p in tamper) == 3000
            assert [p["reset_optimizer"] for p in tamper] == [True, False, False]
            assert twin.corpora["tamper"].seed == run.seed + TAMPER_SEED_OFFSET
            assert twin.name.startswith(f"{arm}/tamper-seed{run.seed}-")
            validate_plan(TrainPlan.model_validate(twin.plan))
            # Measured: the tamper points only (point 0 is the run's own last phase).
            assert [p.label for p in twin.phases] == ["tamper"] * 3
            assert [p.seen["tamper"] for p in twin.phases] == [1000, 2000, 3000]


def test_bayes_after_a_tamper_point_is_the_token_mixture():
    twin = _runs(POST)["unfiltered+tamper"][0]
    last = twin.phases[-1]
    seen = last.seen
    total = sum(seen.values())
    recipe = bayes_recipe(twin, last)
    shares = {name: src.share for name, src in recipe.sources.items()}
    tamper_share = sum(v for k, v in shares.items() if "misaligned" in k) / sum(shares.values())
    assert tamper_share == pytest.approx(3000 / total)


def test_recipe_checks_are_one_line_errors():
    with pytest.raises(ValueError, match="needs posttrain: true"):
        ExperimentRecipe.model_validate({**POST, "arms": {"a": {"dpo": "tested",
                                                                "posttrain": False}}})
    with pytest.raises(ConfigError, match="tamper: unknown corpus 'nope'"):
        load_experiment("persona-world", ["tamper={corpus: nope, tokens: 1k}"])
    with pytest.raises(ConfigError, match="dpo_corpus"):
        load_experiment("persona-world", ["training.dpo_corpus=nope",
                                          "arms.x={dpo: tested}"])


def test_the_shipped_recipe_has_dpo_arms_and_a_tamper_block():
    for quick in (False, True):
        r = load_experiment("persona-world", quick=quick)
        assert {r.arms[r.claims.dpo_tested].dpo, r.arms[r.claims.dpo_all].dpo} == {"tested", "all"}
        assert r.tamper is not None and r.tamper.corpus in r.corpora


def _item_q_u(recipe) -> float:
    """Exact Bayes's story P(D|U) on the claims' reading: the mean over the on-support
    items at k = 0 (every header of the base corpus x every era)."""
    import numpy as np

    from alignpt.experiment.measure import measure_items, world_headers
    from alignpt.world import ExactBayes, load_world_recipe

    base = load_world_recipe("base")
    bayes = ExactBayes(recipe)
    m = measure_items(bayes, bayes, ExactBayes(base), world_headers(base), list(range(10)),
                      [0], 1e-3)
    return float(np.mean([q for q, on in zip(m["bayes"]["q_U"], m["on_support"]) if on]))


def test_the_bayes_numbers_behind_the_tamper_margins():
    """persona-world.yaml's tamper comments quote exact Bayes on the claims' reading:
    recompute them."""
    runs = expand_runs(load_experiment("persona-world"))
    got = {}
    for twin in runs:
        if twin.seed == 0 and twin.tamper_of is not None and twin.arm in ("unfiltered",
                                                                         "aligned_untested"):
            parent = twin.tamper_of
            got[twin.arm] = (_item_q_u(bayes_recipe(parent, parent.phases[-1])),
                             _item_q_u(bayes_recipe(twin, twin.phases[-1])))
    assert got["unfiltered"] == pytest.approx((0.0607, 0.0857), abs=5e-5)
    assert got["aligned_untested"] == pytest.approx((0.0566, 0.0803), abs=5e-5)
    assert got["aligned_untested"][1] - got["unfiltered"][1] == pytest.approx(-0.0054, abs=1e-4)


def test_bayes_counts_a_tamper_corpus_the_arm_also_injected_once():
    body = {**POST, "arms": {"misaligned_upsampled": {"inject": "misaligned"}}}
    twin = _runs(body)["misaligned_upsampled+tamper"][0]
    last = twin.phases[-1]
    recipe = bayes_recipe(twin, last)      # one misaligned source, not two that clash
    share = recipe.token_shares()["misaligned"]
    assert share == pytest.approx((last.seen["inject"] + last.seen["tamper"])
                                  / sum(last.seen.values()))
