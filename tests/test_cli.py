"""The command line: help from the console script and from ``python cli.py``, datasets, check, select's
JSON contract, status, and ``--quiet``."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from taskgroup import __version__
from taskgroup.cli import main

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = ("analyze", "check", "compare", "datasets", "demo", "group", "init", "plan", "predict", "report", "run",
            "select", "status")
SCORES = {"lower_is_better": True, "networks": [
    {"tasks": ["a", "b"], "cost": 1.0, "scores": {"a": 0.1, "b": 0.2}},
    {"tasks": ["a"], "cost": 1.0, "scores": {"a": 0.15}},
    {"tasks": ["b"], "cost": 1.0, "scores": {"b": 0.1}},
    {"tasks": ["c"], "cost": 1.0, "scores": {"c": 0.3}},
    {"tasks": ["a", "b", "c"], "cost": 1.5, "scores": {"a": 0.2, "b": 0.3, "c": 0.4}},
]}


def invoke(*args: str):
    return CliRunner().invoke(main, list(args))


def help_lists_every_command(text: str) -> None:
    assert "Should these tasks share a network" in text
    for command in COMMANDS:
        assert f"  {command} " in text, command


def test_help_from_the_console_script() -> None:
    exe = shutil.which("taskgroup")
    if exe is None:
        pytest.skip("the taskgroup console script is not on PATH (package not installed)")
    proc = subprocess.run([exe, "--help"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    help_lists_every_command(proc.stdout)


def test_help_from_cli_py_in_the_checkout() -> None:
    proc = subprocess.run([sys.executable, "cli.py", "--help"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    help_lists_every_command(proc.stdout)


def test_help_and_version_in_process() -> None:
    result = invoke("--help")
    assert result.exit_code == 0
    help_lists_every_command(result.output)
    assert invoke("-h").output == result.output
    assert __version__ in invoke("--version").output
    for command in COMMANDS:
        sub = invoke(command, "--help")
        assert sub.exit_code == 0 and sub.output.startswith("Usage: "), command


def test_datasets_lists_the_builtins() -> None:
    result = invoke("datasets")
    assert result.exit_code == 0
    names = [line.split()[0] for line in result.output.splitlines() if line.strip()]
    assert "synthetic" in names and "digits" in names
    for line in result.output.splitlines():
        assert len(line.split(None, 1)) == 2, line  # a name and a one-line description


def test_check_prints_the_task_table(tiny_config: Path) -> None:
    result = invoke("check", str(tiny_config))
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == ["task", "kind", "train", "val", "test", "missing", "metric"]
    table = [line.split() for line in lines[1:5]]
    assert [row[0] for row in table] == ["c0_t0", "c0_t1", "c1_t0", "c1_t1"]
    assert lines[5].startswith("split by fractions:")
    for row in table:
        assert row[1] == "regression" and row[6] == "rmse" and "lower is better" in " ".join(row)
        train, val, test = (int(x) for x in row[2:5])
        assert train > val > 0 and test > 0
    assert lines[-1].startswith("4 tasks,") and lines[-1].endswith(": OK")
    assert sorted(p.name for p in tiny_config.parent.iterdir()) == ["config.toml"]  # check writes nothing
    # --seed draws other splits of the same rows: the table keeps its shape
    again = invoke("check", str(tiny_config), "--seed", "5")
    assert again.exit_code == 0 and again.output.splitlines()[0] == lines[0]


def test_check_a_csv_with_declared_and_inferred_kinds(tmp_path: Path) -> None:
    rows = "".join(f"{i},{i % 7},{i % 2},{i % 3},{(i * 13) % 17 / 4}\n" for i in range(60))
    (tmp_path / "t.csv").write_text("x0,x1,yes,three,value\n" + rows)
    (tmp_path / "c.toml").write_text('[data]\npath = "t.csv"\n[[tasks]]\nname = "yes"\n[[tasks]]\nname = "three"\n'
                                     '[[tasks]]\nname = "v"\ncolumn = "value"\nmetric = "r2"\n')
    result = invoke("check", str(tmp_path / "c.toml"))
    assert result.exit_code == 0, result.output
    kinds = {line.split()[0]: (line.split()[1], line.split()[6]) for line in result.output.splitlines()[1:4]}
    assert f"read {tmp_path / 't.csv'} as comma-separated, header row" in result.output
    assert kinds == {"yes": ("binary", "auc"), "three": ("multiclass", "accuracy"), "v": ("regression", "r2")}
    assert "3 tasks, 60 rows, input shape (2,): OK" in result.output


def test_select_prints_the_json_contract(tmp_path: Path) -> None:
    path = tmp_path / "SCORES.json"
    path.write_text(json.dumps(SCORES))
    result = invoke("select", str(path), "--budget", "2")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert {"chosen", "assignment", "objective", "status"} <= set(doc)
    assert doc["chosen"] == [0, 3] and doc["assignment"] == {"a": 0, "b": 0, "c": 3}
    assert doc["objective"] == pytest.approx(0.6) and doc["status"] == "optimal"
    # the three-task network alone is the only choice within 1.5
    doc = json.loads(invoke("select", str(path), "--budget", "1.5").output)
    assert doc["chosen"] == [4] and doc["objective"] == pytest.approx(0.9)
    doc = json.loads(invoke("select", str(path), "--max-networks", "3").output)
    assert doc["assignment"] == {"a": 0, "b": 2, "c": 3} and doc["objective"] == pytest.approx(0.5)
    # higher is better: the worst scores now win
    doc = json.loads(invoke("select", str(path), "--max-networks", "2", "--maximize").output)
    assert doc["objective"] == pytest.approx(0.2 + 0.3 + 0.4)
    doc = json.loads(invoke("select", str(path), "--max-networks", "3", "--partition").output)
    chosen_tasks = [t for i in doc["chosen"] for t in SCORES["networks"][i]["tasks"]]
    assert sorted(chosen_tasks) == ["a", "b", "c"]


def test_status_and_quiet(tmp_path: Path, tiny_config: Path) -> None:
    (tmp_path / "config.toml").write_text(tiny_config.read_text())
    out = tmp_path / "run"
    loud = CliRunner().invoke(main, ["analyze", str(tmp_path / "config.toml"), "--out", str(out)])
    assert loud.exit_code == 0, loud.output
    assert "analyze [" in loud.stderr  # a progress bar (first and last line when not a terminal)
    assert loud.stdout.strip() == f"wrote {out / 'affinity.json'} (gradient_cosine, lookahead, transfer, probe_cosine)"

    quiet = CliRunner().invoke(main, ["analyze", str(tmp_path / "config.toml"), "--out", str(out), "--quiet"])
    assert quiet.exit_code == 0 and quiet.stderr == ""  # no progress bar, nothing else either
    assert quiet.stdout == loud.stdout

    status = invoke("status", str(out))
    assert status.exit_code == 0, status.output
    lines = status.output.splitlines()
    assert lines[:4] == ["affinity    done", "groupings   not yet", "comparison  not yet", "report      not yet"]
    assert any(line.startswith("joint       3 units finished, ") for line in lines)  # + 2 stability runs
    assert any(line.startswith("probes      2 units finished, ") for line in lines)  # pairs, calibration groups
    assert "analyze:    5 of 5 units done, 0 left" in lines
    assert lines[-1].startswith("time spent  ") and lines[-1].endswith(" s")

    assert invoke("group", str(out)).exit_code == 0
    lines = invoke("status", str(out)).output.splitlines()
    assert lines[1] == "groupings   done"
    compare = next(line for line in lines if line.startswith("compare:"))
    total = int(compare.split()[3])
    assert compare == f"compare:    0 of {total} units done, {total} left" and total >= 4

    empty = tmp_path / "empty"
    empty.mkdir()
    result = invoke("status", str(empty))
    assert result.exit_code == 2 and "not a run directory" in result.stderr
