"""The run store (DIR/store.sqlite) and the run-directory lock."""

from __future__ import annotations

import math
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from taskgroup.errors import RunDirError
from taskgroup.runtime.store import STORE_NAME, RunLock, RunStore, lock_holder


@pytest.fixture
def store(tmp_path: Path):
    with RunStore(tmp_path) as opened:
        yield opened


def _child_env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}


# -- units ---------------------------------------------------------------------------------------

def test_a_unit_round_trips_with_payload_blob_and_seconds(store: RunStore) -> None:
    payload = {"gain": [[0.0, 0.12], [-0.3, 0.0]], "task": "a", "nan": math.nan,
               "n": np.int64(4), "pair": ("a", "b")}
    store.put("k1", "probe", payload, blob=b"\x00state", seconds=1.5)
    got = store.get("k1")
    assert got is not None and math.isnan(got.pop("nan"))
    assert got == {"gain": [[0.0, 0.12], [-0.3, 0.0]], "task": "a", "n": 4, "pair": ["a", "b"]}
    assert store.get_blob("k1") == b"\x00state"
    assert store.summary() == {"probe": {"done": 1, "seconds": 1.5}}


def test_missing_units_read_as_none(store: RunStore) -> None:
    store.put("no-blob", "joint", {"x": 1})
    assert store.get("absent") is None and store.get_blob("absent") is None
    assert store.get_blob("no-blob") is None
    assert not store.has("absent") and store.has("no-blob")


def test_put_replaces_a_unit_with_the_same_key(store: RunStore) -> None:
    store.put("k", "probe", {"v": 1}, blob=b"a")
    store.put("k", "probe", {"v": 2})
    assert store.get("k") == {"v": 2} and store.get_blob("k") is None
    assert store.count() == 1


def test_counts_keys_and_summary_by_kind(store: RunStore) -> None:
    for i, kind in enumerate(["probe", "probe", "network", "joint", "probe"]):
        store.put(f"key{i}", kind, {"i": i}, seconds=float(i))
    assert store.count() == 5 and store.count("probe") == 3 and store.count("missing") == 0
    assert store.keys("probe") == ["key0", "key1", "key4"]
    assert store.keys() == [f"key{i}" for i in range(5)]
    assert store.summary() == {"joint": {"done": 1, "seconds": 3.0},
                               "network": {"done": 1, "seconds": 2.0},
                               "probe": {"done": 3, "seconds": 5.0}}


def test_a_payload_that_is_not_json_is_refused_and_nothing_is_stored(store: RunStore) -> None:
    with pytest.raises(TypeError, match="k.*probe.*not JSON"):
        store.put("k", "probe", {"model": object()})
    with pytest.raises(TypeError, match="must be a dict"):
        store.put("k", "probe", [1, 2])  # type: ignore[arg-type]
    assert store.count() == 0


def test_clear_forgets_units(store: RunStore) -> None:
    store.put("a", "probe", {})
    store.put("b", "probe", {})
    assert store.clear() == 2 and store.count() == 0


# -- the file ------------------------------------------------------------------------------------

def test_units_survive_closing_and_reopening_by_file_or_directory(tmp_path: Path) -> None:
    with RunStore(tmp_path) as first:
        first.put("k", "network", {"params": 123}, blob=b"weights", seconds=2.0)
        first.set_meta("created_by", {"version": "0.1.0"})
    assert first.closed
    with RunStore(tmp_path / STORE_NAME) as again:
        assert again.get("k") == {"params": 123} and again.get_blob("k") == b"weights"
        assert again.get_meta("created_by") == {"version": "0.1.0"}


def test_the_store_runs_in_wal_mode_with_full_sync(store: RunStore) -> None:
    assert store.journal_mode() == "wal"
    raw = sqlite3.connect(store.path)
    try:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"  # persistent in the file
    finally:
        raw.close()
    assert store._query("PRAGMA synchronous")[0][0] == 2  # FULL


def test_a_closed_store_says_so(tmp_path: Path) -> None:
    opened = RunStore(tmp_path)
    opened.close()
    opened.close()
    with pytest.raises(RunDirError, match="closed"):
        opened.get("k")


def test_opening_without_create_needs_an_existing_store(tmp_path: Path) -> None:
    with pytest.raises(RunDirError, match="has no store.sqlite"):
        RunStore(tmp_path, create=False)
    assert not (tmp_path / STORE_NAME).exists()


def test_a_file_that_is_not_a_store_is_a_one_line_error(tmp_path: Path) -> None:
    (tmp_path / STORE_NAME).write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(RunDirError, match="not a usable taskgroup store") as info:
        RunStore(tmp_path)
    assert "\n" not in str(info.value)


def test_a_store_from_a_newer_version_is_refused(tmp_path: Path) -> None:
    RunStore(tmp_path).close()
    raw = sqlite3.connect(tmp_path / STORE_NAME)
    raw.execute("PRAGMA user_version=99")
    raw.close()
    with pytest.raises(RunDirError, match="newer taskgroup"):
        RunStore(tmp_path)


