"""The fast path for large tables: delimited text and Parquet read with pyarrow (extra ``taskgroup-mtl[arrow]``).

pyarrow parses in native code, so a table of a million rows loads in seconds; it also brings Parquet
(``data.path = "x.parquet"``). A text table is read the way the standard-library reader reads it:
the same delimiter and header recognition (:mod:`.sniff`), every cell as text, feature and target
columns parsed with Python's rules (a column pyarrow cannot convert is converted cell by cell). Any
table the fast path does not accept as it stands (an error in a cell, ragged rows, blank or
multi-line rows, space-separated text, ...) is read again by the plain reader, whose one-line
error names the line; so results and messages are those of the plain reader. pyarrow is imported
only here, and only when a table is read.
"""

from __future__ import annotations

import csv
import importlib.util
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..errors import DataError
from .sniff import SAMPLE_LINES, TableFormat, detect
from .targets import missing_markers, text_column

INSTALL = "pip install 'taskgroup-mtl[arrow]'"
FLOAT32_MAX = float(np.finfo(np.float32).max)


class NotFast(Exception):
    """The fast path does not take this table as it stands; the plain reader reads it."""


def available() -> bool:
    """Whether pyarrow can be imported (checked without importing it)."""
    return importlib.util.find_spec("pyarrow") is not None


def _sample(data: bytes) -> list[str]:
    """The first lines the plain reader's format detection sees (it reads ``2 x SAMPLE_LINES`` lines)."""
    end, count = 0, 0
    while count <= 2 * SAMPLE_LINES:
        nl = data.find(b"\n", end)
        if nl < 0:
            end = len(data)
            break
        end, count = nl + 1, count + 1
    try:
        return data[:end].decode("utf-8-sig").splitlines()[:SAMPLE_LINES * 2]
    except UnicodeDecodeError:
        raise NotFast from None


