"""Atomic file writes: a reader or a crash never sees a half-written file under its final name.

Every writer here writes a temporary file in the destination's folder (same file system, so the
rename is atomic), flushes and fsyncs it, renames it over the destination with :func:`os.replace`,
then fsyncs the folder so the rename itself survives a power cut. Missing parent folders are
created. If anything fails before the rename, the temporary file is removed and the destination is
untouched. After ``kill -9`` a stray temporary file (``.NAME.PID.RANDOM.tmp``) can remain;
:func:`remove_stale_temps` clears those whose writer is gone.
"""

from __future__ import annotations

import json
import math
import os
import re
import secrets
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Any

import numpy as np

PathLike = str | os.PathLike[str]

_TEMP_RE = re.compile(r"^\..+\.(\d+)\.[0-9a-f]{8}\.tmp$")


def write_bytes(path: PathLike, data: bytes) -> Path:
    """Atomically replace ``path`` with ``data``; return the path."""
    return _write(path, lambda handle: handle.write(data))


def write_text(path: PathLike, text: str, encoding: str = "utf-8") -> Path:
    """Atomically replace ``path`` with ``text`` (newlines written as given)."""
    return write_bytes(path, text.encode(encoding))


def write_json(path: PathLike, obj: Any, indent: int | None = 2) -> Path:
    """Atomically write ``obj`` as strict JSON, ending with a newline.

    Keys keep their insertion order (the writer decides the layout; sort before calling for a
    canonical file). NaN and +-inf have no JSON spelling, so they are written as ``null``; numpy
    scalars and arrays become plain numbers and lists, tuples become lists. Anything else that
    :mod:`json` cannot encode raises ``TypeError`` before the destination is touched.
    """
    text = json.dumps(to_jsonable(obj, nan_to_none=True), indent=indent, allow_nan=False,
                      ensure_ascii=False)
    return write_text(path, text + "\n")


def save_torch(path: PathLike, obj: Any) -> Path:
    """Atomically :func:`torch.save` ``obj`` (a state dict, a tensor...) to ``path``."""
    import torch  # lazily: only model files need torch

    return _write(path, lambda handle: torch.save(obj, handle))


def to_jsonable(obj: Any, nan_to_none: bool = False) -> Any:
    """Convert numpy values, tuples and (optionally) non-finite floats to plain JSON values.

    Dicts keep their key order; other objects pass through unchanged for :mod:`json` to accept or
    reject.
    """
    if isinstance(obj, float) or isinstance(obj, np.floating):
        value = float(obj)
        return None if nan_to_none and not math.isfinite(value) else value
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist(), nan_to_none)
    if isinstance(obj, Mapping):
        return {key: to_jsonable(value, nan_to_none) for key, value in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(item, nan_to_none) for item in obj]
    return obj


def remove_stale_temps(directory: PathLike) -> list[Path]:
    """Delete temporary files left in ``directory`` by writers that no longer run; return them."""
    removed: list[Path] = []
    folder = Path(directory)
    if not folder.is_dir():
        return removed
    for entry in folder.iterdir():
        match = _TEMP_RE.match(entry.name)
        if match and entry.is_file() and not _pid_alive(int(match.group(1))):
            try:
                entry.unlink()
            except FileNotFoundError:
                continue
            removed.append(entry)
    return removed


def _write(path: PathLike, fill: Callable[[IO[bytes]], object]) -> Path:
    """Write through ``fill`` into a temporary sibling of ``path``, then rename it into place."""
    final = Path(path)
    folder = final.parent
    folder.mkdir(parents=True, exist_ok=True)
    temp = folder / f".{final.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    # 0o666 filtered by the umask: the same permissions an ordinary open() would give.
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as handle:
            fill(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, final)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    _fsync_dir(folder)
    return final


def _fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable (a no-op where folders cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
