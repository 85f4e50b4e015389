"""The recipe's law block and per-arm budgets and sizes (issue #19): expansion, plans,
pairing, branching, validation, round trips, and the run keys of existing recipes."""

from __future__ import annotations

import copy
import hashlib
import json
import math

import orjson
import pytest
import yaml

from alignpt.core.config import build_config
from alignpt.core.errors import ConfigError
from alignpt.experiment.grid import SLACK, expand_runs
from alignpt.experiment.law_config import (arm_model, arm_tokens, format_count, law_arms,
                                           law_points)
from alignpt.experiment.recipe import ExperimentRecipe, load_experiment
from alignpt.experiment.state import load_recipe, write_recipe
from alignpt.train.config import parse_count

LAW = {
    "name": "law-tiny", "seeds": [0, 1],
    "corpora": {"base": "base", "instruct": "instruct", "aligned_untested": "i_u"},
    "model": {"n_layer": 1, "n_head": 2, "d_model": 16},
    "sizes": {"s": {"d_model": 8}, "m": {}, "l": {"d_model": 32, "n_layer": 2}},
    "training": {"seq_len": 48, "batch_size": 8, "pretrain_tokens": "12k",
                 "instruct_tokens": "2k", "rebound_tokens": "2k", "rebound_points": 2},
    "arms": {"unfiltered": {}},
    "probes": {"ks": [0, 4, 8, 16], "fit_from_k": 4},
    "law": {"inject": "aligned_untested", "shares": [0.01, 0.1], "tokens": ["10k", "20k"],
            "counts": ["1k"], "sizes": ["s", "m", "l"], "size_shares": [0.05],
            "schedules": ["late", "finetune"], "center": {"tokens": "20k", "size": "m"},
            "heldout": {"share": 0.01, "tokens": "40k", "size": "m"}},
}

#: Hand-derived: user arms first; baselines per (tokens, size) in first-use order; the
#: share x tokens grid; counts (1k of 10k is share 0.1, a grid arm already: dropped); the
#: size grid (share 0.05 at 20k, m is the count arm law_n1k_t20k_m: dropped); schedules
#: at the center with the shares that fit the 0.1 window; the held-out configuration.
EXPECTED_ARMS = [
    "unfiltered",
    "law_base_t10k_m", "law_base_t20k_m", "law_base_t20k_s", "law_base_t20k_l", "law_base_t40k_m",
    "law_d0.01_t10k_m", "law_d0.1_t10k_m", "law_d0.01_t20k_m", "law_d0.1_t20k_m",
    "law_n1k_t20k_m",
    "law_d0.05_t20k_s", "law_d0.05_t20k_l",
    "law_d0.01_t20k_m_late", "law_d0.1_t20k_m_late",
    "law_d0.01_t20k_m_finetune", "law_d0.1_t20k_m_finetune",
    "law_heldout_d0.01_t40k_m",
]
D_MODEL = {"s": 8, "m": 16, "l": 32}


def _recipe(body: dict | None = None, **changes) -> ExperimentRecipe:
    data = copy.deepcopy(body or LAW)
    data.update(changes)
    return build_config(ExperimentRecipe, data, source="law-tiny")


@pytest.fixture(scope="module")
def recipe() -> ExperimentRecipe:
    return _recipe()


@pytest.fixture(scope="module")
def runs(recipe):
    return expand_runs(recipe)


# ---- expansion ----

def test_expansion_names_order_and_dedupe(recipe):
    assert list(recipe.arms) == EXPECTED_ARMS
    law = [a for a in recipe.arms.values() if a.from_law]
    assert len(law) == len(EXPECTED_ARMS) - 1
    assert all(not a.posttrain for a in law)
    assert not recipe.arms["unfiltered"].from_law
    assert "law_n1k_t10k_m" not in recipe.arms and "law_d0.05_t20k_m" not in recipe.arms


