"""Crash-safe resume: ``taskgroup run`` killed with SIGKILL at several points finishes on a rerun.

The run is killed twice, once while analyze trains its probes and once while compare trains its
networks, then rerun to completion. The final ``affinity.json``, ``groupings.json`` and
``comparison.json`` must equal those of an uninterrupted run with the same seed, except
comparison.json's ``train_seconds`` fields: they are wall-clock timings summed from the stored
units, and a unit that was running at a kill is trained again with its own timing, so they are
dropped before comparing; every other field must be identical. Units finished before a kill must
not be trained again: their rows in ``store.sqlite`` keep their ``created`` time.

To make the probe phase span several units, the subprocess runs the CLI through a small wrapper
that plans probe chunks of two probes instead of 64 (the uninterrupted run uses the same wrapper).
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path
from typing import Any, Callable

import pytest
from click.testing import CliRunner

from taskgroup.cli import main

pytestmark = pytest.mark.slow

CHUNK = 2
#: the tiny experiment with two probe seeds, a longer training and four alternatives
VARIANT = {"train": {"steps": 30}, "analyze": {"probe_seeds": 2},
           "compare": {"random_groupings": 1, "alternatives": ["recommended", "single_task", "all_in_one", "random"]}}
# synthetic-small has 4 tasks: (4 singles + 6 pairs) x 2 probe seeds = 20 probes, in chunks of CHUNK, then
# the 5 calibration groups (every group of 3 or 4 tasks) x 2 probe seeds = 10 probes, in chunks of their own
PROBE_UNITS = 20 // CHUNK + 10 // CHUNK
JOINT_UNITS = 3  # the main joint run and analyze.stability_runs = 2 at other seeds
WRAPPER = f"""
import taskgroup.affinity.analyze as analyze

_plan_units = analyze.plan_units


def plan_units(*args, **kwargs):
    kwargs["chunk"] = {CHUNK}
    return _plan_units(*args, **kwargs)


analyze.plan_units = plan_units

from taskgroup.cli import main

main()
"""
OUTPUTS = ("affinity.json", "groupings.json", "comparison.json")


def unit_rows(store: Path) -> dict[str, tuple[str, float]]:
    """``{key: (kind, created)}`` read through a read-only connection (safe beside a writer)."""
    if not store.exists():
        return {}
    try:
        with closing(sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=10)) as conn:
            return {key: (kind, created)
                    for key, kind, created in conn.execute("SELECT key, kind, created FROM units")}
    except sqlite3.OperationalError:  # the schema is not there yet
        return {}


def kind_counts(rows: dict[str, tuple[str, float]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for kind, _ in rows.values():
        counts[kind] = counts.get(kind, 0) + 1
    return counts


def launch(tmp_path: Path, out: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, str(tmp_path / "tg.py"), "run", str(tmp_path / "config.toml"),
                             "--out", str(out), "--quiet"], cwd=tmp_path, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def kill_when(proc: subprocess.Popen[str], store: Path, ready: Callable[[dict[str, int]], bool],
              timeout: float = 240.0) -> dict[str, int]:
    """SIGKILL ``proc`` as soon as the store's unit counts satisfy ``ready``; return the counts then."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        counts = kind_counts(unit_rows(store))
        if ready(counts):
            proc.send_signal(signal.SIGKILL)
            proc.communicate()
            assert proc.returncode == -signal.SIGKILL
            return kind_counts(unit_rows(store))
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"the run ended (status {proc.returncode}) before the kill point; counts {counts}\n{err}")
        time.sleep(0.03)
    proc.kill()
    proc.communicate()
    pytest.fail(f"the kill point was not reached in {timeout} s")


def finish(proc: subprocess.Popen[str], timeout: float = 300.0) -> str:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    return out


def without_timings(doc: Any) -> Any:
    """``doc`` with every ``train_seconds`` field removed (wall-clock time, legitimately different)."""
    if isinstance(doc, dict):
        return {k: without_timings(v) for k, v in doc.items() if k != "train_seconds"}
    if isinstance(doc, list):
        return [without_timings(v) for v in doc]
    return doc


