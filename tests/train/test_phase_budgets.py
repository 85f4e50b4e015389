from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alignpt.core.budget import apportion
from alignpt.core.errors import ConfigError
from alignpt.train.config import ScheduleConfig, TrainPlan
from alignpt.train.phases import resolve_phases
from alignpt.train.schedule import lr_at, lr_curve
from tests.train.train_world import tiny_plan


def test_apportion_exact_values():
    assert apportion(10, [1, 1, 1]) == [4, 3, 3]
    assert apportion(100, [0.9, 0.1]) == [90, 10]
    assert apportion(7, [Fraction(1, 3), Fraction(2, 3)]) == [2, 5]
    assert apportion(5, [0, 0]) == [0, 0]


@settings(deadline=None)  # the machine is shared: no wall-clock limits in tests
@given(st.integers(0, 10**9), st.lists(st.integers(0, 10**6), min_size=1, max_size=8))
def test_apportion_sums_and_bounds(total, weights):
    parts = apportion(total, weights)
    if sum(weights) == 0:
        assert parts == [0] * len(weights)
        return
    assert sum(parts) == total
    for p, w in zip(parts, weights):
        ideal = Fraction(total * w, sum(weights))
        assert ideal - 1 < p < ideal + 1


def _plan(world, mix, steps=40, batch=4, seq=31):
    plan = tiny_plan(world, batch_size=batch, seq_len=seq)
    plan["phases"] = [{"name": "p", "steps": steps, "mix": mix}]
    return TrainPlan.model_validate(plan)


def test_last_window_segments(world):
    # 40 steps x 4 rows x 32 tokens = 5120 tokens; inject 10% in the last 25% (steps 30-40).
    ph, = resolve_phases(_plan(world, ["base", {"source": "inject", "share": 0.1, "window": "last 25%"}]))
    assert (ph.steps, ph.tokens) == (40, 5120)
    assert ph.planned == {"base": 4608, "inject": 512}
    assert [(g.start_step, g.end_step) for g in ph.segments] == [(0, 30), (30, 40)]
    assert ph.segments[0].quotas == {"base": 3840}
    assert ph.segments[1].quotas == {"base": 768, "inject": 512}


def test_three_windows_and_exact_tokens(world):
    mix = ["base",
           {"source": "inject", "tokens": 1000, "window": "first 20%"},
           {"source": "instruct", "share": 0.05, "window": {"start": 0.5, "end": 0.75}}]
    ph, = resolve_phases(_plan(world, mix))
    assert ph.planned == {"base": 5120 - 1000 - 256, "inject": 1000, "instruct": 256}
    assert [(g.start_step, g.end_step) for g in ph.segments] == [(0, 8), (8, 20), (20, 30), (30, 40)]
    assert [g.quotas.get("inject", 0) for g in ph.segments] == [1000, 0, 0, 0]
    assert [g.quotas.get("instruct", 0) for g in ph.segments] == [0, 0, 256, 0]
    for g in ph.segments:
        assert sum(g.quotas.values()) == g.steps * 4 * 32


@settings(max_examples=60, deadline=None)
@given(steps=st.integers(4, 300), a=st.floats(0.01, 0.3), b=st.floats(0.05, 0.6),
       wa=st.sampled_from(["throughout", "last 10%", "first 30%", "last 50%"]),
       wb=st.sampled_from(["throughout", "first 25%", "last 40%"]))
def test_resolution_is_exact_for_any_plan(world, steps, a, b, wa, wb):
    mix = ["base", {"source": "inject", "share": round(a, 3), "window": wa},
           {"source": "instruct", "share": round(b, 3), "window": wb}]
    try:
        ph, = resolve_phases(_plan(world, mix, steps=steps))
    except ConfigError as exc:  # infeasible windows are reported, never silently bent
        assert "windowed sources need" in str(exc)
        return
    assert sum(ph.planned.values()) == ph.tokens == steps * 128
    for s, n in ph.planned.items():
        assert sum(g.quotas.get(s, 0) for g in ph.segments) == n
        lo, hi = ph.windows[s]
        assert all(g.start_step >= lo and g.end_step <= hi for g in ph.segments if g.quotas.get(s))
    for g in ph.segments:
        assert sum(g.quotas.values()) == g.steps * 128


def test_tokens_budget_rounds_to_whole_steps(world):
    plan = tiny_plan(world)
    plan["phases"] = [{"name": "p", "tokens": "10k", "mix": ["base"]}]
    ph, = resolve_phases(TrainPlan.model_validate(plan))
    assert ph.steps == round(10_000 / (8 * 65)) == 19 and ph.tokens == 19 * 520


def test_schedules_exact_values():
    cos = ScheduleConfig(kind="cosine", peak_lr=1.0, warmup=0.1, min_lr_ratio=0.1)
    curve = lr_curve(cos, 21)
    assert curve[0] == pytest.approx(0.5) and curve[1] == 1.0  # 2 warmup steps
    assert curve[-1] == pytest.approx(0.1)
    assert curve[2 + 9] == pytest.approx(0.55)                 # half way down the cosine
    wsd = ScheduleConfig(kind="wsd", peak_lr=2.0, decay=0.25, min_lr_ratio=0.0)
    w = lr_curve(wsd, 20)
    assert w[:15] == [2.0] * 15 and w[-1] == 0.0 and w[15] == 2.0 and w[16:18] == [1.5, 1.0]
    const = ScheduleConfig(kind="constant", peak_lr=3e-4, warmup_steps=0)
    assert set(lr_curve(const, 5)) == {3e-4}
    lin = ScheduleConfig(kind="linear", peak_lr=1.0, min_lr_ratio=0.0)
    assert lr_curve(lin, 5) == [1.0, 0.75, 0.5, 0.25, 0.0]
    assert lr_at(ScheduleConfig(kind="wsd", decay_shape="sqrt", peak_lr=1.0, decay=0.5, min_lr_ratio=0),
                 7, 10) == pytest.approx(1 - (2 / 4) ** 0.5)
