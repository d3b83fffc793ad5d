"""Task sets from Python objects: arrays or tensors, a DataFrame, or a map-style torch Dataset.

``from_arrays`` and ``from_frame`` hold the rows in memory; ``from_dataset`` reads the labels in one
streamed pass and leaves the inputs in the Dataset, to be read a batch at a time (see
:mod:`taskgroup.data.stream`). Task entries are names, :class:`~taskgroup.data.targets.TaskSpec`
objects or mappings with the keys of ``[[tasks]]`` (``name``, ``column``, ``kind``, ``metric``,
``head``, ``loss``, ``lower_is_better``); kinds are inferred when not given. pandas is not imported:
any object with ``columns`` and ``frame[column].to_numpy()`` serves as a frame.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any, Mapping, Sequence

import numpy as np

from ..errors import ConfigError, DataError
from ..tasks import TaskSet
from .arrays import _inputs, assemble
from .stream import StreamedInputs, collate_items, loader
from .targets import TaskSpec, as_raw_column, spec_from


def _numpy(value: Any) -> np.ndarray:
    """A NumPy array from an array, a torch tensor (moved to the CPU) or a sequence."""
    if hasattr(value, "detach") and hasattr(value, "cpu"):
        value = value.detach().cpu().numpy()
    elif hasattr(value, "to_numpy"):
        value = value.to_numpy()
    return np.asarray(value)


def _missing(x: Any) -> bool:
    """None, NaN, or a missing marker of a data-frame library (whose comparisons are not booleans)."""
    if x is None:
        return True
    try:
        return bool(x != x)
    except (TypeError, ValueError):
        return True


def _raw_column(values: Any) -> np.ndarray:
    """A raw target column from a 1-D array of numbers or labels, with any missing marker as missing."""
    v = _numpy(values)
    if v.dtype.kind == "O" and v.ndim == 1:
        cells = np.empty(len(v), dtype=object)
        cells[:] = [None if _missing(x) else x for x in v.tolist()]
        return as_raw_column(cells)
    return as_raw_column(v)


def _specs(tasks: Any, available: Sequence[str], where: str) -> list[TaskSpec]:
    if tasks is None:
        return [TaskSpec(n) for n in available]
    if isinstance(tasks, (str, TaskSpec, Mapping)):
        tasks = [tasks]
    specs = [spec_from(t) for t in tasks]
    if not specs:
        raise ConfigError(f"{where}: no tasks given")
    return specs


def from_arrays(X: Any, targets: Mapping[str, Any], kinds: Any = None, *, masks: Mapping[str, Any] | None = None,
                groups: Any = None, metrics: Any = None, tasks: Any = None, feature_names: Sequence[str] | None = None,
                name: str = "arrays", split: Sequence[float] = (0.6, 0.2, 0.2), seed: int = 0) -> TaskSet:
    """A task set from inputs ``X`` (rows first) and ``targets``, a mapping from task name to a 1-D array.

    Arrays may be NumPy arrays or torch tensors. A row is unlabelled for a task where its target is
    NaN (or None), or where ``masks[task]`` is False. ``kinds`` and ``metrics``: one string for all
    tasks, or a mapping by task name; ``tasks`` (names or specs) picks and types tasks instead.
    ``groups``: one label per row (subject, patient, site); all rows of a group land in one split.
    """
    where = name
    if not isinstance(targets, Mapping) or not targets:
        raise DataError(f"{where}: targets must be a non-empty mapping from task name to an array of labels")
    arr = _inputs(_numpy(X), where)
    masks = dict(masks or {})
    unknown = [m for m in masks if m not in targets]
    if unknown:
        raise ConfigError(f"{where}: masks names unknown task {unknown[0]!r}")
    columns: dict[str, np.ndarray] = {}
    for task, y in targets.items():
        raw = _raw_column(y)
        if raw.ndim == 2 and raw.shape[1] == 1:
            raw = raw[:, 0]
        if len(raw) != len(arr):
            raise DataError(f"{where}: target {task!r} has {len(raw)} rows but X has {len(arr)}")
        if task in masks:
            m = _numpy(masks[task]).astype(bool).reshape(-1)
            if len(m) != len(arr):
                raise DataError(f"{where}: mask of {task!r} has {len(m)} rows but X has {len(arr)}")
            raw = raw.copy()
            raw[~m] = np.nan if raw.dtype.kind == "f" else None
        columns[str(task)] = raw
    specs = _specs(tasks, list(columns), where)
    if tasks is None:
        kind_of = _per_task(kinds, list(columns), "kinds", where)
        metric_of = _per_task(metrics, list(columns), "metrics", where)
        specs = [TaskSpec(s.name, kind=kind_of[s.name], metric=metric_of[s.name]) for s in specs]
    return assemble(arr, columns, specs, where, name=name, feature_names=feature_names, split=split, seed=seed,
                    meta={"source": f"arrays ({name})", "origin": "TaskSet.from_arrays"},
                    groups=_groups(groups, len(arr), where))


def _groups(groups: Any, n: int, where: str) -> np.ndarray | None:
    """One group label per row (as text, so that 1 and "1" are one group), or None."""
    if groups is None:
        return None
    g = _numpy(groups).reshape(-1)
    if len(g) != n:
        raise DataError(f"{where}: groups has {len(g)} values for {n} rows")
    missing = [i for i, x in enumerate(g.tolist()) if _missing(x)]
    if missing:
        raise DataError(f"{where}: groups: row {missing[0]} has no group")
    return np.array([str(x) for x in g.tolist()], dtype=object)


def _per_task(value: Any, names: list[str], what: str, where: str) -> dict[str, Any]:
    if value is None or isinstance(value, str):
        return {n: value for n in names}
    if isinstance(value, Mapping):
        unknown = [k for k in value if k not in names]
        if unknown:
            raise ConfigError(f"{where}: {what} names unknown task {unknown[0]!r}")
        return {n: value.get(n) for n in names}
    raise ConfigError(f"{where}: {what} must be one string or a mapping from task name, not {type(value).__name__}")


def from_frame(frame: Any, tasks: Any, features: Sequence[str] | None = None, *, groups: str | None = None,
               name: str = "frame", split: Sequence[float] = (0.6, 0.2, 0.2), seed: int = 0) -> TaskSet:
    """A task set from a DataFrame: ``tasks`` name target columns (or specs), ``features`` the inputs.

    ``features`` defaults to every column that is no task's target; they must be numeric and complete.
    Missing target cells (None, NaN, a frame library's NA) leave the row unlabelled for that task.
    ``groups`` names a column (subject, patient, site) whose rows all land in one split; it is not a feature.
    """
    where = name
    if not hasattr(frame, "columns") or not hasattr(frame, "__getitem__"):
        raise DataError(f"{where}: expected a DataFrame (an object with columns and frame[column]), "
                        f"not {type(frame).__name__}")
    header = [str(c) for c in frame.columns]
    specs = _specs(tasks, [], where)
    target_columns = {s.source_column for s in specs} | ({str(groups)} if groups is not None else set())
    for s in specs:
        if s.source_column not in header:
            raise DataError(f"{where}: no column {s.source_column!r} for task {s.name!r}")
    if groups is not None and str(groups) not in header:
        raise DataError(f"{where}: no column {groups!r} for groups")
    names = [h for h in header if h not in target_columns] if features is None else [str(f) for f in features]
    for f in names:
        if f not in header:
            raise DataError(f"{where}: no feature column {f!r}")
        if f in target_columns:
            raise ConfigError(f"{where}: column {f!r} is both a feature and a task target")
    if not names:
        raise DataError(f"{where}: no feature columns left once the task targets are taken out")
    cols = []
    for f in names:
        col = _numpy(frame[f])
        try:
            cols.append(col.astype(np.float64))
        except (TypeError, ValueError):
            raise DataError(f"{where}: feature column {f!r} is not numeric ({col.dtype})") from None
        bad = np.flatnonzero(~np.isfinite(cols[-1]))
        if len(bad):
            raise DataError(f"{where}: feature column {f!r}, row {int(bad[0])}: missing or non-finite value")
    X = np.column_stack(cols)
    columns = {s.source_column: _raw_column(frame[s.source_column]) for s in specs}
    return assemble(X, columns, specs, where, name=name, feature_names=names, split=split, seed=seed,
                    meta={"source": f"data frame ({name})", "origin": "TaskSet.from_frame"},
                    groups=None if groups is None else _groups(frame[str(groups)], len(X), where))


def _label(value: Any) -> Any:
    """A label as a Python scalar, a float array (structured targets), or None when missing."""
    if value is None:
        return None
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    if isinstance(value, np.ndarray):
        if value.ndim == 0:
            value = value.item()
        else:
            return value.astype(np.float64)
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _label_column(values: list[Any], where: str, task: str) -> np.ndarray:
    arrays = [v for v in values if isinstance(v, np.ndarray)]
    if not arrays:
        cells = np.empty(len(values), dtype=object)
        cells[:] = values
        return as_raw_column(cells)
    shape = arrays[0].shape
    out = np.full((len(values), *shape), np.nan)
    for i, v in enumerate(values):
        if v is None:
            continue
        if not isinstance(v, np.ndarray) or v.shape != shape:
            got = v.shape if isinstance(v, np.ndarray) else "a scalar"
            raise DataError(f"{where}: task {task!r}, item {i}: label of shape {got}, the first was {shape}")
        out[i] = v
    return out


def from_dataset(dataset: Any, tasks: Any, *, batch_size: int = 256, workers: int = 0, groups: Any = None,
                 name: str | None = None, split: Sequence[float] = (0.6, 0.2, 0.2), seed: int = 0) -> TaskSet:
    """A task set over a map-style ``torch.utils.data.Dataset`` whose items are ``(input, {task: label})``.

    One pass through a ``DataLoader`` (``batch_size`` items at a time, ``workers`` worker processes)
    reads every label, checks the inputs (same shape, finite) and takes a content digest; the inputs
    stay in the Dataset and are read again a batch at a time when trained on. A task absent from an
    item's mapping (or None/NaN) leaves that item unlabelled for it. Labels are numbers, class
    names, or arrays (structured targets of ``custom`` tasks). ``groups``: one label per item; all
    items of a group land in one split.
    """
    where = name or type(dataset).__name__
    if not hasattr(dataset, "__getitem__") or not hasattr(dataset, "__len__"):
        raise DataError(f"{where}: expected a map-style Dataset (with __getitem__ and __len__)")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ConfigError(f"{where}: batch_size must be a positive integer, not {batch_size!r}")
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 0:
        raise ConfigError(f"{where}: workers must be 0 or a positive integer, not {workers!r}")
    specs = _specs(tasks, [], where)
    wanted = list(dict.fromkeys(s.source_column for s in specs))
    n = len(dataset)
    if n == 0:
        raise DataError(f"{where}: the dataset is empty")
    labels: dict[str, list[Any]] = {t: [] for t in wanted}
    digest = hashlib.sha256()
    row_shape: tuple[int, ...] | None = None
    seen = 0
    for inputs, label_maps in loader(dataset, None, batch_size, workers, collate_items):
        shape = tuple(inputs.shape[1:])
        if row_shape is None:
            row_shape = shape
        elif shape != row_shape:
            raise DataError(f"{where}: items {seen}-{seen + len(inputs) - 1} have inputs of shape {shape}, "
                            f"the first items {row_shape}")
        if not inputs.isfinite().all():
            bad = int(seen + (~inputs.reshape(len(inputs), -1).isfinite()).any(dim=1).nonzero()[0])
            raise DataError(f"{where}: item {bad}: the input holds a NaN or infinite value")
        digest.update(inputs.numpy().tobytes())
        for k, m in enumerate(label_maps):
            if not isinstance(m, Mapping):
                raise DataError(f"{where}: item {seen + k} is not (input, {{task: label}}); its labels are "
                                f"{type(m).__name__}")
            for t in wanted:
                labels[t].append(_label(m.get(t)))
        seen += len(inputs)
    assert row_shape is not None
    digest.update(repr((n, row_shape)).encode())
    columns = {t: _label_column(v, where, t) for t, v in labels.items()}
    streamed = StreamedInputs(dataset, n, row_shape, digest.hexdigest(), batch_size=batch_size, workers=workers)
    return assemble(streamed, columns, specs, where, name=where, split=split, seed=seed,
                    meta={"source": f"torch Dataset {type(dataset).__name__}", "origin": "TaskSet.from_dataset"},
                    groups=_groups(groups, n, where))


__all__ = ["from_arrays", "from_dataset", "from_frame"]
