"""Derived targets: a small, safe expression language over a table's columns (``age > 65``).

The grammar is a subset of Python's expression syntax, parsed with :mod:`ast` and checked against a
whitelist of node types before anything is computed; nothing is ever passed to ``eval``. Allowed:

* column names (identifiers) and number or text literals;
* arithmetic ``+ - * / // % **`` and unary ``-``/``+``;
* comparisons ``== != < <= > >=`` (chained too: ``18 <= age < 65``);
* ``and``, ``or``, ``not``.

Anything else (calls, attributes, subscripts, lambdas, comprehensions, ...) is refused with a
message naming the construct. The result is computed column-wise with NumPy; a row where a
referenced cell is empty, or where the arithmetic is undefined (division by zero), has no value, so
it is unlabelled for the derived task. A comparison or logical result is 0/1 (a binary task); an
arithmetic result is a number (a regression task).
"""

from __future__ import annotations

import ast
import warnings
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import numpy as np

from ..errors import ConfigError, DataError

MAX_LENGTH = 1000

_BINARY: dict[type, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    ast.Add: np.add, ast.Sub: np.subtract, ast.Mult: np.multiply, ast.Div: np.true_divide,
    ast.FloorDiv: np.floor_divide, ast.Mod: np.mod, ast.Pow: np.power,
}
_COMPARE: dict[type, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    ast.Eq: np.equal, ast.NotEq: np.not_equal, ast.Lt: np.less, ast.LtE: np.less_equal,
    ast.Gt: np.greater, ast.GtE: np.greater_equal,
}
_ALLOWED = (ast.Expression, ast.BoolOp, ast.And, ast.Or, ast.UnaryOp, ast.Not, ast.USub, ast.UAdd, ast.BinOp,
            ast.Compare, ast.Name, ast.Load, ast.Constant, *_BINARY, *_COMPARE)
_NAMES = {ast.Call: "function calls", ast.Attribute: "attributes", ast.Subscript: "subscripts",
          ast.Lambda: "lambdas", ast.IfExp: "conditional expressions", ast.List: "lists", ast.Tuple: "tuples",
          ast.Dict: "dicts", ast.Set: "sets", ast.ListComp: "comprehensions", ast.GeneratorExp: "generators",
          ast.NamedExpr: "assignments", ast.Starred: "starred expressions", ast.JoinedStr: "f-strings"}


@dataclass(frozen=True)
class Expression:
    """A checked expression: its text, parse tree and the columns it reads."""

    text: str
    tree: ast.Expression
    columns: tuple[str, ...]
    logical: bool

    def evaluate(self, columns: Mapping[str, Sequence[str | None]]) -> np.ndarray:
        """Values per row (float; NaN where undefined) from the table's text cells by column name."""
        n = len(next(iter(columns.values()))) if columns else 0
        values = {name: _column(columns[name]) for name in self.columns}
        with np.errstate(all="ignore"):
            value, missing = _eval(self.tree.body, values, n)
        out = np.asarray(value, dtype=np.float64) if value.dtype.kind in "biuf" else np.full(n, np.nan)
        out = np.broadcast_to(out, (n,)).copy()
        out[np.broadcast_to(missing, (n,)) | ~np.isfinite(out)] = np.nan
        return out


def parse(text: str, where: str) -> Expression:
    """Check ``text`` against the grammar; raise a one-line ConfigError naming what is not allowed."""
    if not isinstance(text, str) or not text.strip():
        raise ConfigError(f"{where}: expression must be a non-empty text such as \"age > 65\"")
    if len(text) > MAX_LENGTH:
        raise ConfigError(f"{where}: expression is longer than {MAX_LENGTH} characters")
    try:
        with warnings.catch_warnings():  # e.g. "1and": Python warns about such literals; they are refused below
            warnings.simplefilter("ignore")
            tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise ConfigError(f"{where}: expression {text!r} is not valid ({exc.msg})") from None
    except (RecursionError, MemoryError, ValueError):
        raise ConfigError(f"{where}: expression {text!r} is nested too deeply") from None
    names: list[str] = []
    for node in ast.walk(tree):
        if not isinstance(node, _ALLOWED):
            what = _NAMES.get(type(node), type(node).__name__)
            raise ConfigError(f"{where}: expression {text!r}: {what} are not allowed (only column names, numbers, "
                              "text, arithmetic, comparisons, and/or/not)")
        if isinstance(node, ast.Constant) and not isinstance(node.value, (int, float, str)):
            raise ConfigError(f"{where}: expression {text!r}: the literal {node.value!r} is not allowed")
        if isinstance(node, ast.Name) and node.id not in names:
            names.append(node.id)
    if not names:
        raise ConfigError(f"{where}: expression {text!r} reads no column")
    body = tree.body
    logical = isinstance(body, (ast.Compare, ast.BoolOp)) or (isinstance(body, ast.UnaryOp)
                                                             and isinstance(body.op, ast.Not))
    return Expression(text.strip(), tree, tuple(names), logical)


