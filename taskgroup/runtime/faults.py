"""File-system faults as one line naming the path and the cause (read-only, disk full, permission...).

The work already finished is in the store either way; these messages replace an ``OSError`` or
``sqlite3.OperationalError`` traceback with what the user can act on.
"""

from __future__ import annotations

import errno
import os
import sqlite3
from pathlib import Path

_CAUSES = {
    errno.EROFS: "read-only file system",
    errno.ENOSPC: "disk full (no space left on the device)",
    errno.EDQUOT: "disk quota exceeded",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.ENOENT: "no such file or folder",
    errno.EISDIR: "is a folder, not a file",
    errno.ENOTDIR: "a part of the path is not a folder",
    errno.ENAMETOOLONG: "name too long for the file system",
    errno.EMFILE: "too many open files",
    errno.ENFILE: "too many open files",
    errno.EIO: "input/output error on the device",
}


def describe_os_error(exc: OSError) -> str:
    """``PATH: cause`` for an operating-system error (the cause from its errno)."""
    path = exc.filename if exc.filename is not None else "(unknown path)"
    cause = _CAUSES.get(exc.errno or -1) or (exc.strerror or str(exc)).lower()
    if exc.filename2 is not None:
        path = f"{path} -> {exc.filename2}"
    return f"{path}: {cause}"


def describe_sqlite_error(path: str | Path, exc: sqlite3.Error) -> str:
    """``STORE: cause`` for an SQLite error on the run store."""
    text = str(exc).lower()
    if "readonly" in text or "read-only" in text or _read_only(Path(path).parent):
        cause = "read-only (the store cannot be written: read-only file system or no write permission)"
    elif "full" in text:
        cause = "disk full (no space left on the device)"
    elif "unable to open" in text:
        cause = "cannot be opened (missing folder or permission denied)"
    elif "i/o" in text:
        cause = "input/output error on the device"
    elif "locked" in text or "busy" in text:
        cause = "locked by another process"
    else:
        cause = str(exc)
    return f"{path}: {cause}"


def _read_only(folder: Path) -> bool:
    """Whether ``folder`` lies on a file system mounted read-only."""
    try:
        return bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    except OSError:
        return False
