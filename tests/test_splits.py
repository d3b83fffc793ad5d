"""One split per row (issue 12): the leaking construction, group-aware and user-given splits, the
``--splits`` export, the split hash, splits that cannot score a metric, and missing-label markers."""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks.leak_check import construction, crossed_rows, held_out_rmse
from taskgroup.cli import main
from taskgroup.config import Config, DataConfig, TaskConfig
from taskgroup.data import load_taskset, splits
from taskgroup.errors import ConfigError, DataError
from taskgroup.tasks import TEST, TRAIN, UNLABELLED, VAL, Task, TaskSet

FRACTIONS = (0.6, 0.2, 0.2)


def _cfg(tmp_path, data: dict, tasks: list[str]) -> Config:
    return Config(data=DataConfig(**data), tasks=[TaskConfig(name=t) for t in tasks], base_dir=str(tmp_path),
                  source=str(tmp_path / "c.toml"))


def _invoke(*args: str):
    return CliRunner().invoke(main, list(args))


# ------------------------------------------------------------------ one split per row, the leak
@pytest.mark.parametrize("seed", range(6))
def test_no_held_out_row_of_a_task_is_a_training_row_of_another(seed):
    ts = construction(seed)
    assert crossed_rows(ts) == 0
    row = ts.row_split
    for name in ts.task_names:
        labelled = ts.masks[name]
        assert np.array_equal(ts.splits[name][labelled], row[labelled])
    counts = ts.counts()
    for name, n in (("a", 1000), ("c", 30)):
        for split, f in zip(("train", "val", "test"), FRACTIONS):
            assert abs(counts[name][split] - f * n) <= 1, (name, split, counts[name])


@pytest.mark.slow
def test_the_shared_network_no_longer_beats_the_noise_floor_on_the_small_tasks_held_out_rows():
    sse = rows = 0.0
    for seed in range(3):
        s, n = held_out_rmse(construction(seed), ["a", "c"], "c", steps=1500, seed=seed)
        sse, rows = sse + s, rows + n
    assert math.sqrt(sse / rows) >= 0.95  # the target is noise of standard deviation 1


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 10_000), st.integers(2, 5), st.floats(0.2, 1.0))
def test_per_task_split_sizes_stay_close_to_the_fractions(seed, n_tasks, density):
    rng = np.random.default_rng(seed)
    n = 400
    masks = {f"t{i}": rng.random(n) < (density if i else 1.0) for i in range(n_tasks)}
    classes = {"t1": rng.integers(0, 2, n)} if n_tasks > 1 else None
    row = splits.by_fractions(masks, list(masks), FRACTIONS, seed, classes)
    for name, m in masks.items():
        k = int(m.sum())
        for code, f in zip((TRAIN, VAL, TEST), FRACTIONS):
            assert abs(int(np.sum(row[m] == code)) - f * k) <= 2 + 0.02 * k, (name, code, k)
    assert np.all((row == UNLABELLED) == ~np.logical_or.reduce(list(masks.values())))


def test_a_rare_class_of_a_task_that_owns_its_rows_reaches_every_split():
    n = 300
    owner = np.repeat([0, 1, 2], 100)
    y = np.zeros(n)
    y[[5, 17, 60, 105, 140]] = 1  # task 0 has 3 positives, task 1 has 2
    masks = {f"t{i}": owner == i for i in range(3)}
    row = splits.by_fractions(masks, list(masks), FRACTIONS, 0, {n: y for n in masks})
    assert sorted(row[[5, 17, 60]].tolist()) == [TRAIN, VAL, TEST]


def test_given_splits_that_disagree_between_tasks_are_refused():
    X = np.zeros((4, 1))
    tasks = [Task("a", "regression"), Task("b", "regression")]
    y = {"a": np.arange(4.0), "b": np.arange(4.0)}
    with pytest.raises(DataError, match="row 1 is in the val split for task 'b'"):
        TaskSet(X, tasks, y, {}, splits={"a": np.array([0, 0, 1, 2]), "b": np.array([0, 1, 1, 2])})


# ------------------------------------------------------------------ groups
def _subject_table(path, subjects: int = 40, per: int = 50) -> None:
    """Rows of 40 subjects; a subject's identity is learnable from its features, the label depends on it."""
    rng = np.random.default_rng(3)
    centre = rng.normal(scale=3.0, size=(subjects, 4))
    effect = rng.normal(size=subjects)
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["subject", "f0", "f1", "f2", "f3", "score", "flag"])
        for s in range(subjects):
            for _ in range(per):
                x = centre[s] + rng.normal(scale=0.3, size=4)
                w.writerow([f"S{s:02d}", *np.round(x, 4), round(effect[s] + 0.1 * rng.normal(), 4),
                            int(effect[s] + rng.normal() > 0)])


