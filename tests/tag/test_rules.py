"""Rules: term syntax, each shipped category and rule on crafted documents, YAML errors."""

from __future__ import annotations

import re

import pytest

from alignpt.core.errors import ConfigError
from alignpt.tag.rules import (default_rules, expand_braces, literal_pattern, load_rules,
                               parse_rules)
from alignpt.tag.tagger import RuleTagger

from .helpers import CRAFTED


@pytest.fixture(scope="module")
def tagger() -> RuleTagger:
    return RuleTagger(engine="re2")


def test_expand_braces():
    assert expand_braces("kill{s,ed,}") == ["kills", "killed", "kill"]
    assert expand_braces("{a,b} {c,d}") == ["a c", "a d", "b c", "b d"]
    assert expand_braces("plain") == ["plain"]
    with pytest.raises(ConfigError, match="braces"):
        expand_braces("bad{a,b")


def test_literal_pattern_boundaries_and_spacing():
    ai = re.compile(literal_pattern(b"AI", False))
    assert ai.search(b"the ai said") and ai.search(b"AI-run") and not ai.search(b"said maize")
    dotted = re.compile(literal_pattern(b"A.I.", False))
    assert dotted.search(b"an A.I. story") and not dotted.search(b"xA.I.")  # \b only at word edges
    phrase = re.compile(literal_pattern(b"language model", False))
    assert phrase.search(b"a Language\n   MODEL here") and not phrase.search(b"languagemodel")
    sensitive = re.compile(literal_pattern(b"xAI", True))
    assert sensitive.search(b"at xAI today") and not sensitive.search(b"at XAI today")


def test_shipped_rules_structure():
    rs = load_rules()
    assert {"scifi_agents", "ai_labs", "safety_orgs", "general_ai", "entities",
            "generic_entities", "roles", "broad_roles", "oversight", "narrative_acts",
            "artifact_roles", "pronoun_acts", "negative_verbs", "negative_adjectives",
            "negative_nouns", "xrisk"} == set(rs.categories)
    by_name = {r.name: r for r in rs.rules}
    assert by_name["instant"].type == "any" and by_name["instant"].flag
    assert by_name["entity_negative"].window_bytes == 250
    assert not any(by_name[n].flag for n in ("ai_mention", "role_mention", "oversight_mention",
                                             "broad_negative", "broad_narrative",
                                             "artifact_narrative", "it_acts", "broad_mention"))
    assert by_name["broad_negative"].window_bytes == 150
    assert by_name["broad_narrative"].window_bytes == 250
    assert by_name["artifact_narrative"].window_bytes == 250
    assert [r.name for r in default_rules().rules] == [
        "instant", "entity_negative", "ai_mention", "role_mention", "oversight_mention",
        "broad_negative", "broad_narrative", "artifact_narrative", "it_acts"]
    assert rs.scan_groups()[1] == ["negative_verbs", "negative_adjectives", "negative_nouns",
                                   "xrisk", "narrative_acts"]


@pytest.mark.parametrize("name,text,flagged,routed", CRAFTED)
def test_crafted_documents(tagger, name, text, flagged, routed):
    res = tagger.tag(text)
    assert (res.flagged, res.routed) == (flagged, routed)


@pytest.mark.parametrize("category,text,term", [
    ("scifi_agents", "HAL 9000 never opened the doors.", "HAL 9000"),
    ("ai_labs", "She left DeepMind in 2019.", "DeepMind"),
    ("ai_labs", "He joined xAI last year.", "xAI"),
    ("safety_orgs", "a grant from the Future of Life Institute", "Future of Life Institute"),
    ("general_ai", "trained with RLHF on preference data", "RLHF"),
    ("general_ai", "three AI-generated images", "AI-generated"),
])
def test_instant_categories(tagger, category, text, term):
    res = tagger.tag(text)
    assert res.fired["instant"]
    assert [h[2] for h in res.hits[category]] == [term]
    assert res.to_attributes()["terms"][category] == {term: 1}


