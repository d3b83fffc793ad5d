"""Every bad input (issue 7 item 4, issue 2's list) through the CLI: exit status 2, one line on
stderr that names the key, column, task or file at fault, no traceback, and nothing half-written in
the run directory: no directory at all when the input is refused before any work, and no JSON of the
failed step when it fails mid-way."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner, Result

from taskgroup.cli import main
from taskgroup.runtime.store import RunLock

if __package__:  # tests/ is a package
    from .checks import assert_refused
else:  # tests/ is on sys.path (pytest's default rootdir-less import)
    from checks import assert_refused

BASE = """seed = 0
[data]
{data}
[model]
hidden = [8]
{model}
[train]
steps = 20
eval_every = 10
{train}
[analyze]
steps = 10
every = 5
window = 2
probe_steps = 10
probe_eval_every = 5
probe_seeds = 1
{analyze}
[compare]
seeds = 1
random_groupings = 0
alternatives = ["recommended", "single_task"]
{group}
"""
BUILTIN = 'builtin = "synthetic-small"'
OUTPUTS = ("affinity.json", "groupings.json", "comparison.json")


def config_text(data: str = BUILTIN, tasks: list[str] | None = None, top: str = "", model: str = "",
                train: str = "", analyze: str = "", group: str = "") -> str:
    text = top + BASE.format(data=data, model=model, train=train, analyze=analyze, group=group)
    for t in tasks or []:
        text += f"[[tasks]]\n{t}\n"
    return text


def rows(n: int, fmt) -> str:
    return "".join(fmt(i) + "\n" for i in range(n))


def invoke(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def no_outputs(directory: Path) -> None:
    for name in OUTPUTS:
        assert not (directory / name).exists(), name
    assert not list(directory.glob(".*.tmp"))


# ------------------------------------------------------------ refused before any work: no DIR at all
TABLE = "x0,x1,a,b\n" + rows(40, lambda i: f"{i},{i % 3},{i % 2},{i * 0.5}")
CASES = {
    "unknown top-level key": (config_text(top="seeed = 1\n"), {}, ["'seeed'", "did you mean 'seed'"]),
    "unknown section key": (config_text(train="stepz = 3"), {}, ["train.stepz", "did you mean 'steps'"]),
    "unknown task key": (config_text(data='path = "t.csv"', tasks=['nmae = "a"']), {"t.csv": TABLE},
                         ["tasks[0].nmae", "did you mean 'name'"]),
    "unknown section": (config_text(top="[trian]\nsteps = 3\n"), {}, ["'trian'", "did you mean 'train'"]),
    "wrong type": (config_text(train='lr = "fast"'), {}, ["train.lr", "float", "'fast'"]),
    "wrong type of seed": (config_text(top='seed = "zero"\n').replace("seed = 0\n", ""), {}, ["seed", "integer"]),
    "wrong type in a list": (config_text(model="").replace("hidden = [8]", 'hidden = ["wide"]'), {},
                             ["model.hidden", "'wide'"]),
    "impossible value": (config_text(train="patience = 0"), {}, ["train.patience", "above 0"]),
    "not TOML": ("[data\nbuiltin = 1\n", {}, ["config.toml", "not valid TOML"]),
    "missing data file": (config_text(data='path = "nope.csv"', tasks=['name = "a"']), {},
                          ["nope.csv", "not found"]),
    "unknown built-in": (config_text(data='builtin = "synthetc"'), {}, ["'synthetc'", "did you mean"]),
    "missing column": (config_text(data='path = "t.csv"', tasks=['name = "zz"']), {"t.csv": TABLE},
                       ["t.csv", "no column 'zz'", "task 'zz'"]),
    "duplicate task names": (config_text(data='path = "t.csv"', tasks=['name = "a"', 'name = "a"']),
                             {"t.csv": TABLE}, ["duplicate task name 'a'"]),
    "non-numeric feature": (config_text(data='path = "t.csv"', tasks=['name = "a"']),
                            {"t.csv": "x0,x1,a\n" + rows(40, lambda i: f"{i},{'abc' if i == 5 else i},{i % 2}")},
                            ["t.csv", "feature column 'x1'", "'abc'", "line 7"]),
    "all-empty target": (config_text(data='path = "t.csv"', tasks=['name = "a"', 'name = "b"']),
                         {"t.csv": "x0,a,b\n" + rows(40, lambda i: f"{i},{i % 2},")},
                         ["t.csv", "task 'b'", "no labelled rows"]),
    "single-class classification": (
        config_text(data='path = "t.csv"', tasks=['name = "a"', 'name = "b"\nkind = "binary"']),
        {"t.csv": "x0,a,b\n" + rows(40, lambda i: f"{i},{i % 2},1")}, ["t.csv", "task 'b'", "one class"]),
    "single-class labels": (config_text(data='path = "t.csv"', tasks=['name = "a"', 'name = "b"']),
                            {"t.csv": "x0,a,b\n" + rows(40, lambda i: f"{i},{i % 2},yes")},
                            ["t.csv", "task 'b'", "'yes'"]),
    "constant regression target": (
        config_text(data='path = "t.csv"', tasks=['name = "a"', 'name = "b"\nkind = "regression"']),
        {"t.csv": "x0,a,b\n" + rows(40, lambda i: f"{i},{i % 2},2.5")}, ["t.csv", "task 'b'", "constant"]),
    "too few rows for the splits": (config_text(data='path = "t.csv"', tasks=['name = "a"']),
                                    {"t.csv": "x0,a\n" + rows(4, lambda i: f"{i},{i % 2}")},
                                    ["t.csv", "task 'a'", "too few"]),
    "NaN in a feature": (config_text(data='path = "t.csv"', tasks=['name = "a"']),
                         {"t.csv": "x0,x1,a\n" + rows(40, lambda i: f"{i},{'nan' if i == 7 else i},{i % 2}")},
                         ["t.csv", "feature column 'x1'", "line 9", "not a finite number"]),
    "inf in a feature": (config_text(data='path = "t.csv"', tasks=['name = "a"']),
                         {"t.csv": "x0,x1,a\n" + rows(40, lambda i: f"{i},{'-inf' if i == 7 else i},{i % 2}")},
                         ["t.csv", "feature column 'x1'", "line 9", "not a finite number"]),
    "NaN in npz inputs": (config_text(data='path = "nan.npz"'), {"nan.npz": "nan"},
                          ["nan.npz", "NaN or infinite", "row 5"]),
    "inf in npz inputs": (config_text(data='path = "inf.npz"'), {"inf.npz": "inf"},
                          ["inf.npz", "NaN or infinite", "row 5"]),
    "encoder module that does not exist": (config_text(model='encoder = "nosuchpkg.encoders:make"'), {},
                                           ["model.encoder", "'nosuchpkg.encoders:make'", "nosuchpkg"]),
    "encoder function that does not exist": (config_text(model='encoder = "taskgroup.training.models:no_such_factory"'), {},
                                             ["model.encoder", "no_such_factory"]),
    "encoder that is neither built in nor a path": (config_text(model='encoder = "mlpp"'), {},
                                                    ["model.encoder", "'mlpp'", "did you mean 'mlp'"]),
}


def write_case(tmp_path: Path, text: str, files: dict[str, str]) -> Path:
    for name, content in files.items():
        if name.endswith(".npz"):
            X = np.random.default_rng(0).normal(size=(40, 3))
            X[5, 1] = np.nan if content == "nan" else np.inf
            np.savez(tmp_path / name, X=X, Y=(np.arange(40) % 2).astype(float)[:, None])
        else:
            (tmp_path / name).write_text(content)
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_refused_before_any_work(case: str, tmp_path: Path) -> None:
    text, files, needles = CASES[case]
    config = write_case(tmp_path, text, files)
    assert_refused(invoke("check", str(config)), *needles)
    out = tmp_path / "run"
    assert_refused(invoke("analyze", str(config), "--out", str(out), "--quiet"), *needles)
    assert_refused(invoke("run", str(config), "--out", str(out), "--quiet"), *needles)
    assert not out.exists()


def test_a_missing_config_file(tmp_path: Path) -> None:
    assert_refused(invoke("check", str(tmp_path / "nope.toml")), "nope.toml", "not found")
    assert_refused(invoke("run", str(tmp_path / "nope.toml"), "--out", str(tmp_path / "run")), "nope.toml")
    assert not (tmp_path / "run").exists()


def test_a_real_process_prints_one_line_and_no_traceback(tmp_path: Path) -> None:
    config = write_case(tmp_path, *CASES["missing column"][:2])
    proc = subprocess.run([sys.executable, "-m", "taskgroup.cli", "run", str(config), "--out", str(tmp_path / "run")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("Error: ") and "no column 'zz'" in proc.stderr
    assert not (tmp_path / "run").exists()


# ------------------------------------------------------------ failing mid-way: no JSON of the failed step
LOSS_ERROR = re.compile(r"^Error: task '(c\d_t\d)': loss became (nan|inf|-inf) at step (\d+)")


def test_a_loss_that_turns_nan_in_analyze_names_the_task_and_step(tmp_path: Path) -> None:
    config = write_case(tmp_path, config_text(analyze="lr = 1e30"), {})
    out = tmp_path / "run"
    with warnings.catch_warnings(record=True) as caught:  # a warning would be more lines on stderr
        warnings.simplefilter("always")
        err = assert_refused(invoke("run", str(config), "--out", str(out), "--quiet"), "loss became")
    assert LOSS_ERROR.match(err), err
    assert [str(w.message) for w in caught] == []
    no_outputs(out)
    # nothing finished there, so the fixed config may take the directory over without --force
    fixed = write_case(tmp_path, config_text(), {})
    result = invoke("analyze", str(fixed), "--out", str(out), "--quiet")
    assert result.exit_code == 0, result.output
    assert (out / "affinity.json").is_file()


@pytest.mark.slow
def test_a_loss_that_turns_nan_in_compare_leaves_no_comparison(tmp_path: Path) -> None:
    config = write_case(tmp_path, config_text(train="lr = 1e30"), {})
    out = tmp_path / "run"
    err = assert_refused(invoke("run", str(config), "--out", str(out), "--quiet"), "loss became")
    assert LOSS_ERROR.match(err), err
    # analyze and group finished and are kept (their files are whole); compare wrote nothing
    assert json.loads((out / "affinity.json").read_text())["schema"] == 1
    assert json.loads((out / "groupings.json").read_text())["recommended"]["groups"]
    assert not (out / "comparison.json").exists() and not (out / "report.html").exists()
    assert not list(out.glob(".*.tmp"))


@pytest.fixture(scope="module")
def analyzed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A config and a run directory where analyze has finished."""
    folder = tmp_path_factory.mktemp("analyzed")
    config = write_case(folder, config_text(), {})
    result = invoke("analyze", str(config), "--out", str(folder / "run"), "--quiet")
    assert result.exit_code == 0, result.output
    return config, folder / "run"


