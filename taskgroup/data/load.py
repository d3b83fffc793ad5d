"""``load_taskset(cfg)``: the one entry point from a configuration to a checked :class:`TaskSet`.

Steps: read the source (``data.path``: ``.csv``/``.tsv`` table or ``.npz``; or ``data.builtin``),
pick and type the tasks from ``[[tasks]]``, draw the splits from ``data.split`` and ``seed``, check
that every task can be trained and judged, then (``data.standardize``, the default) standardise the
features with the statistics of the training rows only, so no validation or test row leaks into
them. Regression targets stay in their units; the trainer standardises them per task.

``seed`` sets the splits. The data of a built-in generator depend on its own ``seed`` option
(default 0), so changing the run's seed reshuffles the splits of the same data.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..config import Config
from ..errors import ConfigError, DataError
from ..tasks import TRAIN, Task, TaskSet
from .arrays import load_npz
from .registry import load_builtin
from .table import load_table
from .targets import check_specs, spec_from



#: binary formats refused with a hint (every other file is tried as delimited text)
BINARY_SUFFIXES = (".feather", ".arrow", ".xlsx", ".xls", ".pkl", ".pickle", ".h5", ".hdf5", ".mat")


def load_taskset(cfg: Config) -> TaskSet:
    """Read, select, split, validate and standardise the data a configuration describes."""
    data = cfg.data
    split = tuple(float(f) for f in data.split)
    if data.origin is not None or (data.path is None and data.builtin is None):
        given = f"came from Python ({data.origin})" if data.origin else "names neither a path nor a built-in"
        raise ConfigError(f"{cfg.source}: [data] {given}; pass the task set as data=TaskSet(...) to the "
                          "library call, or set data.path or data.builtin")
    if data.builtin is not None:
        source = f"built-in {data.builtin!r}"
        if data.features is not None:
            raise ConfigError(f"{cfg.source}: data.features applies to CSV tables only, not to {source}")
        _no_expressions(cfg, source)
        _tables_only(cfg, source)
        taskset = load_builtin(data.builtin, data.options)
        if cfg.tasks:
            taskset = select_tasks(taskset, cfg.tasks, source)
    else:
        path = Path(data.path or "")
        if not path.is_absolute():
            path = Path(cfg.base_dir) / path
        source = str(path)
        suffix = path.suffix.lower()
        if data.options:
            raise ConfigError(f"{cfg.source}: data.options applies to built-in data sets only, not to {source}")
        if suffix == ".npz":
            if data.features is not None:
                raise ConfigError(f"{cfg.source}: data.features applies to CSV tables only, not to {source}")
            _no_expressions(cfg, source)
            _tables_only(cfg, source)
            taskset = load_npz(path, cfg.tasks, split=split, seed=cfg.seed)
        elif suffix in BINARY_SUFFIXES:
            raise ConfigError(f"{cfg.source}: data.path {data.path!r}: unsupported file type {suffix!r}; "
                              "save the table as delimited text (CSV, TSV, ...) or .npz")
        else:  # any other file is read as a text table, its delimiter and header recognised
            taskset = load_table(path, cfg.tasks, data.features, split=split, seed=cfg.seed, groups=data.groups,
                                 split_column=data.split_column, missing=data.missing)
    return prepare(taskset, cfg, source)


def _no_expressions(cfg: Config, source: str) -> None:
    for t in cfg.tasks:
        if getattr(t, "expression", None):
            raise ConfigError(f"{cfg.source}: task {t.name!r}: expression derives a target from a table's columns; "
                              f"{source} is not a table")


def taskset_for_config(taskset: TaskSet, cfg: Config) -> TaskSet:
    """A task set given from Python in place of ``[data]``: its tasks picked by ``[[tasks]]``, then prepared."""
    if not isinstance(taskset, TaskSet):
        raise ConfigError(f"data= must be a TaskSet (TaskSet.from_arrays, from_frame or from_dataset), "
                          f"not {type(taskset).__name__}")
    source = str(taskset.meta.get("source") or taskset.name)
    if cfg.data.path is not None or cfg.data.builtin is not None:
        raise ConfigError(f"{cfg.source}: data= was given, so [data] must not name a path or a built-in as well")
    if cfg.data.features is not None or cfg.data.options:
        raise ConfigError(f"{cfg.source}: data.features and data.options apply to files and built-ins, not to data=")
    _no_expressions(cfg, source)
    if cfg.tasks:
        taskset = select_tasks(taskset, cfg.tasks, source)
    return prepare(taskset, cfg, source)


def prepare(taskset: TaskSet, cfg: Config, source: str | None = None) -> TaskSet:
    """Split (``data.split``, ``seed``), check and standardise a task set, as every step sees it.

    A task set built in Python (``TaskSet.from_arrays`` and friends) goes through here too; its
    ``[[tasks]]`` entries, if any, pick and type its tasks. Features already standardised are left alone.
    """
    source = source or str(taskset.meta.get("source") or taskset.name)
    taskset = resplit(taskset, tuple(float(f) for f in cfg.data.split), cfg.seed)
    try:
        taskset.validate()
    except DataError as exc:
        raise DataError(f"{source}: {exc}") from None
    if cfg.data.standardize and "feature_scaling" not in taskset.meta:
        taskset = standardize_features(taskset)
    return taskset


def _tables_only(cfg: Config, source: str) -> None:
    """Refuse the table-only data keys for other sources."""
    for key in ("groups", "split_column", "missing"):
        if getattr(cfg.data, key) is not None:
            raise ConfigError(f"{cfg.source}: data.{key} applies to CSV tables only, not to {source}")


def select_tasks(taskset: TaskSet, tasks: Sequence[Any], source: str) -> TaskSet:
    """Keep, rename and retype the tasks of a ready task set as ``[[tasks]]`` entries say.

    ``column`` (default: the name) names the task in ``taskset``; a declared kind must match it,
    except ``custom``, which reuses the targets with a user head, loss and metric.
    """
    specs = [spec_from(t) for t in tasks]
    check_specs(specs, source)
    chosen: list[Task] = []
    targets, masks = {}, {}
    for spec in specs:
        col = spec.source_column
        if col not in taskset.task_names:
            close = difflib.get_close_matches(col, taskset.task_names, n=1, cutoff=0.5)
            hint = f"; did you mean {close[0]!r}?" if close else f"; its tasks are {', '.join(taskset.task_names[:12])}"
            raise ConfigError(f"{source} has no task {col!r} (tasks[].column){hint}")
        base = taskset.task(col)
        kind = spec.kind or base.kind
        if kind not in (base.kind, "custom"):
            raise ConfigError(f"{source}: task {spec.name!r} is declared {kind} but {col!r} is a {base.kind} task")
        metric = spec.metric or (base.metric if kind == base.kind else "")
        try:
            task = Task(spec.name, kind, metric=metric, n_classes=base.n_classes,  # type: ignore[arg-type]
                        head=spec.head if kind == "custom" else base.head,
                        loss=spec.loss if kind == "custom" else base.loss,
                        lower_is_better=spec.lower_is_better, classes=base.classes)
        except DataError as exc:
            raise DataError(f"{source}: {exc}") from None
        chosen.append(task)
        targets[spec.name] = taskset.targets[col]
        masks[spec.name] = taskset.masks[col].copy()
    return TaskSet(taskset.inputs, chosen, targets, masks, name=taskset.name, feature_names=taskset.feature_names,
                   split_fractions=taskset.split_fractions, split_seed=taskset.split_seed, meta=dict(taskset.meta),
                   groups=taskset.groups, given_split=taskset.given_split)


def resplit(taskset: TaskSet, split: Sequence[float], seed: int) -> TaskSet:
    """The same data with splits drawn from ``split`` fractions and ``seed`` (a no-op when unchanged).

    A user's own split (``given_split``) is kept as it is.
    """
    fractions = tuple(float(f) for f in split)
    unchanged = fractions == tuple(taskset.split_fractions) and seed == taskset.split_seed
    if taskset.splits and (unchanged or taskset.given_split is not None):
        return taskset
    return TaskSet(taskset.inputs, list(taskset.tasks), dict(taskset.targets),
                   {n: m.copy() for n, m in taskset.masks.items()}, name=taskset.name,
                   feature_names=taskset.feature_names, split_fractions=fractions,  # type: ignore[arg-type]
                   split_seed=seed, meta=dict(taskset.meta), groups=taskset.groups, given_split=taskset.given_split)


def train_rows(taskset: TaskSet) -> np.ndarray:
    """Rows in the training split of at least one task."""
    rows = np.zeros(taskset.n_rows, dtype=bool)
    for name in taskset.task_names:
        rows |= taskset.splits[name] == TRAIN
    return rows


def standardize_features(taskset: TaskSet) -> TaskSet:
    """Centre and scale inputs with training-row statistics; constant features are only centred.

    Vector inputs (n, d) are standardised per feature, image-like inputs (n, C, ...) per channel.
    The statistics are kept in ``meta["feature_scaling"]`` (``mean`` and ``std`` shaped like one
    input row, broadcastable against a batch) so new inputs can be treated the same way.
    """
    rows = train_rows(taskset)
    if not rows.any():
        raise DataError(f"{taskset.name}: no training rows to standardise the features with")
    if taskset.streamed:
        return _standardize_streamed(taskset, rows)
    X = taskset.inputs.astype(np.float64)
    axes = (0,) if X.ndim == 2 else tuple(i for i in range(X.ndim) if i != 1)
    mean = X[rows].mean(axis=axes, keepdims=True)
    std = X[rows].std(axis=axes, keepdims=True)
    std[std < 1e-12] = 1.0
    meta = dict(taskset.meta)
    meta["feature_scaling"] = {"per": "feature" if X.ndim == 2 else "channel", "rows": "train",
                               "mean": mean[0].tolist(), "std": std[0].tolist()}
    return TaskSet((X - mean) / std, list(taskset.tasks), dict(taskset.targets), dict(taskset.masks),
                   name=taskset.name, feature_names=taskset.feature_names, splits=dict(taskset.splits),
                   split_fractions=taskset.split_fractions, split_seed=taskset.split_seed, meta=meta,
                   groups=taskset.groups, given_split=taskset.given_split)



def _standardize_streamed(taskset: TaskSet, rows: np.ndarray) -> TaskSet:
    """Standardise streamed inputs as they are read, with statistics from one pass over the training rows."""
    from .stream import channel_statistics

    mean, std = channel_statistics(taskset.inputs, np.flatnonzero(rows).tolist())
    meta = dict(taskset.meta)
    meta["feature_scaling"] = {"per": "feature" if taskset.inputs.ndim == 2 else "channel", "rows": "train",
                               "mean": mean.tolist(), "std": std.tolist()}
    return TaskSet(taskset.inputs.with_scaling(mean, std), list(taskset.tasks), dict(taskset.targets),
                   dict(taskset.masks), name=taskset.name, feature_names=taskset.feature_names,
                   splits=dict(taskset.splits), split_fractions=taskset.split_fractions,
                   split_seed=taskset.split_seed, meta=meta, groups=taskset.groups, given_split=taskset.given_split)


__all__ = ["load_taskset", "prepare", "taskset_for_config", "select_tasks", "resplit", "standardize_features", "train_rows"]
