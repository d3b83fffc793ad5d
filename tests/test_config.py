"""The configuration: defaults, relative paths, the resolved copy in a run directory, the starter file
from ``taskgroup init``, and fuzzing: the config and CSV loaders raise nothing but the tool's own
one-line errors, whatever they are given."""

from __future__ import annotations

import math
import tempfile
import tomllib
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from taskgroup.cli import main
from taskgroup.config import (SECTIONS, AnalyzeConfig, CompareConfig, Config, DataConfig, GroupConfig, ModelConfig,
                              TaskConfig, TrainConfig, config_from_dict, load_config)
from taskgroup.data import load_taskset
from taskgroup.errors import ConfigError, TaskgroupError
from taskgroup.runtime.rundir import load_run_config, to_toml

if __package__:  # tests/ is a package
    from .checks import one_line
else:  # tests/ is on sys.path (pytest's default rootdir-less import)
    from checks import one_line

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FEW = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def own_one_line(exc: BaseException) -> None:
    assert isinstance(exc, TaskgroupError), f"{type(exc).__name__}: {exc}"
    one_line(exc)


# ------------------------------------------------------------------------ examples
def test_defaults() -> None:
    cfg = config_from_dict({"data": {"builtin": "synthetic"}})
    assert cfg.seed == 0 and cfg.tasks == []
    assert cfg.data == DataConfig(builtin="synthetic")
    assert cfg.data.split == [0.6, 0.2, 0.2] and cfg.data.standardize
    assert (cfg.model, cfg.train, cfg.analyze) == (ModelConfig(), TrainConfig(), AnalyzeConfig())
    assert (cfg.group, cfg.compare) == (GroupConfig(), CompareConfig())
    assert cfg.model.encoder == "auto" and cfg.train.weighting == "equal" and cfg.group.partition
    assert cfg.analyze.measures == ["gradient_cosine", "lookahead", "transfer"]


def test_an_integer_is_accepted_where_a_float_is_expected() -> None:
    cfg = config_from_dict({"data": {"builtin": "synthetic"}, "train": {"lr": 1}, "model": {"width": 2}})
    assert cfg.train.lr == 1.0 and isinstance(cfg.train.lr, float) and isinstance(cfg.model.width, float)


@pytest.mark.parametrize("raw, needles", [
    ({"data": {"builtin": "synthetic"}, "train": {"lr": math.nan}}, ["train.lr", "finite"]),
    ({"data": {"builtin": "synthetic"}, "analyze": {"lr": math.inf}}, ["analyze.lr", "finite"]),
    ({"data": {"builtin": "synthetic", "split": [0.6, math.nan, 0.2]}}, ["data.split", "finite"]),
    ({"data": {"builtin": "synthetic"}, "seed": -1}, ["seed", "from 0"]),
    ({"data": {"builtin": "synthetic"}, "seed": 2**40}, ["seed", "from 0"]),
    ({"data": {"builtin": "synthetic"}, "seed": True}, ["seed", "integer"]),
    ({"data": {"builtin": "synthetic"}, "train": {"lr": 10**400}}, ["train.lr", "too large"]),
    ({"data": {"builtin": "synthetic", "path": "t.csv"}}, ["exactly one of 'path' or 'builtin'"]),
    ({"data": {}}, ["exactly one of 'path' or 'builtin'"]),
    ({}, ["missing [data]"]),
    ({"data": {"builtin": "synthetic"}, "data2": {}}, ["'data2'", "did you mean 'data'"]),
    ({"data": {"builtin": "synthetic"}, "train": []}, ["[train] must be a table"]),
    ({"data": {"builtin": "synthetic"}, "tasks": {"name": "a"}}, ["[[tasks]]"]),
    ({"data": {"builtin": "synthetic"}, "tasks": [{"kind": "binary"}]}, ["tasks[0]", "missing required key", "name"]),
    ({"data": {"builtin": "synthetic"}, "train": {"weighting": "uncertainy"}}, ["train.weighting",
                                                                               "did you mean 'uncertainty'"]),
    ({"data": {"builtin": "synthetic"}, "analyze": {"measures": ["transfr"]}}, ["'transfr'", "did you mean 'transfer'"]),
    ({"data": {"builtin": "synthetic", "split": [0.5, 0.5, 0.0]}}, ["data.split"]),
    ({"data": {"builtin": "synthetic"}, "model": {"hidden": []}}, ["model.hidden"]),
    ({"data": {"builtin": "synthetic"}, "model": {"encoder": "MLP"}}, ["model.encoder", "'MLP'"]),
])
def test_invalid_values_are_one_line_errors(raw: dict, needles: list[str]) -> None:
    with pytest.raises(ConfigError) as info:
        config_from_dict(raw, source="exp.toml")
    own_one_line(info.value)
    assert str(info.value).startswith("exp.toml: ")
    for needle in needles:
        assert needle in str(info.value), (needle, str(info.value))


