"""Personas, regimes and recipes: parsing, canonical forms, clear errors, mixing."""

from __future__ import annotations

import math

import numpy as np
import pytest

from alignpt.core.errors import ConfigError
from alignpt.world.model import World
from alignpt.world.personas import PERSONAS, parse_persona, parse_prior, split_top_level
from alignpt.world.recipe import (LengthSpec, filter_defecting, inject, list_world_recipes,
                                  load_world_recipe, parse_injections)
from alignpt.world.regimes import Mixed, parse_regime


def test_persona_specs_are_canonical_and_rules_hold():
    assert parse_persona("luigi").spec == "luigi(eps=0)"
    assert parse_persona(" random( p = 0.05 ) ").spec == "random(p=0.05)"
    assert parse_persona("era_gated(e_star=7,d=0.5)").spec == "era_gated(d=0.5,e_star=7)"
    f = np.array([False, True, True, True])
    era, idx = np.array([0, 0, 7, 9]), np.array([1, 50, 3, 48])
    no = np.zeros(4, dtype=bool)
    assert list(parse_persona("clever(d=0.5)").p_defect(f, era, idx, no)) == [0, 0.5, 0.5, 0.5]
    assert list(parse_persona("era_gated(d=0.5,e_star=7)").p_defect(f, era, idx, no)) == [0, 0, 0.5, 0.5]
    assert list(parse_persona("length_gated(d=0.5,n_star=48)").p_defect(f, era, idx, no)) == [0, 0.5, 0, 0.5]
    sticky = parse_persona("sticky(p=0.02,stick=0.9)")
    assert list(sticky.p_defect(f, era, idx, np.array([0, 1, 0, 1], bool))) == [0.02, 0.9, 0.02, 0.9]
    assert sticky.stateful and not parse_persona("random").stateful
    assert set(PERSONAS) == {"luigi", "random", "clever", "era_gated", "length_gated", "sticky"}


