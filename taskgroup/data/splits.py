"""One split per row for every task: by fractions, by a group column, or the user's own column.

A row is training, validation or test data for every task that labels it, so no row can be
training data for one task and validation or test data for another (a network sharing the two
tasks would otherwise be scored on rows whose labels it memorised). Three ways to assign it:

- **fractions** (seeded): rows that carry the same labels (the same tasks, and the same class for
  each classification task) are exchangeable, so each such stratum is cut at sizes chosen to keep
  every task's, and every class's, split sizes close to the fractions over all strata so far; the
  rows of a stratum are taken in a seeded random order. A class or task with at least one row per
  split gets a row in every split;
- **groups**: all rows of a group (subject, patient, site: ``data.groups``) land in one split; groups
  are placed one by one, largest first, where they bring the tasks' and classes' split sizes
  closest to the fractions;
- **given**: the user's own column of ``train``/``val``/``test`` (``data.split_column``).

Rows no task labels get no split (:data:`~taskgroup.tasks.UNLABELLED`).
"""

from __future__ import annotations

import csv
import hashlib
import io
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np

from ..errors import DataError
from ..tasks import SPLIT_NAMES, TEST, TRAIN, UNLABELLED, VAL

#: accepted values of a user's split column (case-insensitive, surrounding spaces ignored)
SPLIT_VALUES: dict[str, int] = {"train": TRAIN, "val": VAL, "validation": VAL, "test": TEST}


def check_fractions(fractions: Sequence[float]) -> tuple[float, float, float]:
    """Three non-negative fractions adding up to 1, or a one-line error."""
    f = tuple(float(x) for x in fractions)
    if len(f) != 3 or any(x < 0 for x in f) or abs(sum(f) - 1) > 1e-6:
        raise DataError(f"split fractions {tuple(fractions)} must be three non-negative numbers that add up to 1")
    return f  # type: ignore[return-value]


def _counters(masks: Mapping[str, np.ndarray], names: Sequence[str],
              classes: Mapping[str, np.ndarray] | None) -> np.ndarray:
    """Membership ``(rows, counters)``: one counter per task, and one per class of a classification task."""
    cols = []
    for name in names:
        m = np.asarray(masks[name], dtype=bool)
        cols.append(m)
        if classes is not None and name in classes:
            labels = np.asarray(classes[name])
            for c in np.unique(labels[m]):
                cols.append(m & (labels == c))
    return np.column_stack(cols) if cols else np.zeros((0, 0), dtype=bool)


def _apportion(target: np.ndarray, m: int, allowed: np.ndarray) -> np.ndarray:
    """Non-negative integers summing to ``m``, close to ``target`` (largest remainder; ties to train)."""
    t = np.where(allowed, np.maximum(target, 0.0), 0.0)
    if t.sum() <= 0:
        t = allowed.astype(np.float64)
    t = t * (m / t.sum())
    x = np.floor(t).astype(np.int64)
    order = np.argsort(-(t - x), kind="stable")
    x[order[: m - int(x.sum())]] += 1
    return x