def test_readers_are_not_blocked_by_a_write_in_progress(tmp_path: Path) -> None:
    with RunStore(tmp_path) as writer:
        writer.put("old", "probe", {"v": 0})
        readers = [RunStore(tmp_path) for _ in range(3)]
        raw = sqlite3.connect(tmp_path / STORE_NAME, isolation_level=None, timeout=0.1)
        try:
            raw.execute("BEGIN IMMEDIATE")  # another process in the middle of committing a unit
            raw.execute("INSERT INTO units (key, kind, payload, created) "
                        "VALUES ('new', 'probe', '{}', 0)")
            assert [r.keys() for r in readers] == [["old"]] * 3  # the last committed state
            raw.execute("COMMIT")
            assert [r.keys() for r in readers] == [["new", "old"]] * 3
        finally:
            raw.close()
            for reader in readers:
                reader.close()


# -- binding a directory to a configuration --------------------------------------------------------

def test_bind_accepts_the_same_configuration_again(store: RunStore) -> None:
    assert store.bind("cfg-a") is True
    store.put("k", "probe", {})
    assert store.bind("cfg-a") is False
    assert store.count() == 1 and store.get_meta("config_hash") == "cfg-a"


def test_bind_refuses_a_different_configuration_in_one_line(store: RunStore) -> None:
    store.bind("cfg-a")
    store.put("k", "probe", {})
    with pytest.raises(RunDirError) as info:
        store.bind("cfg-b")
    message = str(info.value)
    assert str(store.path.parent) in message and "different configuration" in message
    assert "cfg-a" in message and "cfg-b" in message and "--force" in message
    assert "\n" not in message
    assert store.count() == 1 and store.get_meta("config_hash") == "cfg-a"


def test_bind_with_force_drops_the_other_configurations_units(store: RunStore) -> None:
    store.bind("cfg-a")
    store.set_meta("note", "kept")
    store.put("k", "probe", {})
    assert store.bind("cfg-b", force=True) is True
    assert store.count() == 0
    assert store.get_meta("config_hash") == "cfg-b" and store.get_meta("note") == "kept"


def test_meta_values_are_json(store: RunStore) -> None:
    assert store.get_meta("missing", default=7) == 7
    store.set_meta("tasks", ["a", "b"])
    store.set_meta("tasks", ["a", "b", "c"])
    assert store.get_meta("tasks") == ["a", "b", "c"]


# -- the run-directory lock ------------------------------------------------------------------------

_HOLD = ("import sys, time\n"
         "from taskgroup.runtime.store import RunLock\n"
         "lock = RunLock(sys.argv[1]).acquire()\n"
         "print('locked', flush=True)\n"
         "time.sleep(float(sys.argv[2]))\n")


def _hold_lock(directory: Path, seconds: float) -> subprocess.Popen[str]:
    """Start another process that takes the lock for ``seconds``; return once it holds it."""
    child = subprocess.Popen([sys.executable, "-c", _HOLD, str(directory), str(seconds)],
                             stdout=subprocess.PIPE, text=True, env=_child_env())
    assert child.stdout is not None and child.stdout.readline().strip() == "locked"
    return child


def test_a_second_process_is_refused_with_the_directory_and_the_holders_pid(
        tmp_path: Path) -> None:
    child = _hold_lock(tmp_path, 30)
    try:
        assert lock_holder(tmp_path) == child.pid
        with pytest.raises(RunDirError) as info:
            RunLock(tmp_path).acquire()
        message = str(info.value)
        assert str(tmp_path) in message and f"pid {child.pid}" in message and "\n" not in message
    finally:
        child.kill()
        child.wait()


def test_waiting_gets_the_lock_once_the_holder_finishes(tmp_path: Path) -> None:
    child = _hold_lock(tmp_path, 0.3)
    try:
        with RunLock(tmp_path, wait=20) as lock:
            assert lock.held and lock_holder(tmp_path) == os.getpid()
        assert lock_holder(tmp_path) is None
    finally:
        child.wait()


def test_waiting_too_little_is_refused(tmp_path: Path) -> None:
    child = _hold_lock(tmp_path, 30)
    try:
        start = time.monotonic()
        with pytest.raises(RunDirError, match="after waiting 0.3 s"):
            RunLock(tmp_path, wait=0.3, poll=0.05).acquire()
        assert time.monotonic() - start >= 0.3
    finally:
        child.kill()
        child.wait()


def test_a_killed_holder_never_leaves_a_stale_lock(tmp_path: Path) -> None:
    child = _hold_lock(tmp_path, 30)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    assert lock_holder(tmp_path) is None
    with RunLock(tmp_path):
        pass


def test_the_lock_is_exclusive_within_one_process_too_and_creates_the_directory(
        tmp_path: Path) -> None:
    directory = tmp_path / "new" / "run"
    with RunLock(directory) as lock:
        assert directory.is_dir() and lock.path.exists()
        with pytest.raises(RunDirError, match=f"pid {os.getpid()}"):
            RunLock(directory).acquire()
    assert not lock.held
    with RunLock(directory):
        pass


def test_a_path_without_a_database_suffix_is_a_run_directory(tmp_path: Path) -> None:
    with RunStore(tmp_path / "new-run") as in_dir, RunStore(tmp_path / "alone.sqlite") as alone:
        assert in_dir.path == tmp_path / "new-run" / STORE_NAME
        assert alone.path == tmp_path / "alone.sqlite"