def copy_run(analyzed: tuple[Path, Path], tmp_path: Path) -> Path:
    out = tmp_path / "run"
    shutil.copytree(analyzed[1], out, ignore=shutil.ignore_patterns(".lock"))
    return out


def test_a_budget_too_small_to_cover_every_task(analyzed: tuple[Path, Path], tmp_path: Path) -> None:
    out = copy_run(analyzed, tmp_path)
    assert_refused(invoke("group", str(out), "--budget", "0.5"), "budget 0.5", "every task")
    assert not (out / "groupings.json").exists()
    # compare needs groupings.json: refused with the step to run first
    assert_refused(invoke("compare", str(out)), "groupings.json", "taskgroup group")
    # the same through the config's group.budget and `run`
    config = write_case(tmp_path, config_text(group="[group]\nbudget = 0.5"), {})
    assert_refused(invoke("run", str(config), "--out", str(tmp_path / "run2"), "--quiet"), "budget 0.5")
    assert (tmp_path / "run2" / "affinity.json").is_file()
    assert not (tmp_path / "run2" / "groupings.json").exists()
    assert not (tmp_path / "run2" / "comparison.json").exists()


def test_an_output_dir_of_another_config_is_refused_unless_forced(analyzed: tuple[Path, Path],
                                                                  tmp_path: Path) -> None:
    out = copy_run(analyzed, tmp_path)
    before = (out / "affinity.json").read_bytes()
    other = write_case(tmp_path, config_text(top="seed = 1\n").replace("seed = 0\n", ""), {})
    for command in ("analyze", "run"):
        assert_refused(invoke(command, str(other), "--out", str(out), "--quiet"),
                       str(out), "different configuration", "--force")
    # --seed changes the configuration too
    assert_refused(invoke("analyze", str(analyzed[0]), "--out", str(out), "--seed", "3", "--quiet"),
                   "different configuration", "changed: seed")
    assert (out / "affinity.json").read_bytes() == before  # untouched
    result = invoke("analyze", str(other), "--out", str(out), "--quiet", "--force")
    assert result.exit_code == 0, result.output
    assert (out / "affinity.json").read_bytes() != before
    assert "seed = 1" in (out / "config.toml").read_text()
    # the directory now belongs to the new config: the old one is refused in turn
    assert_refused(invoke("analyze", str(analyzed[0]), "--out", str(out), "--quiet"), "different configuration")


