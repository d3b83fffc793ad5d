"""Calibrated group scores: the measured gains of a few trained groups decide which measure to trust."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from taskgroup.affinity.calibration import MAX_SIZE, calibration_groups
from taskgroup.errors import ConfigError
from taskgroup.grouping import group
from taskgroup.grouping.calibration import (MIN_GROUPS, MeasuredGroup, calibrate, features, group_score,
                                            min_agreement)
from taskgroup.grouping.gainmodel import cross_validate, fit
from taskgroup.runtime.documents import AffinityDoc, GroupingsDoc

NAMES = [f"t{i}" for i in range(6)]
CLUSTER = [0, 0, 0, 1, 1, 1]  # planted: {t0, t1, t2}, {t3, t4, t5}


def _symmetric(rng: np.random.Generator, fill) -> np.ndarray:
    a = np.array([[fill(i, j) for j in range(6)] for i in range(6)], dtype=float)
    a = (a + a.T) / 2
    np.fill_diagonal(a, 1.0)
    return a


def _planted_gain(members, rng: np.random.Generator) -> float:
    """The planted truth: sharing helps within a cluster and hurts across it, plus measurement noise."""
    pairs = list(itertools.combinations(members, 2))
    within = sum(CLUSTER[i] == CLUSTER[j] for i, j in pairs) / len(pairs)
    return 0.08 * within - 0.04 * (1 - within) + float(rng.normal(0, 0.005))


def _planted_affinity(seed: int = 0, groups: int = 10) -> dict:
    """gradient_cosine (first in the fixed order) made uninformative: noise with no relation to the
    truth; lookahead a noisy view of the planted clusters; the measured groups follow the truth."""
    rng = np.random.default_rng(seed)
    noise = _symmetric(rng, lambda i, j: rng.normal(0, 0.4))
    view = _symmetric(rng, lambda i, j: (0.5 if CLUSTER[i] == CLUSTER[j] else -0.2) + rng.normal(0, 0.05))
    picked = calibration_groups(NAMES, groups, seed)
    return {"tasks": NAMES,
            "measures": {"gradient_cosine": {"matrix": noise.tolist(), "informative": True},
                         "lookahead": {"matrix": view.tolist(), "informative": True}},
            "measured_groups": [{"tasks": list(g), "scores": {t: _planted_gain([NAMES.index(x) for x in g], rng)
                                                              for t in g}} for g in picked]}


@pytest.mark.parametrize("seed", range(5))
def test_calibrated_auto_trusts_the_measure_that_agrees_with_the_planted_truth(seed):
    aff = _planted_affinity(seed)
    without = group({k: v for k, v in aff.items() if k != "measured_groups"})
    assert without["settings"]["measure"] == "gradient_cosine"  # the fixed order alone trusts the noise
    doc = group(aff)
    cal = doc["calibration"]
    assert cal["trusted"] == "lookahead" and cal["weights"]["lookahead"] > cal["weights"]["gradient_cosine"]
    assert cal["choice"] in ("lookahead", "calibrated") and doc["settings"]["measure"] == cal["choice"]
    assert cal["raw_spearman"]["lookahead"] > max(min_agreement(10), cal["raw_spearman"]["gradient_cosine"])
    assert sorted(map(sorted, doc["recommended"]["groups"])) == [["t0", "t1", "t2"], ["t3", "t4", "t5"]]
    assert GroupingsDoc.from_json(doc).calibration.trusted == "lookahead"


def test_too_few_measured_groups_leave_the_fixed_order():
    aff = _planted_affinity(groups=MIN_GROUPS - 1)
    doc = group(aff)
    assert doc["calibration"]["choice"] is None and doc["settings"]["measure"] == "gradient_cosine"
    assert "calibration needs" in doc["calibration"]["reason"]
    with pytest.raises(ConfigError, match="measure 'calibrated'"):
        group(aff, measure="calibrated")


def test_the_predictor_is_used_when_it_beats_every_raw_measure_held_out():
    rng = np.random.default_rng(3)
    a = _symmetric(rng, lambda i, j: rng.normal())
    b = _symmetric(rng, lambda i, j: rng.normal())
    groups = [c for k in (3, 4) for c in itertools.combinations(range(6), k)]
    # the gain is the sum of two measures' scores: each alone ranks the groups only partly
    measured = [MeasuredGroup(g, group_score(a, g) + group_score(b, g)) for g in groups]
    cal = calibrate(NAMES, {"a": a, "b": b}, measured)
    assert cal.summary.choice == "calibrated"
    assert cal.summary.cv_spearman > max(cal.summary.raw_spearman.values())
    assert cal.summary.weights["a"] > 0.1 and cal.summary.weights["b"] > 0.1  # both measures carry weight
    assert abs(sum(cal.summary.weights.values()) - 1) < 1e-6
    # and a measure that alone ranks every group exactly is not beaten: it is chosen itself
    exact = [MeasuredGroup(g, 2 * group_score(a, g)) for g in groups]
    cal = calibrate(NAMES, {"a": a, "b": b}, exact)
    assert cal.summary.choice == "a" and cal.summary.raw_spearman["a"] == 1.0 and cal.summary.trusted == "a"


def test_predictor_is_deterministic_and_its_cross_validation_never_sees_the_held_out_gain():
    rng = np.random.default_rng(0)
    X = np.c_[rng.normal(size=(9, 2)), rng.integers(3, 7, 9)]  # two measures' scores, then the size
    y = X @ [1.0, 0.5, -0.1] + rng.normal(0, 0.1, 9)
    assert fit(X, y) == fit(X, y)
    first = cross_validate(X, y)
    assert np.array_equal(first, cross_validate(X, y))
    changed = y.copy()
    changed[4] += 100.0  # a wild held-out gain changes every prediction but its own
    again = cross_validate(X, changed)
    assert again[4] == first[4] and not np.allclose(np.delete(again, 4), np.delete(first, 4))


def test_calibration_figures_stay_in_their_bounds():
    rng = np.random.default_rng(1)
    m = {"x": _symmetric(rng, lambda i, j: rng.normal()), "y": _symmetric(rng, lambda i, j: rng.normal())}
    groups = [MeasuredGroup(g, float(rng.normal())) for g in calibration_groups(NAMES, 12, 1)]
    cal = calibrate(NAMES, m, [MeasuredGroup(tuple(NAMES.index(t) for t in g.members), g.gain) for g in groups])
    assert -1 <= cal.summary.cv_spearman <= 1 and cal.summary.cv_r2 <= 1
    assert all(-1 <= v <= 1 for v in cal.summary.raw_spearman.values()) and all(v <= 1 for v in cal.summary.raw_r2.values())
    assert all(0 <= w <= 1 for w in cal.summary.weights.values()) and abs(sum(cal.summary.weights.values()) - 1) < 1e-6
    assert cal.summary.choice is None  # pure-noise gains: nothing agrees beyond chance, the fixed order decides
    pair = cal.pair_matrix(6)
    assert np.allclose(pair, pair.T) and np.all(np.diag(pair) == 0)
    assert features(m, []).shape == (0, 2)


def test_minimum_agreement_falls_with_the_number_of_groups():
    assert min_agreement(5) > 0.8 > min_agreement(10) > 0.5 > min_agreement(20)


def test_calibration_groups_are_seeded_distinct_and_within_size():
    names = [f"x{i}" for i in range(12)]
    first = calibration_groups(names, 10, 0)
    assert first == calibration_groups(names, 10, 0) and first != calibration_groups(names, 10, 1)
    assert len(set(first)) == 10 and all(3 <= len(g) <= MAX_SIZE for g in first)
    assert all(list(g) == sorted(g, key=names.index) for g in first)
    assert len(calibration_groups(names[:4], 10, 0)) == 5  # every group of 3 or more of 4 tasks
    assert calibration_groups(names[:2], 10, 0) == [] and calibration_groups(names, 0, 0) == []


def test_analyze_trains_the_calibration_groups_and_group_reads_them(tmp_path):
    from taskgroup.affinity.analyze import analyze, plan_units
    from taskgroup.config import config_from_dict
    from taskgroup.data import load_taskset

    raw = {"seed": 0, "data": {"builtin": "synthetic-small"}, "model": {"hidden": [8]},
           "analyze": {"steps": 20, "every": 5, "window": 2, "probe_steps": 10, "probe_eval_every": 5,
                       "probe_seeds": 1, "calibration_groups": 3}}
    cfg = config_from_dict(raw, source="<test>")
    taskset = load_taskset(cfg)
    doc = analyze(cfg, taskset, None, measures=["transfer"])
    measured = AffinityDoc.from_json(doc).measured_groups
    assert len(measured) == 3 and all(len(g.tasks) >= 3 for g in measured)
    assert [tuple(g.tasks) for g in measured] == calibration_groups(taskset.task_names, 3, 0)
    none = config_from_dict({**raw, "analyze": {**raw["analyze"], "calibration_groups": 0}}, source="<test>")
    assert len(plan_units(none, taskset, ["transfer"])) < len(plan_units(cfg, taskset, ["transfer"]))
    keys = [[u.key for u in plan_units(c, taskset, ["transfer"], exhaustive=True)] for c in (cfg, none)]
    assert keys[0] == keys[1]  # exhaustive mode trains every subset already
    grouped = GroupingsDoc.from_json(group(doc))
    assert grouped.calibration is not None and grouped.calibration.groups == 3  # too few to calibrate
    assert grouped.calibration.choice is None and grouped.calibration.used == grouped.settings["measure"]


def test_documents_without_calibration_still_load():
    old = {"schema": 1, "tasks": ["a", "b"], "recommended": {"groups": [["a", "b"]], "method": "x"}}
    assert GroupingsDoc.from_json(old).calibration is None
    assert AffinityDoc.from_json({"schema": 1, "tasks": ["a", "b"], "measures": {}}).measured_groups is None


def test_negative_calibration_groups_is_a_config_error():
    from taskgroup.config import config_from_dict

    with pytest.raises(ConfigError, match="analyze.calibration_groups"):
        config_from_dict({"data": {"builtin": "synthetic-small"}, "analyze": {"calibration_groups": -1}},
                         source="<test>")


def test_the_report_says_which_scores_were_used_and_the_weights(tmp_path):
    import json
    import shutil
    from pathlib import Path

    from taskgroup.reporting import render_report

    fixture = Path(__file__).parent / "fixtures" / "run_small"
    run = tmp_path / "run"
    shutil.copytree(fixture, run)
    (run / "manifest.json").write_text(json.dumps({"schema": 1, "tool": "taskgroup",
                                                   "owned": [f.name for f in fixture.iterdir()]}))
    doc = json.loads((run / "groupings.json").read_text())
    doc["calibration"] = {"groups": 10, "measures": ["gradient_cosine", "lookahead"], "choice": "lookahead",
                          "used": "lookahead", "reason": "lookahead's group scores agree best",
                          "weights": {"gradient_cosine": 0.1, "lookahead": 0.9}, "trusted": "lookahead"}
    (run / "groupings.json").write_text(json.dumps(doc))
    text = render_report(run)["markdown"].read_text(encoding="utf-8")
    line = next(x for x in text.splitlines() if "Group scores:" in x)
    assert "lookahead's group scores agree best" in line and "10 trained groups" in line
    assert line.index("0.90") < line.index("0.10")  # the weights, largest first
