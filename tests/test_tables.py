"""Tables as users have them: any delimiter, with or without a header, any extension; derived targets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import given, settings, strategies as st

from taskgroup.cli import main
from taskgroup.config import Config, DataConfig, TaskConfig
from taskgroup.data import load_taskset
from taskgroup.data.expression import parse
from taskgroup.data.sniff import detect
from taskgroup.errors import ConfigError, DataError, TaskgroupError


def _rows(n=60, seed=0):
    rng = np.random.default_rng(seed)
    return [(round(float(rng.normal()), 4), int(rng.integers(18, 90)), ["F", "M"][i % 2], i % 3) for i in range(n)]


def _load(path: Path, tasks, features=None):
    return load_taskset(Config(data=DataConfig(path=str(path), features=features), tasks=tasks))


@pytest.mark.parametrize("suffix,delimiter,header", [(".data", ";", False), (".txt", "\t", True), (".csv", "|", True),
                                                     ("", " ", True), (".tsv", "\t", False), (".dat", ",", True)])
def test_any_text_table_is_read_with_its_delimiter_and_header(tmp_path, suffix, delimiter, header):
    rows = _rows()
    lines = ([delimiter.join(["x", "age", "sex", "grade"])] if header else []) + \
        [delimiter.join(str(v) for v in r) for r in rows]
    if delimiter == " ":
        lines = [ln.replace(" ", "   ") + "  " for ln in lines]   # runs of spaces, trailing spaces
    path = tmp_path / f"people{suffix}"
    path.write_text("\n".join(lines) + "\n")
    fmt = detect(path.read_text().splitlines())
    assert (fmt.delimiter, fmt.header) == (delimiter, header)
    names = ("x", "age", "sex", "grade") if header else ("column1", "column2", "column3", "column4")
    ts = _load(path, [TaskConfig(names[3]), TaskConfig(names[2])], features=[names[0], names[1]])
    assert ts.n_rows == 60 and ts.task(names[3]).kind == "multiclass" and ts.task(names[2]).classes == ("F", "M")
    assert ts.meta["table_format"]["delimiter"] == delimiter


def test_check_says_what_was_detected(tmp_path):
    (tmp_path / "t.data").write_text("".join(f"{x};{a};{s};{g}\n" for x, a, s, g in _rows()))
    (tmp_path / "c.toml").write_text('[data]\npath = "t.data"\nfeatures = ["column1"]\n'
                                     '[[tasks]]\nname = "column4"\n[[tasks]]\nname = "old"\nexpression = "column2 > 65"\n')
    result = CliRunner().invoke(main, ["check", str(tmp_path / "c.toml")])
    assert result.exit_code == 0, result.output
    assert "as semicolon-separated, no header row (columns named column1, column2, ...)" in result.output
    assert "derived target old = column2 > 65" in result.output


def test_derived_targets_compute_from_columns(tmp_path):
    rows = _rows()
    body = "x,age,sex,grade,income\n" + "".join(
        f"{x},{a},{s},{g},{'' if i % 10 == 0 else 1000 + 10 * i}\n" for i, (x, a, s, g) in enumerate(rows))
    (tmp_path / "t.csv").write_text(body)
    tasks = [TaskConfig("old", expression="age > 65"),
             TaskConfig("adult_woman", expression='sex == "F" and 18 <= age < 65'),
             TaskConfig("log_ratio", expression="(income - 1000) / (age + 1) ** 2"),
             TaskConfig("grade")]
    ts = _load(tmp_path / "t.csv", tasks)
    age = np.array([r[1] for r in rows], dtype=float)
    assert ts.task("old").kind == "binary"
    assert np.array_equal(ts.targets["old"], (age > 65).astype(int))
    woman = np.array([r[2] == "F" and 18 <= r[1] < 65 for r in rows])
    assert np.array_equal(np.asarray(ts.targets["adult_woman"]).astype(bool), woman)
    assert ts.task("log_ratio").kind == "regression"
    assert ts.masks["log_ratio"].sum() == 54           # an empty income cell leaves the row unlabelled
    i = 3
    assert ts.targets["log_ratio"][i] == pytest.approx((10 * i) / (age[i] + 1) ** 2)
    # the columns a target is derived from are not features by default (that would leak the answer)
    assert ts.feature_names == ["x"]


@pytest.mark.parametrize("text,message", [
    ("__import__('os').system('echo hi')", "function calls are not allowed"),
    ("age.real > 3", "attributes are not allowed"),
    ("age[0]", "subscripts are not allowed"),
    ("(lambda: 1)()", "not allowed"),
    ("[a for a in age]", "not allowed"),
    ("age if sex else 1", "conditional expressions are not allowed"),
    ("age > ", "is not valid"),
    ("3 > 2", "reads no column"),
    ("age > None", "literal None is not allowed"),
    ("(" * 400 + "age" + ")" * 400, "not valid"),
])
def test_only_the_small_expression_language_is_accepted(text, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        parse(text, "t.csv: task 'x'")


def test_expression_errors_name_the_task_and_column(tmp_path):
    (tmp_path / "t.csv").write_text("x,age,sex\n" + "".join(f"{i},{20 + i},{'FM'[i % 2]}\n" for i in range(40)))
    with pytest.raises(DataError, match=r"task 'old': the expression reads no column 'agee'; did you mean 'age'\?"):
        _load(tmp_path / "t.csv", [TaskConfig("old", expression="agee > 65")])
    with pytest.raises(DataError, match="task 'bad': arithmetic on text"):
        _load(tmp_path / "t.csv", [TaskConfig("bad", expression="sex + 1")])
    with pytest.raises(DataError, match="cannot order text against numbers"):
        _load(tmp_path / "t.csv", [TaskConfig("bad", expression="sex > 3")])
    with pytest.raises(ConfigError, match="a column or an expression, not both"):
        _load(tmp_path / "t.csv", [TaskConfig("old", column="age", expression="age > 65")])
    with pytest.raises(ConfigError, match="not a table"):
        load_taskset(Config(data=DataConfig(builtin="synthetic-small"), tasks=[TaskConfig("o", expression="a > 1")]))


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="age sx<>=!+-*/%().,'\"andortif_[]{}:;1234567890FM", max_size=40))
def test_any_text_either_parses_and_evaluates_or_is_refused_in_one_line(text):
    columns = {"age": ["20", "70", ""], "sex": ["F", "M", "F"]}
    try:
        expr = parse(text, "where")
        if set(expr.columns) <= set(columns):
            out = expr.evaluate({c: columns[c] for c in expr.columns})
            assert out.shape == (3,) and np.isnan(out[2])
    except TaskgroupError as exc:
        assert "\n" not in str(exc)
