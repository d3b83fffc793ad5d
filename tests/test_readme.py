"""Every example in the README runs."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from taskgroup.cli import main

README = Path(__file__).resolve().parents[1] / "README.md"
TEXT = README.read_text(encoding="utf-8")


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", TEXT, flags=re.S)


def _commands() -> list[str]:
    lines = []
    for block in _blocks("bash"):
        for line in block.splitlines():
            line = line.split("  #")[0].strip()
            if line:
                lines.append(line)
    return lines


def _cli(args: list[str], cwd: Path):
    import os

    runner = CliRunner()

    old = os.getcwd()
    os.chdir(cwd)
    try:
        return runner.invoke(main, args, catch_exceptions=False)
    finally:
        os.chdir(old)


#: what each Python example of the README leaves behind, checked after it runs (in README order)
PYTHON_CHECKS = [
    lambda ns, d: (d / "runs" / "api-example" / "report.html").is_file() and ns["model"].tasks,
    lambda ns, d: (d / "runs" / "arrays" / "report.html").is_file()
    and abs(float(ns["model"].predict(ns["X"])["price"].mean()) - 24) < 1.5
    and set(ns["model"].predict(ns["X"])["sold"].tolist()) <= {0.0, 1.0},
    lambda ns, d: ns["data"].task("smoker").kind == "binary" and int(ns["data"].masks["smoker"].sum()) == 100,
    lambda ns, d: ns["paths"]["html"].is_file() and ns["data"].streamed,
    lambda ns, d: callable(ns["encoder"]) and callable(ns["rmse"]),
    lambda ns, d: ns["pred"]["small"].shape == (5, 16) and ns["pred"]["moments"].shape == (5, 3)
    and (d / "runs" / "digits-custom" / "report.html").is_file(),
]


def test_every_python_example_is_checked():
    assert len(_blocks("python")) == len(PYTHON_CHECKS)


@pytest.mark.parametrize("index", range(len(PYTHON_CHECKS)))
@pytest.mark.slow
def test_the_python_examples_run(index, tmp_path, monkeypatch):
    code = _blocks("python")[index]
    if "import pandas" in code:
        pytest.importorskip("pandas", reason="pandas is a test extra (pip install -e '.[test]')")
    monkeypatch.chdir(tmp_path)
    for block in _blocks("python"):  # modules the examples import ("# file: NAME.py" on the first line)
        first = block.splitlines()[0]
        if first.startswith("# file: "):
            (tmp_path / first[len("# file: "):].strip()).write_text(block)
            monkeypatch.delitem(sys.modules, first[len("# file: "):].strip()[:-3], raising=False)
    monkeypatch.syspath_prepend(str(tmp_path))
    namespace: dict = {"__name__": "readme_example"}
    exec(compile(code, "README.md", "exec"), namespace)
    assert PYTHON_CHECKS[index](namespace, tmp_path)


@pytest.mark.slow
def test_the_own_data_commands_run(tmp_path):
    cmds = [c for c in _commands() if c.startswith("taskgroup ") and "my.toml" in c]
    assert [c.split()[1] for c in cmds] == ["init", "check", "run"]
    assert _cli(cmds[0].split()[1:], tmp_path).exit_code == 0
    # the starter config trains for minutes; the test keeps its data and shortens the training
    cfg = tmp_path / "my.toml"
    text = cfg.read_text()
    text = text.replace("[analyze]\n", "[analyze]\nsteps = 40\nprobe_steps = 40\nprobe_eval_every = 20\n")
    text = text.replace("[model]\n", "[model]\n").replace("hidden = [64, 64]", "hidden = [16]")
    text = text.replace("[compare]\nseeds = 3", "[compare]\nseeds = 2\nrandom_groupings = 1")
    text += "\n[train]\nsteps = 60\neval_every = 20\n"
    cfg.write_text(text)
    for c in cmds[1:]:
        result = _cli(c.split()[1:], tmp_path)
        assert result.exit_code == 0, result.output
    assert (tmp_path / "runs" / "my" / "report.html").is_file()


def test_the_minimal_csv_config_is_valid(tmp_path):
    toml = next(b for b in _blocks("toml") if 'path = "table.csv"' in b)
    (tmp_path / "cfg.toml").write_text(toml)
    rng = __import__("numpy").random.default_rng(0)
    rows = ["x0,x1,income,age"]
    for i in range(60):
        x0, x1 = rng.normal(size=2)
        income = "" if i % 7 == 0 else str(int(x0 > 0))
        rows.append(f"{x0:.4f},{x1:.4f},{income},{30 + 10 * x1:.2f}")
    (tmp_path / "table.csv").write_text("\n".join(rows) + "\n")
    result = _cli(["check", "cfg.toml"], tmp_path)
    assert result.exit_code == 0, result.output
    assert "income" in result.output and "binary" in result.output and "regression" in result.output


def test_the_derived_targets_example_checks(tmp_path):
    toml = next(b for b in _blocks("toml") if "expression" in b)
    (tmp_path / "cfg.toml").write_text(toml)
    rng = __import__("numpy").random.default_rng(0)
    lines = [f"{rng.integers(10, 90)}  {rng.normal(70, 12):.1f}  {rng.normal(170, 10):.1f}  {'FM'[i % 2]}  "
             f"{rng.normal():.3f}" for i in range(80)]
    (tmp_path / "patients.data").write_text("age weight height sex score\n" + "\n".join(lines) + "\n")
    result = _cli(["check", "cfg.toml"], tmp_path)
    assert result.exit_code == 0, result.output
    assert "space-separated, header row" in result.output and "derived target senior = age > 65" in result.output
    assert "input shape (1,)" in result.output   # age, weight, height and sex feed targets: score is left


def test_the_tracking_block_is_a_valid_config_section(tmp_path):
    from taskgroup.config import load_config

    toml = next(b for b in _blocks("toml") if "[track]" in b)
    (tmp_path / "cfg.toml").write_text('[data]\nbuiltin = "synthetic-small"\n' + toml)
    assert load_config(tmp_path / "cfg.toml").track.mlflow == "./mlruns"


def test_the_select_example_prints_the_contract(tmp_path):
    (cmd,) = [c for c in _commands() if c.startswith("taskgroup select")]
    doc = {"lower_is_better": True, "networks": [
        {"tasks": ["s", "d"], "cost": 1.0, "scores": {"s": 0.078, "d": 0.18}},
        {"tasks": ["s"], "cost": 1.0, "scores": {"s": 0.07}},
        {"tasks": ["d"], "cost": 1.0, "scores": {"d": 0.2}}]}
    (tmp_path / "scores.json").write_text(json.dumps(doc))
    result = _cli(cmd.split()[1:], tmp_path)
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["status"] == "optimal" and set(out) >= {"chosen", "assignment", "objective"}
    assert out["objective"] == pytest.approx(0.07 + 0.18)


def test_the_setup_commands_name_the_demo_and_the_tests():
    setup, tests = _blocks("bash")[:2]
    assert "taskgroup demo --quick" in setup and "torch==2.13.0" in setup
    assert tests.strip() == "python3 -m pytest -q"
    ci = (README.parent / ".ci" / "run").read_text()
    assert "\npython3 -m pytest -q\n" in ci


@pytest.mark.slow
def test_the_demo_runs_quickly(tmp_path):
    """The README's main command, end to end (about 35 CPU-seconds)."""
    result = subprocess.run([sys.executable, "-m", "taskgroup.cli", "demo", "--quick", "--out", str(tmp_path / "d"),
                             "--quiet"], capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr
    assert "report:" in result.stdout
    assert (tmp_path / "d" / ".gitignore").read_text().splitlines()[-1] == "*"
    for name in ("report.html", "report.md", "affinity.json", "groupings.json", "comparison.json"):
        assert (tmp_path / "d" / name).is_file()


@pytest.mark.parametrize("key, registry", [
    ("train.weighting", "taskgroup.training.weighting:WEIGHTINGS"),
    ("train.sampling", "taskgroup.training.sampling:SAMPLINGS"),
    ("train.schedule", "taskgroup.training.sampling:SCHEDULES"),
    ("model.encoder", "taskgroup.training.encoders:ENCODERS"),
    ("analyze.measures", "taskgroup.affinity.measures:REQUESTABLE"),
])
def test_the_configuration_reference_names_only_registered_methods(key: str, registry: str) -> None:
    """The README's rows name registered methods (``taskgroup methods`` lists them all)."""
    from dataclasses import fields

    from taskgroup.config import SECTIONS
    from taskgroup.registry import import_object

    setting_names = {f.name for section in SECTIONS.values() for f in fields(section)}
    row = next(line for line in TEXT.splitlines() if line.startswith(f"| `{key}`"))
    listed = set(re.findall(r"`([a-z_]+)`", row.split("|")[3])) - {"auto", "taskgroup", "methods"} - setting_names
    assert listed and listed <= set(import_object(registry)), f"README's {key} row names {listed}"
