"""A run directory written by the previous version (0.1.0: tests/fixtures/run_v0_1, the documents of
reports/synthetic as released) still reports, or every command refuses it with one line."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from taskgroup.cli import main
from taskgroup.errors import TaskgroupError
from taskgroup.runtime.rundir import load_run_config

if __package__:  # tests/ is a package
    from .checks import assert_refused, one_line
else:  # tests/ is on sys.path (pytest's default rootdir-less import)
    from checks import assert_refused, one_line

FIXTURE = Path(__file__).parent / "fixtures" / "run_v0_1"


@pytest.fixture
def old_run(tmp_path: Path) -> Path:
    run = tmp_path / "run"
    shutil.copytree(FIXTURE, run)
    return run


def test_its_configuration_loads_or_is_refused_with_a_line_saying_to_rerun(old_run: Path) -> None:
    try:
        cfg = load_run_config(old_run)
    except TaskgroupError as exc:  # a key this version no longer knows (analyze.lookahead_lr, say)
        one_line(exc, "config.toml", "another version of taskgroup", "rerun")
    else:
        assert cfg.data.builtin == "synthetic" and cfg.compare.seeds >= 1


@pytest.mark.parametrize("args", [["report"], ["group"], ["status"], ["predict", "TABLE", "--out", "p.csv"]])
def test_every_command_works_on_it_or_refuses_it_in_one_line(old_run: Path, args: list[str]) -> None:
    table = old_run.parent / "t.csv"
    table.write_text("x0,x1\n1,2\n")
    argv = [a.replace("TABLE", str(table)) for a in args]
    result = CliRunner().invoke(main, [argv[0], str(old_run), *argv[1:]])
    if result.exit_code != 0:
        assert_refused(result)
    elif argv[0] == "report":
        assert (old_run / "report.html").is_file()