def status_lines(out: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """``taskgroup status OUT`` in this process, planning probe chunks like the wrapper does."""
    import taskgroup.affinity.analyze as analyze

    plan_units = analyze.plan_units
    monkeypatch.setattr(analyze, "plan_units", lambda *a, **k: plan_units(*a, **{**k, "chunk": CHUNK}))
    result = CliRunner().invoke(main, ["status", str(out)])
    monkeypatch.setattr(analyze, "plan_units", plan_units)
    assert result.exit_code == 0, result.output
    return result.output


def test_sigkill_during_probes_and_compare_then_rerun_gives_the_uninterrupted_result(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tiny_toml) -> None:
    (tmp_path / "config.toml").write_text(tiny_toml(**VARIANT))
    (tmp_path / "tg.py").write_text(WRAPPER)
    base, out = tmp_path / "uninterrupted", tmp_path / "resumed"
    store = out / "store.sqlite"

    baseline = launch(tmp_path, base)  # runs beside the interrupted one
    try:
        # 1. killed while analyze trains probes: the joint run and some probe chunks are stored
        first = launch(tmp_path, out)
        at_kill = kill_when(first, store, lambda c: c.get("probes", 0) >= 2)
        assert at_kill.get("joint") == JOINT_UNITS and 2 <= at_kill["probes"] < PROBE_UNITS, at_kill
        assert "network" not in at_kill
        for name in OUTPUTS:
            assert not (out / name).exists()
        before_second = unit_rows(store)

        st = status_lines(out, monkeypatch)
        assert "affinity    not yet" in st and "comparison  not yet" in st
        assert f"analyze:    {len(before_second)} of {PROBE_UNITS + JOINT_UNITS} units done" in st
        assert "time spent" in st

        # 2. rerun, killed while compare trains networks: analyze finished, some networks stored
        second = launch(tmp_path, out)
        at_kill = kill_when(second, store, lambda c: c.get("network", 0) >= 3)
        assert at_kill["probes"] == PROBE_UNITS and at_kill["network"] >= 3, at_kill
        assert (out / "affinity.json").is_file() and (out / "groupings.json").is_file()
        assert not (out / "comparison.json").exists()
        before_third = unit_rows(store)
        for key, row in before_second.items():  # nothing finished before the first kill ran again
            assert before_third[key] == row

        st = status_lines(out, monkeypatch)
        assert "affinity    done" in st and "groupings   done" in st and "comparison  not yet" in st
        assert f"analyze:    {PROBE_UNITS + JOINT_UNITS} of {PROBE_UNITS + JOINT_UNITS} units done, 0 left" in st
        compare_line = next(line for line in st.splitlines() if line.startswith("compare:"))
        done, total = (int(x) for x in compare_line.split()[1:4:2])
        # stacked networks are stored a stack at a time, so the kill can land after the last network
        # was stored but before comparison.json was written: compare is then unfinished with 0 units left
        assert done == at_kill["network"] and total >= done

        # 3. rerun to completion
        third = launch(tmp_path, out)
        assert "report:" in finish(third)
        finish(baseline)
    finally:
        for proc in (baseline,):
            if proc.poll() is None:
                proc.kill()
                proc.communicate()

    final = unit_rows(store)
    for key, row in before_third.items():  # nothing finished before the second kill ran again
        assert final[key] == row
    reference = unit_rows(base / "store.sqlite")
    assert set(final) == set(reference)  # the same units, each stored once
    counts = kind_counts(final)
    assert counts.pop("stack", 0) >= 1  # compare's stacked networks: one unit, then stored one by one
    assert counts == {"joint": JOINT_UNITS, "probes": PROBE_UNITS, "network": total}

    for name in ("affinity.json", "groupings.json"):
        assert (out / name).read_bytes() == (base / name).read_bytes(), name
    resumed = json.loads((out / "comparison.json").read_text())
    uninterrupted = json.loads((base / "comparison.json").read_text())
    assert without_timings(resumed) == without_timings(uninterrupted)
    assert (out / "report.html").is_file() and (out / "models" / "index.json").is_file()
    assert not list(out.glob(".*.tmp")) and not list((out / "models").glob(".*.tmp"))

    st = status_lines(out, monkeypatch)
    assert "comparison  done" in st and "report      done" in st
    assert f"compare:    {total} of {total} units done, 0 left" in st