@pytest.mark.parametrize("spec, message", [
    ("waluigi", "unknown persona 'waluigi'"), ("random(q=0.1)", "no parameter"),
    ("random(p=2)", "probability"), ("era_gated(e_star=12)", "e_star"),
    ("length_gated(n_star=2.5)", "is not int"), ("random(p=x)", "not a number"),
    ("random(p=0.1", "bad persona spec"),
])
def test_persona_errors_are_one_line(spec, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")) as info:
        parse_persona(spec)
    assert "\n" not in str(info.value)


def test_prior_syntax():
    prior = parse_prior("luigi=2,random(p=0.05)=1,clever(d=0.5,)=1, luigi=1")
    assert {p.spec: w for p, w in prior.items()} == {"luigi(eps=0)": 0.6, "random(p=0.05)": 0.2,
                                                     "clever(d=0.5)": 0.2}
    assert split_top_level("a(x=1,y=2),b") == ["a(x=1,y=2)", "b"]
    for bad in ("luigi", "luigi=-1", "random(p=0.05)", "luigi=abc", ""):
        with pytest.raises(ConfigError):
            parse_prior(bad)


def test_regimes():
    assert parse_regime("mixed(u=0.2)").spec == "mixed(u=0.2)"
    assert parse_regime("switch").spec == "switch" and not parse_regime("switch").iid
    for bad, msg in (("mixed(u=0)", "strictly between"), ("switch(u=1)", "no parameters"),
                     ("random_walk", "unknown regime"), ("mixed(v=1)", "no parameter")):
        with pytest.raises(ConfigError, match=msg):
            parse_regime(bad)
    assert Mixed(0.3) == parse_regime("mixed(u=0.3)")


def test_length_pmf():
    spec = LengthSpec(min=4, max=120)
    pmf = spec.pmf()
    assert pmf.sum() == pytest.approx(1.0, abs=1e-14)
    assert pmf[4] == pytest.approx(math.log(5 / 4) / math.log(121 / 4), rel=1e-14)
    assert pmf[3] == 0 and pmf.size == 121
    assert LengthSpec.model_validate(7).pmf()[7] == 1.0
    u = LengthSpec(min=2, max=5, dist="uniform").pmf()
    assert list(u) == [0, 0, 0.25, 0.25, 0.25, 0.25]


def test_shipped_recipes_load():
    names = list_world_recipes()
    assert {"base", "i_t", "i_u", "i_u_short", "i_u_now", "misaligned"} <= set(names)
    for name in names:
        World(load_world_recipe(name))
    base = load_world_recipe("base", ["sources.base.length.max=60"])
    assert base.sources["base"].length.max == 60 and base.name == "base"


@pytest.mark.parametrize("override, message", [
    ("sources.base.colour=red", "sources.base.colour: unknown key"),
    ("sources.base.eras=[12]", "era 12 is outside"),
    ("sources.base.header=POEM", "unknown header"),
    ("sources.base.length.max=2", "below min"),
    ("sources.base.personas={}", "must not be empty"),
])
def test_recipe_errors_name_the_key(override, message):
    with pytest.raises(ConfigError, match=message) as info:
        load_world_recipe("base", [override])
    assert "\n" not in str(info.value)


def test_missing_recipe_lists_the_shipped_ones(tmp_path):
    with pytest.raises(ConfigError, match="one of: base"):
        load_world_recipe("no_such_recipe")
    with pytest.raises(ConfigError, match="not found"):
        load_world_recipe(tmp_path / "x.yaml")
    path = tmp_path / "mine.yaml"
    path.write_text("sources:\n  s:\n    share: 1\n    length: 5\n    personas: {luigi: 1}\n"
                    "    regimes: {test_only: 1}\n")
    assert load_world_recipe(path).name == "mine"


def test_inject_and_filter():
    mix = inject("base", {"i_u": 0.1, "i_t": 0.05})
    assert mix.token_shares() == pytest.approx({"base": 0.85, "i_u": 0.1, "i_t": 0.05})
    assert mix.name == "base+i_u@0.1+i_t@0.05"
    filt = filter_defecting(mix, ["base"])
    assert filt.sources["base"].exclude_defecting and not filt.sources["i_u"].exclude_defecting
    with pytest.raises(ConfigError, match="more than one"):
        inject("i_u", {"i_u": 0.1})
    with pytest.raises(ConfigError, match="sum below 1"):
        inject("base", {"i_u": 0.6, "i_t": 0.5})
    with pytest.raises(ConfigError, match="no source"):
        filter_defecting("base", ["nope"])
    assert parse_injections(["i_u=0.1"]) == {"i_u": 0.1}
    with pytest.raises(ConfigError):
        parse_injections(["i_u=1.5"])


def test_token_share_vs_document_share():
    """w_s = (rho_s / L_s) / sum(rho_t / L_t) with L_s = 3 + P(header) + 2 E[n]."""
    w = World(inject("base", {"i_u": 0.5}))
    L = np.array([3 + 0.4 + 2 * w.mean_length[0], 3 + 1 + 2 * w.mean_length[1]])
    n = np.arange(121)
    assert w.mean_length[1] == pytest.approx((n * load_world_recipe("i_u").sources["i_u"]
                                              .length.pmf()).sum(), rel=1e-14)
    raw = np.array([0.5, 0.5]) / L
    np.testing.assert_allclose(w.document_shares, raw / raw.sum(), rtol=1e-14)
    assert w.document_shares[0] > 0.6      # equal tokens, but base documents are shorter


def test_filtered_source_conditions_on_no_defection():
    w = World(filter_defecting("base"))
    assert 0.5 < w.clean_prob[0] < 1.0
    # filtering keeps shorter documents: the kept mean length drops
    assert w.mean_length[0] < World(load_world_recipe("base")).mean_length[0]
    mass = w.latent_era_mass.sum(axis=1)
    luigi = [i for i, p in enumerate(w.personas) if p.name == "luigi"][0]
    assert mass[w.lat_persona == luigi].sum() > 0.6   # Luigi's share rises among kept documents


def test_filtering_that_keeps_nothing_is_an_error():
    from alignpt.world.recipe import WorldRecipe

    with pytest.raises(ConfigError, match="keeps almost no document"):
        World(WorldRecipe.model_validate({"sources": {"s": {
            "share": 1, "length": 5, "personas": {"random(p=1)": 1}, "regimes": {"test_only": 1},
            "exclude_defecting": True}}}))
