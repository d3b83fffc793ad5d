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


def test_gpu_rows_say_why_they_were_skipped_and_judge_the_end_to_end_check() -> None:
    build = suite.ROW_BUILDERS["gpu"]
    skipped = build([{"benchmark": "gpu", "skipped": True, "reason": "torch sees no CUDA GPU"}])
    assert [r["taskgroup"] for r in skipped] == ["skipped"] and "no CUDA GPU" in skipped[0]["note"]
    machine = {"gpu": "H", "cores": 16, "torch_threads": 1, "torch": "2.x"}
    same = {"benchmark": "gpu", "check": "end_to_end", "steps": 20, "gpu_s": 5.0, "cpu_s": 10.0,
            "same_final": True, "loads_without_gpu": True, **machine}
    assert build([same])[0]["status"] == "pass" and build([same])[0]["ratio"] == "2x"
    assert build([{**same, "same_final": False}])[0]["status"] == "**miss**"
    probes = {"benchmark": "gpu", "check": "probes", "probes": 55, "steps": 300, "gpu_s": 2.0, "cpu_s": 8.0,
              "max_abs_diff_val": 1e-6, **machine}
    assert build([probes])[0]["ratio"] == "4x"


def test_large_set_rows_name_the_final_and_every_alternative() -> None:
    alt = {"delta_m_test": 1.0, "k": 2, "ari": 0.5}
    line = {"benchmark": "large_set", "set": "s", "tasks": 30, "clusters": 6, "seeds": [0, 1, 2], "seconds": 9.0,
            "final": {**alt, "delta_m_test": 4.0, "name": "candidate-2", "decision": "share_for_accuracy"},
            "all_in_one": alt, "tag_lookahead": alt, "cs_gradient_cosine": alt,
            "random": {"k": 2, "draws": 3, "delta_m_test_mean": -1.0, "delta_m_test_min": -2.0,
                       "delta_m_test_max": 0.0, "ari_mean": 0.0}}
    rows = suite.ROW_BUILDERS["large_sets"]([line, {"benchmark": "large_set", "set": "x", "skipped": "absent"}])
    assert rows[0]["taskgroup"] == "4 %" and "tag_lookahead 1 %" in rows[0]["note"]
    assert "standley_hoa" not in rows[0]["note"] and rows[1]["taskgroup"] == "skipped"


def test_halving_rows_judge_the_29_task_set_on_time_and_the_final_grouping() -> None:
    build = suite.ROW_BUILDERS["halving"]
    arm = {"seconds": 10.0, "final": "x", "final_groups": [["a", "b"]], "loadavg_before": 2.0,
           "loadavg_after": 3.0, "halving": None}
    halved = {**arm, "seconds": 4.0, "halving": {"budgets": [350, 750, 1500], "rounds": [
        {"steps": 350, "kept": 5, "networks_trained": 20, "seconds": 1.0}], "full_budget_networks_trained": 3,
                                    "controls_seconds": 2.0, "full_budget_seconds": 0.5}}
    line = {"benchmark": "halving", "dataset": "landmine", "tasks": 29, "candidates": 10, "seeds": 1, "steps": 1500,
            "proposal_measures": ["gradient_cosine"], "halving_on": halved, "halving_off": arm, "ratio": 2.5,
            "candidates_s": {"halving_on": 1.0, "halving_off_estimate": 3.0, "ratio": 3.0}, "same_final": True, "halving_first": False, "target": ">= 2x", "pass": True}
    rows = build([line, {"benchmark": "halving", "dataset": "landmine", "skipped": "no data"}])
    assert rows[0]["status"] == "pass" and rows[0]["ratio"] == "2.5x" and "same final grouping: yes" in rows[0]["note"]
    assert rows[1]["taskgroup"] == "skipped"
