"""Recognise how a text table is written: its delimiter and whether its first row is a header.

Any text file is tried (``.csv``, ``.tsv``, ``.txt``, ``.data``, no suffix...): the delimiter is
the candidate (comma, tab, semicolon, pipe, spaces) that splits the first lines into the same
number of fields, at least two, the most fields winning and the order above breaking ties; the
first row is a header when it holds text in a column of numbers (or when no column holds numbers). Without a header the columns are named
``column1``, ``column2``, ... as in a spreadsheet.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from typing import Sequence

#: candidates in order of preference when several split the lines equally well
DELIMITERS: tuple[str, ...] = (",", "\t", ";", "|", " ")
NAMES = {",": "comma", "\t": "tab", ";": "semicolon", "|": "pipe", " ": "space"}
SAMPLE_LINES = 50


@dataclass(frozen=True)
class TableFormat:
    """The delimiter of a text table and whether its first row names the columns."""

    delimiter: str
    header: bool

    def describe(self) -> str:
        """E.g. ``semicolon-separated, header row`` (what ``taskgroup check`` prints)."""
        head = "header row" if self.header else "no header row (columns named column1, column2, ...)"
        return f"{NAMES.get(self.delimiter, repr(self.delimiter))}-separated, {head}"

    def reader_options(self) -> dict[str, object]:
        return {"delimiter": self.delimiter, "skipinitialspace": self.delimiter == " "}


def _split(lines: Sequence[str], delimiter: str) -> list[list[str]] | None:
    try:
        rows = list(csv.reader(lines, delimiter=delimiter, skipinitialspace=delimiter == " "))
    except csv.Error:
        return None
    if delimiter == " ":
        rows = [[c for c in r if c != ""] for r in rows]  # runs of spaces and trailing spaces
    return rows


def _number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def detect(lines: Sequence[str], fallback: str = ",") -> TableFormat:
    """The format of a table from its first non-blank ``lines`` (without line ends)."""
    sample = [ln for ln in lines if ln.strip()][:SAMPLE_LINES]
    best: tuple[int, str] | None = None
    for d in DELIMITERS:
        rows = _split(sample, d)
        if not rows:
            continue
        counts = {len(r) for r in rows}
        if len(counts) == 1 and (k := counts.pop()) >= 2 and (best is None or k > best[0]):
            best = (k, d)
    delimiter = best[1] if best else fallback
    rows = [[c.strip() for c in r] for r in (_split(sample, delimiter) or [[]])]
    return TableFormat(delimiter, _has_header(rows))


def _has_header(rows: list[list[str]]) -> bool:
    """A header names columns: some cell of the first row is text where the rows below hold numbers.

    A first row of numbers only is data; a table whose columns are all text below is taken to have one.
    """
    if not rows or not rows[0]:
        return True
    first, body = rows[0], rows[1:]
    if all(_number(c) or not c for c in first):
        return False
    numeric_columns = [j for j in range(len(first))
                       if body and sum(_number(r[j]) for r in body if j < len(r) and r[j]) >= 0.9 * len(body)]
    if not numeric_columns:
        return True
    return any(first[j] and not _number(first[j]) for j in numeric_columns)


__all__ = ["DELIMITERS", "TableFormat", "detect"]
