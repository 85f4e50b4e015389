import json
import math

import numpy as np
import pytest

from alignpt.law import LawData, LawPoint


def _data():
    points = [LawPoint("base", 0.0, 100, 10), LawPoint("low", 0.01, 100, 10),
              LawPoint("big", 0.01, 200, 10, schedule="late", heldout=True),
              LawPoint("base2", 0.0, 200, 10)]
    y = np.array([[1.0, 2.0, np.nan], [0.5, np.nan, 1.5], [np.nan] * 3, [0.1, 0.2, 0.3]])
    return LawData(points, [7, 8, 9], y, np.array([1.25, np.nan, 0.1 + 0.2, -3.0]))


def test_count_is_share_times_tokens():
    assert LawPoint("p", 0.25, 400, 1).count == 100.0


def test_mean_ignores_missing_seeds_and_is_nan_when_all_missing():
    m = _data().mean()
    assert m[0] == 1.5 and m[1] == 1.0 and math.isnan(m[2]) and m[3] == pytest.approx(0.2, abs=1e-15)


def test_baseline_of_matches_tokens_and_params():
    d = _data()
    assert d.baseline_of(0) == 0      # a baseline is its own baseline
    assert d.baseline_of(1) == 0
    assert d.baseline_of(2) == 3      # same tokens (200) and params
    d2 = d.select([1, 2])
    assert d2.baseline_of(0) is None


def test_select_by_mask_and_indices():
    d = _data()
    a = d.select(np.array([True, False, False, True]))
    assert [p.name for p in a.points] == ["base", "base2"]
    np.testing.assert_array_equal(a.y[1], [0.1, 0.2, 0.3])
    b = d.select([3, 0])
    assert [p.name for p in b.points] == ["base2", "base"]
    assert b.bayes[1] == 1.25


def test_json_round_trip_is_exact_including_nan():
    d = _data()
    back = LawData.from_json(json.loads(json.dumps(d.to_json(), allow_nan=False)))
    assert back.points == d.points and back.seeds == d.seeds and back.response == d.response
    np.testing.assert_array_equal(back.y, d.y)        # NaN positions equal too
    np.testing.assert_array_equal(back.bayes, d.bayes)
    assert back.bayes[2] == 0.1 + 0.2                  # bit-exact float


@pytest.mark.parametrize("change, message", [
    (dict(y=np.zeros((2, 3))), "y has shape"),
    (dict(bayes=np.zeros(3)), "bayes has shape"),
    (dict(points=[LawPoint("a", 0.0, 1, 1)] * 4), "not unique"),
    (dict(points=[LawPoint("a", 1.0, 1, 1)] + [LawPoint(f"b{i}", 0.0, 1, 1) for i in range(3)]), "outside [0, 1)"),
    (dict(points=[LawPoint("a", 0.0, 0, 1)] + [LawPoint(f"b{i}", 0.0, 1, 1) for i in range(3)]), "tokens"),
    (dict(points=[LawPoint("a", 0.0, 1, 0)] + [LawPoint(f"b{i}", 0.0, 1, 1) for i in range(3)]), "params"),
    (dict(points=[LawPoint("a", 0.0, 1, 1, "early")] + [LawPoint(f"b{i}", 0.0, 1, 1) for i in range(3)]),
     "schedule"),
    (dict(y=np.full((4, 3), np.inf)), "finite"),
    (dict(seeds=[1, 1, 2]), "seeds"),
])
def test_validation_names_the_problem(change, message):
    d = _data()
    kwargs = dict(points=d.points, seeds=d.seeds, y=d.y, bayes=d.bayes) | change
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace(")", r"\)")):
        LawData(**kwargs)
