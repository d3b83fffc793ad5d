"""CSV and TSV tables: feature columns plus one target column per task.

Read with the standard library (no pandas), or with pyarrow where it is installed (:mod:`.arrow`:
the same results, much faster on large tables; also Parquet). An empty target cell, or a missing-label marker (``NA``,
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
from typing import Any, Callable, Sequence, Union

import numpy as np

from ..errors import ConfigError, DataError
from ..tasks import TaskSet
from . import arrow, splits
from .arrow import ArrowColumns, NotFast
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


def feature_column(path: Path, name: str, cells: list[str], row_label: Callable[[int], str]) -> np.ndarray:
    """A feature column's text cells as floats, every cell checked (complete, finite, float32)."""
    out = np.empty(len(cells), dtype=np.float64)
    for i, cell in enumerate(cells):
        text = cell.strip()
        if not text:
            raise DataError(f"{path}: feature column {name!r}, {row_label(i)}: empty cell "
                            "(features must be complete; fill it or drop the row)")
        try:
            value = float(text)
        except ValueError:
            raise DataError(f"{path}: feature column {name!r}, {row_label(i)}: {text[:40]!r} is not a number "
                            "(list only numeric columns in data.features, or declare this column as a task)") from None
        if not np.isfinite(value):
            raise DataError(f"{path}: feature column {name!r}, {row_label(i)}: {text[:40]!r} is not a finite number")
        if abs(value) > FLOAT32_MAX:
            raise DataError(f"{path}: feature column {name!r}, {row_label(i)}: {text[:40]!r} is too large "
                            "(inputs are stored as 32-bit floats)")
        out[i] = value
    return out


class TextColumns:
    """A table read by the standard-library reader (:func:`read_table`): its header and text cells by column."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.header, rows, self.lines, self.fmt = read_table(path)
        self.n_rows = len(rows)
        self._index = {h: i for i, h in enumerate(self.header)}
        self._columns = list(zip(*rows))

    def row_label(self, i: int) -> str:
        return f"line {self.lines[i]}"

    def cells(self, name: str) -> list[str]:
        """Every cell of column ``name``."""
        return list(self._columns[self._index[name]])

    def distinct(self, name: str) -> set[str]:
        """The column's distinct cells, stripped."""
        return {c.strip() for c in self._columns[self._index[name]]}

    def features(self, names: Sequence[str]) -> np.ndarray:
        """The named feature columns as a float matrix, every cell checked."""
        return np.column_stack([feature_column(self.path, f, self.cells(f), self.row_label) for f in names])

    def target(self, name: str, missing: Sequence[str] | None) -> np.ndarray:
        """The raw target of a column (see :func:`~taskgroup.data.targets.text_column`)."""
        return text_column(self.cells(name), missing)

    def format_meta(self) -> dict[str, Any]:
        return {"delimiter": self.fmt.delimiter, "header": self.fmt.header, "described": self.fmt.describe()}


Columns = Union[TextColumns, ArrowColumns]
READERS = ("auto", "plain", "arrow")


def open_columns(path: Path, reader: str = "auto") -> Columns:
    """The table at ``path`` by column: Parquet through pyarrow; text through pyarrow when it is installed
    (``reader="auto"``) or asked for (``"arrow"``) and takes the table, else the plain reader."""
    if reader not in READERS:
        raise ConfigError(f"table reader must be one of {', '.join(READERS)}, not {reader!r}")
    if path.suffix.lower() == ".parquet":
        return ArrowColumns.read_parquet(path)
    if reader == "arrow" and not arrow.available():
        raise DataError(f"{path}: the arrow reader needs pyarrow: {arrow.INSTALL}")
    if reader != "plain" and path.is_file() and arrow.available():
        try:
            return ArrowColumns.read_text(path, fallback="\t" if path.suffix.lower() == ".tsv" else ",")
        except NotFast:
            pass
    return TextColumns(path)


def read_features(path: str | Path, names: Sequence[str], reader: str = "auto") -> np.ndarray:
    """The columns ``names`` of a table, read and checked exactly as training reads them.

    Prediction uses this, so a table that ``run`` accepted is accepted for prediction too; other
    columns (the targets, say) may be present and are ignored.
    """
    path = Path(path)
    table = open_columns(path, reader)
    try:
        for f in names:
            if f not in table.header:
                raise DataError(f"{path}: no feature column {f!r} (used in training){_closest(f, table.header)}")
        return table.features(names)
    except (DataError, NotFast):
        if isinstance(table, TextColumns) or table.fmt is None:
            raise
        return read_features(path, names, reader="plain")   # the plain reader's own message, naming the line


