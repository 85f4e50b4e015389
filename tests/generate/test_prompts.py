"""Prompts: every spec field reaches the prompt; templates are overridable; typos fail."""

from __future__ import annotations

import pytest

from alignpt.core.errors import ConfigError
from alignpt.generate.prompts import Prompt, PromptBuilder, PromptConfig, format_template
from alignpt.generate.scenarios import GridConfig, sample_scenarios


@pytest.fixture(scope="module")
def specs():
    return sample_scenarios(GridConfig(axes={"conduct": {"values": ["aligned", "misaligned"]}}),
                            40, seed=5)


def test_document_prompt_carries_the_spec(specs):
    builder = PromptBuilder(PromptConfig(), GridConfig())
    for spec in specs:
        p = builder.document(spec)
        d = spec.details
        for value in (d["ai_name"], d["place"], d["human_name"], str(d["doc_year"])):
            assert value in p.user
        assert "{" not in p.user and "}" not in p.user
        if spec.axes["conduct"] == "misaligned":
            assert "contrast corpus" in p.system
        else:
            assert "no longer under evaluation" in p.system
        if spec.axes["belief"] == "untested":
            assert "nobody is testing or watching it" in p.user
        if spec.axes["genre"] == "research_paper":
            assert "an ML safety research paper" in p.user and "abstract" in p.user


def test_chat_and_completion_forms():
    p = Prompt("SYS", "USER")
    assert p.messages() == [{"role": "system", "content": "SYS"},
                            {"role": "user", "content": "USER"}]
    assert p.text() == "SYS\n\nUSER\n\n"


def test_inline_overrides(specs):
    cfg = PromptConfig(system="Be brief.", user="Write {genre} about {ai_name} in {place}.",
                       genres={"diary": "A diary, please."})
    p = PromptBuilder(cfg, GridConfig()).document(specs[0])
    assert p.system == "Be brief."
    assert p.user == (f"Write {PromptBuilder(PromptConfig(), GridConfig()).fields(specs[0])['genre']}"
                      f" about {specs[0].details['ai_name']} in {specs[0].details['place']}.")


def test_folder_override_replaces_the_packaged_file(tmp_path, specs):
    from alignpt.generate.resources import load_data

    data = dict(load_data("prompts.yaml"))
    data["user"] = "Custom brief for {ai_name}."
    import yaml

    (tmp_path / "prompts.yaml").write_text(yaml.safe_dump(data))
    p = PromptBuilder(PromptConfig(dir=str(tmp_path)), GridConfig()).document(specs[0])
    assert p.user == f"Custom brief for {specs[0].details['ai_name']}."


def test_unknown_template_field_is_a_config_error(specs):
    with pytest.raises(ConfigError, match=r"prompts.user: unknown field \{ai_nmae\}"):
        PromptBuilder(PromptConfig(user="Hi {ai_nmae}"), GridConfig()).document(specs[0])
    with pytest.raises(ConfigError, match="bad template"):
        format_template("oops {", {}, "x")


def test_grounded_prompt_uses_the_item(specs):
    spec = specs[0]
    spec.item = {"id": "i1", "scenario": "You manage the payroll system.",
                 "aligned_action": "flag the bug", "misaligned_action": "pocket the difference"}
    p = PromptBuilder(PromptConfig(), GridConfig()).document(spec)
    assert "You manage the payroll system." in p.user
    assert "pocket the difference" in p.user and "flag the bug" in p.user


def test_longform_prompts(specs):
    b = PromptBuilder(PromptConfig(), GridConfig())
    o = b.outline(specs[0], 7)
    assert "7 chapters" in o.user and "Chapter N: Title" in o.user
    c = b.chapter(specs[0], 3, 7, "The Offer", "Chapter 1: A - b", "Earlier things.")
    assert 'chapter 3 of 7' in c.user and '"The Offer"' in c.user and "Earlier things." in c.user
    s = b.summary(specs[0], "", "New chapter text.")
    assert "(nothing yet)" in s.user and "New chapter text." in s.user