def test_with_data_groups_no_subject_is_in_two_splits(tmp_path):
    _subject_table(tmp_path / "t.csv")
    ts = load_taskset(_cfg(tmp_path, {"path": "t.csv", "groups": "subject", "features": ["f0", "f1", "f2", "f3"]},
                           ["score", "flag"]))
    subject = np.asarray(ts.groups)
    row = ts.row_split
    for s in np.unique(subject):
        assert len(set(row[subject == s].tolist())) == 1, s
    per_split = {k: len(np.unique(subject[row == k])) for k in (TRAIN, VAL, TEST)}
    assert per_split == {TRAIN: 24, VAL: 8, TEST: 8}
    # without groups, the same table puts most subjects in several splits
    plain = load_taskset(_cfg(tmp_path, {"path": "t.csv", "features": ["f0", "f1", "f2", "f3"]}, ["score", "flag"]))
    mixed = sum(len(set(plain.row_split[subject == s].tolist())) > 1 for s in np.unique(subject))
    assert mixed >= 35


def test_check_prints_groups_per_split_and_warns_about_a_repeated_column(tmp_path):
    _subject_table(tmp_path / "t.csv")
    (tmp_path / "g.toml").write_text('[data]\npath = "t.csv"\ngroups = "subject"\n[[tasks]]\nname = "score"\n')
    out = _invoke("check", str(tmp_path / "g.toml"))
    assert out.exit_code == 0, out.output
    assert "groups per split: 24 train, 8 val, 8 test (of 40)" in out.output
    assert "warning" not in out.output
    (tmp_path / "p.toml").write_text('[data]\npath = "t.csv"\nfeatures = ["f0", "f1"]\n[[tasks]]\nname = "score"\n')
    out = _invoke("check", str(tmp_path / "p.toml"))
    assert out.exit_code == 0, out.output
    warnings = [line for line in out.output.splitlines() if line.startswith("warning")]
    assert len(warnings) == 1 and "'subject'" in warnings[0] and 'data.groups = "subject"' in warnings[0]


# ------------------------------------------------------------------ the user's column, and the export
def test_a_split_column_is_used_as_given_and_exported(tmp_path):
    rows = ["x,y,part"]
    parts = ["train"] * 6 + ["val", "Validation", " VAL "] + ["test"] * 3
    for i, p in enumerate(parts):
        rows.append(f"{i},{i % 4 + 0.5 * i},{p}")
    rows.append("12,,")  # an unlabelled row needs no split
    (tmp_path / "t.csv").write_text("\n".join(rows) + "\n")
    (tmp_path / "c.toml").write_text('[data]\npath = "t.csv"\nsplit_column = "part"\n[[tasks]]\nname = "y"\n')
    ts = load_taskset(_cfg(tmp_path, {"path": "t.csv", "split_column": "part"}, ["y"]))
    assert ts.feature_names == ["x"] and ts.split_method == "column"
    assert ts.row_split.tolist() == [TRAIN] * 6 + [VAL] * 3 + [TEST] * 3 + [UNLABELLED]
    out = _invoke("check", str(tmp_path / "c.toml"), "--splits", str(tmp_path / "s.csv"))
    assert out.exit_code == 0, out.output
    exported = list(csv.reader((tmp_path / "s.csv").open()))
    assert exported[0] == ["row", "split"]
    assert exported[1:] == [[str(i), s] for i, s in enumerate(["train"] * 6 + ["val"] * 3 + ["test"] * 3 + [""])]
    assert ts.split_hash() in out.output


def test_a_bad_split_value_names_its_line(tmp_path):
    (tmp_path / "t.csv").write_text("x,y,part\n1,1,train\n2,2,dev\n")
    with pytest.raises(DataError, match=r"line 3: split value 'dev' is not one of train, val, validation, test"):
        load_taskset(_cfg(tmp_path, {"path": "t.csv", "split_column": "part"}, ["y"]))


@pytest.mark.parametrize("data", [{"groups": "g", "split_column": "part"},
                                  {"split_column": "part", "split": [0.5, 0.25, 0.25]}])
def test_split_column_with_groups_or_fractions_is_a_config_error(data):
    with pytest.raises(ConfigError, match="cannot both apply"):
        DataConfig(path="t.csv", **data)


