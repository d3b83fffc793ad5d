"""CSV and TSV tables: feature columns plus one target column per task.

Read with the standard library (no pandas). An empty target cell, or a missing-label marker (``NA``,
``N/A``, ``nan``, ``null``, ``None``, ``?`` by default), leaves that row unlabelled for that task;
feature cells must all be finite numbers. A ``groups`` column keeps a subject's rows in one split, a
``split_column`` gives the user's own split; neither is a feature. Every problem is reported as one
line naming the file and the column, task or line at fault.
"""

from __future__ import annotations

import csv
import difflib
import io
import re
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..errors import ConfigError, DataError
from ..tasks import TaskSet
from . import splits
from .expression import parse
from .sniff import NAMES, SAMPLE_LINES, TableFormat, detect
from .targets import TaskSpec, build_target, check_specs, spec_from, text_column

#: a column whose name says it identifies a subject, patient, user, session or site
ID_NAME = re.compile(r"(^|[^a-z])(id|ids|subject|patient|user|session|site|group|participant|person|visit)s?($|[^a-z])",
                     re.IGNORECASE)


FLOAT32_MAX = float(np.finfo(np.float32).max)


def _closest(name: str, options: Sequence[str]) -> str:
    close = difflib.get_close_matches(name, list(options), n=1, cutoff=0.5)
    if close:
        return f"; did you mean {close[0]!r}?"
    shown = ", ".join(repr(o) for o in list(options)[:8]) + (", ..." if len(options) > 8 else "")
    return f"; the columns are {shown}"


def read_rows(path: Path) -> tuple[list[str], list[list[str]], list[int]]:
    """Header, data rows and each row's line number; blank lines are skipped."""
    header, rows, lines, _fmt = read_table(path)
    return header, rows, lines


def read_table(path: Path) -> tuple[list[str], list[list[str]], list[int], TableFormat]:
    """Header, data rows, each row's line number, and the detected format (delimiter, header row).

    Any text file is read: the format is recognised from its first lines (see :mod:`.sniff`).
    """
    if not path.is_file():
        raise DataError(f"{path}: data file not found")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise DataError(f"{path}: not a UTF-8 text file") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if "\x00" in text:
        raise DataError(f"{path}: not a text table (it holds NUL bytes)")
    fmt = detect(text.splitlines()[:SAMPLE_LINES * 2], fallback="\t" if path.suffix.lower() == ".tsv" else ",")
    try:
        reader = csv.reader(io.StringIO(text, newline=""), strict=True, **fmt.reader_options())  # type: ignore[arg-type]
        header: list[str] | None = None
        rows: list[list[str]] = []
        lines: list[int] = []
        for row in reader:
            if fmt.delimiter == " ":
                row = [c for c in row if c != ""]
            if not row or (len(row) == 1 and not row[0].strip()):
                continue
            if header is None:
                if fmt.header:
                    header = [cell.strip() for cell in row]
                    continue
                header = [f"column{i + 1}" for i in range(len(row))]
            rows.append(row)
            lines.append(reader.line_num)
    except csv.Error as exc:
        raise DataError(f"{path}: cannot parse as {NAMES[fmt.delimiter]}-separated text ({exc})") from None
    if header is None:
        raise DataError(f"{path}: the file is empty (expected a header row and data rows)")
    for i, name in enumerate(header):
        if not name:
            raise DataError(f"{path}: column {i + 1} has an empty header")
    seen: dict[str, int] = {}
    for i, name in enumerate(header):
        if name in seen:
            raise DataError(f"{path}: duplicate column header {name!r} (columns {seen[name] + 1} and {i + 1})")
        seen[name] = i
    if not rows:
        raise DataError(f"{path}: has a header but no data rows")
    for row, line in zip(rows, lines):
        if len(row) != len(header):
            raise DataError(f"{path}: line {line} has {len(row)} fields but the header has {len(header)} "
                            f"(read as {fmt.describe()})")
    return header, rows, lines, fmt