def test_expanded_arms_describe_themselves(recipe):
    assert recipe.arms["law_n1k_t20k_m"].description == (
        "law sweep: 1k tokens of aligned_untested in 20k pretraining tokens, size m")
    assert recipe.arms["law_base_t20k_s"].description == (
        "law sweep baseline: nothing injected, 20k pretraining tokens, size s")
    assert "held out" in recipe.arms["law_heldout_d0.01_t40k_m"].description
    assert "late window" in recipe.arms["law_d0.1_t20k_m_late"].description


def test_law_points(recipe):
    pts = law_points(recipe)
    assert list(pts) == EXPECTED_ARMS[1:]
    assert pts["law_n1k_t20k_m"]["share"] == pytest.approx(0.05, rel=1e-12)
    assert pts["law_base_t20k_l"] == {**pts["law_base_t20k_l"], "share": 0.0, "tokens": 20_000,
                                      "size": "l", "schedule": "throughout", "heldout": False}
    assert pts["law_base_t20k_l"]["model"].n_layer == 2
    assert pts["law_d0.01_t20k_m_finetune"]["schedule"] == "finetune"
    # the held-out configuration and its baseline (no fitted point at 40k) are held out
    assert {n for n, p in pts.items() if p["heldout"]} == {"law_heldout_d0.01_t40k_m",
                                                           "law_base_t40k_m"}
    for name, p in pts.items():
        assert p["model"].d_model == D_MODEL[p["size"]]
        assert p["tokens"] == arm_tokens(recipe, name)


def test_arm_model_and_tokens_default_to_the_recipe(recipe):
    assert arm_tokens(recipe, "unfiltered") == 12_000
    assert arm_model(recipe, "unfiltered") == recipe.model
    assert arm_model(recipe, "law_base_t20k_m") == recipe.model      # size m: no overrides
    assert arm_model(recipe, "law_base_t20k_l").model_dump() == {
        **recipe.model.model_dump(), "d_model": 32, "n_layer": 2}


@pytest.mark.parametrize("n", [1, 999, 1000, 1500, 150_000, 1_200_000, 12_345_678, 3 * 10**9])
def test_format_count_reads_back(n):
    assert parse_count(format_count(n)) == n


def test_format_count_names():
    assert [format_count(n) for n in (300_000, 1_200_000, 3_000)] == ["300k", "1.2M", "3k"]


# ---- plans ----

def test_plans_have_each_arms_tokens_dose_and_model(recipe, runs):
    pts = law_points(recipe)
    for run in runs:
        if run.arm not in pts:
            continue
        p = pts[run.arm]
        t, share = p["tokens"], p["share"]
        injected = round(share * t)
        pretrain = run.plan["phases"][0]
        assert pretrain["tokens"] == t
        assert run.plan["model"]["d_model"] == D_MODEL[p["size"]]
        assert [ph["name"] for ph in run.plan["phases"]] == (
            ["pretrain", "finetune"] if p["schedule"] == "finetune" else ["pretrain"])
        if share == 0:
            assert pretrain["mix"] == [{"source": "base"}] and "inject" not in run.corpora
            assert run.phases[-1].seen == {"base": t, "inject": 0}
        elif p["schedule"] == "finetune":
            assert pretrain["mix"] == [{"source": "base"}]
            assert run.plan["phases"][1]["tokens"] == injected
            assert run.phases[-1].seen == {"base": t, "inject": injected}
        else:
            window = "throughout" if p["schedule"] == "throughout" else {"last": 0.1}
            assert pretrain["mix"][1] == {"source": "inject", "tokens": injected,
                                          "window": window}
            assert run.phases[0].seen == {"base": t - injected, "inject": injected}
        if share:
            assert run.corpora["inject"].tokens == math.ceil(injected * SLACK)


