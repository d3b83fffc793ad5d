"""Adversarial corpus: the mistakes a new user makes, hand-edited run files, and file-system faults.

Every case holds the project's contract: exit 0 with correct results, or exit 2 with one ``Error:``
line naming the file, key, column or task, no traceback, and no file of the user's touched. Cases
are grouped by the classes of issue 16 (1 user files, 2 staleness, 3 early checks, 4 hand-edited
run files, 5 prediction, 6 file system, 7 orphaned workers, 8 Ctrl-C) and our own (CSV dialects,
numeric edges, names, partial writes, concurrency).
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import tomllib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from taskgroup.cli import main
from taskgroup.runtime.store import RunLock

FIXTURE = Path(__file__).parent / "fixtures" / "run_small"

TINY = """seed = 0
[data]
builtin = "synthetic-small"
[model]
hidden = [8]
[train]
steps = 20
eval_every = 10
[analyze]
steps = 20
every = 5
window = 2
probe_steps = 20
probe_eval_every = 10
probe_seeds = 1
[compare]
seeds = 1
random_groupings = 0
alternatives = ["recommended", "single_task"]
"""


def table_config(table: str = "t.csv", tasks: tuple[str, ...] = ("a", "b", "c"), extra: str = "") -> str:
    """The tiny experiment on a CSV table with features x0..x3 and the given task columns."""
    text = TINY.replace('builtin = "synthetic-small"', f'path = {json.dumps(table)}\nfeatures = ["x0", "x1", "x2", "x3"]')
    for t in tasks:
        text += f"[[tasks]]\nname = {json.dumps(t, ensure_ascii=False)}\n"
    return text + extra


def write_table(path: Path, tasks: tuple[str, ...] = ("a", "b", "c"), rows: int = 90, sep: str = ",",
                scale: float = 1.0, newline: str = "\n", encoding: str = "utf-8", quote: bool = False) -> Path:
    """A table whose first task is regression, the others binary; deterministic."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(rows, 4))
    head = ["x0", "x1", "x2", "x3", *tasks]
    if quote:
        head = [f'"{h}"' for h in head]
    lines = [sep.join(head)]
    for i in range(rows):
        cells = [f"{v:.4f}" for v in X[i]]
        for k, _ in enumerate(tasks):
            cells.append(f"{(X[i, 0] + X[i, 1]) * scale:.6g}" if k == 0 else str(int(X[i, k % 4] > 0)))
        lines.append(sep.join(cells))
    path.write_bytes((newline.join(lines) + newline).encode(encoding))
    return path


def cli(*args: Any) -> Any:
    return CliRunner().invoke(main, [str(a) for a in args])


def refused(result: Any, *needles: str) -> str:
    """Exit 2, one ``Error:`` line holding every needle, no traceback; returns the line."""
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    err = result.stderr.strip("\n")
    assert err.startswith("Error: ") and "\n" not in err, err
    assert "Traceback" not in result.output
    for n in needles:
        assert n in err, (n, err)
    return err


