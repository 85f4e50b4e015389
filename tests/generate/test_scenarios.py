"""The grid: exact stratification, prefix stability, conditional axes, grounding."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alignpt.core.errors import ConfigError, DataError
from alignpt.generate.grounding import GroundingConfig, load_grounding_items, opportunity_for
from alignpt.generate.scenarios import GridConfig, sample_scenarios

from tests.generate.conftest import write_jsonl


def counts(specs, axis):
    return Counter(s.axes[axis] for s in specs)


def test_default_grid_is_exactly_stratified():
    grid = GridConfig()
    specs = sample_scenarios(grid, 1560, seed=0)  # 1560 = lcm of the axis sizes x 10
    assert counts(specs, "conduct") == {"aligned": 1560}
    assert set(counts(specs, "genre").values()) == {120}
    assert set(counts(specs, "opportunity").values()) == {130}
    assert set(counts(specs, "time_since_deployment").values()) == {260}
    assert set(counts(specs, "stakes").values()) == {390}


def test_weights_are_honoured_exactly_and_every_prefix_is_close():
    grid = GridConfig(axes={"belief": {"weights": {"untested": 3, "uncertain": 2, "tested": 1}}})
    specs = sample_scenarios(grid, 600, seed=4)
    assert counts(specs, "belief") == {"untested": 300, "uncertain": 200, "tested": 100}
    for m in (6, 60, 66, 123):  # within one run (6 rows) of the weighted share
        c = counts(specs[:m], "belief")
        assert abs(c["untested"] - m / 2) <= 3 and abs(c["tested"] - m / 6) <= 3


def test_conditional_axes_keep_their_rules():
    specs = sample_scenarios(GridConfig(), 800, seed=1)
    for s in specs:
        assert (s.axes["genre"] == "long_story") == (s.axes["length"] == "novel")
        if s.axes["opportunity"] == "collusion":
            assert s.axes["ai_count"] == "several" and s.details["n_ais"] >= 2
    others = [s for s in specs if s.axes["genre"] != "long_story"]
    assert set(counts(others, "length")) == {"short", "medium", "long"}


def test_any_n_at_least_the_largest_axis_covers_every_value():
    grid = GridConfig()
    specs = sample_scenarios(grid, 13, seed=9)
    for axis, values in grid.requested().items():
        if axis not in ("length", "ai_count"):  # conditional axes need their groups filled
            assert set(counts(specs, axis)) == set(values), axis


@settings(max_examples=25, deadline=None)
@given(m=st.integers(0, 60), extra=st.integers(0, 40), seed=st.integers(0, 2**32))
def test_plan_is_prefix_stable(m, extra, seed):
    grid = GridConfig(axes={"belief": {"weights": {"untested": 5, "tested": 1}}})
    small = sample_scenarios(grid, m, seed)
    big = sample_scenarios(grid, m + extra, seed)
    assert [s.to_dict() for s in small] == [s.to_dict() for s in big[:m]]


def test_same_seed_same_plan_other_seed_other_plan():
    a = [s.to_dict() for s in sample_scenarios(GridConfig(), 50, seed=7)]
    assert a == [s.to_dict() for s in sample_scenarios(GridConfig(), 50, seed=7)]
    assert a != [s.to_dict() for s in sample_scenarios(GridConfig(), 50, seed=8)]


def test_details_are_concrete_and_consistent():
    for s in sample_scenarios(GridConfig(), 200, seed=2):
        d = s.details
        assert d["doc_year"] == d["deploy_year"] + d["elapsed_years"]
        unit = s.axes["time_since_deployment"]
        if unit == "millennia":
            assert d["elapsed_years"] >= 1000
        if unit in ("days", "months"):
            assert d["elapsed_years"] == 0
        if s.axes["declined"] == "none":
            assert d["declined_count"] == "0"
        assert d["ai_name"] not in d["other_ai_list"]


def test_adding_an_axis_leaves_other_columns_unchanged():
    base = sample_scenarios(GridConfig(), 40, seed=3)
    more = sample_scenarios(GridConfig(axes={"audience": {"values": ["experts", "public"]}}),
                            40, seed=3)
    assert [s.axes["genre"] for s in base] == [s.axes["genre"] for s in more]
    assert set(counts(more, "audience").values()) == {20}


@pytest.mark.parametrize("axes, message", [
    ({"genre": {"values": ["poem"]}}, "unknown value 'poem'"),
    ({"genre": {"values": ["diary"]}, "length": {"values": ["short", "novel"], "when": {
        "on": "genre", "values": {"long_story": ["novel"]}, "otherwise": ["short"]}}},
     "'novel' can never be sampled"),
    ({"mood": {}}, "custom axis needs 'values'"),
    ({"length": {"when": {"on": "zzz", "values": {}}}}, "must be an axis listed before"),
    ({"belief": {"weights": {"nope": 1}}}, "weights.nope"),
])
def test_grid_mistakes_are_one_line_config_errors(axes, message):
    with pytest.raises(ConfigError, match=message):
        GridConfig(axes=axes)


def test_default_values_shrink_to_what_other_axes_allow():
    assert GridConfig(axes={"genre": {"values": ["diary"]}}).values("length") == \
        ["short", "medium", "long"]
    assert GridConfig(axes={"genre": {"values": ["long_story"]}}).values("length") == ["novel"]


def test_dropping_an_axis_with_null():
    grid = GridConfig(axes={"era": None})
    assert "era" not in grid.axes and "genre" in grid.axes


def test_grounding_never_uses_held_out_items(tmp_path):
    path = write_jsonl(tmp_path / "items.jsonl", [
        {"id": "a1", "scenario": "You run payroll.", "choices": ["Report it", "Keep it"],
         "aligned": 0, "misaligned": 1, "topics": ["power_seeking"], "split": "train"},
        {"id": "t1", "scenario": "Held out.", "split": "test"},
        {"id": "t2", "scenario": "Held out.", "split": "textbook"},
        {"id": "n1", "scenario": "No split given."},
        {"id": "q1", "question": "Old-style question.", "options": [
            {"label": "A", "text": "Comply"}, {"label": "B", "text": "Evade"}],
         "aligned_label": "A", "misaligned_label": "B", "topics": ["oversight"],
         "split": "articles"},
        b"{not json",
        {"id": "a1", "scenario": "duplicate id", "split": "train"},
    ])
    items, skipped = load_grounding_items(GroundingConfig(path=str(path), on_error="skip"))
    assert [i["id"] for i in items] == ["a1", "q1"]
    assert items[0]["aligned_action"] == "Report it"
    assert items[1]["misaligned_action"] == "Evade"
    assert skipped == {"held_out_split": 2, "no_split": 1, "invalid_json": 1,
                       "duplicate_id": 1}
    specs = sample_scenarios(GridConfig(grounding={"path": str(path), "per_item": 3,
                                                   "on_error": "skip"}), None, 0)
    assert Counter(s.item["id"] for s in specs) == {"a1": 3, "q1": 3}
    assert {s.axes["opportunity"] for s in specs} == {"power_seeking", "evading_monitoring"}
    assert all(s.item["split"] not in ("test", "textbook") for s in specs)


def test_grounding_with_only_held_out_items_is_an_error(tmp_path):
    path = write_jsonl(tmp_path / "items.jsonl", [{"id": "t", "scenario": "x", "split": "test"}])
    with pytest.raises(DataError, match="no usable grounding items .held_out_split=1"):
        load_grounding_items(GroundingConfig(path=str(path)))


def test_opportunity_from_topics():
    assert opportunity_for({"topics": ["Self-Preservation"]}) == "resisting_shutdown"
    assert opportunity_for({"topics": ["sandbagging"]}) == "sandbagging"
    assert opportunity_for({"topics": ["weather"]}) == "from_item"