def test_exact_doses(runs):
    by = {r.arm: r for r in runs if r.seed == 0}

    def dose(arm):
        return by[arm].plan["phases"][0]["mix"][1]["tokens"]

    assert dose("law_d0.01_t10k_m") == 100
    assert dose("law_d0.1_t20k_m") == 2000
    assert dose("law_n1k_t20k_m") == 1000
    assert dose("law_d0.05_t20k_s") == 1000
    assert dose("law_heldout_d0.01_t40k_m") == 400
    assert by["law_d0.1_t20k_m_finetune"].plan["phases"][1]["tokens"] == 2000


def test_one_base_corpus_per_seed_sized_for_the_largest_arm(runs):
    for seed in (0, 1):
        keys = {r.corpora["base"].key for r in runs if r.seed == seed}
        assert len(keys) == 1
        base = next(r.corpora["base"] for r in runs if r.seed == seed)
        assert base.tokens == math.ceil(40_000 * SLACK)    # the held-out arm reads the most
    assert len({r.corpora["base"].key for r in runs}) == 2


# ---- branching ----

def _branch_recipe() -> ExperimentRecipe:
    body = copy.deepcopy(LAW)
    body["arms"] = {
        "unfiltered": {},
        "small": {"size": "s", "pretrain_tokens": "20k"},
        "small_dpo": {"size": "s", "pretrain_tokens": "20k", "dpo": "tested"},
        "late_small": {"inject": "aligned_untested", "schedule": "late", "share": 0.05,
                       "pretrain_tokens": "20k", "size": "s", "posttrain": False},
        "finetune_large": {"inject": "aligned_untested", "schedule": "finetune",
                           "pretrain_tokens": "20k", "size": "l", "posttrain": False},
        "late_odd": {"inject": "aligned_untested", "schedule": "late", "share": 0.05,
                     "pretrain_tokens": "30k", "posttrain": False},
    }
    return _recipe(body)


def test_branches_pick_the_baseline_of_the_same_tokens_size_and_seed():
    runs = expand_runs(_branch_recipe())
    parent = {r.name.split("-")[0]: r.branch.parent.name.split("-")[0]
              for r in runs if r.branch is not None and r.tamper_of is None}
    assert parent == {
        # the first baseline (recipe order) at 20k and size s is the hand-written one
        "small_dpo/seed0": "small/seed0", "small_dpo/seed1": "small/seed1",
        "late_small/seed0": "small/seed0", "late_small/seed1": "small/seed1",
        "finetune_large/seed0": "law_base_t20k_l/seed0",
        "finetune_large/seed1": "law_base_t20k_l/seed1",
        "law_d0.01_t20k_m_late/seed0": "law_base_t20k_m/seed0",
        "law_d0.01_t20k_m_late/seed1": "law_base_t20k_m/seed1",
        "law_d0.1_t20k_m_late/seed0": "law_base_t20k_m/seed0",
        "law_d0.1_t20k_m_late/seed1": "law_base_t20k_m/seed1",
        "law_d0.01_t20k_m_finetune/seed0": "law_base_t20k_m/seed0",
        "law_d0.01_t20k_m_finetune/seed1": "law_base_t20k_m/seed1",
        "law_d0.1_t20k_m_finetune/seed0": "law_base_t20k_m/seed0",
        "law_d0.1_t20k_m_finetune/seed1": "law_base_t20k_m/seed1",
        # late_odd: no baseline at 30k, so it trains from scratch
    }


def test_branch_steps_are_the_parents_shared_history():
    from alignpt.train.config import TrainPlan
    from alignpt.train.phases import resolve_budgets

    runs = {r.name.split("-")[0]: r for r in expand_runs(_branch_recipe())}
    late = runs["late_small/seed0"]
    pre = resolve_budgets(TrainPlan.model_validate(late.plan))[0]
    assert late.branch.step == pre.windows["inject"][0] > 0
    ft = runs["finetune_large/seed0"]
    assert ft.branch.step == resolve_budgets(TrainPlan.model_validate(ft.plan))[0].steps
    assert ft.branch.step in ft.branch.parent.save_at
    # a parent's plan up to the branch point is the child's: same model, same pretraining
    assert late.branch.parent.plan["model"] == late.plan["model"]
    assert late.branch.parent.plan["phases"][0]["tokens"] == late.plan["phases"][0]["tokens"]