class ArrowColumns:
    """A table read by pyarrow: its header, each column's text cells, features and raw targets.

    The same interface as the plain reader's columns (:class:`~taskgroup.data.table.TextColumns`).
    """

    def __init__(self, path: Path, table: Any, fmt: TableFormat | None, header: list[str]) -> None:
        self.path, self.table, self.fmt, self.header = path, table, fmt, header
        self.n_rows = table.num_rows
        self._index = {h: i for i, h in enumerate(header)}

    @classmethod
    def read_text(cls, path: Path, fallback: str) -> "ArrowColumns":
        """A delimited text table; :class:`NotFast` where the plain reader must read it."""
        import pyarrow as pa
        from pyarrow import csv as pacsv

        data = path.read_bytes()
        if b"\x00" in data:
            raise NotFast
        lines = _sample(data)
        fmt = detect(lines, fallback=fallback)
        if fmt.delimiter == " " or not lines or not lines[0].strip():
            raise NotFast       # runs of spaces, or blank lines before the header: the plain reader's rules
        first = next(csv.reader([lines[0]], **fmt.reader_options()))  # type: ignore[arg-type]
        header = [c.strip() for c in first] if fmt.header else [f"column{i + 1}" for i in range(len(first))]
        if any(not h for h in header) or len(set(header)) != len(header):
            raise NotFast
        keys = [f"c{i}" for i in range(len(header))]
        try:
            table = pacsv.read_csv(
                pa.BufferReader(data[3:] if data.startswith(b"\xef\xbb\xbf") else data),
                read_options=pacsv.ReadOptions(column_names=keys, skip_rows=1 if fmt.header else 0),
                parse_options=pacsv.ParseOptions(delimiter=fmt.delimiter, newlines_in_values=False),
                convert_options=pacsv.ConvertOptions(column_types={k: pa.string() for k in keys},
                                                     strings_can_be_null=False, quoted_strings_can_be_null=False))
        except (pa.ArrowInvalid, pa.ArrowTypeError, OSError):
            raise NotFast from None
        if table.num_rows == 0:
            raise NotFast
        return cls(path, table, fmt, header)

    @classmethod
    def read_parquet(cls, path: Path) -> "ArrowColumns":
        """A Parquet file; its problems are reported here (rows counted from 1)."""
        if not path.is_file():
            raise DataError(f"{path}: data file not found")
        if not available():
            raise DataError(f"{path}: reading Parquet needs pyarrow: {INSTALL}")
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            table = pq.read_table(path)
        except (pa.ArrowInvalid, pa.ArrowTypeError, OSError) as exc:
            raise DataError(f"{path}: cannot read as Parquet ({' '.join(str(exc).split())[:200]})") from None
        header = [str(n).strip() for n in table.column_names]
        for i, name in enumerate(header):
            if not name:
                raise DataError(f"{path}: column {i + 1} has an empty header")
            if header.index(name) != i:
                raise DataError(f"{path}: duplicate column header {name!r} (columns {header.index(name) + 1} and {i + 1})")
        if table.num_rows == 0:
            raise DataError(f"{path}: has a header but no data rows")
        return cls(path, table, None, header)

    def row_label(self, i: int) -> str:
        return f"row {i + 1}"

    def _column(self, name: str) -> Any:
        return self.table.column(self._index[name]).combine_chunks()

    def _text(self, name: str) -> Any:
        """The column as text, nulls as empty cells (what the plain reader sees)."""
        import pyarrow as pa
        import pyarrow.compute as pc

        col = self._column(name)
        if not pa.types.is_string(col.type) and not pa.types.is_large_string(col.type):
            col = pc.cast(col, pa.string())
        return pc.fill_null(col, "")

    def cells(self, name: str) -> list[str]:
        """Every cell of column ``name`` as text."""
        return self._text(name).to_pylist()

    def distinct(self, name: str) -> set[str]:
        """The column's distinct cells, stripped."""
        import pyarrow.compute as pc

        return set(pc.unique(pc.utf8_trim_whitespace(self._text(name))).to_pylist())

    def features(self, names: Sequence[str]) -> np.ndarray:
        """The named columns as a float matrix, every cell checked as the plain reader checks it."""
        return np.column_stack([self._feature(n) for n in names])

    def _feature(self, name: str) -> np.ndarray:
        import pyarrow as pa
        import pyarrow.compute as pc

        col = self._column(name)
        out: np.ndarray | None = None
        if pa.types.is_integer(col.type) or pa.types.is_floating(col.type):
            if not col.null_count:
                out = col.to_numpy(zero_copy_only=False).astype(np.float64)
        else:
            try:
                out = pc.cast(pc.utf8_trim_whitespace(self._text(name)), pa.float64()).to_numpy(zero_copy_only=False)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                out = None
        if out is None or not np.isfinite(out).all() or (np.abs(out) > FLOAT32_MAX).any():
            if self.fmt is not None:
                raise NotFast      # the plain reader names the line, or reads what pyarrow would not
            from .table import feature_column   # noqa: PLC0415 (the checks of the plain reader)
            return feature_column(self.path, name, self.cells(name), self.row_label)
        return out

    def target(self, name: str, missing: Sequence[str] | None) -> np.ndarray:
        """The raw target of a column: floats with NaN for missing labels when every label is a number,
        else the stripped text cells (None for missing), as :func:`~taskgroup.data.targets.text_column`."""
        import pyarrow as pa
        import pyarrow.compute as pc

        col = self._column(name)
        if pa.types.is_integer(col.type) or pa.types.is_floating(col.type) or pa.types.is_boolean(col.type):
            return np.asarray(pc.cast(col, pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64)
        text = pc.utf8_trim_whitespace(self._text(name))
        markers = pa.array(sorted(missing_markers(missing) | {""}), pa.string())
        labels = pc.if_else(pc.is_in(pc.utf8_lower(text), value_set=markers), pa.scalar(None, pa.string()), text)
        try:
            return np.asarray(pc.cast(labels, pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return text_column(self.cells(name), missing)

    def format_meta(self) -> dict[str, Any]:
        if self.fmt is None:
            return {"parquet": True, "described": "Parquet"}
        return {"delimiter": self.fmt.delimiter, "header": self.fmt.header, "described": self.fmt.describe()}