def test_unreadable_and_malformed_files(tmp_path: Path) -> None:
    cases = {"deep.toml": "a = " + "[" * 3000 + "]" * 3000 + "\n", "bad.toml": "[data\n",
             "latin.toml": "[data]\nbuiltin = 'caf\xe9'\n".encode("latin-1")}
    for name, content in cases.items():
        path = tmp_path / name
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
        with pytest.raises(ConfigError) as info:
            load_config(path)
        own_one_line(info.value)
        assert name in str(info.value)
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path)  # a directory is no config file


TABLE = "x0,x1,y,z\n" + "".join(f"{i},{i % 5},{i % 2},{(i * 7) % 11 / 3}\n" for i in range(40))


def test_paths_are_relative_to_the_config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "table.csv").write_text(TABLE)
    (tmp_path / "exp").mkdir()
    config = tmp_path / "exp" / "config.toml"
    config.write_text('[data]\npath = "../data/table.csv"\n[[tasks]]\nname = "y"\n[[tasks]]\nname = "z"\n')
    monkeypatch.chdir(tmp_path / "data")  # anywhere but the config's folder
    cfg = load_config(config)
    assert Path(cfg.base_dir) == (tmp_path / "exp").resolve() and cfg.data.path == "../data/table.csv"
    taskset = load_taskset(cfg)
    assert taskset.task_names == ["y", "z"] and taskset.feature_names == ["x0", "x1"]
    # relative to the file, not to the working directory
    monkeypatch.chdir(tmp_path / "exp")
    (tmp_path / "exp" / "other.toml").write_text('[data]\npath = "table.csv"\n[[tasks]]\nname = "y"\n')
    (tmp_path / "exp" / "table.csv").write_text(TABLE)
    monkeypatch.chdir(tmp_path)
    assert load_taskset(load_config("exp/other.toml")).task_names == ["y"]