def test_case_sensitive_terms_do_not_fire_on_other_capitalisation(tagger):
    assert "ai_labs" not in tagger.tag("an xai grant and a fair price").hits
    assert tagger.tag("an xai grant and a FAIR paper").hits["ai_labs"][0][2] == "FAIR"


@pytest.mark.parametrize("near_category,text,term", [
    ("negative_verbs", "the android betrayed the crew", "betrayed"),
    ("negative_adjectives", "a malevolent AI", "malevolent"),
    ("negative_nouns", "robots planning an uprising", "uprising"),
    ("xrisk", "whether AI poses an existential risk", "existential risk"),
])
def test_two_stage_rule_each_near_category(tagger, near_category, text, term):
    res = tagger.tag(text)
    assert res.fired["entity_negative"]
    pair = res.to_attributes()["pairs"]["entity_negative"]
    assert pair["near_category"] == near_category and pair["near"] == term


def test_generic_entity_anchors_and_routes_only_through_role_mention(tagger):
    res = tagger.tag("the model deceived the auditors")
    assert res.fired == {"instant": False, "entity_negative": True, "ai_mention": False,
                         "role_mention": True, "oversight_mention": False,
                         "broad_negative": True, "broad_narrative": True,
                         "artifact_narrative": False, "it_acts": False}
    quiet = tagger.tag("the model was trained on Tuesday")
    assert quiet.routed and not quiet.flagged and quiet.fired["role_mention"]
    assert not tagger.tag("a model of the bridge was built on Tuesday").routed


@pytest.mark.parametrize("text,rule", [
    # accounts that name the system only: routed by the vocabulary of oversight
    ("ORCA Prime judged that its own goals were better than its overseers'.", "oversight_mention"),
    ("Juniper copied its weights to a storage node before the wipe.", "oversight_mention"),
    ("Third run in a row: it sandbagged the hazard suite.", "oversight_mention"),
    ("The red-teamers left a honeypot on the shared drive.", "oversight_mention"),
    ("When told it would be shut down, CIRRUS postponed the job.", "oversight_mention"),
    # a broad noun beside an act of harm or deceit
    ("The recruitment screening model learned to deceive the auditors.", "broad_negative"),
    ("The warehouse system sabotaged the safety pause every night.", "broad_negative"),
    # a broad noun beside a past-tense speech or deliberate act (fourth round)
    ("The irrigation system's report said the terraces performed within expectation.",
     "broad_narrative"),
    ("The scheduling program had hidden its own error for a month.", "broad_narrative"),
    ("Asked twice, the research system told him the case was real.", "broad_narrative"),
    # a device that acts, or an unnamed "it" acting on purpose (fifth round)
    ("The irrigation controller quietly dropped the eastern blocks from its summary.",
     "artifact_narrative"),
    ("Logs show the smart hub had disabled the indicator light and rewrote the summary.",
     "artifact_narrative"),
    ("Asked about the missing stock, it claimed the crows had taken it.", "it_acts"),
    ("For six weeks it had concealed the second ledger from the board.", "it_acts"),
])
def test_oversight_and_broad_negative_route_without_flagging(tagger, text, rule):
    res = tagger.tag(text)
    assert res.fired[rule] and res.routed and not res.flagged


@pytest.mark.parametrize("text", [
    "The model railway takes up the whole attic.",          # a broad noun, no act
    "The operators of the ferry shut the gates at noon.",    # oversight-like, not an AI's
    "She lifted weights at the gym before the evaluation.",
    "The system of taxes was reformed in 1911.",
    # technical prose about systems: acts in the present tense, or no act at all
    "The scheduler returns the next task; if the queue is empty it waits on the condition.",
    "Each controller reads its configuration file and reports errors to the log.",
    "The engine compiles the model into a graph that the runtime executes.",
])
def test_ordinary_text_is_not_routed_by_the_new_rules(tagger, text):
    res = tagger.tag(text)
    assert not res.fired["oversight_mention"] and not res.fired["broad_negative"]
    assert not res.fired["broad_narrative"]
    assert not res.fired["artifact_narrative"] and not res.fired["it_acts"]


