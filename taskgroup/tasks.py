"""Tasks and task sets: what each task predicts, how it is judged, and which rows label it.

A :class:`TaskSet` stores every row once (``inputs``) and, per task, a target array and a mask of
the rows labelled for that task. Both shapes of real multi-task data fit: rows shared by all tasks
(SARCOS: seven torques from the same inputs) and rows owned by one task each (Landmine: one field a
task). Each row has one split for every task that labels it (:mod:`taskgroup.data.splits`: seeded
fractions, whole groups, or the user's own column), so no row is training data for one task and
validation or test data for another, and no task's test rows are ever used to select a model.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Callable, Literal

import numpy as np

from .errors import DataError

Kind = Literal["binary", "multiclass", "regression", "custom"]
KINDS: tuple[str, ...] = ("binary", "multiclass", "regression", "custom")

#: metric name -> True when lower is better
METRICS: dict[str, bool] = {"auc": False, "accuracy": False, "f1": False, "rmse": True, "r2": False}
DEFAULT_METRIC: dict[str, str] = {"binary": "auc", "multiclass": "accuracy", "regression": "rmse"}
ALLOWED_METRICS: dict[str, tuple[str, ...]] = {
    "binary": ("auc", "accuracy", "f1"),
    "multiclass": ("accuracy", "f1"),
    "regression": ("rmse", "r2"),
}

TRAIN, VAL, TEST, UNLABELLED = 0, 1, 2, -1
SPLIT_NAMES = {TRAIN: "train", VAL: "val", TEST: "test"}
#: validation and test need at least this many labelled rows of a task to score it
MIN_EVAL_ROWS = 3

#: largest absolute regression target accepted: squared errors and float32 outputs stay finite
MAX_TARGET = 1e15


@dataclass(frozen=True)
class Task:
    """One prediction task: its name, kind, output size and the metric that judges it.

    ``custom`` tasks name their own ``head`` (a factory ``f(in_features) -> nn.Module``), ``loss``
    (``f(prediction, target) -> per-row loss``) and ``metric`` (``f(y_true, y_pred) -> float``) by
    import path, so that dense or structured targets can be analysed through the Python API.
    """

    name: str
    kind: Kind
    metric: str = ""
    n_classes: int = 0
    head: str | None = None
    loss: str | None = None
    lower_is_better: bool | None = None
    classes: tuple[Any, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise DataError(f"task {self.name!r}: unknown kind {self.kind!r}; choose one of {', '.join(KINDS)}")
        if not self.name or not isinstance(self.name, str):
            raise DataError("every task needs a non-empty name")
        if self.kind == "custom":
            missing = [k for k in ("head", "loss", "metric") if not getattr(self, k)]
            if missing:
                raise DataError(f"task {self.name!r}: a custom task needs import paths for {', '.join(missing)}")
            if self.lower_is_better is None:
                object.__setattr__(self, "lower_is_better", False)
            return
        metric = self.metric or DEFAULT_METRIC[self.kind]
        if metric not in ALLOWED_METRICS[self.kind]:
            raise DataError(
                f"task {self.name!r}: metric {metric!r} does not fit a {self.kind} task; "
                f"choose one of {', '.join(ALLOWED_METRICS[self.kind])}"
            )
        object.__setattr__(self, "metric", metric)
        object.__setattr__(self, "lower_is_better", METRICS[metric])
        if self.kind == "binary":
            object.__setattr__(self, "n_classes", 2)
        if self.kind == "multiclass" and self.n_classes < 2:
            raise DataError(f"task {self.name!r}: a multiclass task needs at least 2 classes")

    @property
    def output_dim(self) -> int:
        """Width of this task's head output (custom heads report their own)."""
        if self.kind == "multiclass":
            return self.n_classes
        return 1

    def to_dict(self) -> dict[str, Any]:
        d = {"name": self.name, "kind": self.kind, "metric": self.metric,
             "lower_is_better": bool(self.lower_is_better)}
        if self.kind == "multiclass":
            d["n_classes"] = self.n_classes
        if self.kind == "custom":
            d.update(head=self.head, loss=self.loss)
        return d


