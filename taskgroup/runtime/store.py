"""The run store: every finished unit of work of a run directory, kept in ``DIR/store.sqlite``.

A unit (a probe, a joint measurement run, a trained network) is stored under a content hash of
everything that determines its result, so a rerun finds it and skips it. Each :meth:`RunStore.put`
is its own transaction, committed before it returns.

Durability: the database runs in WAL mode with ``synchronous=FULL``, so every commit is fsynced to
the write-ahead log before :meth:`~RunStore.put` returns. ``kill -9`` of the writer can only lose a
unit whose ``put`` had not returned (NORMAL would already survive a killed process; FULL also
survives a power cut, at the cost of one fsync per unit, which is nothing next to a unit's
training). SQLite's own locking keeps concurrent access safe; WAL lets any number of readers
(``taskgroup status``) read while one writer commits. :class:`RunLock` is the coarser rule on top:
one command at a time writes a run directory.
"""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any

from .atomic import to_jsonable
from .faults import describe_sqlite_error
from ..errors import RunDirError

STORE_NAME = "store.sqlite"
LOCK_NAME = ".lock"
SCHEMA_VERSION = 1
_DB_SUFFIXES = (".sqlite", ".sqlite3", ".db")
#: seconds a connection waits for another process's write transaction before giving up
BUSY_TIMEOUT_S = 60.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS units (
    key     TEXT PRIMARY KEY,
    kind    TEXT NOT NULL,
    payload TEXT NOT NULL,
    blob    BLOB,
    seconds REAL NOT NULL DEFAULT 0,
    created REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS units_by_kind ON units (kind);
CREATE TABLE IF NOT EXISTS meta (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""


class RunStore:
    """Finished units of one run directory (SQLite, WAL mode); a context manager that closes itself.

    ``path`` is the run directory that holds (or will hold) ``store.sqlite``, or the database file
    itself (an existing file, or a name ending in ``.sqlite``, ``.sqlite3`` or ``.db``). With
    ``create=False`` a missing store is a :class:`RunDirError` instead of a new empty store.
    Payloads are JSON (NaN and infinities survive the round trip); blobs are raw bytes.
    """

    def __init__(self, path: str | os.PathLike[str], create: bool = True) -> None:
        target = Path(path)
        if not target.is_file() and target.suffix not in _DB_SUFFIXES:
            target = target / STORE_NAME  # a run directory, existing or to be created
        self.path = target
        if not target.exists():
            if not create:
                raise RunDirError(f"{target.parent} has no {target.name}: "
                                  "nothing has run there yet")
            target.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        try:
            conn = sqlite3.connect(target, timeout=BUSY_TIMEOUT_S, isolation_level=None,
                                   check_same_thread=False)
        except sqlite3.Error as exc:
            raise RunDirError(describe_sqlite_error(target, exc)) from None
        try:
            self._setup(conn)
        except sqlite3.OperationalError as exc:
            conn.close()
            raise RunDirError(describe_sqlite_error(target, exc)) from None
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise RunDirError(f"{target} is not a usable taskgroup store ({exc}); "
                              "move it away or choose another directory") from None
        except BaseException:
            conn.close()
            raise
        self._conn = conn

    def _setup(self, conn: sqlite3.Connection) -> None:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version == 0 and conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:
            raise RunDirError(f"{self.path}: an SQLite database of another program, not a taskgroup store; "
                              "move it away or choose another directory")
        mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise sqlite3.DatabaseError(f"cannot switch to WAL mode (journal_mode is {mode})")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA foreign_keys=ON")
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise RunDirError(f"{self.path} was written by a newer taskgroup (store schema "
                              f"{version}, this one reads {SCHEMA_VERSION}); upgrade taskgroup")
        if version < SCHEMA_VERSION:
            conn.execute("BEGIN IMMEDIATE")
            try:
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

    # -- lifecycle -------------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self._conn is None

    def close(self) -> None:
        """Close the connection (idempotent)."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"RunStore({str(self.path)!r}{', closed' if self.closed else ''})"

    def _db(self) -> _Guarded:
        if self._conn is None:
            raise RunDirError(f"the run store {self.path} is closed")
        return _Guarded(self._conn, self.path)

    def _query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._db().execute(sql, params).fetchall()

    # -- units -----------------------------------------------------------------------------------

    def put(self, key: str, kind: str, payload: dict[str, Any], blob: bytes | None = None,
            seconds: float = 0.0) -> None:
        """Store a finished unit (replacing one with the same key), committed before returning."""
        if not isinstance(payload, dict):
            raise TypeError(f"unit {key} payload must be a dict, got {type(payload).__name__}")
        try:
            text = json.dumps(to_jsonable(payload), allow_nan=True, separators=(",", ":"))
        except (TypeError, ValueError) as exc:
            raise TypeError(f"unit {key} ({kind}) payload is not JSON-serialisable: "
                            f"{exc}") from None
        if blob is not None and not isinstance(blob, (bytes, bytearray, memoryview)):
            raise TypeError(f"unit {key} blob must be bytes, got {type(blob).__name__}")
        row = (key, kind, text, None if blob is None else bytes(blob), float(seconds), time.time())
        with self._lock:
            # One statement in autocommit mode is one transaction: committed (and, with
            # synchronous=FULL, fsynced) when execute returns.
            self._db().execute(
                "INSERT INTO units (key, kind, payload, blob, seconds, created) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(key) DO UPDATE SET kind=excluded.kind, "
                "payload=excluded.payload, blob=excluded.blob, seconds=excluded.seconds, "
                "created=excluded.created", row)

    def get(self, key: str) -> dict[str, Any] | None:
        """The payload stored under ``key``, or None."""
        rows = self._query("SELECT payload FROM units WHERE key = ?", (key,))
        return json.loads(rows[0][0]) if rows else None

    def get_blob(self, key: str) -> bytes | None:
        """The blob stored with ``key`` (None when the unit is missing or has no blob)."""
        rows = self._query("SELECT blob FROM units WHERE key = ?", (key,))
        return bytes(rows[0][0]) if rows and rows[0][0] is not None else None

    def has(self, key: str) -> bool:
        return bool(self._query("SELECT 1 FROM units WHERE key = ?", (key,)))

    def count(self, kind: str | None = None) -> int:
        """Number of stored units, of one kind or of all."""
        if kind is None:
            return int(self._query("SELECT COUNT(*) FROM units")[0][0])
        return int(self._query("SELECT COUNT(*) FROM units WHERE kind = ?", (kind,))[0][0])

    def keys(self, kind: str | None = None) -> list[str]:
        """Stored keys (of one kind or all), sorted."""
        if kind is None:
            rows = self._query("SELECT key FROM units ORDER BY key")
        else:
            rows = self._query("SELECT key FROM units WHERE kind = ? ORDER BY key", (kind,))
        return [row[0] for row in rows]

    def summary(self) -> dict[str, dict[str, float]]:
        """``{kind: {"done": n, "seconds": total seconds spent}}`` sorted by kind."""
        rows = self._query("SELECT kind, COUNT(*), COALESCE(SUM(seconds), 0) FROM units "
                           "GROUP BY kind ORDER BY kind")
        return {kind: {"done": int(done), "seconds": float(seconds)}
                for kind, done, seconds in rows}

    def clear(self) -> int:
        """Forget every unit (the meta table stays); return how many were removed."""
        with self._lock:
            return self._db().execute("DELETE FROM units").rowcount

    # -- meta ------------------------------------------------------------------------------------

    def get_meta(self, name: str, default: Any = None) -> Any:
        """A JSON value stored with :meth:`set_meta`, or ``default``."""
        rows = self._query("SELECT value FROM meta WHERE name = ?", (name,))
        return json.loads(rows[0][0]) if rows else default

    def set_meta(self, name: str, value: Any) -> None:
        """Store a JSON-able value under ``name`` (committed immediately)."""
        text = json.dumps(to_jsonable(value), allow_nan=False)
        with self._lock:
            self._db().execute("INSERT INTO meta (name, value) VALUES (?, ?) "
                               "ON CONFLICT(name) DO UPDATE SET value=excluded.value", (name, text))

    def bind(self, config_hash: str, force: bool = False) -> bool:
        """Tie the run directory to one configuration; return True when it was bound just now.

        A fresh store takes ``config_hash``; the same hash again is fine. A different hash raises
        :class:`RunDirError`, unless ``force``: then every stored unit is dropped (they belong to
        the other configuration) and the store is bound to the new hash, all in one transaction.
        """
        with self._lock:
            db = self._db()
            db.execute("BEGIN IMMEDIATE")
            try:
                rows = db.execute("SELECT value FROM meta WHERE name = 'config_hash'").fetchall()
                current = json.loads(rows[0][0]) if rows else None
                if current == config_hash:
                    db.execute("COMMIT")
                    return False
                if current is not None and not force:
                    raise RunDirError(
                        f"{self.path.parent} belongs to a different configuration (stored "
                        f"{current}, this one is {config_hash}); use --force to overwrite")
                if current is not None:
                    db.execute("DELETE FROM units")
                db.execute("INSERT INTO meta (name, value) VALUES ('config_hash', ?) "
                           "ON CONFLICT(name) DO UPDATE SET value=excluded.value",
                           (json.dumps(config_hash),))
                db.execute("COMMIT")
                return True
            except BaseException:
                db.execute("ROLLBACK")
                raise

    def journal_mode(self) -> str:
        """SQLite's journal mode for this store (``"wal"``)."""
        return str(self._query("PRAGMA journal_mode")[0][0]).lower()


class _Guarded:
    """A connection whose ``execute`` turns a file-system fault into one line naming the store."""

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self.conn = conn
        self.path = path

    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> sqlite3.Cursor:
        try:
            return self.conn.execute(sql, params)
        except sqlite3.OperationalError as exc:
            raise RunDirError(describe_sqlite_error(self.path, exc)) from None


class RunLock:
    """Exclusive use of a run directory by one process, through ``flock`` on ``DIR/.lock``.

    The lock dies with its process (even under ``kill -9``), so it is never stale. ``wait`` is how
    many seconds to keep trying before giving up with a :class:`RunDirError` that names the
    directory and the holder's pid. The directory is created if needed. ``flock`` locks are per
    open file: a second :class:`RunLock` on the same directory in the same process is refused too.
    """

    def __init__(self, directory: str | os.PathLike[str], wait: float = 0.0,
                 poll: float = 0.1) -> None:
        self.directory = Path(directory)
        self.wait = float(wait)
        self.poll = float(poll)
        self._fd: int | None = None

    @property
    def path(self) -> Path:
        return self.directory / LOCK_NAME

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> RunLock:
        """Take the lock, waiting up to ``wait`` seconds; raise :class:`RunDirError` otherwise."""
        if self._fd is not None:
            return self
        self.directory.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        except IsADirectoryError:
            raise RunDirError(f"{self.path}: is a folder, but taskgroup keeps its lock file there; "
                              "remove the folder") from None
        deadline = time.monotonic() + self.wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = _read_pid(fd)
                    os.close(fd)
                    who = f"pid {holder}" if holder else "another process"
                    waited = f" after waiting {self.wait:g} s" if self.wait > 0 else ""
                    raise RunDirError(f"{self.directory} is in use by {who}{waited}; wait for it "
                                      "to finish or use another directory") from None
                time.sleep(min(self.poll, max(0.0, deadline - time.monotonic())))
            except BaseException:
                os.close(fd)
                raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        """Give the lock back (idempotent)."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            os.ftruncate(fd, 0)  # before unlocking, so a new holder's pid is never erased
        except OSError:
            pass
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()


def lock_holder(directory: str | os.PathLike[str]) -> int | None:
    """The pid holding ``directory``'s :class:`RunLock` (-1 if unreadable), or None when free."""
    path = Path(directory) / LOCK_NAME
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _read_pid(fd) or -1
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def _read_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
        return int(text) if text.isdigit() else None
    except OSError:
        return None