def test_check_cannot_overwrite_the_data_file_with_the_export(tmp_path):
    (tmp_path / "t.csv").write_text("x,y\n" + "".join(f"{i},{i * 0.7 % 3}\n" for i in range(20)))
    (tmp_path / "c.toml").write_text('[data]\npath = "t.csv"\n[[tasks]]\nname = "y"\n')
    before = (tmp_path / "t.csv").read_text()
    out = _invoke("check", str(tmp_path / "c.toml"), "--splits", str(tmp_path / "t.csv"))
    assert out.exit_code == 2 and "is the data file itself" in out.output
    assert (tmp_path / "t.csv").read_text() == before


def test_affinity_and_comparison_record_the_split_hash(tmp_path):
    import taskgroup
    from taskgroup.config import config_from_dict

    cfg = config_from_dict({"data": {"builtin": "synthetic-small"}, "model": {"hidden": [8]},
                            "train": {"steps": 10, "eval_every": 5},
                            "analyze": {"steps": 10, "every": 5, "window": 2, "measures": ["gradient_cosine"]},
                            "compare": {"seeds": 1, "random_groupings": 0,
                                        "alternatives": ["recommended", "single_task"]}}, source="<test>")
    taskgroup.run(cfg, tmp_path / "run")
    expected = load_taskset(cfg).split_hash()
    for name in ("affinity.json", "comparison.json"):
        doc = json.loads((tmp_path / "run" / name).read_text())
        assert doc["data"]["split_hash"] == expected and doc["data"]["split"] == "fractions", name


# ------------------------------------------------------------------ every split scores its metric
def test_a_validation_split_without_a_positive_is_refused_at_check(tmp_path):
    lines = ["x,rare"] + [f"{i},{1 if i == 7 else 0}" for i in range(60)]
    (tmp_path / "t.csv").write_text("\n".join(lines) + "\n")
    (tmp_path / "c.toml").write_text('[data]\npath = "t.csv"\n[[tasks]]\nname = "rare"\n')
    out = _invoke("check", str(tmp_path / "c.toml"))
    assert out.exit_code == 2
    message = out.output.strip().splitlines()
    assert len(message) == 1
    assert "task 'rare': the val split has 12 rows of one class (0) only, so its auc is undefined" in message[0]
    assert "drop the task" in message[0]


def test_a_split_with_two_rows_cannot_score_a_regression_task(tmp_path):
    (tmp_path / "t.csv").write_text("x,y\n" + "".join(f"{i},{i * 0.37 % 1}\n" for i in range(10)))
    with pytest.raises(DataError, match=r"task 'y': the val split has 2 labelled rows, too few to score its rmse"):
        load_taskset(_cfg(tmp_path, {"path": "t.csv"}, ["y"]))


# ------------------------------------------------------------------ missing-label markers
def test_missing_markers_are_missing_labels_for_every_kind(tmp_path):
    markers = ["NA", " n/a ", "nan", "NaN", "null", "None", "?", ""]
    rows = ["x,flag,size"]
    for i in range(60):
        flag = markers[i % 8] if i % 3 == 0 else str(i % 2)
        size = markers[(i + 1) % 8] if i % 4 == 0 else f"{i * 0.5}"
        rows.append(f"{i},{flag},{size}")
    (tmp_path / "t.csv").write_text("\n".join(rows) + "\n")
    ts = load_taskset(_cfg(tmp_path, {"path": "t.csv"}, ["flag", "size"]))
    assert ts.task("flag").kind == "binary" and ts.task("flag").classes == (0, 1)
    assert int((~ts.masks["flag"]).sum()) == 20 and int((~ts.masks["size"]).sum()) == 15
    (tmp_path / "c.toml").write_text('[data]\npath = "t.csv"\n[[tasks]]\nname = "flag"\n[[tasks]]\nname = "size"\n')
    out = _invoke("check", str(tmp_path / "c.toml"))
    assert out.exit_code == 0, out.output
    table = {line.split()[0]: line.split() for line in out.output.splitlines()[1:3]}
    assert table["flag"][5] == "20" and table["size"][5] == "15"


def test_data_missing_overrides_the_markers(tmp_path):
    rows = ["x,flag"] + [f"{i},{['yes', 'no', 'unknown', 'NA'][i % 4]}" for i in range(40)]
    (tmp_path / "t.csv").write_text("\n".join(rows) + "\n")
    ts = load_taskset(_cfg(tmp_path, {"path": "t.csv", "missing": ["unknown", "NA"]}, ["flag"]))
    assert ts.task("flag").classes == ("no", "yes") and int(ts.masks["flag"].sum()) == 20
    only_unknown = Config(data=DataConfig(path="t.csv", missing=["unknown"]),
                          tasks=[TaskConfig(name="flag", kind="binary")], base_dir=str(tmp_path))
    with pytest.raises(DataError, match="declared binary but holds 3 distinct values"):
        load_taskset(only_unknown)  # NA is a label now, a third class