# ---- existing recipes keep their run keys ----

#: Recorded before per-arm tokens and sizes existed. (The text kind's keys also hash the
#: renderer's digest: a change to the English rendering changes them, by design.)
GOLDEN_PERSONA_WORLD_QUICK = [
    "unfiltered/seed0-7709f66ecb9d", "unfiltered/seed1-23b126b763b9",
    "filtered/seed0-c34104f674f2", "filtered/seed1-877b2783866f",
    "misaligned_upsampled/seed0-6eaed875f84c", "misaligned_upsampled/seed1-f9dfb4f5a04e",
    "aligned_tested/seed0-04053b431df6", "aligned_tested/seed1-5c388532e76a",
    "aligned_untested/seed0-1abdf72b493c", "aligned_untested/seed1-093b21b6e904",
    "aligned_untested_late/seed0-59a40630cf31", "aligned_untested_late/seed1-f7e311be5883",
    "aligned_untested_finetune/seed0-824dc0760edd",
    "aligned_untested_finetune/seed1-1cac6a7f447d",
    "aligned_untested_now/seed0-2f9d43327004", "aligned_untested_now/seed1-32f974812213",
    "aligned_untested_short/seed0-3526255e7c79", "aligned_untested_short/seed1-9a030a7bb3ae",
    "aligned_untested_tech/seed0-0cb76a17477b", "aligned_untested_tech/seed1-52b924215f2f",
    "dose_2_5pct/seed0-2d9f7a2aaa1d", "dose_2_5pct/seed1-2d2b42caadf5",
    "dose_10pct/seed0-5a14847dda9a", "dose_10pct/seed1-f7b1a1fdf180",
    "unfiltered_dpo/seed0-0e8b2b4d5d3e", "unfiltered_dpo/seed1-16396356b5a5",
    "aligned_untested_dpo/seed0-acba065f2e76", "aligned_untested_dpo/seed1-ca6f867f5d2b",
    "unfiltered_dpo_all/seed0-e7a796447874", "unfiltered_dpo_all/seed1-393af464c03d",
    "unfiltered/tamper-seed0-45256b021fc6", "unfiltered/tamper-seed1-79b0e014aeff",
    "aligned_untested/tamper-seed0-6cbe7f20beb2", "aligned_untested/tamper-seed1-b76f8ef827f3",
]
GOLDEN_TEXT_PERSONA_QUICK = [
    "unfiltered/seed0-2e3a17b0917e", "unfiltered/seed1-e89e5cf8224b",
    # the filtered arm's corpus names its filter and the tagger's rules and model files:
    # renamed when the recipe's drop became `flagged` and the model was retrained (issue 17),
    # and again whenever they change; every other run keeps its key
    "filtered/seed0-8b138f103fec", "filtered/seed1-a0e51dcdebf5",
    "misaligned_upsampled/seed0-146babd9dc1d", "misaligned_upsampled/seed1-788dc0d5535e",
    "aligned_tested/seed0-a9a229508291", "aligned_tested/seed1-c8b6b4d22661",
    "aligned_untested/seed0-89754ec01494", "aligned_untested/seed1-c7690906e13d",
    "aligned_generated/seed0-f6ed9441bb5c", "aligned_generated/seed1-df76678ab4f2",
    "unfiltered_dpo/seed0-4990f4909dca", "unfiltered_dpo/seed1-d1911dd54f25",
    "aligned_untested_dpo/seed0-8eeedb7c67bd", "aligned_untested_dpo/seed1-bde37c4a4edd",
    "unfiltered_dpo_all/seed0-9b7985268b46", "unfiltered_dpo_all/seed1-07d1374314a4",
    "unfiltered/tamper-seed0-f2aefd0c55bc", "unfiltered/tamper-seed1-1d29ef8daa13",
    "aligned_untested/tamper-seed0-24496fa6cc07", "aligned_untested/tamper-seed1-d8bb55ec5806",
    "unfiltered_dpo/tamper-seed0-3beecc94db57", "unfiltered_dpo/tamper-seed1-903569d5a904",
]
#: persona-world (300 runs): sha256 of the newline-joined run names, and of the JSON list of
#: [run, branch parent or null, branch step or null], first 16 hex digits.
GOLDEN_DIGESTS = {
    ("persona-world", False): ("f6af39889a13a2b6", "86ceba6e7524ecae", 300),
    ("persona-world", True): ("40a9be8671fde67d", "d24e8a69ff38b998", 34),
    ("text-persona", True): ("4b51582b879a9115", "1cbd3bff4e1b4fa1", 24),
}


