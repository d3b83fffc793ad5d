"""Running units: resume from the store, crash safety, and the same results on every executor."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from taskgroup.errors import TaskgroupError, TrainingError
from taskgroup.runtime.execution import Execution
from taskgroup.runtime.executors import Unit, UnitCrashedError, resolve, run_units
from taskgroup.runtime.store import STORE_NAME, RunStore

if __package__:  # tests/ is a package
    from . import _units
else:  # tests/ is on sys.path (pytest's default rootdir-less import)
    import _units

U = _units.__name__  # the import path workers use to find the toy unit functions


def unit(fn: str, kind: str = "toy", **args: Any) -> Unit:
    return Unit.of(kind, f"{U}:{fn}", args)


def seeded_units(n: int = 4) -> list[Unit]:
    return [unit("seeded", kind="probe", seed=seed) for seed in range(n)]


def ran(log: Path) -> list[str]:
    """Lines the toy units appended: one per unit function that ran to the end."""
    return log.read_text().split() if log.exists() else []


@pytest.fixture
def store(tmp_path: Path):
    with RunStore(tmp_path / "run") as opened:
        yield opened


# -- units and import paths ----------------------------------------------------------------------

def test_a_unit_key_is_a_content_hash_of_kind_function_and_args() -> None:
    a = Unit.of("probe", "m:f", {"tasks": ["a", "b"], "seed": 0})
    assert a == Unit.of("probe", "m:f", {"seed": 0, "tasks": ["a", "b"]})
    assert a.key != Unit.of("probe", "m:f", {"tasks": ["a", "b"], "seed": 1}).key
    assert a.key != Unit.of("joint", "m:f", {"tasks": ["a", "b"], "seed": 0}).key


@pytest.mark.parametrize("path, message", [
    ("no_colon", "must be an import path 'package.module:name'"),
    ("taskgroup.no_such_module:f", "cannot import 'taskgroup.no_such_module'"),
    ("taskgroup.errors:no_such_function", "has no 'no_such_function'"),
])
def test_a_bad_function_path_is_a_one_line_error(path: str, message: str) -> None:
    with pytest.raises(TaskgroupError, match=message) as info:
        resolve(path)
    assert "\n" not in str(info.value)


def test_a_bad_function_path_fails_before_anything_runs(store: RunStore, tmp_path: Path) -> None:
    log = tmp_path / "log"
    units = [unit("square", i=1, log=str(log)), Unit("k", "toy", "taskgroup.nope:f", {})]
    with pytest.raises(TaskgroupError, match="taskgroup.nope"):
        run_units(units, store)
    assert ran(log) == [] and store.count() == 0


def test_bad_executor_settings_are_one_line_errors(store: RunStore) -> None:
    with pytest.raises(TaskgroupError, match="unknown executor 'threads'; choose one of inline"):
        run_units([], store, Execution(executor="threads"))
    with pytest.raises(TaskgroupError, match="workers must be a positive integer"):
        run_units([], store, Execution(workers=0))


def test_the_ray_executor_without_ray_says_how_to_install_it(
        store: RunStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # makes `import ray` fail
    with pytest.raises(TaskgroupError, match=r"pip install 'taskgroup-mtl\[ray\]'"):
        run_units([unit("square", i=1)], store, Execution(executor="ray"))


# -- inline: resume, order, blobs, progress --------------------------------------------------------

def test_inline_runs_each_unit_once_and_a_rerun_reuses_the_store(
        store: RunStore, tmp_path: Path) -> None:
    log = tmp_path / "log"
    units = [unit("square", i=i, log=str(log)) for i in (3, 1, 2)]
    first = run_units(units, store, Execution(threads=None))
    assert first == [{"i": 3, "square": 9}, {"i": 1, "square": 1}, {"i": 2, "square": 4}]
    assert ran(log) == ["3", "1", "2"]
    assert store.count("toy") == 3 and store.get(units[0].key) == {"i": 3, "square": 9}
    again = run_units(units + [unit("square", i=4, log=str(log))], store, Execution(threads=None))
    assert again[:3] == first and again[3] == {"i": 4, "square": 16}
    assert ran(log) == ["3", "1", "2", "4"]  # only the new unit ran


def test_duplicate_keys_run_once_and_every_position_gets_the_result(
        store: RunStore, tmp_path: Path) -> None:
    log = tmp_path / "log"
    same = unit("square", i=5, log=str(log))
    assert run_units([same, same], store, Execution(threads=None)) == [{"i": 5, "square": 25}] * 2
    assert ran(log) == ["5"]


def test_results_look_the_same_fresh_or_from_the_store(tmp_path: Path) -> None:
    units = [unit("square", i=i) for i in range(3)]
    with RunStore(tmp_path / "a") as fresh_store, RunStore(tmp_path / "b") as resumed_store:
        fresh = run_units(units, fresh_store, Execution(threads=None))
        run_units(units[:2], resumed_store, Execution(threads=None))
        resumed = run_units(units, resumed_store, Execution(threads=None))
    assert fresh == resumed == run_units(units, None, Execution(threads=None))


def test_a_blob_goes_to_the_blob_column_not_the_payload(store: RunStore) -> None:
    net = unit("with_blob", kind="network", n=5)
    assert run_units([net], store, Execution(threads=None)) == [{"n": 5}]
    assert store.get_blob(net.key) == bytes(range(5))
    assert store.summary()["network"]["done"] == 1


def test_progress_reports_done_total_elapsed_and_eta(store: RunStore) -> None:
    units = [unit("square", i=i, sleep=0.02) for i in range(4)]
    run_units(units[:1], store, Execution(threads=None))
    calls: list[tuple[int, int, dict[str, Any]]] = []
    run_units(units, store, Execution(threads=None), progress=lambda d, t, info: calls.append((d, t, info)))
    assert [(done, total) for done, total, _ in calls] == [(1, 4), (2, 4), (3, 4), (4, 4)]
    start, *steps = [info for _, _, info in calls]
    assert start["event"] == "start" and start["cached"] == 1 and start["eta"] is None
    assert [info["key"] for info in steps] == [u.key for u in units[1:]]
    assert all(info["event"] == "done" and info["kind"] == "toy" for info in steps)
    assert all(info["seconds"] >= 0.02 and info["eta"] >= 0 for info in steps)
    assert steps[-1]["eta"] == 0 and steps[-1]["remaining"] == 0
    elapsed = [info["elapsed"] for info in steps]
    assert elapsed == sorted(elapsed)


def test_a_failing_unit_raises_its_own_error_after_committing_the_ones_before(
        store: RunStore, tmp_path: Path) -> None:
    units = [unit("square", i=1), unit("diverges", task="a", step=3), unit("square", i=2)]
    with pytest.raises(TrainingError, match="loss of task 'a' became NaN at step 3"):
        run_units(units, store, Execution(threads=None))
    assert store.keys() == [units[0].key]


def test_a_unit_function_must_return_a_dict(store: RunStore) -> None:
    with pytest.raises(TypeError, match="not_a_dict returned list, expected a dict"):
        run_units([unit("not_a_dict")], store, Execution(threads=None))


def test_inline_units_run_with_the_requested_torch_threads(store: RunStore) -> None:
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()
    assert run_units(seeded_units(1), store)[0]["threads"] == 1
    assert torch.get_num_threads() == before  # restored


# -- crash safety --------------------------------------------------------------------------------

_WRITER = ("import sys\n"
           "from taskgroup.runtime.execution import Execution\n"
           "from taskgroup.runtime.executors import Unit, run_units\n"
           "from taskgroup.runtime.store import RunStore\n"
           "fn, run_dir, log = sys.argv[1:4]\n"
           "units = [Unit.of('toy', fn, {'i': i, 'sleep': 0.25, 'log': log}) for i in range(8)]\n"
           "with RunStore(run_dir) as store:\n"
           "    run_units(units, store, Execution(threads=None))\n")


def test_a_writer_killed_mid_run_loses_only_unfinished_units(tmp_path: Path) -> None:
    run_dir, log = tmp_path / "run", tmp_path / "log"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    writer = subprocess.Popen([sys.executable, "-c", _WRITER, f"{U}:square", str(run_dir),
                               str(log)], env=env)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and writer.poll() is None:
            if (run_dir / STORE_NAME).exists():
                with RunStore(run_dir) as peek:
                    if peek.count() >= 2:
                        break
            time.sleep(0.05)
        assert writer.poll() is None, "the writer finished before it could be killed"
        os.kill(writer.pid, signal.SIGKILL)
    finally:
        writer.kill()
        writer.wait()

    raw = sqlite3.connect(run_dir / STORE_NAME)
    assert raw.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    raw.close()
    units = [Unit.of("toy", f"{U}:square", {"i": i, "sleep": 0.25, "log": str(log)})
             for i in range(8)]
    with RunStore(run_dir) as store:
        committed = {u.args["i"] for u in units if store.has(u.key)}
        assert 2 <= len(committed) < 8
        before = ran(log)
        results = run_units(units, store, Execution(threads=None))
    assert results == [{"i": i, "square": i * i} for i in range(8)]
    rerun = ran(log)[len(before):]
    assert sorted(map(int, rerun)) == sorted(set(range(8)) - committed)


# -- the process pool ----------------------------------------------------------------------------

def test_the_process_pool_gives_the_same_results_as_inline(tmp_path: Path) -> None:
    units = seeded_units(4)
    with RunStore(tmp_path / "inline") as a, RunStore(tmp_path / "process") as b:
        inline = run_units(units, a, Execution(executor="inline"))
        pooled = run_units(units, b, Execution(executor="process", workers=2))
    assert pooled == inline
    assert [r["seed"] for r in pooled] == [0, 1, 2, 3]
    assert all(r["threads"] == 1 for r in pooled)


def test_the_process_pool_recovers_from_a_worker_that_dies(store: RunStore, tmp_path: Path) -> None:
    log, marker = tmp_path / "log", tmp_path / "died-once"
    units = [unit("square", i=i, log=str(log)) for i in range(3)]
    units.insert(1, unit("dies_once", i=99, marker=str(marker), log=str(log)))
    results = run_units(units, store, Execution(executor="process", workers=2, threads=None))
    assert marker.exists()
    assert results[1] == {"i": 99, "survived": True}
    assert [r["i"] for r in results] == [0, 99, 1, 2]
    assert store.count() == 4
    assert ran(log).count("99") == 1


def test_a_unit_that_always_kills_its_worker_is_named_not_its_neighbours(
        store: RunStore, tmp_path: Path) -> None:
    log = tmp_path / "log"
    doomed = unit("always_dies", kind="network", log=str(log))
    neighbours = [unit("square", i=i) for i in range(2)]
    with pytest.raises(UnitCrashedError, match=f"unit {doomed.key} \\(network, .*always_dies\\) "
                                               "killed its worker process 2 times") as info:
        run_units([neighbours[0], doomed, neighbours[1]], store,
                  Execution(executor="process", workers=2, threads=None), max_crashes=1)
    assert "\n" not in str(info.value)
    assert ran(log) == ["died", "died"]  # with its neighbours, then alone: max_crashes + 1 runs
    assert not store.has(doomed.key) and set(store.keys()) <= {u.key for u in neighbours}


def test_a_unit_error_in_a_worker_arrives_as_itself_after_running_units_finish(
        store: RunStore) -> None:
    slow = unit("square", i=7, sleep=0.5)
    failing = unit("diverges", task="b", step=12, sleep=0.1)
    with pytest.raises(TrainingError, match="loss of task 'b' became NaN at step 12"):
        run_units([slow, failing], store, Execution(executor="process", workers=2, threads=None))
    assert store.get(slow.key) == {"i": 7, "square": 49}


# -- Ray (optional extra) ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def local_ray():
    """One private local Ray for every Ray test of this module: loopback only, no dashboard."""
    pytest.importorskip("ray")
    from taskgroup.runtime.executors import ray_session

    with ray_session(workers=2) as ray:
        yield ray
    assert not ray.is_initialized()  # the session started here is shut down here


def test_local_ray_listens_on_loopback_only(local_ray: Any) -> None:
    assert [node["NodeManagerAddress"] for node in local_ray.nodes()] == ["127.0.0.1"]
    assert local_ray.get_runtime_context().gcs_address.startswith("127.0.0.1:")
    assert local_ray.cluster_resources()["CPU"] == 2
    psutil = pytest.importorskip("psutil")
    ray_pids = {child.pid for child in psutil.Process().children(recursive=True)}
    listening = [conn.laddr.ip for conn in psutil.net_connections("inet")
                 if conn.status == psutil.CONN_LISTEN and conn.pid in ray_pids]
    assert listening and all(ip in ("127.0.0.1", "::ffff:127.0.0.1", "::1") for ip in listening)


def test_ray_gives_the_same_results_as_inline(local_ray: Any, tmp_path: Path) -> None:
    units = seeded_units(4)
    with RunStore(tmp_path / "inline") as a, RunStore(tmp_path / "ray") as b:
        inline = run_units(units, a, Execution(executor="inline"))
        on_ray = run_units(units, b, Execution(executor="ray", workers=2))
        assert on_ray == inline
        assert b.count("probe") == 4
        assert run_units(units, b, Execution(executor="ray", workers=2)) == inline  # all from the store
    assert local_ray.is_initialized()  # an existing session is reused, not shut down


def test_a_unit_error_on_ray_arrives_as_itself(local_ray: Any, store: RunStore) -> None:
    with pytest.raises(TrainingError, match="loss of task 'c' became NaN at step 1") as info:
        run_units([unit("diverges", task="c", step=1)], store, Execution(executor="ray", threads=None))
    assert "\n" not in str(info.value)
