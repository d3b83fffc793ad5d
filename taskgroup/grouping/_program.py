"""The integer program behind ``select`` (scipy.optimize.milp, HiGHS), its infeasibility diagnosis,
and the deterministic tie rules applied to its answer.

Variables: binary ``x_n`` (network n chosen) for the eligible networks; in overlap mode also
continuous ``y_{t,n}`` in [0, 1] (target t served by n) with ``sum_n y_{t,n} = 1`` and
``y_{t,n} <= x_n``. With x fixed, serving each task by its best chosen network is an assignment with
an integral optimum, so y needs no integrality; the reported assignment is recomputed from x. In
partition mode only x exists: every target lies in exactly one chosen network, every other task in
at most one, and a network's value is the sum of its targets' scores.
"""

from __future__ import annotations

import math
import time
from typing import Mapping, Sequence

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import coo_matrix

from taskgroup.errors import TaskgroupError
from taskgroup.grouping._problem import BUDGET_TOLERANCE, TIE_TOLERANCE, Problem, ties

Row = tuple[np.ndarray, float, float]


class Program:
    """The sparse integer program of a ``Problem`` over a subset of its eligible networks."""

    def __init__(self, problem: Problem, networks: Sequence[int] | None = None) -> None:
        self.problem = problem
        self.columns = list(problem.eligible if networks is None else networks)
        self.m = len(self.columns)
        self.col = {n: i for i, n in enumerate(self.columns)}
        target_index = {t: i for i, t in enumerate(problem.targets)}
        self.y_pairs: list[tuple[int, int]] = []  # (target index, network index)
        if not problem.partition:
            for n in self.columns:
                net = problem.networks[n]
                self.y_pairs += [(target_index[t], n) for t in net.tasks if t in net.scores and t in target_index]
        self.nvars = self.m + len(self.y_pairs)
        sign = -1.0 if problem.maximize else 1.0  # milp minimises
        self.objective = np.zeros(self.nvars)
        if problem.partition:
            for n in self.columns:
                net = problem.networks[n]
                self.objective[self.col[n]] = sign * math.fsum(net.scores[t] for t in net.tasks if t in target_index)
        else:
            for k, (ti, n) in enumerate(self.y_pairs):
                self.objective[self.m + k] = sign * problem.networks[n].scores[problem.targets[ti]]
        self._matrix = self._structure(target_index)

    def _structure(self, target_index: dict[str, int]) -> LinearConstraint:
        rows, cols, vals, lo, hi = [], [], [], [], []

        def add(columns: list[int], values: list[float], a: float, b: float) -> None:
            rows.extend([len(lo)] * len(columns))
            cols.extend(columns)
            vals.extend(values)
            lo.append(a)
            hi.append(b)

        p = self.problem
        if p.partition:
            members: dict[str, list[int]] = {}
            for n in self.columns:
                for t in p.networks[n].tasks:
                    members.setdefault(t, []).append(self.col[n])
            for t in p.targets:
                add(members.get(t, []), [1.0] * len(members.get(t, [])), 1.0, 1.0)
            for t, columns in members.items():
                if t not in target_index:
                    add(columns, [1.0] * len(columns), 0.0, 1.0)
        else:
            by_target: dict[int, list[int]] = {}
            for k, (ti, n) in enumerate(self.y_pairs):
                by_target.setdefault(ti, []).append(self.m + k)
                add([self.m + k, self.col[n]], [1.0, -1.0], -np.inf, 0.0)
            for ti in range(len(p.targets)):
                columns = by_target.get(ti, [])
                add(columns, [1.0] * len(columns), 1.0, 1.0)
        shape = (len(lo), self.nvars)
        return LinearConstraint(coo_matrix((vals, (rows, cols)), shape=shape).tocsr(), lo, hi)

    def x_row(self, values: Mapping[int, float]) -> np.ndarray:
        """A dense row over the variables with the given weights on x."""
        row = np.zeros(self.nvars)
        for n, value in values.items():
            if n in self.col:
                row[self.col[n]] = value
        return row

    def bounds(self, budget: float | None, max_networks: int | None) -> list[Row]:
        p = self.problem
        rows = []
        if budget is not None:
            rows.append((self.x_row({n: p.networks[n].cost for n in self.columns}), -np.inf, budget + BUDGET_TOLERANCE))
        if max_networks is not None:
            rows.append((self.x_row({n: 1.0 for n in self.columns}), -np.inf, float(max_networks)))
        return rows

    def solve(self, c: np.ndarray, extra: list[Row], time_limit: float | None) -> tuple[int, tuple[int, ...] | None]:
        """HiGHS status and the chosen networks (None when no feasible point was found)."""
        integrality = np.zeros(self.nvars)
        integrality[: self.m] = 1
        options: dict = {"mip_rel_gap": 0.0, "presolve": True}
        if time_limit is not None:
            options["time_limit"] = max(float(time_limit), 1e-3)
        constraints = [self._matrix] + [LinearConstraint(r.reshape(1, -1), [a], [b]) for r, a, b in extra]
        res = milp(c, integrality=integrality, bounds=Bounds(0, 1), constraints=constraints, options=options)
        if res.x is None:
            return res.status, None
        return res.status, tuple(sorted(n for n in self.columns if res.x[self.col[n]] > 0.5))

    def indicator(self, chosen: Sequence[int]) -> np.ndarray:
        return self.x_row({n: 1.0 for n in chosen})