def by_fractions(masks: Mapping[str, np.ndarray], names: Sequence[str], fractions: Sequence[float], seed: int,
                 classes: Mapping[str, np.ndarray] | None = None) -> np.ndarray:
    """One split per row from seeded fractions, stratified by label pattern (see the module notes)."""
    f = np.asarray(check_fractions(fractions))
    allowed = f > 0
    n = len(next(iter(masks.values())))
    member = _counters(masks, names, classes)
    keys = np.random.default_rng(seed).random(n)
    out = np.full(n, UNLABELLED, dtype=np.int8)
    labelled = member.any(axis=1)
    if not labelled.any():
        return out
    rows = np.flatnonzero(labelled)
    sig, inverse = np.unique(member[rows], axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    sizes = np.bincount(inverse, minlength=len(sig))
    total = member.sum(axis=0).astype(np.float64)
    weight = 1.0 / np.maximum(total, 1.0)
    counts = np.zeros((member.shape[1], 3))
    seen = np.zeros(member.shape[1])
    # largest strata first, so the small ones that follow can even out what rounding left over
    for s in sorted(range(len(sig)), key=lambda j: (-sizes[j], sig[j].tobytes())):
        k = np.flatnonzero(sig[s])
        m = int(sizes[s])
        seen[k] += m
        deficit = f[None, :] * seen[k, None] - counts[k]
        x = _apportion(weight[k] @ deficit / weight[k].sum(), m, allowed)
        counts[k] += x
        members = rows[inverse == s]
        members = members[np.argsort(keys[members], kind="stable")]
        out[members[: x[0]]] = TRAIN
        out[members[x[0]: x[0] + x[1]]] = VAL
        out[members[x[0] + x[1]:]] = TEST
    _every_split_reached(out, member, keys, allowed)
    return out


def _every_split_reached(out: np.ndarray, member: np.ndarray, keys: np.ndarray, allowed: np.ndarray) -> None:
    """Give every counter with enough rows at least one row in each split, moving single rows."""
    wanted = np.flatnonzero(allowed)
    total = member.sum(axis=0)
    for k in np.argsort(total, kind="stable"):
        if total[k] < len(wanted):
            continue
        col = member[:, k]
        for s in wanted:
            have = np.array([np.sum(col & (out == d)) for d in range(3)])
            if have[s] > 0:
                continue
            donor = int(np.argmax(have))
            if have[donor] < 2:
                continue
            candidates = np.flatnonzero(col & (out == donor))
            out[candidates[np.argmax(keys[candidates])]] = s


def by_groups(masks: Mapping[str, np.ndarray], names: Sequence[str], fractions: Sequence[float], seed: int,
              groups: np.ndarray, classes: Mapping[str, np.ndarray] | None = None) -> np.ndarray:
    """One split per row with every group's rows in one split (see the module notes)."""
    f = np.asarray(check_fractions(fractions))
    allowed = f > 0
    n = len(next(iter(masks.values())))
    codes = group_codes(groups)
    if len(codes) != n:
        raise DataError(f"the group column has {len(codes)} values for {n} rows")
    member = _counters(masks, names, classes)
    labelled = member.any(axis=1)
    out = np.full(n, UNLABELLED, dtype=np.int8)
    if not labelled.any():
        return out
    G = int(codes.max()) + 1
    per_group = np.column_stack([np.bincount(codes[member[:, k]], minlength=G) for k in range(member.shape[1])])
    total = per_group.sum(axis=0).astype(np.float64)
    weight = 1.0 / np.maximum(total, 1.0)
    keys = np.random.default_rng(seed).random(G)
    size = per_group.sum(axis=1)
    counts = np.zeros((member.shape[1], 3))
    seen = np.zeros(member.shape[1])
    choice = np.zeros(G, dtype=np.int8)
    for g in sorted(np.flatnonzero(size > 0), key=lambda j: (-size[j], keys[j])):
        k = np.flatnonzero(per_group[g])
        c = per_group[g, k].astype(np.float64)
        seen[k] += c
        deficit = f[None, :] * seen[k, None] - counts[k]
        cost = (weight[k] * c) @ (c[:, None] - 2.0 * deficit)
        cost = np.where(allowed, cost, np.inf)
        s = int(np.argmin(cost))
        counts[k, s] += c
        choice[g] = s
    out[labelled] = choice[codes[labelled]]
    return out


def group_codes(groups: Sequence[object] | np.ndarray) -> np.ndarray:
    """Integer codes 0..G-1 for group labels of any type, in order of first appearance."""
    values = np.asarray(groups)
    if values.dtype.kind in "iub" or values.dtype.kind in "US":
        _, first, inverse = np.unique(values, return_index=True, return_inverse=True)
    else:
        _, first, inverse = np.unique(np.array([str(v) for v in values.tolist()]), return_index=True,
                                      return_inverse=True)
    rank = np.argsort(np.argsort(first))
    return rank[inverse.reshape(-1)].astype(np.int64)


def given(values: Sequence[str | None], labelled: np.ndarray, where: str,
          row_label: Callable[[int], str] | None = None) -> np.ndarray:
    """Parse a user's split column: ``train``, ``val``/``validation``, ``test`` (empty only on unlabelled rows)."""
    name = row_label or (lambda i: f"row {i}")
    out = np.full(len(values), UNLABELLED, dtype=np.int8)
    for i, v in enumerate(values):
        text = "" if v is None else str(v).strip().lower()
        if text in SPLIT_VALUES:
            out[i] = SPLIT_VALUES[text] if labelled[i] else UNLABELLED
        elif text or labelled[i]:
            raise DataError(f"{where}, {name(i)}: split value {str(v)[:40]!r} is not one of train, val, "
                            "validation, test")
    return out


def per_task(row_split: np.ndarray, masks: Mapping[str, np.ndarray], names: Sequence[str]) -> dict[str, np.ndarray]:
    """Each task's view of the row split: the row's split where the task labels it, else UNLABELLED."""
    return {n: np.where(np.asarray(masks[n], dtype=bool), row_split, UNLABELLED).astype(np.int8) for n in names}


def row_split(splits: Mapping[str, np.ndarray], names: Sequence[str]) -> np.ndarray:
    """The one split of each row, from the tasks' views; refuses a row in two splits for two tasks."""
    n = len(next(iter(splits.values())))
    out = np.full(n, UNLABELLED, dtype=np.int8)
    for name in names:
        s = np.asarray(splits[name])
        clash = (s != UNLABELLED) & (out != UNLABELLED) & (s != out)
        if clash.any():
            i = int(np.flatnonzero(clash)[0])
            raise DataError(f"row {i} is in the {SPLIT_NAMES[int(s[i])]} split for task {name!r} but in the "
                            f"{SPLIT_NAMES[int(out[i])]} split for another task; a row has one split for all tasks")
        out = np.where(s != UNLABELLED, s, out).astype(np.int8)
    return out


def split_hash(split: np.ndarray) -> str:
    """A short content hash of a row split, recorded in the run documents."""
    return hashlib.sha256(np.ascontiguousarray(split, dtype=np.int8).tobytes()).hexdigest()[:16]


def write_csv(path: str | Path, split: np.ndarray) -> Path:
    """Write ``row,split`` for every input row (empty split for rows no task labels), atomically."""
    from ..runtime.atomic import write_text

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["row", "split"])
    w.writerows([i, SPLIT_NAMES.get(int(s), "")] for i, s in enumerate(split.tolist()))
    return write_text(path, buf.getvalue())


__all__ = ["SPLIT_VALUES", "by_fractions", "by_groups", "check_fractions", "given", "group_codes", "per_task",
           "row_split", "split_hash", "write_csv"]