def _feature_column(path: Path, name: str, cells: list[str], lines: list[int]) -> np.ndarray:
    out = np.empty(len(cells), dtype=np.float64)
    for i, cell in enumerate(cells):
        text = cell.strip()
        if not text:
            raise DataError(f"{path}: feature column {name!r}, line {lines[i]}: empty cell "
                            "(features must be complete; fill it or drop the row)")
        try:
            value = float(text)
        except ValueError:
            raise DataError(f"{path}: feature column {name!r}, line {lines[i]}: {text[:40]!r} is not a number "
                            "(list only numeric columns in data.features, or declare this column as a task)") from None
        if not np.isfinite(value):
            raise DataError(f"{path}: feature column {name!r}, line {lines[i]}: {text[:40]!r} is not a finite number")
        if abs(value) > FLOAT32_MAX:
            raise DataError(f"{path}: feature column {name!r}, line {lines[i]}: {text[:40]!r} is too large "
                            "(inputs are stored as 32-bit floats)")
        out[i] = value
    return out


def _features(path: Path, header: list[str], rows: list[list[str]], lines: list[int],
              names: Sequence[str]) -> np.ndarray:
    """The named feature columns as a float matrix, every cell checked (complete, finite, float32)."""
    index = {h: i for i, h in enumerate(header)}
    columns = list(zip(*rows))
    return np.column_stack([_feature_column(path, f, list(columns[index[f]]), lines) for f in names])


def read_features(path: str | Path, names: Sequence[str]) -> np.ndarray:
    """The columns ``names`` of a CSV/TSV table, read and checked exactly as training reads them.

    Prediction uses this, so a table that ``run`` accepted is accepted for prediction too; other
    columns (the targets, say) may be present and are ignored.
    """
    path = Path(path)
    header, rows, lines = read_rows(path)
    for f in names:
        if f not in header:
            raise DataError(f"{path}: no feature column {f!r} (used in training){_closest(f, header)}")
    return _features(path, header, rows, lines, names)


