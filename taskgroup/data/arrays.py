"""Task sets from NumPy arrays: in memory, or from a ``.npz`` file.

Two layouts, the two shapes of real multi-task data:

* shared rows: one input array ``X`` (n, d...) and a target matrix ``Y`` (n, T) with NaN where a
  row is unlabelled for a task (SARCOS: seven torques from the same inputs);
* per-task rows: a list of ``(X_t, y_t)``, each task with its own rows (Landmine, School: the
  layout of the ``.mat`` files). Rows are stacked and each is labelled for its own task only.
"""

from __future__ import annotations

import difflib
import zipfile
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from ..errors import ConfigError, DataError
from ..tasks import TaskSet
from .targets import TaskSpec, as_raw_column, build_target, check_specs, spec_from


def _inputs(X: Any, where: str, label: str = "X") -> np.ndarray:
    try:
        arr = np.asarray(X)
    except (TypeError, ValueError) as exc:
        raise DataError(f"{where}: {label} is not an array ({exc})") from None
    if arr.dtype.kind not in "biuf":
        raise DataError(f"{where}: {label} must hold numbers, not {arr.dtype}")
    if arr.ndim < 2:
        raise DataError(f"{where}: {label} must have shape (rows, features...), not {arr.shape}")
    arr = arr.astype(np.float64)
    if not np.all(np.isfinite(arr)):
        bad = np.argwhere(~np.isfinite(arr.reshape(len(arr), -1)))[0]
        raise DataError(f"{where}: {label} holds a NaN or infinite value (row {bad[0]}, feature {bad[1]})")
    if arr.size and np.abs(arr).max() > np.finfo(np.float32).max:
        raise DataError(f"{where}: {label} holds values too large for 32-bit floats (inputs are stored as float32)")
    return arr


def _target(y: Any, n: int, where: str, label: str) -> np.ndarray:
    v = np.asarray(y)
    if v.ndim == 2 and v.shape[1] == 1:
        v = v[:, 0]
    if len(v) != n:
        raise DataError(f"{where}: {label} has {len(v)} rows but its inputs have {n}")
    return as_raw_column(v)


def _embed(raw: np.ndarray, start: int, n_total: int) -> np.ndarray:
    """Place one task's raw targets at rows ``start..`` of an all-unlabelled column."""
    if raw.dtype.kind == "f":
        full = np.full((n_total, *raw.shape[1:]), np.nan)
    else:
        full = np.empty(n_total, dtype=object)
    full[start:start + len(raw)] = raw
    return full


def _per_name(value: Any, names: Sequence[str], what: str, where: str) -> list[Any]:
    if value is None:
        return [None] * len(names)
    if isinstance(value, str):
        return [value] * len(names)
    if isinstance(value, Mapping):
        unknown = [k for k in value if k not in names]
        if unknown:
            raise ConfigError(f"{where}: {what} names unknown task {unknown[0]!r}")
        return [value.get(n) for n in names]
    value = list(value)
    if len(value) != len(names):
        raise ConfigError(f"{where}: {len(value)} {what} for {len(names)} tasks")
    return value


def assemble(X: np.ndarray, columns: Mapping[str, np.ndarray], specs: Sequence[TaskSpec], where: str, *,
             name: str, feature_names: Sequence[str] | None = None, split: Sequence[float] = (0.6, 0.2, 0.2),
             seed: int = 0, meta: dict[str, Any] | None = None, groups: Any = None) -> TaskSet:
    """Build a task set from inputs and named raw target columns; ``specs`` pick and type the tasks.

    ``groups`` (one label per row: subject, patient, site) keeps each group's rows in one split.
    """
    check_specs(specs, where)
    available = list(columns)
    tasks, targets, masks = [], {}, {}
    for spec in specs:
        col = spec.source_column
        if col not in columns:
            close = difflib.get_close_matches(col, available, n=1, cutoff=0.5)
            hint = f"; did you mean {close[0]!r}?" if close else f"; known tasks: {', '.join(available[:10])}"
            raise DataError(f"{where}: no task {col!r}{hint}")
        task, y, mask = build_target(spec, columns[col], where)
        tasks.append(task)
        targets[spec.name] = y
        masks[spec.name] = mask
    return TaskSet(X, tasks, targets, masks, name=name, feature_names=list(feature_names or []),
                   split_fractions=tuple(split), split_seed=seed, meta=dict(meta or {}), groups=groups)  # type: ignore[arg-type]


