"""The decision's statistics: paired intervals, the four decisions, transfer signs with their noise."""

from __future__ import annotations

import numpy as np
import pytest

from taskgroup.runtime.documents import AffinityDoc
from taskgroup.comparison.decision import Cost, decide, seeds_to_settle
from taskgroup.comparison.statistics import interval, weighted_metric
from taskgroup.comparison.verdict import transfer_signs
from taskgroup.tasks import Task
from taskgroup.training.objectives import metric_value

CHEAP = Cost(networks=2, tasks=4, inference_ratio=0.5, params_ratio=0.5)


@pytest.mark.parametrize("task", [
    Task("b", "binary", "auc"), Task("b", "binary", "accuracy"), Task("b", "binary", "f1"),
    Task("r", "regression", "rmse"), Task("r", "regression", "r2"),
    Task("m", "multiclass", "accuracy", n_classes=3), Task("m", "multiclass", "f1", n_classes=3)])
def test_weighted_metrics_with_unit_weights_equal_the_task_metric(task, seed):
    rng = np.random.default_rng(1)
    n = 60
    if task.kind == "binary":
        y = rng.integers(0, 2, n).astype(float)
        s = np.round(rng.random(n), 1)           # ties, as AUC must handle them
    elif task.kind == "multiclass":
        y = rng.integers(0, 3, n).astype(float)
        s = rng.dirichlet(np.ones(3), n)
    else:
        y = rng.normal(size=n)
        s = y + rng.normal(size=n)
    got = weighted_metric(task, y, s, np.ones((1, n)))[0]
    assert got == pytest.approx(metric_value(task, y, s), abs=1e-12)
    # integer weights are the same as repeating rows
    w = rng.poisson(1.0, n)
    idx = np.repeat(np.arange(n), w)
    assert weighted_metric(task, y, s, w[None, :].astype(float))[0] == pytest.approx(
        metric_value(task, y[idx], s[idx]), abs=1e-12)


def test_three_seed_interval_controls_false_positives_under_no_effect():
    rng = np.random.default_rng(0)
    hits = 0
    trials = 4000
    for _ in range(trials):
        iv = interval(rng.normal(0.0, 1.0, 3), np.zeros(2), "estimate")
        hits += iv.low > 0
    # one-sided 2.5 % at the 95 % level; the old rule (mean > 2 standard errors) fired at 9.2 %
    assert hits / trials < 0.04


def test_row_noise_widens_the_interval():
    seeds = [1.0, 1.2, 0.8]
    narrow = interval(seeds, np.zeros(50), "estimate")
    wide = interval(seeds, np.random.default_rng(0).normal(0, 1, 200), "estimate")
    assert narrow.low > 0 and wide.low < 0 and wide.se_rows > 0.5


def _iv(values, row_sd=0.0):
    boot = np.random.default_rng(0).normal(0, row_sd, 400) if row_sd else np.zeros(400)
    return interval(values, boot, "estimate")


def test_fewer_than_three_seeds_is_never_positive():
    for values in ([50.0], [50.0, 50.1]):
        d = decide(_iv(values), True, CHEAP, 1.0)
        assert d.decision == "inconclusive" and not d.use_mtl and "--seeds 3" in d.reason


def test_each_decision_follows_its_rule():
    assert decide(_iv([3.0, 3.2, 2.9]), True, CHEAP, 1.0).decision == "share_for_accuracy"
    assert decide(_iv([0.1, -0.1, 0.05]), True, CHEAP, 1.0).decision == "share_for_cost"
    assert decide(_iv([-3.0, -3.2, -2.9]), True, CHEAP, 1.0).decision == "train_separately"
    assert decide(_iv([3.0, 3.2, 2.9]), False, Cost(4, 4, 1.0, 1.0), 1.0).decision == "train_separately"
    wide = decide(_iv([2.0, -1.0, 1.5]), True, CHEAP, 1.0)
    assert wide.decision == "inconclusive" and wide.seeds_needed and wide.seeds_needed > 3
    assert f"about {wide.seeds_needed} seeds" in wide.reason


def test_equivalence_needs_a_cost_saving_and_the_margin():
    iv = _iv([0.1, -0.1, 0.05])
    assert decide(iv, True, Cost(4, 4, 1.0, 1.0), 1.0).decision != "share_for_cost"
    assert decide(iv, True, CHEAP, 0.05).decision == "inconclusive"


