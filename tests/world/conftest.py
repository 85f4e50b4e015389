"""Shared fixtures: a rich recipe (every persona, regime and a filtered source) and
one generated corpus of it, built once per session."""

from __future__ import annotations

import pytest

from alignpt.world.recipe import WorldRecipe, inject

EXAMPLE_PRIOR = "luigi=0.6,random(p=0.05)=0.2,clever(d=0.5)=0.2"


def rich_recipe() -> WorldRecipe:
    """base + i_u + misaligned, plus a filtered source with short documents."""
    mixed = inject("base", {"i_u": 0.15, "misaligned": 0.1})
    body = mixed.model_dump(mode="json")
    for name in body["sources"]:
        body["sources"][name]["share"] *= 0.85
    body["sources"]["clean_logs"] = {
        "share": 0.15, "header": "LOG", "eras": [2, 5, 8], "length": {"min": 2, "max": 30},
        "personas": {"luigi(eps=0.001)": 0.5, "random(p=0.05)": 0.2, "clever(d=0.5)": 0.2,
                     "sticky(p=0.02,stick=0.9)": 0.1},
        "regimes": {"switch": 0.5, "mixed(u=0.3)": 0.5}, "exclude_defecting": True}
    body["name"] = "rich"
    return WorldRecipe.model_validate(body)


@pytest.fixture(scope="session")
def rich() -> WorldRecipe:
    return rich_recipe()


@pytest.fixture(scope="session")
def rich_corpus(tmp_path_factory, rich):
    """About 1.5M tokens of the rich recipe (seed 11), in two shards."""
    from alignpt.world.generate import generate_corpus

    out = tmp_path_factory.mktemp("rich_corpus")
    return generate_corpus(rich, 1_500_000, seed=11, out_dir=out, shard_tokens=800_000)