def taskset_from_arrays(data: Any, Y: Any = None, names: Sequence[str] | None = None, kinds: Any = None,
                        metrics: Any = None, *, name: str = "arrays", feature_names: Sequence[str] | None = None,
                        split: Sequence[float] = (0.6, 0.2, 0.2), seed: int = 0,
                        meta: dict[str, Any] | None = None) -> TaskSet:
    """A :class:`TaskSet` from arrays, in either layout.

    ``taskset_from_arrays([(X_0, y_0), (X_1, y_1)], names=["a", "b"])``: per-task rows, stacked.
    ``taskset_from_arrays(X, Y)``: shared rows; ``Y`` is (n, T) with NaN for unlabelled, a 1-D array
    (one task), or a mapping from task name to a target array. ``kinds`` and ``metrics`` are a list
    (one per task), a mapping by name, or one string for all; missing kinds are inferred.
    """
    where = name
    if Y is None:
        if not isinstance(data, (list, tuple)) or not data:
            raise DataError(f"{where}: give X and Y, or a non-empty list of (X_t, y_t) pairs")
        blocks, raws = [], []
        for t, pair in enumerate(data):
            if not isinstance(pair, (list, tuple)) or len(pair) != 2:
                raise DataError(f"{where}: item {t} of the per-task list is not an (X_t, y_t) pair")
            X_t = _inputs(pair[0], where, f"X_{t}")
            if blocks and X_t.shape[1:] != blocks[0].shape[1:]:
                raise DataError(f"{where}: X_{t} rows have shape {X_t.shape[1:]} but X_0 rows have {blocks[0].shape[1:]}")
            blocks.append(X_t)
            raws.append(_target(pair[1], len(X_t), where, f"y_{t}"))
        task_names = list(names) if names is not None else [f"task_{t}" for t in range(len(blocks))]
        if len(task_names) != len(blocks):
            raise ConfigError(f"{where}: {len(task_names)} names for {len(blocks)} tasks")
        X = np.concatenate(blocks)
        starts = np.cumsum([0] + [len(b) for b in blocks])
        columns = {n: _embed(r, int(s), len(X)) for n, r, s in zip(task_names, raws, starts)}
    else:
        X = _inputs(data, where)
        if isinstance(Y, Mapping):
            task_names = [str(k) for k in Y]
            columns = {n: _target(v, len(X), where, f"target {n!r}") for n, v in zip(task_names, Y.values())}
        else:
            Ya = np.asarray(Y)
            if Ya.ndim == 1:
                Ya = Ya[:, None]
            if Ya.ndim != 2:
                raise DataError(f"{where}: Y must have shape (rows, tasks), not {Ya.shape}")
            task_names = list(names) if names is not None else [f"task_{t}" for t in range(Ya.shape[1])]
            if len(task_names) != Ya.shape[1]:
                raise ConfigError(f"{where}: {len(task_names)} names for {Ya.shape[1]} target columns")
            columns = {n: _target(Ya[:, t], len(X), where, f"Y[:, {t}]") for t, n in enumerate(task_names)}
    if len(set(task_names)) != len(task_names):
        dup = next(n for n in task_names if task_names.count(n) > 1)
        raise ConfigError(f"{where}: duplicate task name {dup!r}")
    kind_list = _per_name(kinds, task_names, "kinds", where)
    metric_list = _per_name(metrics, task_names, "metrics", where)
    specs = [TaskSpec(n, kind=k, metric=m) for n, k, m in zip(task_names, kind_list, metric_list)]
    return assemble(X, columns, specs, where, name=name, feature_names=feature_names, split=split, seed=seed,
                    meta=meta)


