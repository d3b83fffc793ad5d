"""Delta_m and relative change (taskgroup.delta): the examples that exploded before, and properties."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from taskgroup.delta import LIMIT, delta_m, reference, references, relative_change
from taskgroup.tasks import Task, TaskSet

AUC = reference("binary", "auc", False)
ACC3 = reference("multiclass", "accuracy", False, n_classes=3)
F1 = reference("binary", "f1", False)


def test_signs_follow_the_metric_direction():
    refs = {"r": reference("regression", "rmse", True, target_scale=2.0), "a": AUC}
    single = {"r": 1.0, "a": 0.8}
    better = delta_m({"r": 0.9, "a": 0.83}, single, refs)
    assert better.value == pytest.approx((10.0 + 10.0) / 2)
    worse = delta_m({"r": 1.1, "a": 0.77}, single, refs)
    assert worse.value == pytest.approx(-10.0)
    assert delta_m(single, single, refs).value == 0.0


def test_auc_is_measured_from_chance():
    # +0.02 over 0.80 is 2/30 of the baseline's skill above chance, not 2/80 of its value
    assert relative_change(0.82, 0.80, AUC) == pytest.approx(0.02 / 0.30)
    # accuracy over three classes: chance is 1/3
    assert relative_change(0.7, 0.6, ACC3) == pytest.approx(0.1 / (0.6 - 1 / 3))


def test_a_baseline_auc_of_zero_is_degenerate_and_left_out():
    # one positive in validation scored last gives AUC 0.0; before, an alternative read 6.8e12 %
    refs = {"rare": AUC, "common": AUC}
    d = delta_m({"rare": 0.9, "common": 0.81}, {"rare": 0.0, "common": 0.8}, refs)
    assert set(d.excluded) == {"rare"} and "below chance" in d.excluded["rare"]
    assert d.value == pytest.approx(100 * 0.01 / 0.3)
    assert relative_change(0.9, 0.0, AUC) is None


def test_near_chance_baseline_is_floored_not_exploding():
    # a baseline at chance divides by the floor: 10 % of the range from chance to best
    assert relative_change(0.6, 0.5, AUC) == pytest.approx(0.1 / 0.05)
    assert relative_change(1.0, 0.5, AUC) <= LIMIT


def test_regression_compares_rmse_with_a_floor():
    ref = reference("regression", "r2", False, target_scale=1.0)
    assert ref.metric == "rmse" and ref.lower_is_better
    assert relative_change(0.0, 0.0, ref) == 0.0
    assert relative_change(0.05, 0.0, ref) == pytest.approx(-1.0)
    assert reference("regression", "rmse", True, target_scale=0.0).degenerate(1.0) is not None


def test_non_finite_values_never_leak():
    assert relative_change(float("nan"), 0.8, AUC) == -LIMIT
    assert relative_change(float("inf"), 1.0, reference("regression", "rmse", True)) == -LIMIT
    d = delta_m({"a": 0.7}, {"a": float("nan")}, {"a": AUC})
    assert d.value == 0.0 and "a" in d.excluded


def test_no_task_left_gives_zero_not_nan():
    d = delta_m({"a": 0.7, "b": 0.6}, {"a": 0.0, "b": float("nan")}, {"a": AUC, "b": AUC})
    assert d.value == 0.0 and set(d.excluded) == {"a", "b"}


unit = st.floats(0.0, 1.0, allow_nan=False)
positive = st.floats(0.0, 1e6, allow_nan=False)
scale = st.floats(1e-3, 1e3, allow_nan=False)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["auc", "accuracy", "f1", "rmse"]), unit, unit, positive, positive, scale),
               min_size=1, max_size=6))
def test_delta_m_is_finite_for_any_in_range_values(rows):
    values, baselines, refs = {}, {}, {}
    for i, (metric, v, b, ev, eb, sd) in enumerate(rows):
        name = f"t{i}"
        if metric == "rmse":
            refs[name] = reference("regression", "rmse", True, target_scale=sd)
            values[name], baselines[name] = ev, eb
        else:
            refs[name] = reference("multiclass" if metric == "accuracy" else "binary", metric, False, n_classes=4)
            values[name], baselines[name] = v, b
    d = delta_m(values, baselines, refs)
    assert math.isfinite(d.value)
    assert abs(d.value) <= 100 * LIMIT
    assert set(d.per_task) | set(d.excluded) == set(values)


@settings(max_examples=200, deadline=None)
@given(positive, positive, scale, st.floats(1e-4, 1e4))
def test_scaling_a_regression_target_leaves_the_change_unchanged(v, b, sd, c):
    ref = reference("regression", "rmse", True, target_scale=sd)
    scaled = reference("regression", "rmse", True, target_scale=sd * c)
    assert relative_change(v * c, b * c, scaled) == pytest.approx(relative_change(v, b, ref), rel=1e-9, abs=1e-9)


def test_scaling_a_regression_target_in_a_taskset_leaves_delta_m_unchanged():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    y = X[:, 0] + rng.normal(scale=0.5, size=200)
    make = lambda factor: TaskSet(X, [Task("y", "regression", "r2")], {"y": y * factor}, {})  # noqa: E731
    base, big = references(make(1.0))["y"], references(make(1000.0))["y"]
    assert big.scale == pytest.approx(1000.0 * base.scale)
    one = delta_m({"y": 0.4}, {"y": 0.5}, {"y": base}).value
    assert delta_m({"y": 400.0}, {"y": 500.0}, {"y": big}).value == pytest.approx(one)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(unit, unit, unit), min_size=1, max_size=5))
def test_swapping_two_alternatives_flips_the_sign_of_their_difference(rows):
    refs = {f"t{i}": AUC for i in range(len(rows))}
    base = {f"t{i}": r[0] for i, r in enumerate(rows)}
    a = {f"t{i}": r[1] for i, r in enumerate(rows)}
    b = {f"t{i}": r[2] for i, r in enumerate(rows)}
    ab = delta_m(a, base, refs).value - delta_m(b, base, refs).value
    ba = delta_m(b, base, refs).value - delta_m(a, base, refs).value
    assert ab == -ba
    assert delta_m(a, base, refs).excluded == delta_m(b, base, refs).excluded
