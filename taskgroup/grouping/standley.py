"""Standley et al. (ICML 2020) network-selection tables: loader, scoring and the published curves.

Format (tab-separated, five columns s, d, n, k, e; every value a loss, lower is better): the first
row holds five half-size single-task networks of cost 0.5, one per column; each following row is one
network of cost 1 on the tasks whose cells are filled. Used by the parity test and benchmark.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

from taskgroup.errors import DataError
from taskgroup.grouping.scores import predict_hoa_networks
from taskgroup.grouping.selection import Network, Selection, select

TASKS = ("s", "d", "n", "k", "e")
"""Column order: semantic segmentation, depth, surface normals, keypoints, edges."""

BUDGETS = tuple(1 + 0.5 * i for i in range(9))
"""Budgets 1, 1.5, ..., 5 of the published curves."""

FILES = {
    1: {"val": "results.txt", "test": "results_test.txt", "esa": "results_20.txt"},
    2: {"val": "results_large.txt", "test": "results_large_test.txt", "esa": "results_large_20.txt"},
}
"""Table files of settings 1 (Xception17 encoder) and 2 (full-size Xception)."""

PUBLISHED = {
    1: {
        "optimal": (0.50273, 0.46132, 0.45224, 0.44612, 0.44235, 0.43932, 0.43555, 0.43555, 0.43481),
        "hoa": (0.50278, 0.46132, 0.45474, 0.4505, 0.44875, 0.44489, 0.44112, 0.44552, 0.44196),
        "esa": (0.50273, 0.48732, 0.46727, 0.46063, 0.45722, 0.45058, 0.45058, 0.44742, 0.44742),
    },
    2: {
        "optimal": (0.35989, 0.35478, 0.31733, 0.3145, 0.30606, 0.3049, 0.3019, 0.3019, 0.30167),
        "hoa": (0.35989, 0.35758, 0.31733, 0.31562, 0.31177, 0.30525, 0.3019, 0.3019, 0.30187),
        "esa": (0.35989, 0.35989, 0.34696, 0.34696, 0.34483, 0.34483, 0.34483, 0.34483, 0.34483),
    },
}
"""Published totals of test losses per budget (the paper's figures, ``make_plots.py``)."""


def load_table(path: str | Path) -> list[Network]:
    """Parse one table into networks: five half-size singles (cost 0.5), then one row per network."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    rows = [line for line in lines if line.strip()]
    if len(rows) < 2:
        raise DataError(f"{path}: expected a row of half-size networks and at least one network row")
    networks: list[Network] = []
    for r, line in enumerate(rows):
        cells = line.split("\t")
        if len(cells) > len(TASKS):
            raise DataError(f"{path}: row {r + 1} has {len(cells)} columns, expected {len(TASKS)}")
        cells += [""] * (len(TASKS) - len(cells))
        values = {}
        for task, cell in zip(TASKS, cells):
            if cell.strip():
                try:
                    values[task] = float(cell)
                except ValueError:
                    raise DataError(f"{path}: row {r + 1}, column {task}: {cell!r} is not a number") from None
        if not values:
            raise DataError(f"{path}: row {r + 1} has no value")
        if r == 0:
            networks += [Network((t,), 0.5, {t: v}) for t, v in values.items()]
        else:
            networks.append(Network(tuple(values), 1.0, values))
    return networks


def score_on_test(chosen: Sequence[int], test: Sequence[Network]) -> float:
    """Score chosen networks on the test table: sum over tasks of the lowest test loss among them."""
    best: dict[str, float] = {}
    for n in chosen:
        for task, loss in test[n].scores.items():
            best[task] = min(loss, best.get(task, math.inf))
    return math.fsum(best.values())


def selection_curve(
    selected_on: Sequence[Network], test: Sequence[Network], budgets: Sequence[float] = BUDGETS
) -> list[tuple[Selection, float]]:
    """Select on one table (losses: minimise) at each budget and score the choice on the test table."""
    if [n.tasks for n in selected_on] != [n.tasks for n in test]:
        raise DataError("the selection and test tables do not list the same networks in the same order")
    out = []
    for budget in budgets:
        sel = select(selected_on, budget=budget, maximize=False)
        out.append((sel, score_on_test(sel.chosen, test)))
    return out


def load_setting(folder: str | Path, setting: int) -> dict[str, list[Network]]:
    """The validation, test and ESA tables of a setting, plus the HOA prediction from validation."""
    folder = Path(folder)
    tables = {kind: load_table(folder / name) for kind, name in FILES[setting].items()}
    tables["hoa"] = predict_hoa_networks(tables["val"])
    return tables


METHOD_TABLE = {"optimal": "val", "hoa": "hoa", "esa": "esa"}
"""Which table each published method selects on."""
