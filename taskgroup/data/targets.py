"""Turn one raw target column into a :class:`Task`, its encoded targets and its mask.

Every source (CSV tables, ``.npz`` files, in-memory arrays) ends here, so the checks are the same
everywhere: an empty target, one class only, a constant regression target, a declared kind that
does not fit the values. Unlabelled rows keep a finite placeholder (0) in the target array, so a
masked loss never multiplies a NaN; the mask alone says which rows count.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import fields
from typing import Any, Callable, Sequence

import numpy as np

from ..config import MISSING_LABELS, TaskConfig
from ..errors import ConfigError, DataError
from ..tasks import KINDS, Task, encode_classes, infer_kind

#: inferred multiclass tasks may have at most this many distinct labels
MAX_INFERRED_CLASSES = 20


#: what the user says about one task: the configuration's ``[[tasks]]`` entry, one type for both
TaskSpec = TaskConfig


def spec_from(obj: Any) -> TaskSpec:
    """A :class:`TaskSpec` from a ``TaskConfig``, a mapping, a spec, or a bare name."""
    if isinstance(obj, TaskSpec):
        return obj
    if isinstance(obj, str):
        return TaskSpec(obj)
    known = [f.name for f in fields(TaskSpec)]
    if isinstance(obj, dict):
        for key in obj:
            if key not in known:
                close = difflib.get_close_matches(str(key), known, n=1, cutoff=0.5)
                hint = f"; did you mean {close[0]!r}?" if close else f"; known keys: {', '.join(known)}"
                raise ConfigError(f"task {obj.get('name')!r}: unknown key {key!r}{hint}")
        if "name" not in obj:
            raise ConfigError(f"a task entry has no name: {obj!r}")
        return TaskSpec(**obj)
    try:
        return TaskSpec(**{k: getattr(obj, k, None) for k in known if k != "name"}, name=obj.name)
    except AttributeError:
        raise ConfigError(f"cannot read a task from {obj!r}; give a name, a mapping or a TaskConfig") from None


def check_specs(specs: Sequence[TaskSpec], source: str) -> None:
    """Refuse duplicate task names and unknown kinds before any data is read."""
    seen: set[str] = set()
    for spec in specs:
        if not isinstance(spec.name, str) or not spec.name:
            raise ConfigError(f"{source}: every task needs a non-empty name")
        if spec.name in seen:
            raise ConfigError(f"{source}: duplicate task name {spec.name!r}")
        seen.add(spec.name)
        if spec.expression is not None and spec.column is not None:
            raise ConfigError(f"{source}: task {spec.name!r}: give a column or an expression, not both")
        if spec.kind is not None and spec.kind not in KINDS:
            raise ConfigError(f"{source}: task {spec.name!r}: unknown kind {spec.kind!r}; choose one of {', '.join(KINDS)}")


def as_raw_column(values: Any) -> np.ndarray:
    """Normalise a target array: floats with NaN for missing, or objects with None for missing."""
    v = np.asarray(values)
    if v.dtype.kind in "biu":
        return v.astype(np.float64)
    if v.dtype.kind == "f":
        return v.astype(np.float64)
    if v.dtype.kind in "US":
        return text_column([x.decode("utf-8", "replace") if isinstance(x, bytes) else x for x in v.tolist()])
    if v.dtype.kind == "O" and v.ndim == 1:
        cells: list[str | None] = []
        for x in v.tolist():
            if x is None or (isinstance(x, float) and math.isnan(x)):
                cells.append(None)
            elif isinstance(x, (bool, int, float, np.number)):
                cells.append(repr(float(x)))
            else:
                cells.append(str(x))
        return text_column(cells)
    raise DataError(f"target array of dtype {v.dtype} and shape {v.shape} is neither numeric nor text")


def missing_markers(markers: Sequence[str] | None = None) -> frozenset[str]:
    """The lower-cased cells that mean "no label": ``markers`` (default :data:`~taskgroup.config.MISSING_LABELS`)."""
    return frozenset(m.strip().lower() for m in (MISSING_LABELS if markers is None else markers))


def is_missing(cell: str | None, markers: frozenset[str] = missing_markers()) -> bool:
    """An unlabelled target cell: empty, or one of ``markers`` (case and surrounding spaces ignored)."""
    if cell is None:
        return True
    text = cell.strip().lower()
    return text == "" or text in markers


def text_column(cells: Sequence[str | None], missing: Sequence[str] | None = None) -> np.ndarray:
    """Raw target from text cells: floats (NaN = missing) when every label parses, else objects.

    Empty cells and the ``missing`` markers (default ``NA``, ``N/A``, ``nan``, ``null``, ``None``,
    ``?``, any case) are missing labels, so ``NA`` in a 0/1 column never becomes a third class.
    """
    markers = missing_markers(missing)
    stripped = [None if is_missing(c, markers) else c.strip() for c in cells]  # type: ignore[union-attr]
    numbers = np.full(len(stripped), np.nan)
    for i, c in enumerate(stripped):
        if c is None:
            continue
        try:
            numbers[i] = float(c)
        except ValueError:
            out = np.empty(len(stripped), dtype=object)
            out[:] = stripped
            return out
    return numbers


def labelled_mask(raw: np.ndarray) -> np.ndarray:
    """True where a raw target (see :func:`as_raw_column`) holds a label."""
    if raw.dtype.kind == "f":
        return ~np.isnan(raw.reshape(len(raw), -1)).any(axis=1)
    return np.array([x is not None for x in raw], dtype=bool)


def _show(values: Sequence[Any], limit: int = 4) -> str:
    shown = [f"{v:g}" if isinstance(v, float) else repr(v) for v in list(values)[:limit]]
    return ", ".join(shown) + (", ..." if len(values) > limit else "")


def _nice_class(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def build_target(spec: TaskSpec, raw: np.ndarray, where: str,
                 row_label: Callable[[int], str] | None = None) -> tuple[Task, np.ndarray, np.ndarray]:
    """Check one raw target column against its spec; return the task, encoded targets and mask.

    ``where`` prefixes every message (the file and the column); ``row_label(i)`` names row ``i`` in
    messages (a file line, say), by default as ``row i``.
    """
    name = spec.name
    at = f"{where}: task {name!r}"
    if spec.source_column != name:
        at += f" (column {spec.source_column!r})"
    name_row = row_label or (lambda i: f"row {i}")
    mask = labelled_mask(raw)
    if not mask.any():
        raise DataError(f"{at}: no labelled rows (every target cell is empty)")
    numeric = raw.dtype.kind == "f"
    if numeric:
        flat = raw.reshape(len(raw), -1)
        bad = np.flatnonzero(mask & ~np.isfinite(np.where(np.isnan(flat), 0.0, flat)).all(axis=1))
        if len(bad):
            raise DataError(f"{at}: infinite target value at {name_row(int(bad[0]))}")
    kind = spec.kind
    if kind == "custom":
        if not numeric:
            raise DataError(f"{at}: a custom task needs numeric targets")
        task = _make_task(spec, "custom", where)
        return task, np.where(np.isnan(raw), 0.0, raw), mask
    if raw.ndim != 1:
        raise DataError(f"{at}: targets must be one value per row (got shape {raw.shape}); use kind='custom' for others")
    labelled = raw[mask]
    distinct = sorted(set(labelled.tolist()), key=lambda x: (str(type(x)), x))
    if len(distinct) == 1:
        value = _show(distinct)
        if kind == "regression":
            raise DataError(f"{at}: the regression target is constant ({value} in every labelled row)")
        if kind in ("binary", "multiclass"):
            raise DataError(f"{at}: only one class ({value}) among {int(mask.sum())} labelled rows")
        raise DataError(f"{at}: every labelled row holds the same value ({value}); "
                        "a task needs at least two classes or a varying target")
    if kind is None:
        if numeric:
            kind = infer_kind(labelled, max_classes=MAX_INFERRED_CLASSES)
        elif len(distinct) == 2:
            kind = "binary"
        elif len(distinct) <= MAX_INFERRED_CLASSES:
            kind = "multiclass"
        else:
            raise DataError(f"{at}: {len(distinct)} distinct non-numeric values ({_show(distinct)}); "
                            "declare kind = 'multiclass' if they are class labels")
    elif kind == "binary" and len(distinct) > 2:
        raise DataError(f"{at}: declared binary but holds {len(distinct)} distinct values ({_show(distinct)})")
    elif kind == "multiclass" and numeric and not all(float(x).is_integer() for x in distinct):
        odd = next(x for x in distinct if not float(x).is_integer())
        raise DataError(f"{at}: declared multiclass but holds non-integer value {odd:g}; "
                        "class labels must be integers or text")
    elif kind == "regression" and not numeric:
        first = next(i for i in range(len(raw)) if raw[i] is not None and not _is_number(raw[i]))
        raise DataError(f"{at}: declared regression but holds non-numeric value {raw[first]!r} at {name_row(first)}")
    if kind == "regression":
        task = _make_task(spec, "regression", where)
        return task, np.where(mask, raw, 0.0).astype(np.float64), mask
    codes, classes = encode_classes(raw, kind)
    classes = tuple(_nice_class(c) for c in classes)
    y = np.where(mask, np.nan_to_num(codes), 0).astype(np.int64)
    task = _make_task(spec, kind, where, n_classes=len(classes), classes=classes)
    return task, y, mask


def _is_number(x: Any) -> bool:
    try:
        float(x)
    except (TypeError, ValueError):
        return False
    return True


def _make_task(spec: TaskSpec, kind: str, where: str, n_classes: int = 0, classes: tuple[Any, ...] = ()) -> Task:
    try:
        return Task(name=spec.name, kind=kind, metric=spec.metric or "", n_classes=n_classes,  # type: ignore[arg-type]
                    head=spec.head, loss=spec.loss, lower_is_better=spec.lower_is_better, classes=classes)
    except DataError as exc:
        raise DataError(f"{where}: {exc}") from None
