"""Propose, then verify: the final recommendation is the trained grouping best on validation."""

from __future__ import annotations

import json

import pytest

import taskgroup
from taskgroup.comparison.final import choose_final, eligible, selection_score, t_interval
from taskgroup.config import AnalyzeConfig, CompareConfig, Config, DataConfig, ModelConfig, TrainConfig
from taskgroup.runtime.documents import AlternativeResult, ComparisonDoc


def _alt(name, groups, val, test, **extra):
    return AlternativeResult(name=name, groups=groups, per_task={}, delta_m=test, delta_m_val=val,
                             delta_m_val_values=[val - 0.1, val + 0.1], **extra)


def test_final_is_chosen_on_validation_even_when_test_disagrees():
    alts = [_alt("recommended", [["a", "b"], ["c"]], 1.0, 9.0),
            _alt("spectral-k1", [["a", "b", "c"]], 2.0, -5.0, method="spectral"),
            _alt("single_task", [["a"], ["b"], ["c"]], 0.0, 0.0)]
    final = choose_final(alts, {"spectral-k1": ["spectral@lookahead"]})
    assert final.name == "spectral-k1"          # best on validation ...
    assert final.delta_m_test == -5.0           # ... although it is the worst on test
    assert final.proposed_by == ["spectral@lookahead"]
    assert final.interval[0] < 2.0 < final.interval[1]


def test_the_select_part_outranks_all_validation_rows():
    alts = [_alt("recommended", [["a"], ["b"]], 5.0, 0.0, delta_m_select=0.1),
            _alt("all_in_one", [["a", "b"]], 0.0, 0.0, delta_m_select=1.0)]
    assert choose_final(alts, {}).name == "all_in_one"


def test_controls_and_variants_are_never_final():
    alts = [_alt("recommended", [["a"], ["b"]], 0.5, 0.5),
            _alt("random-1", [["a", "b"]], 9.0, 9.0, family="random"),
            _alt("oracle", [["a", "b"]], 9.0, 9.0),
            _alt("single_task_half", [["a"], ["b"]], 9.0, 9.0, width=0.5),
            _alt("all_in_one_gradnorm", [["a", "b"]], 9.0, 9.0, weighting="gradnorm"),
            _alt("soft_sharing", [["a", "b"]], 9.0, 9.0, sharing="soft")]
    assert [a.name for a in alts if eligible(a)] == ["recommended"]
    assert choose_final(alts, {}).name == "recommended"


def test_ties_go_to_fewer_networks():
    alts = [_alt("x", [["a"], ["b"]], 1.0, 0.0), _alt("y", [["a", "b"]], 1.0, 0.0)]
    assert choose_final(alts, {}).name == "y"


def test_t_interval_uses_n_minus_one_degrees_of_freedom():
    lo, hi = t_interval([0.0, 2.0])
    # mean 1, sd sqrt(2), se 1, t(0.975, 1) = 12.706
    assert (lo, hi) == pytest.approx((1 - 12.7062, 1 + 12.7062), rel=1e-4)
    assert t_interval([3.0]) == [3.0, 3.0]


@pytest.mark.slow
def test_compare_saves_the_final_grouping_and_decides_about_it(tmp_path):
    cfg = Config(data=DataConfig(builtin="synthetic", options={"n_clusters": 2, "tasks_per_cluster": 2,
                                                                "rows_per_task": 120, "n_features": 8}),
                 model=ModelConfig(hidden=[16]), train=TrainConfig(steps=160, eval_every=20, patience=3),
                 analyze=AnalyzeConfig(steps=60, probe_steps=60, probe_eval_every=20, probe_seeds=2),
                 compare=CompareConfig(seeds=2, random_groupings=1,
                                       alternatives=["recommended", "candidates", "single_task", "all_in_one", "random"]))
    taskgroup.run(cfg, tmp_path)
    doc = ComparisonDoc.from_json(json.loads((tmp_path / "comparison.json").read_text()), "comparison.json")
    final = doc.final
    assert final is not None and final.decision == doc.verdict.decision
    pool = [a for a in doc.alternatives if eligible(a)]
    assert final.selection_score == pytest.approx(max(selection_score(a) for a in pool))
    assert doc.verdict.alternative == final.name          # the decision is about the final grouping
    index = json.loads((tmp_path / "models" / "index.json").read_text())
    trained = final.groups if doc.verdict.use_mtl else [[t] for t in doc.tasks]
    assert index["networks"] == len(trained)             # models/ hold what the decision says to train


def test_documents_without_a_final_still_load_and_a_wrong_final_is_named():
    raw = {"tasks": ["a"], "alternatives": [
        {"name": "recommended", "groups": [["a"]], "per_task": {"a": {"metric": "rmse", "mean": 1.0}},
         "delta_m": 0.0}]}
    assert ComparisonDoc.from_json(raw).final is None
    with pytest.raises(Exception, match="final.name"):
        ComparisonDoc.from_json({**raw, "final": {"groups": [["a"]], "name": "nope"}})