def ok(result: Any) -> Any:
    assert result.exit_code == 0, (result.output, result.exception)
    return result


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` with a hash of its bytes (a folder as such maps to 'dir')."""
    out = {}
    for p in sorted(folder.rglob("*")):
        rel = str(p.relative_to(folder))
        out[rel] = "dir" if p.is_dir() else hashlib.sha256(p.read_bytes()).hexdigest()
    return out


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One finished run of the tiny experiment (copied by each test that changes it)."""
    base = tmp_path_factory.mktemp("adv")
    (base / "config.toml").write_text(TINY)
    ok(cli("run", base / "config.toml", "--out", base / "run", "--quiet"))
    return base / "run"


@pytest.fixture
def run_dir(finished: Path, tmp_path: Path) -> Path:
    dest = tmp_path / "run"
    shutil.copytree(finished, dest)
    (tmp_path / "config.toml").write_text(TINY)
    return dest


# == 1. user files: never written into a folder that is not a run directory ===========================

@pytest.mark.parametrize("command", ["analyze", "run"])
def test_out_is_the_folder_holding_the_config(tmp_path: Path, command: str) -> None:
    (tmp_path / "config.toml").write_text(TINY)
    before = snapshot(tmp_path)
    refused(cli(command, tmp_path / "config.toml", "--out", tmp_path), "not empty", "new folder")
    assert snapshot(tmp_path) == before


def test_out_is_a_project_folder_with_report_and_figures(tmp_path: Path) -> None:
    (tmp_path / "report.md").write_text("# my report\n")
    (tmp_path / "figures").mkdir()
    (tmp_path / "figures" / "mine.png").write_bytes(b"\x89PNG mine")
    (tmp_path / "c.toml").write_text(TINY)
    before = snapshot(tmp_path)
    refused(cli("run", tmp_path / "c.toml", "--out", tmp_path), str(tmp_path), "not a taskgroup run directory")
    assert snapshot(tmp_path) == before


def test_out_empty_string_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "c.toml").write_text(TINY)
    monkeypatch.chdir(tmp_path)
    before = snapshot(tmp_path)
    refused(cli("run", "c.toml", "--out", ""), "--out is empty")
    assert snapshot(tmp_path) == before


def test_out_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "c.toml").write_text(TINY)
    (tmp_path / "notes.txt").write_text("mine")
    refused(cli("analyze", tmp_path / "c.toml", "--out", tmp_path / "notes.txt"), "notes.txt", "is a file")
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_report_into_a_config_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text(TINY)
    before = snapshot(tmp_path)
    refused(cli("report", tmp_path), "not a taskgroup run directory")
    assert snapshot(tmp_path) == before


def test_user_files_inside_a_run_directory_survive_a_rerun(run_dir: Path, tmp_path: Path) -> None:
    (run_dir / "figures" / "my_plot.png").write_bytes(b"mine")
    (run_dir / "notes.txt").write_text("mine")
    ok(cli("run", tmp_path / "config.toml", "--out", run_dir, "--quiet"))
    assert (run_dir / "figures" / "my_plot.png").read_bytes() == b"mine"
    assert (run_dir / "notes.txt").read_text() == "mine"


def test_force_rebind_keeps_user_files(run_dir: Path, tmp_path: Path) -> None:
    (run_dir / "notes.txt").write_text("mine")
    (tmp_path / "other.toml").write_text(TINY.replace("seed = 0", "seed = 1"))
    refused(cli("analyze", tmp_path / "other.toml", "--out", run_dir), "force")
    ok(cli("analyze", tmp_path / "other.toml", "--out", run_dir, "--force", "--quiet"))
    assert (run_dir / "notes.txt").read_text() == "mine"
    assert not (run_dir / "comparison.json").exists() and not (run_dir / "models").exists()


def test_a_user_file_where_taskgroup_would_write_is_not_replaced(run_dir: Path) -> None:
    manifest = json.loads((run_dir / "manifest.json").read_text())
    manifest["owned"] = [o for o in manifest["owned"] if o != "report.md"]
    (run_dir / "manifest.json").write_text(json.dumps(manifest))
    (run_dir / "report.md").write_text("mine")
    refused(cli("report", run_dir), "report.md", "not written by taskgroup")
    assert (run_dir / "report.md").read_text() == "mine"


def test_an_empty_existing_folder_is_accepted(tmp_path: Path) -> None:
    (tmp_path / "c.toml").write_text(TINY)
    (tmp_path / "out").mkdir()
    ok(cli("analyze", tmp_path / "c.toml", "--out", tmp_path / "out", "--quiet"))
    assert (tmp_path / "out" / "affinity.json").is_file()


def test_a_run_directory_of_the_previous_version_still_reports(tmp_path: Path) -> None:
    old = tmp_path / "old"
    shutil.copytree(FIXTURE, old)
    ok(cli("report", old))
    assert (old / "report.html").is_file() and (old / "manifest.json").is_file()


# == 2. staleness: outputs know what they were made from =================================================

def test_regroup_marks_comparison_stale_and_report_refuses(run_dir: Path) -> None:
    ok(cli("group", run_dir, "--max-groups", "1"))
    status = ok(cli("status", run_dir)).stdout
    assert "comparison  stale (groupings.json changed since 'compare' ran)" in status
    before = snapshot(run_dir)
    refused(cli("report", run_dir), "comparison.json", "stale", "taskgroup compare")
    assert snapshot(run_dir) == before


def test_compare_after_regroup_makes_everything_current(run_dir: Path) -> None:
    ok(cli("group", run_dir, "--max-groups", "1"))
    ok(cli("compare", run_dir, "--quiet"))
    ok(cli("report", run_dir))
    status = ok(cli("status", run_dir)).stdout
    assert "stale" not in status and "comparison  done" in status
    doc = json.loads((run_dir / "comparison.json").read_text())
    groupings = json.loads((run_dir / "groupings.json").read_text())
    rec = next(a for a in doc["alternatives"] if a["name"] == "recommended")
    assert rec["groups"] == groupings["recommended"]["groups"]


def test_hand_edited_groupings_make_compare_stale(run_dir: Path) -> None:
    g = json.loads((run_dir / "groupings.json").read_text())
    g["recommended"]["groups"] = [[t] for t in g["tasks"]]
    (run_dir / "groupings.json").write_text(json.dumps(g))
    refused(cli("report", run_dir), "comparison.json: stale")
    assert "comparison  stale" in ok(cli("status", run_dir)).stdout


def test_removed_affinity_marks_groupings_stale(run_dir: Path) -> None:
    (run_dir / "affinity.json").unlink()
    assert "groupings   stale (affinity.json was removed" in ok(cli("status", run_dir)).stdout


def test_data_replaced_after_analyze_is_detected_by_every_later_step(tmp_path: Path) -> None:
    write_table(tmp_path / "t.csv")
    (tmp_path / "c.toml").write_text(table_config())
    ok(cli("analyze", tmp_path / "c.toml", "--out", tmp_path / "run", "--quiet"))
    ok(cli("group", tmp_path / "run"))
    write_table(tmp_path / "t.csv", scale=3.0)  # same path, other content
    refused(cli("group", tmp_path / "run"), "data differ")
    refused(cli("compare", tmp_path / "run", "--quiet"), "data differ")
    refused(cli("report", tmp_path / "run"), "t.csv changed since 'analyze' ran", "taskgroup analyze")
    assert "stale" in ok(cli("status", tmp_path / "run")).stdout


def test_run_holds_the_lock_from_start_to_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    taken: list[Path] = []
    real = RunLock.acquire

    def counting(self: RunLock) -> RunLock:
        taken.append(self.directory)
        return real(self)

    monkeypatch.setattr(RunLock, "acquire", counting)
    (tmp_path / "c.toml").write_text(TINY)
    ok(cli("run", tmp_path / "c.toml", "--out", tmp_path / "run", "--quiet"))
    assert len(taken) == 1  # one acquisition held across analyze, group, compare and report


@pytest.mark.parametrize("command", ["group", "report", "compare"])
def test_a_step_while_another_process_holds_the_directory(run_dir: Path, command: str) -> None:
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from taskgroup.runtime.store import RunLock\n"
        f"lock = RunLock({str(run_dir)!r}).acquire(); print('held', flush=True); time.sleep(60)")],
        stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])})
    try:
        assert holder.stdout.readline().strip() == "held"
        before = snapshot(run_dir)
        refused(cli(command, run_dir), "in use by pid")
        assert snapshot(run_dir) == before
    finally:
        holder.kill()
        holder.wait()


# == 3. everything knowable from config and data is checked by `check` ====================================

@pytest.mark.parametrize("extra, needles", [
    ('[model]\nhidden = [200000, 200000]\n', ["model.hidden", "parameters"]),
    ('[train]\nbatch_size = 50000000\n', ["train.batch_size"]),
    ('[compare]\nalternatives = ["recommended", "singel_task"]\n', ["compare.alternatives", "'single_task'"]),
    ('[group]\nmeasure = "lookahed"\n', ["group.measure", "'lookahead'"]),
    ('[analyze]\nmeasures = ["gradient_cosine", "nope"]\n', ["analyze.measures", "nope"]),
    ("seed = 99999999999\n", ["seed"]),
    ("seed = -1\n", ["seed"]),
])
def test_check_refuses_what_would_fail_later(tmp_path: Path, extra: str, needles: list[str]) -> None:
    text = TINY
    for section in ("[model]", "[train]", "[compare]", "[group]", "[analyze]"):
        if extra.startswith(section):  # replace the section's key in place (TOML allows a section once)
            key = extra.split("\n")[1].split("=")[0].strip()
            lines = [ln for ln in text.splitlines() if not ln.startswith(key + " ")]
            text = "\n".join(lines) + "\n"
            text = text.replace(section + "\n", extra) if section in text else text + extra
            break
    else:
        text = extra + text.replace("seed = 0\n", "")
    (tmp_path / "c.toml").write_text(text)
    refused(cli("check", tmp_path / "c.toml"), *needles)
    refused(cli("analyze", tmp_path / "c.toml", "--out", tmp_path / "run"), *needles)
    assert not (tmp_path / "run").exists()


def test_the_largest_seed_runs_to_the_end(tmp_path: Path) -> None:
    (tmp_path / "c.toml").write_text(TINY)
    ok(cli("check", tmp_path / "c.toml", "--seed", str(2**32 - 1)))
    ok(cli("run", tmp_path / "c.toml", "--out", tmp_path / "run", "--seed", str(2**32 - 1), "--quiet"))
    refused(cli("check", tmp_path / "c.toml", "--seed", str(2**32)), "--seed")


def test_a_single_task_is_named_by_check_and_refused_by_the_steps(tmp_path: Path) -> None:
    write_table(tmp_path / "t.csv", tasks=("a",))
    (tmp_path / "c.toml").write_text(table_config(tasks=("a",)))
    assert "at least two tasks" in ok(cli("check", tmp_path / "c.toml")).stderr  # check warns ...
    refused(cli("analyze", tmp_path / "c.toml", "--out", tmp_path / "run"), "at least two tasks")  # steps refuse
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("value", ["1e300", "inf", "-inf"])
def test_huge_or_infinite_regression_targets(tmp_path: Path, value: str) -> None:
    path = write_table(tmp_path / "t.csv")
    lines = path.read_text().splitlines()
    cells = lines[5].split(",")
    cells[4] = value
    lines[5] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n")
    (tmp_path / "c.toml").write_text(table_config())
    refused(cli("check", tmp_path / "c.toml"), "task 'a'", "target value")


def test_names_and_paths_outside_the_basic_plane_run_end_to_end(tmp_path: Path) -> None:
    folder = tmp_path / "données 🎉"
    folder.mkdir()
    tasks = ("😀 score", "naïve\"quoted", "back\\slash")
    write_table(folder / "t.csv", tasks=tasks)
    (folder / "c.toml").write_text(table_config(tasks=tasks))
    ok(cli("run", folder / "c.toml", "--out", folder / "run ✓", "--quiet"))
    saved = tomllib.loads((folder / "run ✓" / "config.toml").read_text(encoding="utf-8"))
    assert [t["name"] for t in saved["tasks"]] == list(tasks)
    assert json.loads((folder / "run ✓" / "comparison.json").read_text())["tasks"] == list(tasks)
    ok(cli("status", folder / "run ✓"))


# == 4. hand-edited or foreign run files ====================================================================

def _edit_groupings(run_dir: Path, edit: Any) -> None:
    g = json.loads((run_dir / "groupings.json").read_text())
    edit(g)
    (run_dir / "groupings.json").write_text(json.dumps(g))


@pytest.mark.parametrize("edit, needles", [
    (lambda g: g["recommended"]["groups"][0].append("ghost"), ["groupings.json", "recommended.groups[0]", "'ghost'"]),
    (lambda g: g["recommended"]["groups"].append([]), ["groupings.json", "empty group"]),
    (lambda g: g["recommended"]["groups"].pop(), ["groupings.json", "is in no group"]),
    (lambda g: g.pop("tasks"), ["groupings.json", "tasks", "lists no task"]),
    (lambda g: g["recommended"].pop("groups"), ["groupings.json", "recommended.groups: missing key"]),
    (lambda g: g["recommended"].update(groups={"a": 1}), ["groupings.json", "recommended.groups: expected a list"]),
    (lambda g: g["candidates"][0].update(predicted="high"), ["groupings.json", "candidates[0].predicted"]),
    (lambda g: g.update(tasks=[t + "_renamed" for t in g["tasks"]]), ["groupings.json", "does not exist"]),
])
def test_hand_edited_groupings_are_refused_by_compare_and_report(run_dir: Path, edit: Any, needles: list[str]) -> None:
    _edit_groupings(run_dir, edit)
    before = snapshot(run_dir)
    refused(cli("compare", run_dir, "--quiet"), *needles)
    refused(cli("report", run_dir), *needles)
    assert snapshot(run_dir) == before


def test_groupings_whose_tasks_are_not_the_runs(run_dir: Path) -> None:
    def rename(g: dict[str, Any]) -> None:
        old = g["tasks"][0]
        g["tasks"][0] = "renamed"
        for doc in [g["recommended"], *g["candidates"]]:
            doc["groups"] = [["renamed" if t == old else t for t in grp] for grp in doc["groups"]]
            doc.pop("assignment", None)
        g.pop("stability", None)

    _edit_groupings(run_dir, rename)
    refused(cli("compare", run_dir, "--quiet"), "groupings.json", "'renamed'")


def test_affinity_with_a_renamed_task(run_dir: Path) -> None:
    a = json.loads((run_dir / "affinity.json").read_text())
    a["tasks"][1] = "renamed"
    for info in a["task_info"]:
        if info["name"] not in a["tasks"]:
            info["name"] = "renamed"
    (run_dir / "affinity.json").write_text(json.dumps(a))
    # refused as a task the data lack, or as a measured group's task that the file no longer lists
    refused(cli("group", run_dir), "affinity.json", "renamed")


@pytest.mark.parametrize("name, content, needles", [
    ("affinity.json", b'{"schema": 1, "tasks": ', ["affinity.json", "not valid JSON"]),
    ("affinity.json", b"\xff\xfe garbage", ["affinity.json", "not UTF-8"]),
    ("affinity.json", b'["a list"]', ["affinity.json", "JSON object"]),
    ("affinity.json", b'{"schema": 7, "tasks": ["a"]}', ["affinity.json", "schema 7", "taskgroup analyze"]),
    ("config.toml", b"this is [not toml", ["config.toml", "not valid TOML"]),
    ("config.toml", b"[data]\nbuiltin = 'synthetic-small'\nbogus = 1\n", ["config.toml", "bogus"]),
    ("manifest.json", b"{", ["manifest.json", "not valid JSON"]),
    ("manifest.json", b'{"schema": 1, "tool": "other", "owned": []}', ["manifest.json", "another tool"]),
    ("store.sqlite", b"not a database at all " * 100, ["store.sqlite"]),
])
def test_garbage_run_files_are_one_line_errors(run_dir: Path, name: str, content: bytes, needles: list[str]) -> None:
    (run_dir / name).write_bytes(content)
    refused(cli("group", run_dir), *needles)


def test_a_foreign_sqlite_database_as_the_store_is_left_alone(run_dir: Path) -> None:
    (run_dir / "store.sqlite").unlink()
    for side in ("store.sqlite-wal", "store.sqlite-shm"):
        (run_dir / side).unlink(missing_ok=True)
    with sqlite3.connect(run_dir / "store.sqlite") as db:
        db.execute("CREATE TABLE customers (id INTEGER, name TEXT)")
    before = (run_dir / "store.sqlite").read_bytes()
    refused(cli("compare", run_dir, "--quiet"), "store.sqlite", "another program")
    assert (run_dir / "store.sqlite").read_bytes() == before


def test_lock_that_is_a_folder(run_dir: Path) -> None:
    (run_dir / ".lock").unlink()
    (run_dir / ".lock").mkdir()
    refused(cli("group", run_dir), ".lock", "is a folder")


def test_comparison_json_of_the_wrong_shape(run_dir: Path) -> None:
    c = json.loads((run_dir / "comparison.json").read_text())
    c["alternatives"][0]["per_task"] = ["not", "an", "object"]
    (run_dir / "comparison.json").write_text(json.dumps(c))
    refused(cli("report", run_dir), "comparison.json", "alternatives[0].per_task")


# == 5. prediction ================================================================================

@pytest.fixture(scope="module")
def table_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished run on a CSV table whose tasks include spreadsheet-formula names."""
    base = tmp_path_factory.mktemp("advtable")
    write_table(base / "t.csv", tasks=("=sum", "+b", "@c"))
    (base / "c.toml").write_text(table_config(tasks=("=sum", "+b", "@c")))
    ok(cli("run", base / "c.toml", "--out", base / "run", "--quiet"))
    return base


def test_predictions_csv_is_safe_for_spreadsheets(table_run: Path, tmp_path: Path) -> None:
    ok(cli("predict", table_run / "run", table_run / "t.csv", "--out", tmp_path / "p.csv"))
    header = (tmp_path / "p.csv").read_text().splitlines()[0].split(",")
    assert header == ["row", "'=sum", "'+b", "'@c"]


@pytest.mark.parametrize("cell", ["nan", "inf", "-inf", "NaN"])
def test_non_finite_features_are_refused_naming_row_and_column(table_run: Path, tmp_path: Path, cell: str) -> None:
    lines = (table_run / "t.csv").read_text().splitlines()
    cells = lines[3].split(",")
    cells[2] = cell
    lines[3] = ",".join(cells)
    (tmp_path / "in.csv").write_text("\n".join(lines) + "\n")
    refused(cli("predict", table_run / "run", tmp_path / "in.csv", "--out", tmp_path / "p.csv"), "line 4", "'x2'")
    assert not (tmp_path / "p.csv").exists()


@pytest.mark.parametrize("variant", ["bom", "tsv", "crlf", "blank_line", "quoted"])
def test_predict_reads_tables_as_training_does(table_run: Path, tmp_path: Path, variant: str) -> None:
    tasks = ("=sum", "+b", "@c")
    path = tmp_path / "in.csv"
    if variant == "bom":
        write_table(path, tasks=tasks, encoding="utf-8-sig")
    elif variant == "tsv":
        path = write_table(tmp_path / "in.tsv", tasks=tasks, sep="\t")
    elif variant == "crlf":
        write_table(path, tasks=tasks, newline="\r\n")
    elif variant == "quoted":
        write_table(path, tasks=tasks, quote=True)
    else:
        write_table(path, tasks=tasks)
        path.write_text(path.read_text() + "\n")
    ok(cli("check", _config_for(tmp_path, path, tasks)))  # training accepts it ...
    ok(cli("predict", table_run / "run", path, "--out", tmp_path / "p.csv"))  # ... and so does predict
    assert len((tmp_path / "p.csv").read_text().splitlines()) == 91


def _config_for(folder: Path, table: Path, tasks: tuple[str, ...]) -> Path:
    cfg = folder / "check.toml"
    cfg.write_text(table_config(table=table.name, tasks=tasks))
    return cfg


def test_a_table_that_is_not_utf8(table_run: Path, tmp_path: Path) -> None:
    (tmp_path / "in.csv").write_bytes(b"x0,x1,x2,x3\n\xff\xfe,1,2,3\n")
    refused(cli("predict", table_run / "run", tmp_path / "in.csv", "--out", tmp_path / "p.csv"), "in.csv")


@pytest.mark.parametrize("damage, needles", [
    (lambda m: (m / "net-0.pt").write_bytes((m / "net-0.pt").read_bytes()[:100]), ["net-0.pt", "not a readable model"]),
    (lambda m: (m / "net-0.pt").write_bytes(b"tampered" * 50), ["net-0.pt"]),
    (lambda m: (m / "index.json").write_text("{corrupt"), ["index.json", "not valid JSON"]),
    (lambda m: (m / "index.json").write_text('{"tasks": ["x"], "routes": {"x": 5}, "networks": 1}'),
     ["index.json", "routes.x"]),
    (lambda m: (m / "net-0.json").unlink(), ["net-0.json", "missing"]),
    (lambda m: (m / "net-0.json").write_text('{"tasks": [{"name": "a"}]}'), ["net-0.json", "tasks[0].kind: missing"]),
])
def test_damaged_models_are_one_line_errors(table_run: Path, tmp_path: Path, damage: Any, needles: list[str]) -> None:
    run = tmp_path / "run"
    shutil.copytree(table_run / "run", run)
    damage(run / "models")
    refused(cli("predict", run, table_run / "t.csv", "--out", tmp_path / "p.csv"), *needles)


# == 6. the file system ================================================================================

@pytest.mark.parametrize("code, cause", [
    (errno.EROFS, "read-only file system"), (errno.ENOSPC, "disk full"), (errno.EACCES, "permission denied"),
    (errno.EDQUOT, "quota"),
])
def test_os_errors_name_the_path_and_the_cause(code: int, cause: str) -> None:
    from taskgroup.runtime.faults import describe_os_error

    assert describe_os_error(OSError(code, os.strerror(code), "/runs/x/affinity.json")) \
        == f"/runs/x/affinity.json: {describe_os_error(OSError(code, '', 'p')).split(': ', 1)[1]}"
    assert cause in describe_os_error(OSError(code, os.strerror(code), "/runs/x/affinity.json"))


@pytest.mark.parametrize("text, cause", [
    ("attempt to write a readonly database", "read-only"), ("database or disk is full", "disk full"),
    ("unable to open database file", "cannot be opened"), ("disk I/O error", "input/output"),
])
def test_sqlite_errors_name_the_store_and_the_cause(text: str, cause: str) -> None:
    from taskgroup.runtime.faults import describe_sqlite_error

    message = describe_sqlite_error("/runs/x/store.sqlite", sqlite3.OperationalError(text))
    assert message.startswith("/runs/x/store.sqlite: ") and cause in message


def test_an_os_error_in_a_step_is_one_line(run_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import taskgroup.runtime.atomic as atomic

    def full(*_a: Any, **_k: Any) -> None:
        raise OSError(errno.ENOSPC, "No space left on device", str(run_dir / "groupings.json"))

    monkeypatch.setattr(atomic, "_write", full)
    before = (run_dir / "groupings.json").read_bytes()
    refused(cli("group", run_dir), "groupings.json", "disk full")
    assert (run_dir / "groupings.json").read_bytes() == before


def _mount_tmpfs(folder: Path, size: str) -> None:
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("needs root to mount a small tmpfs")
    folder.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")


def _umount(folder: Path) -> None:
    subprocess.run(["umount", "-l", str(folder)], capture_output=True)


def test_read_only_run_directory(finished: Path, tmp_path: Path) -> None:
    mnt = tmp_path / "mnt"
    _mount_tmpfs(mnt, "20m")
    try:
        shutil.copytree(finished, mnt / "run")
        subprocess.run(["mount", "-o", "remount,ro", str(mnt)], check=True, capture_output=True)
        refused(cli("group", mnt / "run"), str(mnt / "run"), "read-only")
        refused(cli("report", mnt / "run"), "read-only")
        refused(cli("status", mnt / "run"), "store.sqlite", "read-only")  # SQLite's WAL needs to write
    finally:
        _umount(mnt)


def test_a_full_disk(tmp_path: Path) -> None:
    mnt = tmp_path / "mnt"
    _mount_tmpfs(mnt, "300k")
    try:
        (tmp_path / "c.toml").write_text(TINY)
        result = cli("run", tmp_path / "c.toml", "--out", mnt / "run", "--quiet")
        refused(result, "disk full")
    finally:
        _umount(mnt)


# == 7. orphaned workers, 8. Ctrl-C ==============================================================

SLOW = TINY.replace("steps = 20\neval_every = 10", "steps = 4000\neval_every = 2000")


def _descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    out, todo = set(), [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            out.add(c)
            todo.append(c)
    return out


def _alive(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc to find the workers")
def test_workers_exit_when_the_parent_is_killed(run_dir: Path, tmp_path: Path) -> None:
    cfg = tmp_path / "slow.toml"
    cfg.write_text(SLOW)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])}
    ok(cli("analyze", cfg, "--out", tmp_path / "slow", "--quiet"))
    ok(cli("group", tmp_path / "slow"))
    parent = subprocess.Popen([sys.executable, "-m", "taskgroup.cli", "compare", str(tmp_path / "slow"),
                               "--executor", "process", "--workers", "2", "--quiet"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    workers: set[int] = set()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(workers) < 2:
        time.sleep(0.5)
        workers = {p for p in _descendants(parent.pid) if "spawn_main" in _cmdline(p)}
    assert workers, "the process pool never started"
    everyone = _descendants(parent.pid)
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(_alive(p) for p in everyone):
        time.sleep(0.2)
    assert not [p for p in everyone if _alive(p)], [(_cmdline(p)) for p in everyone if _alive(p)]


def _cmdline(pid: int) -> str:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


@pytest.mark.slow
def test_ctrl_c_says_what_is_kept_and_how_to_resume(tmp_path: Path) -> None:
    cfg = tmp_path / "slow.toml"
    cfg.write_text(SLOW)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])}
    proc = subprocess.Popen([sys.executable, "-m", "taskgroup.cli", "run", str(cfg), "--out", str(tmp_path / "r"),
                             "--quiet"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (tmp_path / "r" / "affinity.json").exists():
        time.sleep(0.2)
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Aborted!" not in err and "Traceback" not in err
    assert "finished is kept" in err and f"taskgroup run {cfg} --out {tmp_path / 'r'} --quiet" in err
    ok(cli("status", tmp_path / "r"))


# == own classes: CSV dialects, numeric edges, names, partial writes, concurrency ====================

@pytest.mark.parametrize("sep", [";", "\t", "|"])
def test_other_delimiters_are_read_as_training_reads_them(tmp_path: Path, sep: str) -> None:
    write_table(tmp_path / "t.csv", sep=sep)
    (tmp_path / "c.toml").write_text(table_config())
    assert "3 tasks, 90 rows" in ok(cli("check", tmp_path / "c.toml")).stdout


@pytest.mark.parametrize("variant", ["duplicate_header", "ragged_row", "empty_file", "header_only", "latin1"])
def test_malformed_tables_are_one_line_errors(tmp_path: Path, variant: str) -> None:
    path = write_table(tmp_path / "t.csv", encoding="latin-1" if variant == "latin1" else "utf-8")
    text = path.read_text(encoding="latin-1")
    if variant == "duplicate_header":
        path.write_text(text.replace("x1,", "x0,", 1))
    elif variant == "ragged_row":
        lines = text.splitlines()
        lines[4] += ",1,2"
        path.write_text("\n".join(lines) + "\n")
    elif variant == "empty_file":
        path.write_text("")
    elif variant == "header_only":
        path.write_text(text.splitlines()[0] + "\n")
    else:
        path.write_bytes(text.replace("x3", "x3é").encode("latin-1").replace(b"x3\xe9", b"x3\xe9"))
    (tmp_path / "c.toml").write_text(table_config())
    result = cli("check", tmp_path / "c.toml")
    refused(result, "t.csv")


@pytest.mark.parametrize("value", ["1e308", "-1e308", "1e-320", "0"])
def test_numeric_edge_values_in_features(tmp_path: Path, value: str) -> None:
    path = write_table(tmp_path / "t.csv")
    lines = path.read_text().splitlines()
    for i in (2, 7):
        cells = lines[i].split(",")
        cells[1] = value
        lines[i] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n")
    (tmp_path / "c.toml").write_text(table_config())
    result = cli("check", tmp_path / "c.toml")
    assert result.exit_code in (0, 2) and isinstance(result.exception, SystemExit) or result.exit_code == 0
    if result.exit_code == 2:
        refused(result, "x1")


@pytest.mark.parametrize("name", ["a b", "tab\there", "quote\"d", "semi;colon", "comma,name", "ümlaut", "עברית",
                                  "x" * 200, "[brackets]", "#hash"])
def test_task_names_with_every_kind_of_character_pass_check(tmp_path: Path, name: str) -> None:
    import csv

    rng = np.random.default_rng(1)
    with (tmp_path / "t.csv").open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["x0", "x1", "x2", "x3", name, "other"])
        for _ in range(90):
            x = rng.normal(size=4)
            w.writerow([*(f"{v:.3f}" for v in x), f"{x[0]:.3f}", int(x[1] > 0)])
    (tmp_path / "c.toml").write_text(table_config(tasks=(name, "other")))
    out = ok(cli("check", tmp_path / "c.toml")).stdout
    assert "2 tasks" in out


def test_a_truncated_document_from_a_crash_is_refused(run_dir: Path) -> None:
    text = (run_dir / "comparison.json").read_bytes()
    (run_dir / "comparison.json").write_bytes(text[: len(text) // 2])
    refused(cli("report", run_dir), "comparison.json", "not valid JSON")


def test_a_stray_temporary_file_of_a_killed_writer_is_cleared(run_dir: Path) -> None:
    stray = run_dir / ".groupings.json.999999.deadbeef.tmp"
    stray.write_text("{half")
    ok(cli("group", run_dir))
    assert not stray.exists()
    json.loads((run_dir / "groupings.json").read_text())


def test_status_on_a_folder_that_is_not_a_run(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    refused(cli("status", tmp_path), "not a run directory")
    refused(cli("group", tmp_path), "not a run directory")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]