def _column(cells: Sequence[str | None]) -> np.ndarray:
    """Numbers when every non-empty cell parses as one (NaN for empty), else the text (None for empty)."""
    stripped = [None if c is None or not str(c).strip() else str(c).strip() for c in cells]
    try:
        return np.array([np.nan if c is None else float(c) for c in stripped], dtype=np.float64)
    except ValueError:
        out = np.empty(len(stripped), dtype=object)
        out[:] = stripped
        return out


def _missing(v: np.ndarray) -> np.ndarray:
    if v.dtype.kind == "f":
        return np.isnan(v)
    if v.dtype.kind == "O":
        return np.array([x is None for x in v.ravel()], dtype=bool).reshape(v.shape)
    return np.zeros(v.shape, dtype=bool)


def _eval(node: ast.AST, values: Mapping[str, np.ndarray], n: int) -> tuple[np.ndarray, np.ndarray]:
    """Value and missing-mask of ``node`` (already checked against the whitelist)."""
    if isinstance(node, ast.Name):
        v = values[node.id]
        return v, _missing(v)
    if isinstance(node, ast.Constant):
        v = np.array(node.value, dtype=object if isinstance(node.value, str) else np.float64)
        return v, np.zeros((), dtype=bool)
    if isinstance(node, ast.UnaryOp):
        v, m = _eval(node.operand, values, n)
        if isinstance(node.op, ast.Not):
            return np.logical_not(_truth(v, node)), m
        _numeric(v, node)
        return (-v if isinstance(node.op, ast.USub) else +v), m
    if isinstance(node, ast.BinOp):
        (a, ma), (b, mb) = _eval(node.left, values, n), _eval(node.right, values, n)
        _numeric(a, node)
        _numeric(b, node)
        return _BINARY[type(node.op)](a, b).astype(np.float64), ma | mb
    if isinstance(node, ast.BoolOp):
        parts = [_eval(v, values, n) for v in node.values]
        combine = np.logical_and if isinstance(node.op, ast.And) else np.logical_or
        value = _truth(parts[0][0], node)
        missing = parts[0][1]
        for v, m in parts[1:]:
            value = combine(value, _truth(v, node))
            missing = missing | m
        return value, missing
    if isinstance(node, ast.Compare):
        left, missing = _eval(node.left, values, n)
        result: np.ndarray = np.ones((), dtype=bool)
        for op, right_node in zip(node.ops, node.comparators):
            right, m = _eval(right_node, values, n)
            missing = missing | m
            if (left.dtype.kind == "O") != (right.dtype.kind == "O") and type(op) not in (ast.Eq, ast.NotEq):
                raise DataError(f"cannot order text against numbers in {ast.unparse(node)!r}")
            if left.dtype.kind == "O" or right.dtype.kind == "O":
                cmp = np.frompyfunc(lambda x, y, f=_COMPARE[type(op)]: bool(f(x, y)) if x is not None and y is not None
                                    else False, 2, 1)(left, right).astype(bool)
            else:
                cmp = _COMPARE[type(op)](left, right)
            result = np.logical_and(result, cmp)
            left = right
        return result, missing
    raise ConfigError(f"unsupported expression part {type(node).__name__}")  # unreachable after parse()


def _numeric(v: np.ndarray, node: ast.AST) -> None:
    if v.dtype.kind == "O":
        raise DataError(f"arithmetic on text in {ast.unparse(node)!r}; only numeric columns can be computed with")


def _truth(v: np.ndarray, node: ast.AST) -> np.ndarray:
    if v.dtype.kind == "O":
        raise DataError(f"a text column is used as true/false in {ast.unparse(node)!r}; compare it, e.g. x == \"yes\"")
    return v.astype(bool) if v.dtype.kind == "b" else np.asarray(v != 0)


__all__ = ["Expression", "parse"]