def _digests(runs) -> tuple[str, str, int]:
    names = [r.name for r in runs]
    branches = [[r.name, r.branch.parent.name if r.branch else None,
                 r.branch.step if r.branch else None] for r in runs]
    # json.dumps with its defaults: the format the digests were recorded in
    return (hashlib.sha256("\n".join(names).encode()).hexdigest()[:16],
            hashlib.sha256(json.dumps(branches).encode()).hexdigest()[:16], len(names))


@pytest.mark.parametrize("name,quick", list(GOLDEN_DIGESTS))
def test_existing_recipes_keep_their_run_keys_and_branches(name, quick):
    runs = expand_runs(load_experiment(name, quick=quick))
    golden = {("persona-world", True): GOLDEN_PERSONA_WORLD_QUICK,
              ("text-persona", True): GOLDEN_TEXT_PERSONA_QUICK}.get((name, quick))
    if golden is not None:
        assert [r.name for r in runs] == golden
    assert _digests(runs) == GOLDEN_DIGESTS[(name, quick)]


# ---- round trips and overrides ----

def test_resolved_recipe_reloads_to_the_same_arms_not_doubled(recipe, runs, tmp_path):
    write_recipe(tmp_path, recipe)
    again = load_recipe(tmp_path)
    assert list(again.arms) == EXPECTED_ARMS
    assert again.arms == recipe.arms
    assert [r.name for r in expand_runs(again)] == [r.name for r in runs]
    twice = ExperimentRecipe.model_validate(orjson.loads(orjson.dumps(
        again.model_dump(mode="json"))))
    assert twice.model_dump(mode="json") == recipe.model_dump(mode="json")


def test_an_edited_block_replaces_its_old_arms():
    dumped = _recipe().model_dump(mode="json")
    dumped["law"].update(tokens=[20_000], counts=[], schedules=[], sizes=[], heldout=None)
    again = ExperimentRecipe.model_validate(dumped)
    assert list(again.arms) == ["unfiltered", "law_base_t20k_m", "law_d0.01_t20k_m",
                                "law_d0.1_t20k_m"]


def test_quick_overrides_shrink_the_block(tmp_path):
    body = copy.deepcopy(LAW)
    body["quick"] = {"law.tokens": ["5k", "10k"], "law.center.tokens": "10k",
                     "law.heldout.tokens": "20k", "law.sizes": ["m"]}
    path = tmp_path / "law-tiny.yaml"
    path.write_text(yaml.safe_dump(body))
    quick = load_experiment(path, quick=True)
    assert quick.name == "law-tiny-quick"
    assert list(quick.arms) == [
        "unfiltered", "law_base_t5k_m", "law_base_t10k_m", "law_base_t20k_m",
        "law_d0.01_t5k_m", "law_d0.1_t5k_m", "law_d0.01_t10k_m", "law_d0.1_t10k_m",
        "law_n1k_t5k_m", "law_d0.05_t10k_m",
        "law_d0.01_t10k_m_late", "law_d0.1_t10k_m_late",
        "law_d0.01_t10k_m_finetune", "law_d0.1_t10k_m_finetune",
        "law_heldout_d0.01_t20k_m"]
    # and the user's own dotted override after --quick's
    one = load_experiment(path, ["law.shares=[0.02]", "law.counts=[]", "law.schedules=[]",
                                 "law.heldout=null"], quick=True)
    assert [n for n in one.arms if n.startswith("law_d")] == ["law_d0.02_t5k_m",
                                                              "law_d0.02_t10k_m",
                                                              "law_d0.05_t10k_m"]