@dataclass
class TaskSet:
    """Inputs once, and per task: a target array and a boolean mask of labelled rows.

    ``inputs`` has shape ``(n_rows, *input_shape)``. ``targets[name]`` has ``n_rows`` rows (class
    indices for classification, standardisation is left to the trainer); rows where
    ``masks[name]`` is False carry no label for that task and never count for it.
    """

    inputs: np.ndarray
    tasks: list[Task]
    targets: dict[str, np.ndarray]
    masks: dict[str, np.ndarray]
    name: str = "taskset"
    feature_names: list[str] = field(default_factory=list)
    splits: dict[str, np.ndarray] = field(default_factory=dict)
    split_fractions: tuple[float, float, float] = (0.6, 0.2, 0.2)
    split_seed: int = 0
    meta: dict[str, Any] = field(default_factory=dict)
    """Free-form, JSON-friendly facts about the data (planted clusters, source, standardisation)."""
    groups: np.ndarray | None = None
    """Group label of each row (subject, patient, site): a group's rows all land in one split."""
    given_split: np.ndarray | None = None
    """The user's own split of each row (TRAIN, VAL, TEST; UNLABELLED), used instead of fractions."""

    def __post_init__(self) -> None:
        if not self.streamed:
            self.inputs = np.ascontiguousarray(self.inputs, dtype=np.float32)
        n = len(self.inputs)
        names = [t.name for t in self.tasks]
        seen: set[str] = set()
        for name in names:
            if name in seen:
                raise DataError(f"duplicate task name {name!r}")
            seen.add(name)
        if not self.tasks:
            raise DataError("the task set has no tasks")
        for t in self.tasks:
            if t.name not in self.targets:
                raise DataError(f"task {t.name!r} has no target array")
            y = np.asarray(self.targets[t.name])
            if len(y) != n:
                raise DataError(f"task {t.name!r}: {len(y)} target rows for {n} input rows")
            m = self.masks.get(t.name)
            if m is None:
                m = _labelled(y)
            m = np.asarray(m, dtype=bool)
            if len(m) != n:
                raise DataError(f"task {t.name!r}: mask has {len(m)} rows for {n} input rows")
            self.masks[t.name] = m
            self.targets[t.name] = y
        if not self.streamed and not np.all(np.isfinite(self.inputs)):
            bad = np.argwhere(~np.isfinite(self.inputs.reshape(n, -1)))[0]
            col = self.feature_names[bad[1]] if len(self.feature_names) > bad[1] else f"#{bad[1]}"
            raise DataError(f"feature {col}: NaN or infinite value in row {bad[0]}")
        if self.groups is not None:
            self.groups = np.asarray(self.groups)
            if len(self.groups) != n:
                raise DataError(f"groups: {len(self.groups)} values for {n} input rows")
        if not self.splits:
            self.splits = self._draw_splits()
        else:
            self.splits = {name: np.asarray(self.splits[name], dtype=np.int8) for name in names}
            self.row_split  # refuses a row in two splits for two tasks

    def _draw_splits(self) -> dict[str, np.ndarray]:
        from .data import splits

        names = self.task_names
        if self.given_split is not None:
            row = np.asarray(self.given_split, dtype=np.int8)
            if len(row) != self.n_rows:
                raise DataError(f"given split: {len(row)} values for {self.n_rows} input rows")
        else:
            strata = {t.name: self.targets[t.name] for t in self.tasks if t.kind in ("binary", "multiclass")}
            if self.groups is not None:
                row = splits.by_groups(self.masks, names, self.split_fractions, self.split_seed, self.groups, strata)
            else:
                row = splits.by_fractions(self.masks, names, self.split_fractions, self.split_seed, strata)
        return splits.per_task(row, self.masks, names)

    # ------------------------------------------------------------ constructors
    @classmethod
    def from_arrays(cls, X: Any, targets: Any, kinds: Any = None, **options: Any) -> "TaskSet":
        """From NumPy arrays or torch tensors; see :func:`taskgroup.data.python.from_arrays`."""
        from .data.python import from_arrays

        return from_arrays(X, targets, kinds, **options)

    @classmethod
    def from_frame(cls, frame: Any, tasks: Any, features: Any = None, **options: Any) -> "TaskSet":
        """From a DataFrame (duck-typed); see :func:`taskgroup.data.python.from_frame`."""
        from .data.python import from_frame

        return from_frame(frame, tasks, features, **options)

    @classmethod
    def from_dataset(cls, dataset: Any, tasks: Any, **options: Any) -> "TaskSet":
        """From a map-style torch Dataset of ``(input, {task: label})``, streamed; see
        :func:`taskgroup.data.python.from_dataset`."""
        from .data.python import from_dataset

        return from_dataset(dataset, tasks, **options)

    # ------------------------------------------------------------------ views
    @property
    def streamed(self) -> bool:
        """True when the inputs are read on demand from a Dataset rather than held as an array."""
        return not isinstance(self.inputs, np.ndarray) and hasattr(self.inputs, "digest")

    @property
    def task_names(self) -> list[str]:
        return [t.name for t in self.tasks]

    @property
    def n_rows(self) -> int:
        return len(self.inputs)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.inputs.shape[1:])

    def task(self, name: str) -> Task:
        for t in self.tasks:
            if t.name == name:
                return t
        raise DataError(f"unknown task {name!r}; known tasks: {', '.join(self.task_names)}")

    def rows(self, name: str, split: int) -> np.ndarray:
        """Row indices labelled for task ``name`` in ``split`` (TRAIN, VAL or TEST)."""
        return np.flatnonzero(self.splits[name] == split)

    @property
    def row_split(self) -> np.ndarray:
        """The one split of every row (UNLABELLED for rows no task labels)."""
        from .data.splits import row_split

        return row_split(self.splits, self.task_names)

    @property
    def split_method(self) -> str:
        """How the rows were split: ``column`` (given), ``groups`` or ``fractions``."""
        return "column" if self.given_split is not None else "groups" if self.groups is not None else "fractions"

    def split_hash(self) -> str:
        """Short content hash of the row split: the same hash means the same assignment."""
        from .data.splits import split_hash

        return split_hash(self.row_split)

    def counts(self) -> dict[str, dict[str, int]]:
        """Labelled rows per task and split, e.g. ``{"a": {"train": 60, "val": 20, "test": 20}}``."""
        return {n: {s: int(np.sum(self.splits[n] == k)) for k, s in SPLIT_NAMES.items()} for n in self.task_names}

    def subset(self, names: list[str]) -> "TaskSet":
        """The same rows and splits restricted to the named tasks, in the given order."""
        tasks = [self.task(n) for n in names]
        return TaskSet(self.inputs, tasks, {n: self.targets[n] for n in names}, {n: self.masks[n] for n in names},
                       name=self.name, feature_names=self.feature_names,
                       splits={n: self.splits[n] for n in names}, split_fractions=self.split_fractions,
                       split_seed=self.split_seed, meta=dict(self.meta), groups=self.groups,
                       given_split=self.given_split)

    def fingerprint(self) -> str:
        """Content hash of inputs, targets, masks and splits: the data part of every store key."""
        h = hashlib.sha256()
        h.update(str(tuple(self.inputs.shape)).encode())
        h.update(self.inputs.digest().encode() if self.streamed else self.inputs.tobytes())
        for t in self.tasks:
            h.update(repr(sorted(t.to_dict().items())).encode())
            h.update(np.ascontiguousarray(np.nan_to_num(np.asarray(self.targets[t.name], dtype=np.float64))).tobytes())
            h.update(self.masks[t.name].tobytes())
            h.update(self.splits[t.name].astype(np.int8).tobytes())
        return h.hexdigest()[:16]

    def validate(self) -> None:
        """Check that every task can be trained, and scored on validation and test; one clear line otherwise.

        Training needs at least 2 rows (2 classes for classification); validation and test need at
        least :data:`MIN_EVAL_ROWS` rows and what the metric needs (both classes for AUC, a
        positive for binary F1, a varying target for R^2).
        """
        all_counts = self.counts()
        for t in self.tasks:
            m = self.masks[t.name]
            y = np.asarray(self.targets[t.name])
            if int(m.sum()) == 0:
                raise DataError(f"task {t.name!r}: no labelled rows (the target is empty everywhere)")
            counts = all_counts[t.name]
            if t.kind in ("binary", "multiclass"):
                classes = np.unique(y[m].astype(np.float64))
                if len(classes) < 2:
                    raise DataError(f"task {t.name!r}: only one class ({_fmt_class(t, classes[0])}) among labelled rows")
            elif t.kind == "regression":
                yl = y[m].astype(np.float64)
                bad = np.flatnonzero(~np.isfinite(yl) | (np.abs(yl) > MAX_TARGET))
                if len(bad):
                    raise DataError(f"task {t.name!r}: target value {float(yl[bad[0]])!r} is not a finite number of "
                                    f"at most {MAX_TARGET:g} in magnitude; rescale the column (for example to "
                                    "thousands, or its logarithm) or remove the row")
            if t.kind == "regression" and np.nanstd(y[m].astype(np.float64)) == 0:
                raise DataError(f"task {t.name!r}: the regression target is constant ({float(y[m][0]):g})")
            for code, split in SPLIT_NAMES.items():
                problem = self._unscorable(t, code, counts[split])
                if problem:
                    raise DataError(f"task {t.name!r}: the {split} split {problem}; add labelled rows, change the "
                                    "split (data.split, data.groups or data.split_column) or drop the task")

    def _unscorable(self, t: Task, split: int, rows: int) -> str | None:
        """Why ``split`` cannot train or score task ``t`` (None when it can)."""
        need = 2 if split == TRAIN else MIN_EVAL_ROWS
        what = "train on" if split == TRAIN else f"score its {t.metric}"
        if rows < need:
            return f"has {rows} labelled row{'s' if rows != 1 else ''}, too few to {what} (at least {need})"
        if t.kind == "custom":
            return None
        y = np.asarray(self.targets[t.name])[self.splits[t.name] == split].astype(np.float64)
        if t.kind in ("binary", "multiclass"):
            classes = np.unique(y)
            shown = ", ".join(_fmt_class(t, c) for c in classes)
            if split == TRAIN and len(classes) < 2:
                return f"has {rows} rows of one class ({shown}) only, so nothing can be learnt"
            if split != TRAIN and t.metric == "auc" and len(classes) < 2:
                return f"has {rows} rows of one class ({shown}) only, so its auc is undefined"
            if split != TRAIN and t.kind == "binary" and t.metric == "f1" and 1.0 not in classes:
                return f"has {rows} rows and no positive ({_fmt_class(t, 1.0)}), so its f1 is undefined"
        elif split != TRAIN and t.metric == "r2" and np.std(y) == 0:
            return f"has {rows} rows with one target value, so its r2 is undefined"
        return None


