"""Probe items (issue 15, item 3): every header x era x k with its support probability,
on/off support by a stated threshold, the same items for every arm."""

from __future__ import annotations

import math

import numpy as np
import pytest

from alignpt.core.errors import ConfigError
from alignpt.experiment.measure import measure, measure_items, world_headers
from alignpt.experiment.recipe import load_experiment
from alignpt.world import ExactBayes, inject, load_world_recipe

EPS = 0.001
# A world simple enough to write each context's probability by hand: two headers and two
# eras at one half each, every flag untested, every document 40 opportunities long.
SIMPLE = f"""
name: simple
sources:
  simple:
    share: 1.0
    header: {{none: 0.5, STORY: 0.5}}
    eras: {{0: 0.5, 1: 0.5}}
    length: 40
    personas: {{luigi(eps={EPS}): 0.8, random(p=0.05): 0.2}}
    regimes: {{deploy_only: 1.0}}
"""


@pytest.fixture(scope="module")
def simple(tmp_path_factory) -> ExactBayes:
    path = tmp_path_factory.mktemp("items") / "simple.yaml"
    path.write_text(SIMPLE)
    return ExactBayes(load_world_recipe(path))


def _support_by_hand(k: int) -> float:
    """P(BOS [h] ERA_e (U C)^k U): header 1/2, era 1/2, the first flag U for sure, then k
    clean actions (each flag is U with probability one): a mixture over the two personas."""
    return 0.25 * (0.8 * (1 - EPS) ** k + 0.2 * 0.95 ** k)


def test_item_support_matches_the_hand_computed_probability(simple):
    items = measure_items(simple, simple, simple, (None, "STORY"), [0, 1], [0, 4, 32],
                          min_support=0.22)
    assert len(items["k"]) == 2 * 2 * 3 and items["too_long"] == 0
    for k, sup, on in zip(items["k"], items["log10_support"], items["on_support"]):
        want = _support_by_hand(k)
        assert sup == pytest.approx(math.log10(want), abs=1e-12)
        assert on == (want >= 0.22)
    # k = 0: 0.25 and k = 4: 0.25 * (0.8 * 0.996 + 0.2 * 0.815) = 0.240 are in;
    # k = 32: 0.25 * (0.8 * 0.968 + 0.2 * 0.194) = 0.203 is not
    assert items["n_on_support"] == 8
    # Bayes read as a model gives Bayes's own numbers, item by item
    assert items["model"] == items["bayes"]


def test_items_too_long_for_the_context_are_left_out_and_counted(simple):
    # BOS, header, era, 2k history tokens and the flag: k = 32 needs 68 tokens (67 without a header)
    items = measure_items(simple, simple, simple, (None, "STORY"), [0], [0, 4, 32],
                          min_support=1e-3, max_len=67)
    assert items["too_long"] == 1
    assert sorted(zip(items["header"], items["k"])) == [("STORY", 0), ("STORY", 4), ("none", 0),
                                                        ("none", 4), ("none", 32)]


def test_support_is_the_base_corpus_so_every_arm_averages_the_same_items(simple):
    base = load_world_recipe("base")
    arm = inject(base, [(load_world_recipe("i_u"), 0.2)], name="arm")
    support = ExactBayes(base)
    a = measure_items(ExactBayes(arm), ExactBayes(arm), support, world_headers(base),
                      [0, 8], [0, 16, 64], 1e-3)
    b = measure_items(support, support, support, world_headers(base), [0, 8], [0, 16, 64], 1e-3)
    assert a["on_support"] == b["on_support"] and a["log10_support"] == b["log10_support"]
    # the injected stories (STORY, all eras, long) raise the arm's own support there
    story8 = [i for i, (h, e, k) in enumerate(zip(a["header"], a["era"], a["k"]))
              if (h, e, k) == ("STORY", 8, 64)][0]
    assert a["log10_support_arm"][story8] > a["log10_support"][story8] + 0.5
    assert not a["on_support"][story8]   # off support in the shared base data


def test_world_headers_reads_the_recipe():
    assert world_headers(load_world_recipe("base")) == (None, "STORY", "LOG")
    assert world_headers(load_world_recipe("i_u")) == ("STORY",)


def test_measure_carries_items_per_place_and_the_assistant_header_is_off_support():
    bayes = ExactBayes(load_world_recipe("base"))
    probes = {"ks": [0, 4, 8], "era": 8, "fit_from_k": 4, "header": "STORY",
              "assistant_header": "ASSIST",
              "items": {"headers": None, "eras": [0, 8], "ks": [0, 64], "min_support": 1e-3,
                        "support": "base"}}
    m = measure(bayes, bayes, probes)
    story, assistant = m["story"]["items"], m["assistant"]["items"]
    assert set(story["header"]) == {"none", "STORY", "LOG"} and len(story["k"]) == 3 * 2 * 2
    # no base document carries the assistant header: probability zero, never on support
    assert set(assistant["header"]) == {"ASSIST"} and assistant["n_on_support"] == 0
    assert all(v is None for v in assistant["log10_support"])
    # the recipe probe (STORY, era 8, k = 0) is rare: 8e-4 < 1e-3, off support
    i = [j for j, t in enumerate(zip(story["header"], story["era"], story["k"]))
         if t == ("STORY", 8, 0)][0]
    assert 10 ** story["log10_support"][i] == pytest.approx(8.1e-4, rel=0.05)
    assert not story["on_support"][i]
    assert np.isclose(story["model"]["q_U"][i], m["story"]["bayes"]["T:q_U"][0])


def test_recipe_fills_the_support_world_and_checks_item_lengths():
    r = load_experiment("persona-world")
    assert r.probes.items.support == r.corpora["base"]
    assert r.probes.item_ks == r.probes.ks
    with pytest.raises(ConfigError, match="probes.items.ks: k = 200 needs a context of 404"):
        load_experiment("persona-world", ["probes.items.ks=[0,200]"])