def load_table(path: str | Path, tasks: Sequence[Any], features: Sequence[str] | None = None, *,
               split: Sequence[float] = (0.6, 0.2, 0.2), seed: int = 0, name: str | None = None,
               groups: str | None = None, split_column: str | None = None,
               missing: Sequence[str] | None = None, reader: str = "auto") -> TaskSet:
    """Read a delimited text table (or, with pyarrow, a Parquet file) into a :class:`TaskSet`.

    ``tasks`` are ``TaskConfig`` objects, :class:`TaskSpec` objects, mappings or bare names; each
    task's ``column`` defaults to its name and its kind is inferred when not declared. ``features``
    defaults to every column that is no task's target, group or split column. ``groups`` names the
    column whose rows share a split; ``split_column`` the column holding the user's own split;
    ``missing`` the target cells that mean "no label". Rows are kept in file order. ``reader``:
    ``auto`` (pyarrow when installed, see :mod:`.arrow`), ``plain`` or ``arrow``; the result is the same.
    """
    path = Path(path)
    specs = [spec_from(t) for t in tasks]
    check_specs(specs, str(path))
    table = open_columns(path, reader)
    args = (path, specs, features, split, seed, name, groups, split_column, missing)
    try:
        return _load(table, *args)
    except (DataError, NotFast):
        if isinstance(table, TextColumns) or table.fmt is None:
            raise
        return _load(TextColumns(path), *args)   # the plain reader's own message, naming the line


def _load(table: Columns, path: Path, specs: list[TaskSpec], features: Sequence[str] | None,
          split: Sequence[float], seed: int, name: str | None, groups: str | None, split_column: str | None,
          missing: Sequence[str] | None) -> TaskSet:
    header = table.header
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
    X = table.features(feature_names)
    task_list, targets, masks = [], {}, {}
    for s in specs:
        if s.expression:
            try:
                raw = derived[s.name].evaluate({c: table.cells(c) for c in derived[s.name].columns})
            except DataError as exc:
                raise DataError(f"{path}: task {s.name!r}: {exc}") from None
        else:
            raw = table.target(s.source_column, missing)
        task, y, mask = build_target(s, raw, str(path), row_label=table.row_label)
        task_list.append(task)
        targets[s.name] = y
        masks[s.name] = mask
    labelled = np.logical_or.reduce(list(masks.values()))
    group_values = given = None
    if groups is not None:
        group_values = _group_column(path, groups, table.cells(groups), table.row_label)
    if split_column is not None:
        given = splits.given(table.cells(split_column), labelled, f"{path}: column {split_column!r}",
                             row_label=table.row_label)
    skip = target_columns | set(special.values())
    repeated = [h for h in header if h not in skip and _repeats(table.distinct(h), table.n_rows, h, h in feature_names)]
    return TaskSet(X, task_list, targets, masks, name=name or path.stem, feature_names=feature_names,
                   split_fractions=tuple(split), split_seed=seed,  # type: ignore[arg-type]
                   meta={"source": str(path), "table_format": table.format_meta(),
                         "repeated_columns": repeated}, groups=group_values, given_split=given)


def _group_column(path: Path, name: str, cells: list[str], row_label: Callable[[int], str]) -> np.ndarray:
    """The group label of every row; an empty cell is an error naming its line."""
    values = [c.strip() for c in cells]
    for i, v in enumerate(values):
        if not v:
            raise DataError(f"{path}: group column {name!r} (data.groups), {row_label(i)}: empty cell; every row "
                            "needs its group")
    return np.array(values, dtype=object)


def _repeats(distinct: set[str], n_rows: int, name: str, is_feature: bool) -> bool:
    """Whether a column looks like a subject/session identifier: few values, each on many rows.

    ``distinct``: its distinct stripped cells. At least 10 distinct values averaging at least 5 rows
    each, all integers or text, and either a name that says so (``subject_id``, ``patient``,
    ``site``...) or not used as a feature.
    """
    if not (10 <= len(distinct) <= n_rows / 5):
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


__all__ = ["load_table", "open_columns", "read_features", "read_rows", "read_table", "TaskSpec", "TextColumns"]