def load_table(path: str | Path, tasks: Sequence[Any], features: Sequence[str] | None = None, *,
               split: Sequence[float] = (0.6, 0.2, 0.2), seed: int = 0, name: str | None = None,
               groups: str | None = None, split_column: str | None = None,
               missing: Sequence[str] | None = None) -> TaskSet:
    """Read a CSV (``.tsv``: tab-separated) table into a :class:`TaskSet`.

    ``tasks`` are ``TaskConfig`` objects, :class:`TaskSpec` objects, mappings or bare names; each
    task's ``column`` defaults to its name and its kind is inferred when not declared. ``features``
    defaults to every column that is no task's target, group or split column. ``groups`` names the
    column whose rows share a split; ``split_column`` the column holding the user's own split;
    ``missing`` the target cells that mean "no label". Rows are kept in file order.
    """
    path = Path(path)
    specs = [spec_from(t) for t in tasks]
    check_specs(specs, str(path))
    header, rows, lines, fmt = read_table(path)
    if not specs:
        shown = ", ".join(repr(h) for h in header[:8]) + (", ..." if len(header) > 8 else "")
        raise ConfigError(f"{path}: no tasks declared; add a [[tasks]] entry (name, column) for each target "
                          f"column among {shown}")
    index = {h: i for i, h in enumerate(header)}
    derived = {s.name: parse(s.expression, f"{path}: task {s.name!r}") for s in specs if s.expression}
    for name, expr in derived.items():
        for col in expr.columns:
            if col not in index:
                raise DataError(f"{path}: task {name!r}: the expression reads no column {col!r}{_closest(col, header)}")
    # a target derived from columns must not be predicted from those columns: they are not features
    target_columns = {s.source_column for s in specs if not s.expression} | {c for e in derived.values() for c in e.columns}
    for s in specs:
        if s.expression:
            continue
        if s.source_column not in index:
            raise DataError(f"{path}: no column {s.source_column!r} for task {s.name!r}{_closest(s.source_column, header)}")
    special = {k: c for k, c in (("groups", groups), ("split_column", split_column)) if c is not None}
    for key, col in special.items():
        if col not in index:
            raise DataError(f"{path}: no column {col!r} (data.{key}){_closest(col, header)}")
        if col in target_columns:
            raise ConfigError(f"{path}: column {col!r} is both data.{key} and a task target")
        if features is not None and col in features:
            raise ConfigError(f"{path}: column {col!r} is both data.{key} and a feature (data.features)")
    if features is None:
        feature_names = [h for h in header if h not in target_columns and h not in special.values()]
    else:
        feature_names = list(features)
        seen: set[str] = set()
        for f in feature_names:
            if f not in index:
                raise DataError(f"{path}: no feature column {f!r} (data.features){_closest(f, header)}")
            if f in target_columns:
                raise ConfigError(f"{path}: column {f!r} is both a feature (data.features) and a task target")
            if f in seen:
                raise ConfigError(f"{path}: feature column {f!r} is listed twice in data.features")
            seen.add(f)
    if not feature_names:
        raise DataError(f"{path}: no feature columns left once the task targets are taken out")
    X = _features(path, header, rows, lines, feature_names)
    columns = list(zip(*rows))
    task_list, targets, masks = [], {}, {}
    for s in specs:
        if s.expression:
            try:
                raw = derived[s.name].evaluate({c: list(columns[index[c]]) for c in derived[s.name].columns})
            except DataError as exc:
                raise DataError(f"{path}: task {s.name!r}: {exc}") from None
        else:
            raw = text_column(list(columns[index[s.source_column]]), missing)
        task, y, mask = build_target(s, raw, str(path), row_label=lambda i: f"line {lines[i]}")
        task_list.append(task)
        targets[s.name] = y
        masks[s.name] = mask
    labelled = np.logical_or.reduce(list(masks.values()))
    group_values = given = None
    if groups is not None:
        group_values = _group_column(path, groups, list(columns[index[groups]]), lines)
    if split_column is not None:
        given = splits.given(list(columns[index[split_column]]), labelled, f"{path}: column {split_column!r}",
                             row_label=lambda i: f"line {lines[i]}")
    skip = target_columns | set(special.values())
    repeated = [h for h in header if h not in skip and _repeats(list(columns[index[h]]), h, h in feature_names)]
    return TaskSet(X, task_list, targets, masks, name=name or path.stem, feature_names=feature_names,
                   split_fractions=tuple(split), split_seed=seed,  # type: ignore[arg-type]
                   meta={"source": str(path), "table_format": {"delimiter": fmt.delimiter, "header": fmt.header,
                                                               "described": fmt.describe()},
                         "repeated_columns": repeated}, groups=group_values, given_split=given)


def _group_column(path: Path, name: str, cells: list[str], lines: list[int]) -> np.ndarray:
    """The group label of every row; an empty cell is an error naming its line."""
    values = [c.strip() for c in cells]
    for i, v in enumerate(values):
        if not v:
            raise DataError(f"{path}: group column {name!r} (data.groups), line {lines[i]}: empty cell; every row "
                            "needs its group")
    return np.array(values, dtype=object)


def _repeats(cells: list[str], name: str, is_feature: bool) -> bool:
    """Whether a column looks like a subject/session identifier: few values, each on many rows.

    At least 10 distinct values averaging at least 5 rows each, all integers or text, and either a
    name that says so (``subject_id``, ``patient``, ``site``...) or not used as a feature.
    """
    values = [c.strip() for c in cells]
    distinct = set(values)
    if not (10 <= len(distinct) <= len(values) / 5):
        return False
    numeric = all(_is_integer(v) for v in distinct)
    textual = not any(_is_float(v) for v in distinct)
    if not (numeric or textual):
        return False
    return bool(ID_NAME.search(name)) or not is_feature


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _is_integer(text: str) -> bool:
    try:
        return float(text).is_integer()
    except ValueError:
        return False


__all__ = ["load_table", "read_features", "read_rows", "read_table", "TaskSpec"]
