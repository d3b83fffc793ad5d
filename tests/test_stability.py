"""Stability of the recommendation under resampling of the affinity measurements (issue 14, item 4)."""

from __future__ import annotations

import json

import numpy as np
import pytest

import taskgroup
from taskgroup.comparison.reproduce import final_stability
from taskgroup.config import AnalyzeConfig, Config, DataConfig, GroupConfig, ModelConfig, TaskConfig
from taskgroup.grouping.proposals import group_all
from taskgroup.grouping.stability import co_assignment, resample, resample_count, stability
from taskgroup.runtime.documents import (AffinityDoc, AlternativeResult, ComparisonDoc, DocumentError, GroupingsDoc,
                                         ResampledGrouping, StabilityDoc, TaskResult)


def test_co_assignment_counts_shared_groups():
    m = co_assignment([[["a", "b"], ["c"]], [["a"], ["b", "c"]]], ["a", "b", "c"])
    assert m[0, 1] == 0.5 and m[1, 2] == 0.5 and m[0, 2] == 0.0 and m[0, 0] == 1.0


def test_resample_draws_from_the_measurements_only():
    samples = {"gradient_cosine": {"runs": [[[[1.0, 0.2], [0.2, 1.0]], [[1.0, 0.4], [0.4, 1.0]]]]}}
    aff = {"tasks": ["a", "b"], "measures": {"gradient_cosine": {"matrix": [[1, .3], [.3, 1]]}}, "samples": samples}
    rng = np.random.default_rng(0)
    values = {round(resample(aff, rng)["measures"]["gradient_cosine"]["matrix"][0][1], 6) for _ in range(40)}
    assert values == {0.2, 0.3, 0.4}  # both draws, or one of the two twice
    assert "samples" not in resample(aff, rng)


def _noise_affinity(n: int, windows: int, seed: int) -> dict:
    """Gradient cosines that are pure noise around 0: no structure at all."""
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(windows):
        a = rng.normal(0, 0.3, (n, n))
        a = (a + a.T) / 2
        np.fill_diagonal(a, 1.0)
        draws.append(a.tolist())
    return {"tasks": [f"t{i}" for i in range(n)],
            "measures": {"gradient_cosine": {"matrix": np.mean(draws, 0).tolist(), "informative": True}},
            "samples": {"gradient_cosine": {"runs": [draws]}}}


def _clustered_affinity(n_clusters: int, size: int, windows: int, seed: int) -> dict:
    """Gradient cosines of tasks that are copies of one another within each cluster."""
    rng = np.random.default_rng(seed)
    n = n_clusters * size
    truth = np.kron(np.eye(n_clusters), np.ones((size, size)))
    draws = [np.clip(truth * 0.95 + rng.normal(0, 0.05, (n, n)) * (1 - truth), -1, 1).tolist() for _ in range(windows)]
    return {"tasks": [f"c{i // size}_{i % size}" for i in range(n)],
            "measures": {"gradient_cosine": {"matrix": np.mean(draws, 0).tolist(), "informative": True}},
            "samples": {"gradient_cosine": {"runs": [draws, draws[::-1]]}}}


def _stability(aff: dict, resamples: int = 20) -> StabilityDoc:
    rec = group_all(aff, measure="gradient_cosine")["recommended"]["groups"]
    return stability(aff, lambda a: group_all(a, measure="gradient_cosine"), rec, resamples, seed=0)


def test_unrelated_tasks_without_structure_are_unstable():
    stab = _stability(_noise_affinity(6, 12, seed=3))
    off = np.asarray(stab.co_assignment)[~np.eye(6, dtype=bool)]
    assert stab.resamples == 20 and len(stab.partitions) == 20
    assert stab.reproduced < 0.5
    assert 0.0 < off.mean() < 0.6


def test_copies_within_clusters_are_perfectly_stable():
    stab = _stability(_clustered_affinity(2, 3, 10, seed=1))
    m = np.asarray(stab.co_assignment)
    assert stab.reproduced == 1.0
    assert m[0, 1] == m[1, 2] == m[3, 5] == 1.0 and m[0, 3] == 0.0


