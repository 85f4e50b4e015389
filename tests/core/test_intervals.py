"""Wilson intervals, and the count-with-interval record that the filter report and tag
crossval share."""

import math

import pytest

from alignpt.core.intervals import count_rate, format_count_rate, wilson_interval


def test_wilson_interval_closed_forms():
    lo, hi = wilson_interval(0, 10)
    assert lo == 0.0 and hi == pytest.approx(0.27754, abs=1e-5)
    lo, hi = wilson_interval(5, 10)
    z = 1.959963984540054
    half = z * math.sqrt(0.025 + z * z / 400) / (1 + z * z / 10)
    assert (lo, hi) == pytest.approx((0.5 - half, 0.5 + half), abs=1e-12)
    assert wilson_interval(3, 0) is None


def test_count_rate_carries_the_wilson_interval():
    r = count_rate(3, 4)
    assert (r["k"], r["n"], r["rate"]) == (3, 4, 0.75)
    # Wilson 95% for 3/4: centre (0.75 + z^2/8) / (1 + z^2/4), the textbook [0.301, 0.954]
    assert (r["ci_low"], r["ci_high"]) == wilson_interval(3, 4)
    assert r["ci_low"] == pytest.approx(0.300642, abs=1e-6)
    assert r["ci_high"] == pytest.approx(0.954413, abs=1e-6)


def test_count_rate_rounds_only_when_asked():
    assert count_rate(3, 4, digits=2) == {"k": 3, "n": 4, "rate": 0.75, "ci_low": 0.3,
                                          "ci_high": 0.95}
    assert count_rate(1, 3)["rate"] == 1 / 3


def test_count_rate_edges():
    assert count_rate(0, 0) == {"k": 0, "n": 0, "rate": None, "ci_low": None, "ci_high": None}
    assert count_rate(0, 0, digits=3)["rate"] is None
    zero, full = count_rate(0, 8), count_rate(8, 8)
    assert zero["ci_low"] == 0.0 and full["ci_high"] == 1.0   # exact, not 1e-17 off
    assert 0.0 < zero["ci_high"] < 0.4 and 0.6 < full["ci_low"] < 1.0


def test_format_count_rate():
    assert format_count_rate(count_rate(3, 4)) == "0.750 [0.301, 0.954] (3/4)"
    assert format_count_rate(count_rate(0, 0)) == "n/a"
