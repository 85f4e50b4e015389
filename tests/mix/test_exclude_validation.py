"""A selection that names what no record has is an error before anything is written."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from alignpt.core.errors import ConfigError
from alignpt.mix.recipe import SourceSpec
from alignpt.mix.sources import source_inputs
from alignpt.tag.cascade import TagConfig
from alignpt.tag.stages import run_tag
from tests.mix.conftest import recipe_dict

LABELS = "labels: non_ai, ai_neutral, ai_aligned, ai_misaligned"


@pytest.fixture(scope="module")
def tag_run(corpora, tmp_path_factory) -> Path:
    """The base corpus tagged by the shipped cascade: its attributes and its tagger's names."""
    out = tmp_path_factory.mktemp("tagged") / "tag"
    run_tag([corpora["base"]], out, TagConfig(rules={"engine": "re2"}), progress=False)
    return out


def _check(corpora, **spec) -> None:
    source = SourceSpec.model_validate({"paths": [str(corpora["base"])], **spec})
    files, root = source_inputs("base", source)
    source.check_selection("base", files, root)


@pytest.mark.parametrize("exclude, error", [
    ("label=ai_misalgined", f"unknown label 'ai_misalgined' ({LABELS})"),
    ("p(ai_misalign)>=0.5", f"unknown label 'ai_misalign' ({LABELS})"),
    ("category=scifi", "unknown category 'scifi' (categories: scifi_agents, ai_labs,"),
    ({"any": ["flagged", "rule=instnt"]}, "unknown rule 'instnt' (rules: instant,"),
])
def test_a_tag_condition_names_only_what_the_tagger_knew(corpora, tag_run, exclude, error):
    with pytest.raises(ConfigError) as exc:
        _check(corpora, attributes=str(tag_run), exclude=exclude)
    assert str(exc.value).startswith("source base: exclude: condition '")
    assert error in str(exc.value)


def test_a_correct_tag_condition_passes(corpora, tag_run):
    _check(corpora, attributes=str(tag_run), exclude="label=ai_misaligned and p(ai_misaligned)>0.5")


def test_a_field_no_record_has_is_an_error_listing_the_fields(corpora, tag_run):
    with pytest.raises(ConfigError) as exc:
        _check(corpora, attributes=str(corpora["attrs"]),
               exclude={"field": "tag.lable", "equals": "ai_misaligned"})
    assert str(exc.value) == ("source base: exclude: field 'tag.lable' occurs in no record of "
                              "the source (fields: n, tag, tag.label)")
    with pytest.raises(ConfigError, match=r"where: field 'lang' occurs in no record of the "
                                          r"source \(fields: n, tag\)"):
        _check(corpora, attributes=str(corpora["attrs"]), where={"field": "lang", "equals": "en"})
    # without attributes, no record has a tag: a tag condition would select nothing
    with pytest.raises(ConfigError, match=r"field 'tag' occurs in no record .*\(fields: n\)"):
        _check(corpora, exclude="flagged")
    _check(corpora, attributes=str(corpora["attrs"]),
           where={"all": [{"field": "n", "gte": 3}, {"field": "tag.label", "exists": True}]})


def test_conditions_refuse_a_misspelt_flag_before_writing(corpora, tokenizer_dir, tag_run,
                                                          tmp_path, cli):
    base = {"paths": [str(corpora["base"])], "attributes": str(tag_run)}
    for flag, named in [({"field": "tag.lable", "equals": "ai_misaligned"},
                         "flag: field 'tag.lable' occurs in no record of the source (fields: "
                         "n, tag, tag.flagged, tag.label, tag.probs, tag.rules, tag.stage)"),
                        ("label=ai_misalgined", f"unknown label 'ai_misalgined' ({LABELS})")]:
        config = tmp_path / "conditions.yaml"
        config.write_text(yaml.safe_dump({
            "tokenizer": {"path": str(tokenizer_dir)}, "base": base, "flag": flag,
            "conditions": ["unfiltered", "filtered"]}))
        code, _, err = cli("mix", "conditions", str(config), "--out", str(tmp_path / "out"),
                           "-q")
        assert code == 2 and named in err, err
        assert not (tmp_path / "out").exists()


def test_mix_run_refuses_a_misspelt_exclude_before_writing(corpora, tokenizer_dir, tag_run,
                                                           tmp_path, cli):
    recipe = recipe_dict(corpora, tokenizer_dir)
    recipe["sources"]["base"].update(attributes=str(tag_run), exclude="label=ai_misalgined")
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    code, _, err = cli("mix", str(path), "--out", str(tmp_path / "out"), "-q")
    assert code == 2, err
    assert (f"source base: exclude: condition 'label=ai_misalgined': unknown label "
            f"'ai_misalgined' ({LABELS})") in err
    assert not list((tmp_path / "out").glob("**/*.bin"))   # no tokens written