def test_resample_count_shrinks_with_the_number_of_tasks():
    assert resample_count(20, 6) == 20
    assert resample_count(20, 29) == 6
    assert resample_count(20, 200) == 5
    assert resample_count(3, 200) == 3 and resample_count(0, 4) == 0


def test_stability_is_off_without_measurements_or_resamples():
    aff = _noise_affinity(4, 3, seed=0)
    assert stability(aff, group_all, [["t0", "t1", "t2", "t3"]], 0).reason.startswith("off")
    bare = {k: v for k, v in aff.items() if k != "samples"}
    assert "rerun analyze" in stability(bare, group_all, [["t0", "t1", "t2", "t3"]], 5).reason


def _alt(name: str, groups: list[list[str]], score: float) -> AlternativeResult:
    per = {t: TaskResult(metric="rmse", mean=1.0) for g in groups for t in g}
    return AlternativeResult(name=name, groups=groups, per_task=per, delta_m=score, delta_m_val=score)


def test_final_stability_follows_the_resampled_proposals():
    alts = [_alt("recommended", [["a", "b"], ["c"]], 2.0), _alt("x", [["a"], ["b", "c"]], 1.0),
            _alt("all_in_one", [["a", "b", "c"]], 0.5), _alt("single_task", [["a"], ["b"], ["c"]], 0.0),
            _alt("random", [["a", "c"], ["b"]], 9.0)]
    parts = [ResampledGrouping(recommended=[["a", "b"], ["c"]]), ResampledGrouping(recommended=[["a"], ["b", "c"]]),
             ResampledGrouping(recommended=[["c"], ["b", "a"]]), ResampledGrouping(recommended=[["a", "c"], ["b"]])]
    out = final_stability(StabilityDoc(resamples=4, partitions=parts), alts, [["a", "b"], ["c"]], ["a", "b", "c"])
    assert out.reproduced == 0.5            # the random control is never the answer, though it scores best
    assert out.untrained == 0.0             # every recommended grouping was trained (the last as a control)
    assert out.co_assignment[1][2] == pytest.approx(2 / 4)   # x in resample 2, all-in-one in the last
    assert final_stability(None, alts, [["a", "b"], ["c"]], ["a", "b", "c"]) is None
    without_x = [a for a in alts if a.name != "x"]  # resample 2's recommendation was never trained
    out = final_stability(StabilityDoc(resamples=4, partitions=parts), without_x, [["a", "b"], ["c"]], ["a", "b", "c"])
    assert out.untrained == 0.25 and out.reproduced == 0.5
    assert out.co_assignment[1][2] == pytest.approx(2 / 4)   # all-in-one answers resamples 2 and 4


def test_documents_without_stability_still_load_and_a_wrong_one_is_named():
    tasks = ["a", "b"]
    base = {"tasks": tasks, "recommended": {"groups": [["a", "b"]], "method": "m"}}
    assert GroupingsDoc.from_json(base).stability is None
    assert AffinityDoc.from_json({"tasks": tasks, "measures": {"x": {"matrix": [[1, 0], [0, 1]]}}}).samples == {}
    doc = GroupingsDoc.from_json({**base, "stability": {"resamples": 1, "co_assignment": [[1, 1], [1, 1]],
                                                        "partitions": [{"recommended": [["b", "a"]]}]}})
    assert doc.stability.partitions[0].recommended == [["b", "a"]]
    with pytest.raises(DocumentError, match="stability.partitions\\[0\\].recommended.*'z' does not exist"):
        GroupingsDoc.from_json({**base, "stability": {"resamples": 1, "partitions": [{"recommended": [["z"]]}]}})
    with pytest.raises(DocumentError, match="samples.x.runs\\[0\\]\\[0\\]: must be 2 x 2"):
        AffinityDoc.from_json({"tasks": tasks, "measures": {"x": {"matrix": [[1, 0], [0, 1]]}},
                               "samples": {"x": {"runs": [[[[1.0]]]]}}})
    assert ComparisonDoc.from_json({"tasks": tasks, "alternatives": [
        {"name": "recommended", "groups": [["a", "b"]], "per_task": {t: {"metric": "rmse", "mean": 1.0} for t in tasks},
         "delta_m": 0.0}], "final": {"groups": [["a", "b"]], "name": "recommended"}}).final.stability is None