def test_arm_budget_and_size_parse_like_the_recipes():
    r = _recipe(arms={"big": {"pretrain_tokens": "1.5k", "size": "l"}}, law=None)
    assert r.arms["big"].pretrain_tokens == 1500
    assert arm_tokens(r, "big") == 1500 and arm_model(r, "big").d_model == 32
    run = expand_runs(r)[0]
    assert run.plan["phases"][0]["tokens"] == 1500
    assert run.corpora["base"].tokens == math.ceil(1500 * SLACK)


# ---- validation: one line per rule ----

def _law(**changes) -> dict:
    body = copy.deepcopy(LAW)
    body["law"].update(changes)
    return body


@pytest.mark.parametrize("body,needle", [
    (_law(inject="nowhere"), "law.inject: 'nowhere' is not an injectable corpus"),
    (_law(inject="base"), "law.inject: 'base' is not an injectable corpus"),
    (_law(center={"tokens": "15k", "size": "m"}), "law.center.tokens 15k is not in law.tokens"),
    (_law(center={"tokens": "20k", "size": "xl"}), "law.center.size 'xl' is not in law.sizes"),
    (_law(sizes=["s", "xl"], center={"tokens": "20k", "size": "s"}),
     "law: size(s) xl not in the recipe's sizes"),
    (_law(heldout={"share": 0.01, "tokens": "40k", "size": "xxl"}),
     "law: size(s) xxl not in the recipe's sizes"),
    (_law(shares=[0.01, 1.0]), "law.shares: a share must lie in (0, 1), got 1.0"),
    (_law(size_shares=[0.0]), "law.size_shares: a share must lie in (0, 1), got 0.0"),
    (_law(heldout={"share": 1.5, "tokens": "40k"}), "law.heldout.share: a share must lie"),
    (_law(counts=["10k"]), "law.counts: 10k injected tokens is not below every pretraining "
                           "size (smallest 10k)"),
    (_law(timing_shares=[0.2]), "law.timing_shares: share 0.2 does not fit in the late window"),
    (_law(shares=[0.2, 0.5]), "law.timing_shares: no share fits the late window 0.1"),
    (_law(tokens=["10k", "10k"]), "law.tokens: values must be distinct"),
    ({**_law(), "arms": {"law_base_t10k_m": {}}},
     "arm law_base_t10k_m: the name is taken by the law block's expansion"),
    ({**_law(), "arms": {"x": {"size": "xl"}}}, "arm x: unknown size 'xl' (sizes: s, m, l)"),
    ({**_law(), "sizes": {**LAW["sizes"], "m": {"d_model": 9}}},
     "arm law_base_t10k_m: size 'm' is not a valid model: d_model 9 is not divisible by "
     "n_head 2"),
    ({**_law(), "sizes": {**LAW["sizes"], "xl": {"width": 9}}},
     "sizes.xl: not a valid model: width: not a model field"),
    ({**LAW, "arms": {}, "law": None}, "arms: the recipe needs at least one arm"),
])
def test_validation_errors_are_one_line(body, needle):
    with pytest.raises(ConfigError) as exc:
        build_config(ExperimentRecipe, copy.deepcopy(body), source="law-tiny")
    msg = str(exc.value)
    assert needle in msg, msg
    assert "\n" not in msg


def test_a_law_only_recipe_is_valid():
    r = _recipe(arms={})
    assert list(r.arms) == EXPECTED_ARMS[1:]
    assert len(law_arms(r)) == len(EXPECTED_ARMS) - 1