def _fmt_class(task: Task, value: float) -> str:
    if task.classes:
        return repr(task.classes[int(value)])
    return f"{value:g}"


def _labelled(y: np.ndarray) -> np.ndarray:
    y = np.asarray(y)
    if y.dtype.kind in "fc":
        flat = y.reshape(len(y), -1)
        return ~np.any(np.isnan(flat), axis=1)
    return np.ones(len(y), dtype=bool)


def infer_kind(values: np.ndarray, max_classes: int = 20) -> Kind:
    """Two distinct values: binary; few integers: multiclass; anything else: regression."""
    v = np.asarray(values, dtype=np.float64)
    v = v[~np.isnan(v)]
    distinct = np.unique(v)
    if len(distinct) <= 2:
        return "binary"
    if len(distinct) <= max_classes and np.all(distinct == np.round(distinct)):
        return "multiclass"
    return "regression"


def encode_classes(values: np.ndarray, kind: str) -> tuple[np.ndarray, tuple[Any, ...]]:
    """Map class labels to 0..K-1 (NaN stays NaN); return the codes and the original labels."""
    v = np.asarray(values)
    if kind not in ("binary", "multiclass"):
        return v.astype(np.float64), ()
    if v.dtype.kind in "fc":
        labelled = ~np.isnan(v.astype(np.float64))
    else:
        labelled = np.array([x is not None and x == x and x != "" for x in v], dtype=bool)
    classes = sorted(set(v[labelled].tolist()), key=lambda x: (str(type(x)), x))
    lookup = {c: i for i, c in enumerate(classes)}
    codes = np.full(len(v), np.nan)
    codes[labelled] = [lookup[x] for x in v[labelled].tolist()]
    return codes, tuple(classes)


MetricFn = Callable[[np.ndarray, np.ndarray], float]
