"""The benchmark suite's bookkeeping: statistics helpers, result rows and the report (no timings)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from benchmarks import __main__ as suite
from benchmarks._common import adjusted_rand, growth_exponent, json_lines, spearman_offdiag, within_minus_across
from benchmarks.regret import regret_pct


def test_growth_exponent_recovers_a_power_law() -> None:
    ns = [5, 10, 20, 40]
    assert growth_exponent(ns, [3.0 * n ** 2 for n in ns]) == pytest.approx(2.0)
    assert math.isnan(growth_exponent(ns, [1.0, float("nan"), 2.0, 3.0]))


def test_spearman_offdiag_ignores_the_diagonal() -> None:
    rng = np.random.default_rng(0)
    a = rng.normal(size=(5, 5))
    b = a.copy()
    np.fill_diagonal(b, -100.0)
    assert spearman_offdiag(a, b) == pytest.approx(1.0)
    assert spearman_offdiag(a, -a) == pytest.approx(-1.0)


def test_adjusted_rand_and_cluster_gap() -> None:
    labels = {"a": "x", "b": "x", "c": "y", "d": "y"}
    assert adjusted_rand([["b", "a"], ["d", "c"]], labels) == pytest.approx(1.0)
    assert adjusted_rand([["a", "b", "c", "d"]], labels) == pytest.approx(0.0)
    m = np.array([[1, 0.5, 0, 0], [0.5, 1, 0, 0], [0, 0, 1, 0.3], [0, 0, 0.3, 1]])
    assert within_minus_across(m, list(labels), labels) == pytest.approx(0.4)


def test_regret_is_signed_by_the_metric_direction() -> None:
    assert regret_pct(1.1, 1.0, lower=True) == pytest.approx(10.0)
    assert regret_pct(0.9, 1.0, lower=False) == pytest.approx(10.0)
    assert regret_pct(1.1, 1.0, lower=False) == pytest.approx(-10.0)


def test_json_lines_skips_other_output() -> None:
    assert json_lines('noise\n{"a": 1}\n{broken\n{"b": 2}\n') == [{"a": 1}, {"b": 2}]


def test_rows_and_report_from_recorded_lines() -> None:
    lines = [{"benchmark": "probe_speed", "tasks": 10, "singles": 10, "pairs": 45, "probe_steps": 300,
              "probe_width": 0.5, "batched_s": 10.0, "sequential_s": 60.0, "ratio": 6.0, "target": ">= 5",
              "pass": True, "max_abs_diff": 0.0, "same_best_step": "55/55", "sequential_probes_timed": 55,
              "sequential_extrapolated": False}]
    rows = suite.rows_probe_speed(lines)
    assert len(rows) == 1 and rows[0]["status"] == "pass" and rows[0]["ratio"] == "6x"
    machine = {"cores": 2, "cpu": "cpu", "torch": "2", "python": "3.11", "torch_threads": 2, "loadavg_1m": 0.0}
    results = {"smoke": True, "started": "now", "seconds": 1.0, "machine": machine, "machine_end": machine,
               "sizes": ["- tiny"], "benchmarks": {"probe_speed": {"exit_code": 0, "seconds": 1.0, "lines": lines}}}
    text = suite.render(results, rows, plotted=False)
    assert "| speed |" in text and "2 cores, torch 2" in text and "- none" in text
