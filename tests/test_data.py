"""Data sources load the right rows, masks and splits, deterministically, in both data layouts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from taskgroup.config import config_from_dict
from taskgroup.data import (
    BUILTINS, digits, list_builtins, load_builtin, load_npz, load_table, load_taskset, planted_groups,
    synthetic, taskset_from_arrays,
)
from taskgroup.data.load import train_rows
from taskgroup.data.table import read_features
from taskgroup.errors import DataError
from taskgroup.tasks import TEST, TRAIN, UNLABELLED, VAL, TaskSet

TABLE = """x0,x1,income,churn,segment
0.5,1.0,10.5,yes,1
1.5,2.0,,no,2
2.5,0.0,12.0,,3
3.5,1.0,9.0,yes,1
4.5,2.0,,no,2
5.5,0.5,14.0,yes,3
6.5,1.5,11.0,no,1
7.5,2.5,13.5,yes,2
8.5,0.0,8.0,no,3
9.5,1.0,15.0,yes,1
10.5,2.0,7.5,no,2
11.5,0.5,16.0,yes,3
"""


def cfg_for(tmp_path: Path, data: dict, tasks: list[dict] | None = None, seed: int = 0):
    raw = {"data": data, "seed": seed}
    if tasks is not None:
        raw["tasks"] = tasks
    return config_from_dict(raw, base_dir=tmp_path, source=str(tmp_path / "config.toml"))


def assert_split_invariants(ts: TaskSet) -> None:
    """Unlabelled rows are in no split; labelled rows are in exactly one."""
    for name in ts.task_names:
        s, m = ts.splits[name], ts.masks[name]
        assert np.all(s[~m] == UNLABELLED), name
        assert np.all(np.isin(s[m], [TRAIN, VAL, TEST])), name


# ---------------------------------------------------------------- CSV tables
def test_csv_empty_target_cells_are_unlabelled_and_in_no_split(tmp_path, write_file):
    write_file("table.csv", TABLE)
    # 10 labelled income rows: 4/3/3, so that validation and test have the 3 rows a metric needs
    cfg = cfg_for(tmp_path, {"path": "table.csv", "features": ["x0", "x1"], "split": [0.4, 0.3, 0.3]},
                  [{"name": "income"}, {"name": "churn"}, {"name": "segment", "kind": "multiclass"}])
    ts = load_taskset(cfg)
    assert ts.input_shape == (2,)
    assert ts.masks["income"].tolist() == [True, False, True, True, False] + [True] * 7
    assert ts.masks["churn"].sum() == 11 and not ts.masks["churn"][2]
    assert_split_invariants(ts)
    for name in ts.task_names:
        counted = sum(ts.counts()[name].values())
        assert counted == ts.masks[name].sum()
        for split in (TRAIN, VAL, TEST):
            assert ts.masks[name][ts.rows(name, split)].all()
    assert np.all(np.isfinite(ts.targets["income"]))  # placeholders, never NaN in a masked loss


def test_csv_kinds_labels_and_default_features(tmp_path, write_file):
    path = write_file("table.csv", TABLE)
    ts = load_table(path, ["income", "churn", "segment"])
    assert ts.feature_names == ["x0", "x1"]
    kinds = {t.name: t.kind for t in ts.tasks}
    assert kinds == {"income": "regression", "churn": "binary", "segment": "multiclass"}
    churn = ts.task("churn")
    assert churn.classes == ("no", "yes") and churn.metric == "auc"
    assert ts.targets["churn"][[0, 1]].tolist() == [1, 0]
    assert ts.task("segment").n_classes == 3 and set(ts.targets["segment"].tolist()) == {0, 1, 2}
    assert ts.targets["income"][0] == pytest.approx(10.5)
    declared = load_table(path, [{"name": "seg", "column": "segment", "kind": "regression", "metric": "r2"}],
                          features=["x1", "x0"])
    assert declared.task("seg").kind == "regression" and declared.task("seg").metric == "r2"
    assert declared.targets["seg"][:3].tolist() == [1.0, 2.0, 3.0]
    assert declared.feature_names == ["x1", "x0"] and declared.inputs[1].tolist() == [2.0, 1.5]


def test_tsv_and_bom_and_blank_lines(tmp_path, write_file):
    text = "\ufeff" + TABLE.replace(",", "\t") + "\n\n"
    path = write_file("table.tsv", text)
    ts = load_table(path, ["income"], features=["x0", "x1"])
    assert ts.n_rows == 12
    # prediction reads the same table with the same reader: the same raw features, the same rows
    np.testing.assert_array_equal(read_features(path, ["x0", "x1"]).astype(np.float32), ts.inputs)


def test_prediction_refuses_a_missing_feature_column_in_one_line(tmp_path, write_file):
    path = write_file("table.csv", TABLE)
    with pytest.raises(DataError, match=r"table.csv: no feature column 'x2' \(used in training\); did you mean") as info:
        read_features(path, ["x0", "x2"])
    assert "\n" not in str(info.value)


# ---------------------------------------------------------------- both layouts
def per_task_pairs(rng: np.random.Generator) -> list[tuple[np.ndarray, np.ndarray]]:
    """A Landmine-like stand-in: every task its own rows, a rare positive class."""
    return [(rng.normal(size=(n, 5)), (rng.random(n) < 0.08).astype(int)) for n in (120, 90, 150)]


def test_per_task_rows_landmine_style(seed):
    ts = taskset_from_arrays(per_task_pairs(np.random.default_rng(seed)), names=["a", "b", "c"], kinds="binary")
    owners = np.sum([ts.masks[n] for n in ts.task_names], axis=0)
    assert np.all(owners == 1)  # each row labelled for exactly one task
    assert [int(ts.masks[n].sum()) for n in ts.task_names] == [120, 90, 150]
    assert ts.masks["a"][:120].all() and not ts.masks["a"][120:].any()
    assert_split_invariants(ts)
    ts.validate()
    for name in ts.task_names:  # stratified: the rare class reaches every split
        y = ts.targets[name]
        for split in (TRAIN, VAL, TEST):
            assert y[ts.rows(name, split)].sum() >= 1, (name, split)


def test_shared_rows_sarcos_style(seed):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(200, 4))
    Y = np.c_[X @ rng.normal(size=4), X @ rng.normal(size=4), np.sin(X[:, 0])]
    Y[:20, 2] = np.nan
    ts = taskset_from_arrays(X, Y, names=["t1", "t2", "t3"])
    assert all(t.kind == "regression" for t in ts.tasks)
    assert ts.masks["t1"].all() and ts.masks["t3"].sum() == 180
    assert_split_invariants(ts)
    assert np.array_equal(ts.splits["t1"], ts.splits["t2"])  # fully shared rows: one split for every task
    labelled = ts.masks["t3"]  # partly labelled: exact shares per task, so only rows near a cut may differ
    assert np.mean(ts.splits["t1"][labelled] != ts.splits["t3"][labelled]) < 0.05


def test_arrays_accept_a_mapping_and_text_labels():
    X = np.arange(40, dtype=float).reshape(20, 2)
    ts = taskset_from_arrays(X, {"size": X[:, 0] * 0.5 + 0.25, "big": np.where(X[:, 0] > 19, "big", "small")})
    assert ts.task("big").kind == "binary" and ts.task("big").classes == ("big", "small")
    assert ts.task("size").kind == "regression"


def test_npz_shared_and_per_task_layouts(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    Y = np.c_[X[:, 0], (X[:, 1] > 0).astype(float)]
    Y[::7, 0] = np.nan
    np.savez(tmp_path / "shared.npz", X=X, Y=Y, task_names=np.array(["reg", "cls"]))
    ts = load_npz(tmp_path / "shared.npz")
    assert ts.task_names == ["reg", "cls"] and ts.task("cls").kind == "binary"
    assert ts.masks["reg"].sum() == 60 - len(range(0, 60, 7))
    assert_split_invariants(ts)

    pairs = per_task_pairs(rng)
    np.savez(tmp_path / "per_task.npz", **{f"{k}_{t}": v for t, (x, y) in enumerate(pairs)
                                           for k, v in (("X", x), ("y", y[:, None]))})
    cfg = cfg_for(tmp_path, {"path": "per_task.npz"}, [{"name": "second", "column": "task_1"}])
    ts = load_taskset(cfg)
    assert ts.task_names == ["second"] and ts.masks["second"].sum() == 90 and ts.n_rows == 360
    assert ts.meta["layout"] == "per_task"


# ---------------------------------------------------------------- determinism and fractions
def test_same_seed_same_data_and_splits_other_seed_other_splits(tmp_path):
    a = load_taskset(cfg_for(tmp_path, {"builtin": "synthetic-small"}, seed=4))
    b = load_taskset(cfg_for(tmp_path, {"builtin": "synthetic-small"}, seed=4))
    c = load_taskset(cfg_for(tmp_path, {"builtin": "synthetic-small"}, seed=5))
    assert a.fingerprint() == b.fingerprint()
    assert np.array_equal(a.inputs, b.inputs)
    assert all(np.array_equal(a.splits[n], b.splits[n]) for n in a.task_names)
    assert all(np.array_equal(a.targets[n], c.targets[n]) for n in a.task_names)  # same data ...
    assert any(not np.array_equal(a.splits[n], c.splits[n]) for n in a.task_names)  # ... new splits
    assert a.fingerprint() != c.fingerprint()


@pytest.mark.parametrize("fractions", [[0.6, 0.2, 0.2], [0.5, 0.25, 0.25], [0.8, 0.1, 0.1]])
def test_split_fractions_are_respected(tmp_path, fractions):
    ts = load_taskset(cfg_for(tmp_path, {"builtin": "synthetic-shared", "split": fractions,
                                         "options": {"rows_per_task": 200}}))
    for name in ts.task_names:
        counts = ts.counts()[name]
        for key, frac in zip(("train", "val", "test"), fractions):
            assert abs(counts[key] - frac * 200) <= 1, (name, key)


def test_features_are_standardised_with_training_rows_only(tmp_path):
    ts = load_taskset(cfg_for(tmp_path, {"builtin": "synthetic-small"}))
    rows = train_rows(ts)
    np.testing.assert_allclose(ts.inputs[rows].mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(ts.inputs[rows].std(axis=0), 1, atol=1e-4)
    raw = load_taskset(cfg_for(tmp_path, {"builtin": "synthetic-small", "standardize": False}))
    scaling = ts.meta["feature_scaling"]
    np.testing.assert_allclose((raw.inputs - np.asarray(scaling["mean"])) / np.asarray(scaling["std"]),
                               ts.inputs, atol=1e-5)
    assert "feature_scaling" not in raw.meta


def test_image_inputs_are_standardised_per_channel(tmp_path):
    ts = load_taskset(cfg_for(tmp_path, {"builtin": "digits-per-task", "options": {"rows_per_task": 150}}))
    assert ts.input_shape == (1, 8, 8)
    scaling = ts.meta["feature_scaling"]
    assert np.asarray(scaling["mean"]).shape == (1, 1, 1)
    assert abs(float(ts.inputs[train_rows(ts)].mean())) < 1e-5


# ---------------------------------------------------------------- synthetic
def test_synthetic_planted_clusters_correlate_within_not_across():
    ts = synthetic(n_clusters=3, tasks_per_cluster=3, rows_per_task=500, shared_rows=True)
    names = ts.task_names
    assert names[:3] == ["c0_t0", "c0_t1", "c0_t2"]
    corr = np.corrcoef([ts.targets[n] for n in names])
    cluster = [ts.meta["clusters"][n] for n in names]
    same = np.array([[a == b for b in cluster] for a in cluster]) & ~np.eye(len(names), dtype=bool)
    across = ~np.array([[a == b for b in cluster] for a in cluster])
    assert corr[same].min() > 0.6
    assert np.abs(corr[across]).max() < 0.4
    assert planted_groups(ts) == [["c0_t0", "c0_t1", "c0_t2"], ["c1_t0", "c1_t1", "c1_t2"],
                                  ["c2_t0", "c2_t1", "c2_t2"]]


def test_synthetic_conflicting_and_unrelated_tasks():
    ts = synthetic(n_clusters=2, tasks_per_cluster=2, rows_per_task=400, conflicting=2, shared_rows=True)
    assert ts.task_names[-2:] == ["c0_x0", "c1_x0"]
    assert np.corrcoef(ts.targets["c0_t0"], ts.targets["c0_x0"])[0, 1] < -0.6
    assert ts.meta["conflicts"] == {"c0_x0": "c0", "c1_x0": "c1"}
    assert ["c0_x0"] in planted_groups(ts)
    un = synthetic(n_clusters=2, tasks_per_cluster=2, rows_per_task=400, unrelated=True, shared_rows=True)
    corr = np.corrcoef([un.targets[n] for n in un.task_names])
    assert np.abs(corr[~np.eye(4, dtype=bool)]).max() < 0.4
    assert len(planted_groups(un)) == 4


def test_synthetic_layouts_kinds_and_stable_functions():
    ts = synthetic(n_clusters=2, tasks_per_cluster=2, rows_per_task=100, kind="mixed")
    assert ts.n_rows == 400 and [t.kind for t in ts.tasks] == ["regression", "binary"] * 2
    assert np.all(np.sum([ts.masks[n] for n in ts.task_names], axis=0) == 1)
    binary = synthetic(n_clusters=1, tasks_per_cluster=2, rows_per_task=400, kind="binary")
    for n in binary.task_names:
        assert 0.35 < binary.targets[n][binary.masks[n]].mean() < 0.65  # balanced classes
    small, big = synthetic(rows_per_task=50), synthetic(rows_per_task=80)
    np.testing.assert_allclose(small.targets["c1_t2"][small.masks["c1_t2"]],
                               big.targets["c1_t2"][big.masks["c1_t2"]][:50], rtol=1e-9, atol=1e-9)
    again = synthetic(rows_per_task=50)
    assert small.fingerprint() == again.fingerprint()
    assert synthetic(rows_per_task=50, seed=1).fingerprint() != small.fingerprint()


# ---------------------------------------------------------------- digits and registry
def test_digits_images_and_tasks():
    ts = digits()
    assert ts.inputs.shape == (1797, 1, 8, 8)
    assert 0 <= ts.inputs.min() and ts.inputs.max() <= 1
    assert ts.task_names == ["is_3", "is_5", "is_8", "is_1", "is_7", "is_4"]
    assert all(t.kind == "binary" and t.metric == "auc" for t in ts.tasks)
    assert 0.08 < ts.targets["is_3"].mean() < 0.12
    own = digits(tasks=["even", "has_loop", "is_0"], shared_rows=False, rows_per_task=200)
    assert own.n_rows == 600 and np.all(np.sum([own.masks[n] for n in own.task_names], axis=0) == 1)
    assert 0.4 < own.targets["even"][own.masks["even"]].mean() < 0.6
    own.validate()


def test_registry_lists_and_builds_builtins(tmp_path):
    names = [n for n, _ in list_builtins()]
    assert {"synthetic", "digits", "synthetic-shared", "synthetic-unrelated", "landmine", "sarcos"} <= set(names)
    assert all(desc and "\n" not in desc for _, desc in list_builtins())
    ts = load_builtin("synthetic", {"n_clusters": 2, "tasks_per_cluster": 2, "rows_per_task": 60})
    assert len(ts.tasks) == 4
    assert load_builtin("synthetic-shared", {"rows_per_task": 40}).n_rows == 40
    cfg = cfg_for(tmp_path, {"builtin": "digits"}, [{"name": "three", "column": "is_3", "metric": "f1"},
                                                   {"name": "is_8"}])
    ts = load_taskset(cfg)
    assert ts.task_names == ["three", "is_8"] and ts.task("three").metric == "f1"
    assert set(BUILTINS) == set(names)


def test_builtins_without_shared_data_load_and_validate(tmp_path):
    for name in ("synthetic-binary", "synthetic-mixed", "synthetic-conflict", "synthetic-unrelated"):
        ts = load_taskset(cfg_for(tmp_path, {"builtin": name, "options": {"rows_per_task": 60}}))
        assert_split_invariants(ts)


# ---------------------------------------------------------------- the shared real data (skipped when absent)
def test_shared_landmine_per_task_rows(shared_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("TASKGROUP_SHARED", str(shared_dir))
    ts = load_taskset(cfg_for(tmp_path, {"builtin": "landmine"}))
    assert len(ts.tasks) == 29 and ts.n_rows == 14820 and ts.input_shape == (9,)
    assert np.all(np.sum([ts.masks[n] for n in ts.task_names], axis=0) == 1)
    assert int(ts.masks["field01"].sum()) == 690 and int(ts.masks["field29"].sum()) == 449
    assert planted_groups(ts)[0] == [f"field{k:02d}" for k in range(1, 16)]
    assert_split_invariants(ts)
    for name in ts.task_names:
        for split in (TRAIN, VAL, TEST):
            assert ts.targets[name][ts.rows(name, split)].sum() >= 1


def test_shared_sarcos_school_survey(shared_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("TASKGROUP_SHARED", str(shared_dir))
    ts = load_taskset(cfg_for(tmp_path, {"builtin": "sarcos"}))
    assert ts.task_names == [f"torque{j}" for j in range(1, 8)] and ts.n_rows == 4449
    assert all(ts.masks[n].all() for n in ts.task_names)
    assert all(np.array_equal(ts.splits["torque1"], ts.splits[n]) for n in ts.task_names)
    assert np.corrcoef(ts.targets["torque4"], ts.targets["torque7"])[0, 1] > 0.9
    school = load_taskset(cfg_for(tmp_path, {"builtin": "school", "options": {"max_tasks": 5}}))
    assert len(school.tasks) == 5 and school.input_shape == (27,)
    survey = load_taskset(cfg_for(tmp_path, {"builtin": "computer-survey", "options": {"max_tasks": 10}}))
    assert survey.n_rows == 20 and len(survey.tasks) == 10 and survey.input_shape == (13,)
