"""Every bad input fails with one line that names the file, column, task or option at fault."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from taskgroup.config import config_from_dict
from taskgroup.data import load_builtin, load_table, load_taskset, taskset_from_arrays
from taskgroup.errors import ConfigError, DataError, TaskgroupError

if __package__:  # tests/ is a package
    from .checks import one_line, raises_one_line
else:  # tests/ is on sys.path (pytest's default rootdir-less import)
    from checks import one_line, raises_one_line

GOOD = "x0,x1,y\n" + "".join(f"{i},{i % 3},{i % 2}\n" for i in range(30))


def load(tmp_path: Path, data: dict, tasks: list[dict] | None = None):
    raw = {"data": data}
    if tasks is not None:
        raw["tasks"] = tasks
    return load_taskset(config_from_dict(raw, base_dir=tmp_path, source="config.toml"))


# ---------------------------------------------------------------- CSV files
@pytest.mark.parametrize("text, task, needles", [
    ("", "y", ["table.csv", "empty"]),
    ("x0,y\n", "y", ["table.csv", "no data rows"]),
    ("x0,x0,y\n1,2,1\n", "y", ["duplicate column header", "'x0'"]),
    ("x0,,y\n1,2,1\n", "y", ["column 2", "empty header"]),
    ("x0,y\n1,0\n2\n", "y", ["line 3", "1 fields", "header has 2"]),
    (GOOD.replace("5,2,1", "5,abc,1"), "y", ["feature column 'x1'", "line 7", "'abc' is not a number"]),
    (GOOD.replace("5,2,1", "5,,1"), "y", ["feature column 'x1'", "line 7", "empty cell"]),
    (GOOD.replace("5,2,1", "5,nan,1"), "y", ["feature column 'x1'", "line 7", "not a finite number"]),
    (GOOD.replace("5,2,1", "5,inf,1"), "y", ["feature column 'x1'", "line 7", "not a finite number"]),
    ("x0,y\n" + "".join(f"{i},\n" for i in range(10)), "y", ["task 'y'", "no labelled rows"]),
    ("x0,y\n" + "".join(f"{i},yes\n" for i in range(10)), "y", ["task 'y'", "'yes'", "same value"]),
    ("x0,y\n" + "".join(f"{i},3.5\n" for i in range(10)), "y", ["task 'y'", "same value"]),
    ("x0,y\n" + "".join(f"{i},{'inf' if i == 4 else i}\n" for i in range(10)), "y", ["task 'y'", "infinite", "line 6"]),
])
def test_bad_csv_content(tmp_path, write_file, text, task, needles):
    write_file("table.csv", text)
    with raises_one_line(DataError, *needles):
        load(tmp_path, {"path": "table.csv"}, [{"name": task}])


@pytest.mark.parametrize("task, needles", [
    ({"name": "y", "kind": "binary"}, ["task 'y'", "declared binary", "3 distinct values"]),
    ({"name": "y", "kind": "multiclass"}, ["task 'y'", "declared multiclass", "non-integer value 0.5"]),
    ({"name": "label", "kind": "regression"}, ["task 'label'", "declared regression", "'cat'", "line 2"]),
    ({"name": "one", "kind": "binary"}, ["task 'one'", "only one class (1)"]),
    ({"name": "one", "kind": "regression"}, ["task 'one'", "regression target is constant"]),
    ({"name": "y", "metric": "auc", "kind": "regression"}, ["task 'y'", "metric 'auc'", "regression"]),
    ({"name": "words"}, ["task 'words'", "distinct non-numeric", "multiclass"]),
])
def test_declared_kind_must_fit_the_values(tmp_path, write_file, task, needles):
    rows = "".join(f"{i},{[0.5, 1, 2][i % 3]},{['cat', 'dog'][i % 2]},1,w{i}\n" for i in range(30))
    write_file("table.csv", "x0,y,label,one,words\n" + rows)
    features = ["x0"]
    with raises_one_line(DataError, *needles):
        load(tmp_path, {"path": "table.csv", "features": features}, [task])


def test_missing_file_column_and_feature(tmp_path, write_file):
    with raises_one_line(DataError, "nope.csv", "not found"):
        load(tmp_path, {"path": "nope.csv"}, [{"name": "y"}])
    write_file("table.csv", GOOD.replace("x0,x1,y", "x0,x1,income"))
    with raises_one_line(DataError, "table.csv", "no column 'incom'", "did you mean 'income'"):
        load(tmp_path, {"path": "table.csv"}, [{"name": "incom"}])
    with raises_one_line(DataError, "table.csv", "no column 'wage'", "for task 'pay'", "the columns are"):
        load(tmp_path, {"path": "table.csv"}, [{"name": "pay", "column": "wage"}])
    with raises_one_line(DataError, "no feature column 'x2'", "did you mean"):
        load(tmp_path, {"path": "table.csv", "features": ["x2"]}, [{"name": "income"}])


def test_task_declarations(tmp_path, write_file):
    write_file("table.csv", GOOD)
    with raises_one_line(ConfigError, "table.csv", "[[tasks]]"):
        load(tmp_path, {"path": "table.csv"})
    with raises_one_line(ConfigError, "duplicate task name 'y'"):
        load_table(tmp_path / "table.csv", [{"name": "y"}, {"name": "y", "column": "x1"}])
    with raises_one_line(ConfigError, "duplicate task name 'y'"):
        load(tmp_path, {"path": "table.csv"}, [{"name": "y"}, {"name": "y", "column": "x1"}])
    with raises_one_line(ConfigError, "'y'", "both a feature", "task target"):
        load(tmp_path, {"path": "table.csv", "features": ["x0", "y"]}, [{"name": "y"}])
    with raises_one_line(ConfigError, "unknown kind 'binray'"):
        load_table(tmp_path / "table.csv", [{"name": "y", "kind": "binray"}])


def test_too_few_rows_and_non_utf8(tmp_path, write_file):
    write_file("table.csv", "x0,y\n1,1\n2,0\n3,1\n")
    with raises_one_line(DataError, "table.csv", "task 'y'", "too few"):
        load(tmp_path, {"path": "table.csv"}, [{"name": "y"}])
    write_file("latin.csv", "x0,y\n1,caf\xe9\n".encode("latin-1"))
    with raises_one_line(DataError, "latin.csv", "UTF-8"):
        load(tmp_path, {"path": "latin.csv"}, [{"name": "y"}])


def test_unsupported_sources_and_misplaced_keys(tmp_path, write_file):
    write_file("data.xlsx", "x")
    with raises_one_line(ConfigError, "data.xlsx", "unsupported file type"):
        load(tmp_path, {"path": "data.xlsx"}, [{"name": "y"}])
    write_file("data.parquet", "x")         # Parquet is read (with the arrow extra); a broken one is one line
    with raises_one_line(DataError, "data.parquet"):
        load(tmp_path, {"path": "data.parquet"}, [{"name": "y"}])
    write_file("table.csv", GOOD)
    with raises_one_line(ConfigError, "data.options", "built-in"):
        load(tmp_path, {"path": "table.csv", "options": {"rows": 3}}, [{"name": "y"}])
    with raises_one_line(ConfigError, "data.features", "CSV"):
        load(tmp_path, {"builtin": "synthetic-small", "features": ["x0"]})


# ---------------------------------------------------------------- built-ins
def test_builtin_names_options_and_tasks(tmp_path):
    with raises_one_line(ConfigError, "'synthetc'", "did you mean 'synthetic'"):
        load_builtin("synthetc")
    with raises_one_line(ConfigError, "'synthetic'", "no option 'n_cluster'", "did you mean 'n_clusters'"):
        load_builtin("synthetic", {"n_cluster": 2})
    with raises_one_line(ConfigError, "n_clusters", "'two'"):
        load_builtin("synthetic", {"n_clusters": "two"})
    with raises_one_line(ConfigError, "kind", "'ordinal'"):
        load_builtin("synthetic", {"kind": "ordinal"})
    with raises_one_line(ConfigError, "digits", "'is_33'"):
        load_builtin("digits", {"tasks": ["is_33"]})
    with raises_one_line(ConfigError, "no task 'c0_t9'", "did you mean"):
        load(tmp_path, {"builtin": "synthetic-small"}, [{"name": "c0_t9"}])
    with raises_one_line(ConfigError, "'c0_t0'", "declared binary", "regression"):
        load(tmp_path, {"builtin": "synthetic-small"}, [{"name": "c0_t0", "kind": "binary"}])


def test_shared_builtin_without_the_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("TASKGROUP_SHARED", str(tmp_path / "nowhere"))
    with raises_one_line(DataError, "LandmineData.mat", "not found", "TASKGROUP_SHARED"):
        load_builtin("landmine")


# ---------------------------------------------------------------- arrays and .npz
def test_bad_arrays_and_npz(tmp_path):
    X = np.zeros((10, 2))
    with raises_one_line(DataError, "y_1", "5 rows", "10"):
        taskset_from_arrays([(X, np.arange(10) % 2), (X, np.arange(5))])
    with raises_one_line(DataError, "NaN or infinite", "row 3"):
        bad = X.copy()
        bad[3, 1] = np.nan
        taskset_from_arrays(bad, np.arange(10.0))
    with raises_one_line(ConfigError, "3 names", "2 target columns"):
        taskset_from_arrays(X, np.zeros((10, 2)), names=["a", "b", "c"])
    np.savez(tmp_path / "bad.npz", A=X)
    with raises_one_line(DataError, "bad.npz", "expected arrays X and Y"):
        load(tmp_path, {"path": "bad.npz"})
    np.savez(tmp_path / "gap.npz", X_0=X, y_0=np.arange(10) % 2, X_1=X)
    with raises_one_line(DataError, "gap.npz", "'y_1' is missing"):
        load(tmp_path, {"path": "gap.npz"})
    np.savez(tmp_path / "obj.npz", X=X, Y=np.zeros((10, 1)), task_names=np.array(["a"], dtype=object))
    with raises_one_line(DataError, "obj.npz"):
        load(tmp_path, {"path": "obj.npz"})
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with raises_one_line(DataError, "junk.npz", "not a readable .npz"):
        load(tmp_path, {"path": "junk.npz"})
    np.savez(tmp_path / "ok.npz", X=np.random.default_rng(0).normal(size=(30, 2)), Y=np.arange(30.0))
    with raises_one_line(DataError, "ok.npz", "no task 'tsak_0'", "did you mean 'task_0'"):
        load(tmp_path, {"path": "ok.npz"}, [{"name": "tsak_0"}])


# ---------------------------------------------------------------- fuzzing
NUMBER = st.one_of(st.integers(-3, 3).map(str), st.floats(-1e6, 1e6).map(repr))
ODD_CELL = st.one_of(
    st.sampled_from(["", "nan", "NaN", "inf", "-inf", "1e999", "1e300", "yes", "no", " 3 ", "1_0", "0x1", "\"",
                     "\"a,b\"", "\"\"", "x", "\u00e9", "\x00"]),
    st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=4),
)


@st.composite
def csv_texts(draw: st.DrawFn) -> str:
    """Tables that are often well formed (so loading gets deep) with odd cells and broken structure mixed in."""
    header = draw(st.lists(st.sampled_from(["x0", "x1", "y", "z"]), min_size=1, max_size=4, unique=True))
    if draw(st.integers(0, 9)) == 0:
        header.append(draw(st.sampled_from(["", "y", "x0 "])))
    width = len(header)
    ragged = draw(st.integers(0, 9)) == 0
    cell = draw(st.sampled_from([NUMBER, st.one_of(NUMBER, NUMBER, NUMBER, ODD_CELL)]))
    row = st.lists(cell, min_size=width - 1 if ragged else width, max_size=width + 1 if ragged else width)
    rows = draw(st.lists(row, max_size=25))
    sep = draw(st.sampled_from(["\n", "\r\n"]))
    return sep.join(",".join(r) for r in [header, *rows]) + draw(st.sampled_from(["", "", sep, "\x00"]))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=csv_texts(), tasks=st.lists(st.sampled_from(["y", "z", "x1"]), min_size=1, max_size=2, unique=True),
       kind=st.sampled_from([None, "binary", "multiclass", "regression"]))
def test_csv_loader_raises_only_its_own_errors(text, tasks, kind):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fuzz.csv"
        path.write_text(text, encoding="utf-8")
        specs = [{"name": t, "kind": kind} for t in tasks]
        try:
            ts = load_table(path, specs)
            ts.validate()
        except TaskgroupError as exc:
            one_line(exc)