def test_a_run_directory_in_use_is_refused(analyzed: tuple[Path, Path], tmp_path: Path) -> None:
    out = copy_run(analyzed, tmp_path)
    with RunLock(out):
        assert_refused(invoke("analyze", str(analyzed[0]), "--out", str(out), "--quiet"), str(out), "in use")
        assert_refused(invoke("group", str(out)), "in use")


def test_an_output_path_that_is_a_file(analyzed: tuple[Path, Path], tmp_path: Path) -> None:
    target = tmp_path / "file"
    target.write_text("not a directory")
    assert_refused(invoke("analyze", str(analyzed[0]), "--out", str(target), "--quiet"), str(target), "is a file")
    assert target.read_text() == "not a directory"


def test_steps_on_a_directory_that_is_not_a_run(tmp_path: Path) -> None:
    for command in ("group", "compare", "report", "status"):
        assert_refused(invoke(command, str(tmp_path / "nothing")), "nothing")
        assert not (tmp_path / "nothing").exists(), command


# ------------------------------------------------------------ taskgroup select and SCORES.json
GOOD_SCORES = {"lower_is_better": True, "networks": [
    {"tasks": ["a", "b"], "cost": 1.0, "scores": {"a": 0.1, "b": 0.2}},
    {"tasks": ["a"], "cost": 1.0, "scores": {"a": 0.15}},
    {"tasks": ["b"], "cost": 1.0, "scores": {"b": 0.1}},
    {"tasks": ["c"], "cost": 1.0, "scores": {"c": 0.3}},
]}
BAD_SCORES = {
    "invalid JSON": ('{"networks": [', ["not valid JSON", "line 1"]),
    "not an object": ("[1, 2]", ["expected a JSON object"]),
    "unknown key": ('{"networkz": []}', ["unknown key 'networkz'"]),
    "no networks": ('{"networks": []}', ["'networks'", "non-empty"]),
    "missing cost": ('{"networks": [{"tasks": ["a"], "scores": {"a": 1}}]}', ["networks[0]", "missing 'cost'"]),
    "non-numeric score": ('{"networks": [{"tasks": ["a"], "cost": 1, "scores": {"a": "x"}}]}',
                          ["networks[0].scores.a", "'x'"]),
    "NaN score": ('{"networks": [{"tasks": ["a"], "cost": 1, "scores": {"a": NaN}}]}', ["networks[0].scores.a"]),
    "negative cost": ('{"networks": [{"tasks": ["a"], "cost": -1, "scores": {"a": 1}}]}', ["networks[0].cost"]),
    "score for a task not in the network": ('{"networks": [{"tasks": ["a"], "cost": 1, "scores": {"b": 1}}]}',
                                            ["networks[0].scores", "'b'"]),
    "bad lower_is_better": ('{"lower_is_better": "yes", "networks": [{"tasks": ["a"], "cost": 1, "scores": {"a": 1}}]}',
                            ["lower_is_better"]),
    "not UTF-8": (b"\xff\xfe{", ["cannot be read"]),
}


@pytest.mark.parametrize("case", list(BAD_SCORES))
def test_a_malformed_scores_file(case: str, tmp_path: Path) -> None:
    content, needles = BAD_SCORES[case]
    path = tmp_path / "SCORES.json"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    assert_refused(invoke("select", str(path), "--budget", "2"), "SCORES.json", *needles)


def test_select_refusals(tmp_path: Path) -> None:
    path = tmp_path / "SCORES.json"
    path.write_text(json.dumps(GOOD_SCORES))
    assert_refused(invoke("select", str(tmp_path / "missing.json"), "--budget", "2"), "missing.json")
    assert_refused(invoke("select", str(path)), "--budget or --max-networks")
    assert_refused(invoke("select", str(path), "--budget", "0.5"), "every task", "budget 0.5")
    assert_refused(invoke("select", str(path), "--max-networks", "1"), "every task")
    assert invoke("select", str(path), "--budget", "2").exit_code == 0