def _duplicates_config(tmp_path) -> Config:
    rng = np.random.default_rng(0)
    X = rng.standard_normal((400, 6))
    ya = np.tanh(X[:, 0] + X[:, 1]) + 0.1 * rng.standard_normal(400)
    yb = np.sin(2 * X[:, 4]) * X[:, 5] + 0.1 * rng.standard_normal(400)
    path = tmp_path / "dup.csv"
    cols = {f"x{i}": X[:, i] for i in range(6)} | {"a": ya, "a_copy": ya, "b": yb, "b_copy": yb}
    path.write_text(",".join(cols) + "\n" + "\n".join(",".join(f"{v:.6f}" for v in row)
                                                     for row in zip(*cols.values())) + "\n")
    cfg = Config(data=DataConfig(path=str(path), features=[f"x{i}" for i in range(6)]),
                 model=ModelConfig(hidden=[16]),
                 analyze=AnalyzeConfig(steps=60, probe_steps=60, probe_eval_every=20, stability_runs=2,
                                       measures=["gradient_cosine", "lookahead"]),
                 group=GroupConfig(stability_resamples=10, measure="gradient_cosine"))
    cfg.tasks = [TaskConfig(name=n) for n in ("a", "a_copy", "b", "b_copy")]
    return cfg


@pytest.mark.slow
def test_duplicated_tasks_are_perfectly_stable(tmp_path):
    cfg = _duplicates_config(tmp_path)
    taskgroup.analyze(cfg, tmp_path / "run")
    saved = json.loads((tmp_path / "run" / "affinity.json").read_text())
    assert [len(r) for r in saved["samples"]["gradient_cosine"]["runs"]] == [3, 3, 3]  # 3 seeds x 3 windows
    doc = taskgroup.pipeline.group(tmp_path / "run")
    stab = doc.stability
    assert stab.resamples == 10 and stab.runs["gradient_cosine"] == 3
    assert stab.reproduced == 1.0
    m = np.asarray(stab.co_assignment)
    assert m[0, 1] == 1.0 and m[2, 3] == 1.0
    assert GroupingsDoc.load(tmp_path / "run" / "groupings.json").stability.reproduced == 1.0


@pytest.mark.parametrize("reproduced, warned", [(0.3, True), (0.5, False)])
def test_the_report_draws_co_assignment_and_warns_below_half(tmp_path, reproduced, warned):
    import shutil
    from pathlib import Path

    from taskgroup.reporting import render_report

    fixture = Path(__file__).parent / "fixtures" / "run_small"
    run = tmp_path / "run"
    run.mkdir()
    for f in fixture.iterdir():
        shutil.copy(f, run / f.name)
    (run / "manifest.json").write_text(json.dumps({"schema": 1, "tool": "taskgroup",
                                                   "owned": [f.name for f in fixture.iterdir()]}))
    g = json.loads((run / "groupings.json").read_text())
    n = len(g["tasks"])
    share = np.eye(n).tolist()
    g["stability"] = {"resamples": 10, "co_assignment": share, "reproduced": 0.9,
                      "partitions": [{"recommended": g["recommended"]["groups"]}]}
    (run / "groupings.json").write_text(json.dumps(g))
    c = json.loads((run / "comparison.json").read_text())
    c["final"] = {"groups": g["recommended"]["groups"], "name": "recommended",
                  "stability": {"resamples": 10, "reproduced": reproduced, "co_assignment": share}}
    (run / "comparison.json").write_text(json.dumps(c))
    html = render_report(run)["html"].read_text(encoding="utf-8")
    lead = html[html.index('id="summary"'):html.index('<nav class="toc"')]
    assert ("Unstable grouping" in lead) == warned
    if warned:
        assert "only 30% of 10 resamples" in lead
    assert (run / "figures" / "co_assignment.png").is_file()
    assert "came out the same in 90%" in html and f"the final grouping in {100 * reproduced:.0f}%" in html