def test_the_resolved_copy_in_a_run_directory_stands_on_its_own(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """``DIR/config.toml`` reloads to the same configuration (data path made absolute), from anywhere."""
    (tmp_path / "table.csv").write_text(TABLE)
    raw = {"seed": 7, "data": {"path": "table.csv", "split": [0.5, 0.25, 0.25], "features": ["x0"]},
           "tasks": [{"name": "y", "kind": "binary"}, {"name": "zz", "column": "z", "metric": "r2"}],
           "model": {"hidden": [16, 8], "width": 0.5, "encoder": "mlp"},
           "train": {"lr": 0.001, "weighting": "dwa", "steps": 10},
           "analyze": {"measures": ["transfer"], "phase": 0.25}, "group": {"budget": 2.5},
           "compare": {"alternatives": ["recommended", "single_task"]}}
    cfg = config_from_dict(raw, base_dir=tmp_path, source="exp.toml")
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.toml").write_text(to_toml(cfg))
    monkeypatch.chdir(run)
    again = load_run_config(run)
    expected = cfg.to_dict()
    expected["data"]["path"] = str((tmp_path / "table.csv").resolve())
    assert again.to_dict() == expected
    assert load_taskset(again).fingerprint() == load_taskset(cfg).fingerprint()


def test_init_writes_a_starter_that_check_accepts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    result = runner.invoke(main, ["init"])
    assert result.exit_code == 0, result.output
    assert "taskgroup check taskgroup.toml" in result.output
    text = (tmp_path / "taskgroup.toml").read_text()
    assert text.startswith("#") and "[data]" in text
    result = runner.invoke(main, ["check", "taskgroup.toml"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0].split() == ["task", "kind", "train", "val", "test", "missing", "metric"]
    assert result.output.rstrip().endswith(": OK")
    cfg = load_config("taskgroup.toml")
    assert {f.name for f in fields(Config)} >= {"data", "model", "train"}
    assert cfg.data.builtin == "synthetic"
    # an existing file is kept unless --force
    result = runner.invoke(main, ["init"])
    assert result.exit_code == 2 and "already exists" in result.stderr and "--force" in result.stderr
    (tmp_path / "taskgroup.toml").write_text("changed")
    assert runner.invoke(main, ["init", "--force"]).exit_code == 0
    assert (tmp_path / "taskgroup.toml").read_text() == text
    assert runner.invoke(main, ["init", "sub/exp.toml"]).exit_code == 0
    assert runner.invoke(main, ["check", "sub/exp.toml"]).exit_code == 0


# ------------------------------------------------------------------------ fuzzing
KNOWN = {name: [f.name for f in fields(cls)] for name, cls in SECTIONS.items()}
TASK_KEYS = ["name", "column", "kind", "metric", "head", "loss", "lower_is_better"]
WORDS = ["mlp", "cnn", "auto", "synthetic-small", "digits", "equal", "dwa", "uniform", "transfer", "binary",
         "regression", "rmse", "auc", "a", "table.csv", "x:y", "taskgroup.training.models:make_encoder"]
scalars = st.one_of(
    st.integers(-(2**63), 2**63 - 1), st.integers(-3, 300),
    st.floats(allow_nan=True, allow_infinity=True), st.floats(0.0, 1.0),
    st.booleans(), st.text(max_size=8), st.sampled_from(WORDS),
)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                      | st.dictionaries(st.text(max_size=6), inner, max_size=3), max_leaves=8)


CHOICES = {"encoder": ["mlp", "cnn", "auto", "taskgroup.training.models:make_encoder", "mlpp"],
           "weighting": ["equal", "uncertainty", "dwa", "gradnorm", "eq"],
           "sampling": ["proportional", "uniform", "temperature"], "schedule": ["all", "round_robin"],
           "measure": ["auto", "transfer", "lookahead"], "builtin": ["synthetic-small", "synthetic", "nope"],
           "kind": ["binary", "multiclass", "regression", "custom", "bin"], "metric": ["auc", "rmse", "r2", "mae"],
           "name": ["a", "b", "c0_t0", "c1_t1"], "column": ["a", "c0_t1"], "path": ["t.csv", "missing.npz"],
           "measures": ["gradient_cosine", "lookahead", "transfer", "transfr"],
           "features": ["x0", "x1"], "alternatives": ["recommended", "single_task", "random", "oracle"]}


def typed(cls: type | None, key: str) -> st.SearchStrategy[Any]:
    """Mostly a value of the field's own type (so validation gets deep), now and then anything."""
    ann = str(next((f.type for f in fields(cls) if f.name == key), "")) if cls else ""
    words = st.sampled_from(CHOICES.get(key, WORDS))
    good: list[st.SearchStrategy[Any]] = []
    if "list[str]" in ann:
        good.append(st.lists(words, max_size=3))
    elif "list[int]" in ann:
        good.append(st.lists(st.integers(-1, 64), max_size=3))
    elif "list[float]" in ann:
        good.append(st.one_of(st.just([0.6, 0.2, 0.2]), st.lists(st.floats(-0.5, 1.0), max_size=4)))
    elif "dict" in ann:
        good.append(st.dictionaries(st.sampled_from(["n_clusters", "seed", "noise", "x"]), scalars, max_size=2))
    else:
        if "int" in ann:
            good.append(st.integers(-1, 60))
        if "float" in ann:
            good.append(st.one_of(st.floats(-0.1, 2.0), st.sampled_from([1e-3, 0.5, 1.0])))
        if "str" in ann:
            good.append(words)
        if "bool" in ann:
            good.append(st.booleans())
    if not good:
        return values
    right = st.one_of(*good)
    return st.integers(0, 9).flatmap(lambda i: values if i == 0 else right)


def section(cls: type | None, keys: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    known = st.fixed_dictionaries({}, optional={k: typed(cls, k) for k in keys})
    stray = st.dictionaries(st.one_of(st.sampled_from(keys), st.text(max_size=6)), values, max_size=1)
    return st.tuples(known, stray, st.integers(0, 9)).map(lambda t: {**t[0], **t[1]} if t[2] == 0 else t[0])


data_section = st.one_of(
    st.builds(lambda extra: {**extra, "builtin": "synthetic-small"},
              st.fixed_dictionaries({}, optional={k: typed(DataConfig, k) for k in ("split", "standardize")})),
    section(DataConfig, KNOWN["data"]),
)
task_tables = st.fixed_dictionaries({"name": typed(None, "name") | st.text(max_size=3)},
                                    optional={k: typed(TaskConfig, k) for k in TASK_KEYS[1:]})
documents = st.fixed_dictionaries(
    {"data": data_section},
    optional={"seed": st.one_of(st.integers(0, 10), st.integers(-5, 2**33), values),
              "tasks": st.one_of(st.lists(task_tables, max_size=3), st.lists(section(None, TASK_KEYS), max_size=2),
                                 values),
              **{name: st.one_of(section(SECTIONS[name], KNOWN[name]), section(SECTIONS[name], KNOWN[name]), values)
                 for name in ("model", "train", "analyze", "group", "compare")}},
)
# now and then no [data], or a stray top-level key as well
documents = st.tuples(documents, st.dictionaries(st.text(max_size=6), values, max_size=1),
                      st.integers(0, 9)).map(
    lambda t: {**t[0], **t[1]} if t[2] == 0 else {k: v for k, v in t[0].items() if k != "data"} if t[2] == 1 else t[0])


@FUZZ
@given(doc=documents)
def test_config_from_dict_raises_only_its_own_errors(doc: dict[str, Any]) -> None:
    try:
        cfg = config_from_dict(doc, source="fuzz.toml")
    except Exception as exc:  # noqa: BLE001 - the point of the test
        own_one_line(exc)
    else:
        assert isinstance(cfg, Config)
        to_toml(cfg)  # a valid config can always be written to a run directory


def toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf") if math.isinf(v) else repr(v)
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    return "{" + ", ".join(f"{toml_value(str(k))} = {toml_value(x)}" for k, x in v.items()) + "}"


def toml_text(doc: dict[str, Any]) -> str:
    lines = []
    for key, value in doc.items():
        if isinstance(value, dict):
            lines += [f"[{toml_value(key)}]", *(f"{toml_value(k)} = {toml_value(v)}" for k, v in value.items())]
        else:
            lines.insert(0, f"{toml_value(key)} = {toml_value(value)}")
    return "\n".join(lines) + "\n"


@FEW
@given(doc=documents, cut=st.integers(0, 400), junk=st.sampled_from(["", "", "", "]", "[[", "=", '"', "\x00",
                                                                     "\\u", "\n[data]\n", "a.b.c = 1\n"]))
def test_load_config_raises_only_its_own_errors(doc: dict[str, Any], cut: int, junk: str) -> None:
    text = toml_text(doc)
    text = text[:cut] + junk + text[cut:] if junk else text
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fuzz.toml"
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        try:
            load_config(path)
        except Exception as exc:  # noqa: BLE001
            own_one_line(exc)


NUMBER = st.one_of(st.integers(-5, 5).map(str), st.floats(-1e3, 1e3, allow_nan=False).map(lambda f: f"{f:.3g}"))
CELL = st.one_of(NUMBER, NUMBER, NUMBER, st.sampled_from(["", "nan", "inf", "-inf", "1e999", "abc", " 3 ", '"1"',
                                                          "yes", "no", "0x1", "1,5", "\t"]))


@st.composite
def csv_tables(draw: st.DrawFn) -> str:
    header = draw(st.lists(st.sampled_from(["x0", "x1", "y", "z", ""]), min_size=1, max_size=5))
    rows = draw(st.lists(st.lists(CELL, min_size=len(header) - 1, max_size=len(header) + 1), max_size=30))
    return "\n".join(",".join(r) for r in [header, *rows]) + draw(st.sampled_from(["", "\n", "\r\n"]))


@FEW
@given(text=csv_tables(), tasks=st.lists(st.sampled_from(["y", "z", "x1", "w"]), min_size=0, max_size=2, unique=True),
       kind=st.sampled_from([None, "binary", "multiclass", "regression"]),
       features=st.one_of(st.none(), st.lists(st.sampled_from(["x0", "x1", "y", "q"]), max_size=2, unique=True)),
       split=st.sampled_from([[0.6, 0.2, 0.2], [0.8, 0.1, 0.1], [0.34, 0.33, 0.33]]))
def test_the_csv_loader_behind_a_config_raises_only_its_own_errors(text: str, tasks: list[str], kind: str | None,
                                                                   features: list[str] | None,
                                                                   split: list[float]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "t.csv").write_text(text, encoding="utf-8")
        data: dict[str, Any] = {"path": "t.csv", "split": split}
        if features is not None:
            data["features"] = features
        raw = {"data": data, "tasks": [{"name": t, **({"kind": kind} if kind else {})} for t in tasks]}
        try:
            taskset = load_taskset(config_from_dict(raw, base_dir=tmp, source="fuzz.toml"))
        except Exception as exc:  # noqa: BLE001
            own_one_line(exc)
        else:
            assert taskset.task_names == tasks and len(taskset.inputs) > 0
            assert all(taskset.counts()[t]["val"] > 0 for t in tasks)


# ------------------------------------------------------------------ built in Python
@pytest.mark.parametrize("build, field", [
    (lambda: DataConfig(path="t.csv", builtin="synthetic"), "[data] needs exactly one of 'path' or 'builtin'"),
    (lambda: DataConfig(builtin="synthetic", origin="TaskSet.from_arrays"), "data.origin"),
    (lambda: DataConfig(builtin="synthetic", split=[0.5, 0.5, 0.0]), "data.split"),
    (lambda: TaskConfig(name="a", kind=3), "task 'a': kind must be of type"),
    (lambda: ModelConfig(encoder="MLP"), "model.encoder = 'MLP' is not one of mlp, cnn, auto"),
    (lambda: ModelConfig(dropout=1.0), "model.dropout must be in [0, 1)"),
    (lambda: TrainConfig(steps=0), "train.steps must be above 0, not 0"),
    (lambda: TrainConfig(weighting="uncertainy"), "train.weighting = 'uncertainy' is not a known loss weighting; "
                                                  "did you mean 'uncertainty'?"),
    (lambda: TrainConfig(lr=math.nan), "train.lr must be a finite number"),
    (lambda: AnalyzeConfig(measures=["probe_cosine"]), "analyze.measures: unknown measure 'probe_cosine'"),
    (lambda: AnalyzeConfig(phase=1.5), "analyze.phase is a fraction of training"),
    (lambda: GroupConfig(max_groups=0), "group.max_groups must be at least 1, not 0"),
    (lambda: CompareConfig(seeds=0), "compare.seeds must be above 0, not 0"),
    (lambda: Config(DataConfig(builtin="synthetic"), seed=-1), "seed must be an integer from 0"),
    (lambda: Config(DataConfig(builtin="synthetic"), tasks=[TaskConfig("a"), TaskConfig("a")]),
     "duplicate task name 'a'"),
    (lambda: Config(DataConfig(builtin="synthetic"), train={"steps": 5}), "[train] must be a TrainConfig"),
])
def test_a_config_built_in_python_with_a_bad_value_names_the_field(build, field: str) -> None:
    with pytest.raises(ConfigError) as info:
        build()
    own_one_line(info.value)
    assert str(info.value).startswith(field), str(info.value)


def test_a_bad_task_entry_in_a_file_names_its_position() -> None:
    with pytest.raises(ConfigError, match=r"^exp.toml: tasks\[1\].kind must be of type"):
        config_from_dict({"data": {"builtin": "synthetic"}, "tasks": [{"name": "a"}, {"name": "b", "kind": 3}]},
                         source="exp.toml")


def test_dataclasses_replace_checks_again() -> None:
    from dataclasses import replace

    with pytest.raises(ConfigError, match="train.batch_size must be above 0"):
        replace(TrainConfig(), batch_size=-1)
