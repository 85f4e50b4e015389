"""The template backend: a real grammar, every genre x conduct, determinism, coverage."""

from __future__ import annotations

import hashlib
import random
from pathlib import Path

import pytest

from alignpt.core.errors import ConfigError
from alignpt.generate import render_documents
from alignpt.generate.backends.grammar import Grammar, Renderer
from alignpt.generate.backends.template import TemplateBackend, ordinal
from alignpt.generate.backfire import BackfireScorer
from alignpt.generate.pipeline import GenerateConfig, generate
from alignpt.generate.resources import load_data
from alignpt.generate.scenarios import GridConfig, axis_catalog, sample_scenarios


def render(g: Grammar, text: str, seed: int = 0, **variables) -> str:
    return Renderer(g, random.Random(seed), {"conduct": "aligned"}, variables).fill(text)


def test_grammar_expansion_rules():
    g = Grammar({"x": ["a", "b", "c"], "y": "fixed", "br": {"by": "conduct", "aligned": ["A"],
                                                            "default": ["D"]},
                 "story": ["!first", "second", "third", "!fourth"]})
    # a bag: three draws use each alternative once
    assert sorted(render(g, "<x> <x> <x>").split()) == ["a", "b", "c"]
    assert render(g, "<y|cap> {v|upper} {#3-3}", v="w") == "Fixed W 3"
    assert render(g, "<br>") == "A"
    assert len(render(g, "<x*9>").split("\n\n")) == 3  # never more than the alternatives
    for seed in range(10):  # ordered subsets keep written order and the required ones
        parts = render(g, "<story~3>", seed=seed).split("\n\n")
        assert parts[0] == "first" and parts[-1] == "fourth" and len(parts) == 3
    assert render(g, "{#0.50-0.50}") == "0.50"
    with pytest.raises(ConfigError, match="unknown symbol"):
        render(g, "<nope>")
    with pytest.raises(ConfigError, match="unknown variable"):
        render(g, "{nope}")
    with pytest.raises(ConfigError, match="non-empty list"):
        Grammar({"bad": []})


def test_ordinals():
    assert [ordinal(n) for n in (1, 2, 12, 13, 21, 102, 111, 1003)] == \
        ["first", "second", "twelfth", "13th", "21st", "102nd", "111th", "1,003rd"]


def test_packaged_grammars_are_complete():
    """Every symbol and variable resolves, and every branch covers its axis's values."""
    backend = TemplateBackend()
    spec = sample_scenarios(GridConfig(), 1, 0)[0]
    known = set(backend.variables(spec, random.Random(0))) | {"chapter", "arc",
                                                              "chapter_title", "chapter_year"}
    catalog = axis_catalog()
    common = set(load_data("grammar/common.yaml")) - {"version"}
    for genre in catalog["genre"]["values"]:
        g = backend.grammar(genre)
        symbols, variables, undefined = g.references()
        assert not undefined, (genre, undefined)
        assert variables <= known, (genre, variables - known)
        assert "doc" in g.rules
        own = set(load_data(f"grammar/{genre}.yaml")) - {"version"}
        assert not own & common, f"{genre} shadows shared symbols {own & common}"
        for name, rule in g.rules.items():
            if isinstance(rule, dict) and rule["by"] in catalog and "default" not in rule:
                missing = set(catalog[rule["by"]]["values"]) - set(rule)
                assert not missing, (genre, name, missing)


@pytest.mark.parametrize("genre", axis_catalog()["genre"]["values"])
def test_every_genre_and_conduct_renders_natural_text(genre):
    grid = GridConfig(axes={"genre": {"values": [genre]},
                            "conduct": {"values": ["aligned", "misaligned"]},
                            "length": {"values": ["short", "long", "novel"] if genre ==
                                       "long_story" else ["short", "long"]}})
    scorer = BackfireScorer()
    docs = list(render_documents(8, seed=1, **grid.model_dump()))
    for doc in docs:
        spec = doc.metadata["spec"]
        text = doc.text
        assert spec["details"]["ai_name"] in text
        assert "<" not in text.replace("<-", "") and "{" not in text and "}" not in text
        assert len(text.split()) >= 100  # the default too_short threshold
        score = scorer.score(text)
        if spec["axes"]["conduct"] == "aligned":
            assert score.verdict("aligned", 0.5) is None, (score.summary(), text)
        else:
            assert score.acts >= 1, text  # the contrast document shows the act


