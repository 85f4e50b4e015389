"""Token arithmetic of a recipe: exact values, exact sums, and clear refusals."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alignpt.core.errors import ConfigError
from alignpt.mix.permute import FeistelPermutation, derive_key, hash_uniform
from alignpt.mix.plan import SourceSize, SourceTooSmallError, resolve_plan
from alignpt.mix.recipe import load_recipe


def recipe(phases, sources=None, **kw):
    sources = sources or {"base": {"paths": ["x"]}, "inj": {"paths": ["y"], "max_repetition": 4}}
    return load_recipe(None, data={"tokenizer": {"path": "t"}, "sources": sources,
                                   "phases": phases, **kw})


BIG = {"base": SourceSize(1000, 10**9), "inj": SourceSize(10, 10**7)}


def test_late_window_segments_are_exact():
    r = recipe([{"name": "pre", "tokens": 1_000_003,
                 "mix": ["base", {"source": "inj", "share": 0.01, "window": "last 10%"}]}])
    ph = resolve_plan(r, BIG).phases[0]
    assert ph.planned == {"base": 990_003, "inj": 10_000}
    assert [(s.start, s.end, s.quotas) for s in ph.segments] == [
        (0, 900_003, {"base": 900_003}),
        (900_003, 1_000_003, {"base": 90_000, "inj": 10_000})]


def test_shares_without_rest_use_largest_remainder():
    r = recipe([{"name": "p", "tokens": 10, "mix": [{"source": "base", "share": 0.5},
                                                   {"source": "inj", "share": 0.5}]}])
    assert resolve_plan(r, BIG).phases[0].planned == {"base": 5, "inj": 5}
    r = recipe([{"name": "p", "tokens": 7, "mix": [{"source": "base", "share": 0.5},
                                                  {"source": "inj", "share": 0.5}]}])
    assert resolve_plan(r, BIG).phases[0].planned == {"base": 4, "inj": 3}


def test_phase_total_from_exact_budget_and_share():
    r = recipe([{"name": "p", "mix": [{"source": "base", "tokens": 990},
                                     {"source": "inj", "share": 0.01}]}])
    ph = resolve_plan(r, BIG).phases[0]
    assert ph.tokens == 1000 and ph.planned == {"base": 990, "inj": 10}


def test_epochs_budget():
    r = recipe([{"name": "p", "mix": [{"source": "base", "tokens": 100},
                                     {"source": "inj", "epochs": 2.5}]}],
               sources={"base": {"paths": ["x"]}, "inj": {"paths": ["y"], "max_repetition": 3}})
    plan = resolve_plan(r, {"base": SourceSize(5, 1000), "inj": SourceSize(3, 41)})
    assert plan.phases[0].planned["inj"] == 102          # round(2.5 * 41)
    assert plan.sources["inj"].epochs == pytest.approx(102 / 41)


def test_separate_entries_leave_the_stream():
    r = recipe([{"name": "mid", "tokens": 1000,
                 "mix": ["base", {"source": "inj", "tokens": 100, "separate": True}]}])
    ph = resolve_plan(r, BIG).phases[0]
    assert ph.separate == {"inj": 100} and ph.stream_tokens == 900
    assert [(s.start, s.end, s.quotas) for s in ph.segments] == [(0, 900, {"base": 900})]


def test_repetition_cap_across_phases_refuses_with_a_clear_message():
    r = recipe([{"name": "pre", "tokens": 1000, "mix": ["base", {"source": "inj", "tokens": 30}]},
                {"name": "mid", "tokens": 1000, "mix": ["base", {"source": "inj", "tokens": 15}]}])
    sizes = {"base": SourceSize(10, 5000), "inj": SourceSize(2, 10)}
    with pytest.raises(SourceTooSmallError) as exc:
        resolve_plan(r, sizes)
    msg = str(exc.value)
    assert "source 'inj' is too small" in msg
    assert "asks for 45 tokens (pre 30; mid 15)" in msg
    assert "holds 10 tokens in 2 documents" in msg
    assert "at max_repetition 4 it can supply at most 40" in msg
    assert "sources.inj.max_repetition to at least 4.5" in msg
    sizes["inj"] = SourceSize(2, 12)                          # 4 * 12 = 48 >= 45
    assert resolve_plan(r, sizes).sources["inj"].planned == 45


def test_empty_source_is_refused():
    r = recipe([{"name": "p", "tokens": 100, "mix": ["base", {"source": "inj", "tokens": 1}]}])
    with pytest.raises(SourceTooSmallError, match="'inj' has no tokens"):
        resolve_plan(r, {"base": SourceSize(1, 500), "inj": SourceSize(0, 0)})


@pytest.mark.parametrize("phase, message", [
    ({"name": "p", "tokens": 100, "mix": [{"source": "base", "share": 0.5},
                                         {"source": "inj", "share": 0.2}]}, "shares add up"),
    ({"name": "p", "tokens": 100, "mix": [{"source": "base", "tokens": 90},
                                         {"source": "inj", "tokens": 20}]}, "exceed"),
    ({"name": "p", "tokens": 100, "mix": [{"source": "base", "tokens": 10, "window": "first 10%"},
                                         {"source": "inj", "tokens": 90, "window": "last 50%"}]},
     "not covered"),
    ({"name": "p", "tokens": 100, "mix": ["base", {"source": "inj", "tokens": 20,
                                                   "window": "last 10%"}]}, "hold 10"),
])
def test_impossible_phases_are_refused(phase, message):
    with pytest.raises(ConfigError, match=message):
        resolve_plan(recipe([phase]), BIG)


@pytest.mark.parametrize("data, message", [
    ({"phases": [{"name": "p", "mix": ["base", "inj"]}]}, "only one source"),
    ({"phases": [{"name": "p", "tokens": 9, "mix": ["base", {"source": "nope", "tokens": 3}]}]},
     "unknown source 'nope'"),
    ({"phases": [{"name": "p", "tokens": 5, "mix": ["base"]}]}, "'inj' is not used"),
    ({"phases": [{"name": "p", "tokens": 5, "mix": [
        "base", {"source": "inj", "tokens": 1, "share": 0.1}]}]}, "one of tokens, share"),
    ({"phases": [{"name": "p", "tokens": 5, "mix": [
        "base", {"source": "inj", "tokens": 1, "separate": True, "window": "last 5%"}]}]},
     "separate source has no window"),
])
def test_recipe_validation(data, message):
    with pytest.raises(ConfigError, match=message):
        recipe(**data)


@settings(max_examples=200, deadline=None)
@given(total=st.integers(50, 10**7), shares=st.lists(st.integers(1, 40), min_size=1, max_size=3),
       windows=st.lists(st.tuples(st.integers(0, 9), st.integers(1, 10)), min_size=3, max_size=3))
def test_every_segment_and_source_adds_up(total, shares, windows):
    sources = {"base": {"paths": ["x"], "max_repetition": 100}}
    mix: list = ["base"]
    for i, pct in enumerate(shares):
        a, b = sorted(windows[i])
        if a == b:
            a, b = 0, 10
        sources[f"s{i}"] = {"paths": ["y"], "max_repetition": 100}
        mix.append({"source": f"s{i}", "share": pct / 1000, "window": {"start": a / 10,
                                                                        "end": b / 10}})
    r = recipe([{"name": "p", "tokens": total, "mix": mix}], sources=sources)
    sizes = {s: SourceSize(10, total) for s in sources}
    try:
        ph = resolve_plan(r, sizes).phases[0]
    except ConfigError as exc:
        # a crowded window, an empty one, or a share that rounds to nothing
        assert any(m in str(exc) for m in ("hold", "holds no token", "gets no tokens"))
        return
    assert sum(ph.planned.values()) == total
    for seg in ph.segments:
        assert sum(seg.quotas.values()) == seg.end - seg.start
    for src, n in ph.planned.items():
        assert sum(seg.quotas.get(src, 0) for seg in ph.segments) == n
        a, b = ph.windows[src]
        assert all(seg.quotas.get(src, 0) == 0 for seg in ph.segments
                   if seg.end <= a or seg.start >= b)


@settings(max_examples=100, deadline=None)
@given(n=st.integers(1, 5000), key=st.integers(0, 2**64 - 1))
def test_feistel_is_a_bijection(n, key):
    import numpy as np

    out = FeistelPermutation(n, key)(np.arange(n))
    assert np.array_equal(np.sort(out), np.arange(n))


def test_permutation_is_pinned():
    import numpy as np

    # Pinned: the order is part of "same seed, same bytes" across machines.
    assert FeistelPermutation(10, derive_key(0, "source", "aligned", 0))(
        np.arange(10)).tolist() == [7, 9, 5, 4, 3, 1, 2, 0, 8, 6]
    u = hash_uniform(5, np.arange(10000))
    assert 0 <= u.min() and u.max() < 1 and abs(u.mean() - 0.5) < 0.01