def prune_dominated(problem: Problem) -> list[int]:
    """Eligible networks worth keeping in overlap mode: drop a network that serves no target, or
    that another serves at least as well on each of its targets at no higher cost (strictly better
    somewhere, or equal and earlier). Swapping it for its dominator never hurts, so the optimum
    value is unchanged."""
    scores = problem.score_matrix if problem.maximize else -problem.score_matrix
    eligible = np.array(problem.eligible)
    sub = scores[eligible]
    cost = np.array([problem.networks[n].cost for n in eligible])
    keep = []
    for a in range(len(eligible)):
        served = np.flatnonzero(~np.isnan(sub[a]))
        if served.size == 0:
            continue
        other = sub[:, served]
        mine = sub[a, served]
        with np.errstate(invalid="ignore"):
            at_least = np.all(other >= mine, axis=1) & (cost <= cost[a])
            strict = np.any(other > mine, axis=1) | (cost < cost[a]) | (np.arange(len(eligible)) < a)
        at_least[a] = False
        if not np.any(at_least & strict):
            keep.append(int(eligible[a]))
    return keep


def exact_tie_break(program: Program, extra: list[Row], chosen, found, deadline: float | None):
    """Among optimal choices take the fewest networks, then the cheapest, then the fewest task
    slots: two more solves with the optimum (then the first preference) held fixed."""
    p = program.problem
    objective = found[1]
    signed = -objective if p.maximize else objective
    extra = extra + [(program.objective, -np.inf, signed + TIE_TOLERANCE * max(1.0, abs(objective)))]
    total = math.fsum(p.networks[n].cost for n in program.columns) + 1.0
    stages = (
        program.x_row({n: 1.0 + p.networks[n].cost / total for n in program.columns}),
        program.x_row({n: float(len(p.networks[n].tasks)) for n in program.columns}),
    )
    best = (chosen, found)
    for stage in stages:
        remaining = None if deadline is None else deadline - time.monotonic()
        if remaining is not None and remaining <= 0:
            break
        _, other = program.solve(stage, extra, remaining)
        again = None if other is None else p.evaluate(other)
        if again is None or not ties(again[1], objective):
            break
        if p.tie_key(other) <= p.tie_key(best[0]):
            best = (other, again)
        value = float(stage @ program.indicator(best[0]))
        extra = extra + [(stage, -np.inf, value + TIE_TOLERANCE * max(1.0, abs(value)))]
    return best


def local_tie_break(problem: Problem, chosen, found, budget: float | None):
    """Cheap deterministic canonical form for large programs: drop chosen networks that serve no
    task, then repeatedly swap a chosen network for an unchosen one that serves its tasks at least
    as well and comes first by (cost, task slots, index), while the objective stays tied."""
    objective = found[1]
    scores = problem.score_matrix if problem.maximize else -problem.score_matrix
    index = {t: i for i, t in enumerate(problem.targets)}
    eligible = np.array(problem.eligible)
    key = [(problem.networks[n].cost, len(problem.networks[n].tasks), n) for n in range(len(problem.networks))]
    best = (tuple(chosen), found)
    changed = True
    while changed:
        changed = False
        chosen, (assignment, _) = best
        used = tuple(n for n in chosen if n in set(assignment.values()))
        if used != chosen and problem.evaluate(used) is not None:
            best = (used, problem.evaluate(used))
            changed = True
            continue
        if problem.partition:
            break
        for n in chosen:
            served = [index[t] for t, m in assignment.items() if m == n]
            with np.errstate(invalid="ignore"):
                fits = np.all(scores[eligible][:, served] >= scores[n, served], axis=1)
            spare = None if budget is None else budget + BUDGET_TOLERANCE - problem.cost(chosen) + problem.networks[n].cost
            options = sorted(
                key[int(m)] for m in eligible[fits]
                if int(m) not in chosen and key[int(m)] < key[n]
                and (spare is None or problem.networks[int(m)].cost <= spare)
            )
            for _, _, m in options:
                trial = tuple(sorted(set(chosen) - {n} | {m}))
                again = problem.evaluate(trial)
                if again is not None and (ties(again[1], objective) or problem.better(again[1], objective)):
                    best = (trial, again)
                    changed = True
                    break
            if changed:
                break
    return best


def cover_minimum(problem: Problem, weight: Mapping[int, float]) -> float | None:
    """The least total weight of networks that serve every target (None: no cover exists)."""
    program = Program(problem)
    _, chosen = program.solve(program.x_row(weight), [], None)
    return None if chosen is None else math.fsum(weight[n] for n in chosen)


def infeasible(problem: Problem, budget: float | None, max_networks: int | None) -> TaskgroupError:
    """A one-line error saying which bound rules out every covering choice, and by how much."""
    what = "non-overlapping networks" if problem.partition else "networks"
    min_count = cover_minimum(problem, {n: 1.0 for n in problem.eligible})
    if min_count is None:
        return TaskgroupError(f"no choice of {what} serves every task ({', '.join(problem.targets)})")
    if max_networks is not None and min_count > max_networks + 0.5:
        return TaskgroupError(
            f"no choice of at most {max_networks} {what} serves every task: it takes at least {round(min_count)}"
        )
    if budget is not None:
        min_cost = cover_minimum(problem, {n: problem.networks[n].cost for n in problem.eligible})
        if min_cost is not None and min_cost > budget + BUDGET_TOLERANCE:
            return TaskgroupError(
                f"no choice of {what} serves every task within budget {budget:g}: "
                f"the cheapest choice that does costs {min_cost:g}"
            )
    return TaskgroupError(
        f"no choice of {what} serves every task within budget {budget} with at most {max_networks} "
        "networks at once: raise either bound"
    )