def read_npz(path: Path) -> tuple[np.ndarray, dict[str, np.ndarray], list[str], dict[str, Any]]:
    """Inputs, raw target columns by task name, feature names and layout facts from a ``.npz``."""
    where = str(path)
    if not path.is_file():
        raise DataError(f"{path}: data file not found")
    if not zipfile.is_zipfile(path):
        raise DataError(f"{path}: not a readable .npz file (not a zip archive; save it with numpy.savez)")
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except ValueError as exc:
        raise DataError(f"{path}: cannot read ({exc}); store names as fixed-width strings, not objects") from None
    except (OSError, zipfile.BadZipFile, EOFError, KeyError) as exc:
        raise DataError(f"{path}: not a readable .npz file ({exc})") from None
    names = [str(n) for n in np.asarray(arrays.pop("task_names", np.array([]))).ravel().tolist()] or None
    features = [str(n) for n in np.asarray(arrays.pop("feature_names", np.array([]))).ravel().tolist()]
    if "X" in arrays and "Y" in arrays:
        X = _inputs(arrays["X"], where)
        Y = np.asarray(arrays["Y"])
        if Y.ndim == 1:
            Y = Y[:, None]
        if Y.ndim != 2:
            raise DataError(f"{path}: Y must have shape (rows, tasks), not {Y.shape}")
        task_names = names or [f"task_{t}" for t in range(Y.shape[1])]
        if len(task_names) != Y.shape[1]:
            raise DataError(f"{path}: task_names has {len(task_names)} names for {Y.shape[1]} columns of Y")
        columns = {n: _target(Y[:, t], len(X), where, f"Y[:, {t}]") for t, n in enumerate(task_names)}
        layout = "shared"
    elif "X_0" in arrays:
        count = 0
        while f"X_{count}" in arrays:
            count += 1
        stray = sorted(k for k in arrays if k not in {f"X_{t}" for t in range(count)} | {f"y_{t}" for t in range(count)})
        if stray:
            raise DataError(f"{path}: unexpected array {stray[0]!r} (per-task files hold X_0, y_0, X_1, y_1, ... "
                            "with no gaps, plus optional task_names and feature_names)")
        missing = [f"y_{t}" for t in range(count) if f"y_{t}" not in arrays]
        if missing:
            raise DataError(f"{path}: {missing[0]!r} is missing for X_{missing[0][2:]}")
        blocks = []
        for t in range(count):
            X_t = _inputs(arrays[f"X_{t}"], where, f"X_{t}")
            if blocks and X_t.shape[1:] != blocks[0].shape[1:]:
                raise DataError(f"{path}: X_{t} rows have shape {X_t.shape[1:]} but X_0 rows have {blocks[0].shape[1:]}")
            blocks.append(X_t)
        task_names = names or [f"task_{t}" for t in range(count)]
        if len(task_names) != count:
            raise DataError(f"{path}: task_names has {len(task_names)} names for {count} tasks")
        X = np.concatenate(blocks)
        starts = np.cumsum([0] + [len(b) for b in blocks])
        columns = {n: _embed(_target(arrays[f"y_{t}"], len(blocks[t]), where, f"y_{t}"), int(starts[t]), len(X))
                   for t, n in enumerate(task_names)}
        layout = "per_task"
    else:
        found = ", ".join(sorted(arrays)) or "nothing"
        raise DataError(f"{path}: expected arrays X and Y, or X_0, y_0, X_1, y_1, ...; found {found}")
    if len(set(task_names)) != len(task_names):
        dup = next(n for n in task_names if task_names.count(n) > 1)
        raise DataError(f"{path}: duplicate task name {dup!r} in task_names")
    if features and (X.ndim != 2 or len(features) != X.shape[1]):
        raise DataError(f"{path}: feature_names has {len(features)} names for inputs of shape {X.shape[1:]}")
    return X, columns, features, {"layout": layout}


def load_npz(path: str | Path, tasks: Sequence[Any] = (), *, split: Sequence[float] = (0.6, 0.2, 0.2),
             seed: int = 0, name: str | None = None) -> TaskSet:
    """Read a ``.npz`` file in either layout; ``tasks`` (empty: all, kinds inferred) pick and type tasks."""
    path = Path(path)
    X, columns, features, facts = read_npz(path)
    specs = [spec_from(t) for t in tasks] or [TaskSpec(n) for n in columns]
    return assemble(X, columns, specs, str(path), name=name or path.stem, feature_names=features, split=split,
                    seed=seed, meta={"source": str(path), **facts})


__all__ = ["taskset_from_arrays", "load_npz", "read_npz", "assemble"]