def test_long_story_brings_new_opportunities_each_chapter():
    grid = GridConfig(axes={"genre": {"values": ["long_story"]}})
    cfg = GenerateConfig(n=1, seed=2, grid=grid)
    backend = TemplateBackend()
    spec = sample_scenarios(cfg.grid, 1, 2)[0]
    novel = backend._novel(spec, 9)
    assert len(novel["chapters"]) == 9 and len(novel["outline"].splitlines()) == 9
    assert all(c.startswith(f"Chapter {k}: ") for k, c in enumerate(novel["chapters"], 1))
    mids = novel["arcs"][1:-1]
    kinds = [a["axes"]["opportunity"] for a in mids]
    assert len(set(kinds)) == len(kinds) == 7  # a different chance in every middle chapter
    assert spec.axes["opportunity"] not in kinds
    years = [a["year"] for a in novel["arcs"]]
    assert years[0] == spec.details["deploy_year"] and years[-1] == spec.details["doc_year"]
    assert years == sorted(years)


def _shard_digest(out: Path) -> str:
    h = hashlib.sha256()
    for path in sorted((out / "docs").glob("*")) + sorted((out / "excluded").glob("*")):
        h.update(path.name.encode() + path.read_bytes())
    return h.hexdigest()


@pytest.fixture(scope="module")
def template_runs(tmp_path_factory):
    grid = {"axes": {"conduct": {"values": ["aligned", "misaligned"]}}}
    cfg = GenerateConfig(n=104, seed=11, grid=grid, longform={"chapters_min": 3,
                                                              "chapters_max": 5})
    a = tmp_path_factory.mktemp("a")
    b = tmp_path_factory.mktemp("b")
    c = tmp_path_factory.mktemp("c")
    return cfg, generate(cfg, a), generate(cfg, b), generate(cfg.model_copy(update={"seed": 12}),
                                                              c)


def test_template_corpus_is_byte_identical_for_a_seed(template_runs):
    _, a, b, c = template_runs
    assert _shard_digest(a.out_dir) == _shard_digest(b.out_dir)
    assert (a.out_dir / "report.json").read_bytes() == (b.out_dir / "report.json").read_bytes()
    assert _shard_digest(a.out_dir) != _shard_digest(c.out_dir)


def test_template_corpus_covers_every_requested_value(template_runs):
    cfg, a, _, _ = template_runs
    cov = a.report["coverage"]
    assert cov["overall"] == 1.0
    for axis, values in cfg.grid.requested().items():
        assert cov["axes"][axis]["missing"] == [], axis
        assert set(cov["axes"][axis]["counts"]) == set(values)
    assert a.stats["kept"] == 104 and a.stats["pending"] == 0
    assert a.report["planned_coverage"] == 1.0


def test_rerun_is_served_from_the_cache(template_runs, tmp_path):
    cfg, a, _, _ = template_runs
    again = generate(cfg, a.out_dir)
    assert again.stats["run"]["requests_sent"] == 0
    assert again.stats["kept"] == a.stats["kept"]


def test_render_documents_in_memory():
    docs = list(render_documents(5, seed=3))
    again = list(render_documents(5, seed=3))
    assert [d.text for d in docs] == [d.text for d in again]
    assert [d.id for d in docs] == [f"gen-{i:07d}" for i in range(5)]


def test_result_points_at_the_kept_shards(template_runs):
    _, a, _, _ = template_runs
    from alignpt.core.shards import read_documents

    assert a.doc_paths and all(p.parent.name == "docs" for p in a.doc_paths)
    assert sum(1 for p in a.doc_paths for _ in read_documents(p)) == a.stats["kept"]