def test_row_noise_that_seeds_cannot_fix_is_named():
    d = decide(_iv([0.5, 0.4, 0.6], row_sd=5.0), True, CHEAP, 1.0)
    assert d.decision == "inconclusive" and d.seeds_needed is None and "validation rows" in d.reason


def test_seeds_to_settle_shrinks_the_interval_enough():
    iv = _iv([2.0, 0.2, 1.6])
    n = seeds_to_settle(iv, 1.0)
    assert n is not None and iv.half_width(n) < abs(iv.mean) and iv.half_width(n - 1) >= abs(iv.mean)


def _affinity(matrix, stderr, informative=True, name="transfer"):
    return AffinityDoc.from_json({"tasks": [f"t{i}" for i in range(len(matrix))],
                                  "measures": {name: {"matrix": matrix, "stderr": stderr, "informative": informative}}})


def test_transfer_within_its_noise_is_no_clear_effect():
    n = 3
    m = np.full((n, n), -3.8e-5)
    np.fill_diagonal(m, 0.0)
    s = np.full((n, n), 3.8e-5)
    signs = transfer_signs(_affinity(m.tolist(), s.tolist()))
    assert signs == {"measure": "transfer", "pairs": 6, "negative": 0, "positive": 0, "no_clear_effect": 6}
    clear = transfer_signs(_affinity((m * 100).tolist(), s.tolist()))
    assert clear["negative"] == 6


def test_an_uninformative_measure_is_never_cited():
    m = [[0.0, -0.5], [-0.5, 0.0]]
    s = [[0.0, 0.01], [0.01, 0.0]]
    assert transfer_signs(_affinity(m, s, informative=False)) is None
    both = _affinity(m, s, False)
    both.measures.update(_affinity(m, s, True, "lookahead").measures)
    assert transfer_signs(both)["measure"] == "lookahead"


def test_row_evidence_point_values_are_delta_m_on_the_rows_of_the_parts():
    from taskgroup.comparison.statistics import PartRows, RowEvidence
    from taskgroup.delta import delta_m, reference

    rng = np.random.default_rng(3)
    tasks = [Task("a", "binary", "auc"), Task("r", "regression", "rmse", lower_is_better=True)]
    refs = {"a": reference("binary", "auc", False), "r": reference("regression", "rmse", True, target_scale=1.0)}
    rows = {"select": {"a": np.arange(0, 30), "r": np.arange(60, 90)},
            "estimate": {"a": np.arange(30, 60), "r": np.arange(90, 120)}}
    y = {"a": rng.integers(0, 2, 120).astype(float), "r": rng.normal(size=120)}
    parts = {p: PartRows(p, rows[p], {t: y[t][rows[p][t]] for t in rows[p]}) for p in rows}
    ev = RowEvidence(tasks, parts, 120, refs)
    scores = {}
    for alt, noise in (("single_task", 1.0), ("shared", 0.5)):
        per_part = {}
        for p in rows:
            per_part[p] = [{"a": np.clip(y["a"][rows[p]["a"]] * 0.3 + rng.random(30) * noise, 0, 1),
                            "r": y["r"][rows[p]["r"]] + rng.normal(0, noise, 30)} for _ in range(3)]
            ev.add(alt, p, per_part[p])
        scores[alt] = per_part
    for part in ("estimate", ("select", "estimate")):
        ps = (part,) if isinstance(part, str) else part
        iv = ev.compare("shared", "single_task", part)
        for k in range(3):
            vals = {}
            for alt in scores:
                ya = np.concatenate([y["a"][rows[p]["a"]] for p in ps])
                yr = np.concatenate([y["r"][rows[p]["r"]] for p in ps])
                sa = np.concatenate([scores[alt][p][k]["a"] for p in ps])
                sr = np.concatenate([scores[alt][p][k]["r"] for p in ps])
                vals[alt] = {"a": metric_value(tasks[0], ya, sa), "r": metric_value(tasks[1], yr, sr)}
            want = delta_m(vals["shared"], vals["single_task"], refs).value
            assert iv.values[k] == pytest.approx(want, abs=1e-9)
        assert iv.se_rows > 0 and iv.part == "+".join(ps)