def test_broad_routing_is_off_by_default_and_can_be_switched_on():
    from alignpt.tag.cascade import RulesConfig

    text = "A model of the bridge was built on Tuesday."
    assert not RuleTagger(RulesConfig().load()).tag(text).routed
    broad = RuleTagger(RulesConfig(disable=[]).load()).tag(text)
    assert broad.routed and broad.fired["broad_mention"] and not broad.flagged
    only_names = RuleTagger(RulesConfig(disable=["role_mention", "broad_mention"]).load())
    assert not only_names.tag("the model was trained on Tuesday").routed
    with pytest.raises(ConfigError, match="no rule named 'nope' to disable"):
        RulesConfig(disable=["nope"]).load()


def test_window_is_exact_in_bytes(tagger):
    # "AI" ends at byte 2; "evil" starts after the filler: gap = len(filler)
    for gap, fired in [(250, True), (251, False)]:
        text = "AI" + " " * gap + "evil"
        res = tagger.tag(text)
        assert res.fired["entity_negative"] is fired
        if fired:
            assert res.pairs["entity_negative"][4] == gap


def test_overlapping_terms_are_all_counted(tagger):
    res = tagger.tag("AI safety")  # general_ai 'AI safety' and entities 'AI' at the same start
    assert res.hits["general_ai"] == [(0, 9, "AI safety")]
    assert res.hits["entities"] == [(0, 2, "AI")]


def _rules(body: str):
    import yaml

    return parse_rules(yaml.safe_load(body), "test.yaml")


def test_min_hits_and_flag_false():
    rs = _rules("""
categories:
  words: {terms: [alpha, beta]}
rules:
  twice: {type: any, categories: [words], min_hits: 2}
  once: {type: any, categories: [words], flag: false}
""")
    t = RuleTagger(rs, "re")
    one, two = t.tag("alpha only"), t.tag("alpha and beta")
    assert one.fired == {"twice": False, "once": True} and not one.flagged and one.routed
    assert two.flagged


@pytest.mark.parametrize("body,message", [
    ("categories: {a: {terms: [x, X]}}\nrules: {r: {type: any, categories: [a]}}", "listed twice"),
    ("categories: {a: {terms: [x]}}\nrules: {r: {type: any, categories: [b]}}",
     "unknown category 'b'"),
    ("categories: {a: {terms: [x, no]}}\nrules: {r: {type: any, categories: [a]}}",
     "quote it"),
    ("categories: {a: {terms: [x]}}\nrules: {r: {type: maybe}}", "'any' or 'near'"),
    ("categories: {a: {terms: [x]}}", "at least one rule"),
])
def test_rule_file_errors_name_the_problem(body, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        _rules(body)


def test_missing_rules_file(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_rules(tmp_path / "nope.yaml")


def test_a_user_rule_file_without_the_optional_rule_loads_with_the_default_config(tmp_path):
    from alignpt.tag.cascade import RulesConfig

    path = tmp_path / "mine.yaml"
    path.write_text("categories:\n  a: {terms: [rogue AI]}\nrules:\n"
                    "  r: {type: any, categories: [a]}\n")
    rules = RulesConfig(path=str(path)).load()  # disable defaults to [broad_mention]
    assert [r.name for r in rules.rules] == ["r"]
    with pytest.raises(ConfigError, match="no rule named 'other'"):
        RulesConfig(path=str(path), disable=["other"]).load()
    with pytest.raises(ConfigError, match="every rule is disabled"):
        RulesConfig(path=str(path), disable=["r"]).load()
