"""Exact budgeted network selection (Standley et al., ICML 2020; TAG, Fifty et al., NeurIPS 2021).

Given candidate networks (a task subset, a cost, a score per task the network serves), choose
networks whose total cost fits the budget and/or whose number fits a limit, so that every task is
served by one chosen network and the sum over tasks of the served scores is optimal.

- overlap (default): a task may sit in several chosen networks and is served by the best of them; a
  network may carry helper tasks that it trains on but holds no score for.
- partition: chosen networks are disjoint, and a chosen network serves every task it contains; a
  network holding a target task without a score for it can therefore never be chosen.

NP-hard in general; solved exactly as an integer program (``scipy.optimize.milp``, HiGHS; see
``_program``), with ``select_exhaustive`` as the brute-force reference for small instances.

Ties (objectives within ``TIE_TOLERANCE``, relative) are broken deterministically:

- fewest networks, then cheapest, then fewest task slots (sum of network sizes: the least training
  work). This last rule reproduces Standley et al.'s published HOA curve, where at budgets 4.5 and 5
  of setting 1 the single-task depth network ties with the (depth, normals) pair on validation and
  the published choice is the single network.
- The integer program applies these rules exactly, with extra solves, while it has at most
  ``EXACT_TIES_MAX_VARIABLES`` variables. Larger programs first drop dominated networks (which does
  not change the optimum value) and then take the solver's optimum to a canonical form by local
  swaps towards the same preferences (``_program.local_tie_break``): deterministic, but not
  guaranteed to be the global first choice among ties.
- The exhaustive search ends with the lexicographically smallest index tuple; a served task goes to
  its best chosen network, ties to the lowest index.
"""

from __future__ import annotations

import itertools
import time
from typing import Iterable, Sequence

from taskgroup.errors import TaskgroupError
from taskgroup.grouping import _program
from taskgroup.grouping._problem import TIE_TOLERANCE, check_bounds, prepare, ties
from taskgroup.grouping.network import Network, Selection

__all__ = ["Network", "Selection", "select", "select_exhaustive", "TIE_TOLERANCE"]

EXACT_TIES_MAX_VARIABLES = 2000
"""Largest program (x and y variables) on which ties are broken by exact extra solves."""

EXHAUSTIVE_LIMIT = 22
"""Most networks ``select_exhaustive`` accepts (2**22 subsets)."""


def select(
    networks: Sequence[Network],
    tasks: Iterable[str] | None = None,
    budget: float | None = None,
    max_networks: int | None = None,
    partition: bool = False,
    maximize: bool = True,
    time_limit: float | None = None,
) -> Selection:
    """Choose networks optimally with the integer program (see the module docstring).

    ``tasks``: the tasks to serve (default: every task that some network scores). ``budget`` bounds
    the total cost, ``max_networks`` the number of chosen networks. With ``time_limit`` (seconds) the
    solver may stop early and return its best choice with status ``"time_limit"``. Raises
    ``TaskgroupError`` when no choice serves every task within the bounds, naming the bound at fault
    and the least it would take.
    """
    check_bounds(budget, max_networks)
    problem = prepare(networks, tasks, partition, maximize)
    deadline = None if time_limit is None else time.monotonic() + time_limit
    program = _program.Program(problem)
    exact = program.nvars <= EXACT_TIES_MAX_VARIABLES
    if not exact and not partition:
        program = _program.Program(problem, _program.prune_dominated(problem))
    bounds = program.bounds(budget, max_networks)
    remaining = None if deadline is None else max(deadline - time.monotonic(), 1e-3)
    status, chosen = program.solve(program.objective, bounds, remaining)
    if chosen is None:
        if status == 2:
            raise _program.infeasible(problem, budget, max_networks)
        if status == 1:
            raise TaskgroupError(f"selection found no choice that serves every task within {time_limit:g} s")
        raise TaskgroupError(f"the selection solver failed (HiGHS status {status})")
    found = problem.evaluate(chosen)
    if found is None:  # a feasible point always serves every task; guards against solver slips
        raise TaskgroupError("the selection solver returned a choice that leaves a task unserved")
    if exact and status == 0:
        chosen, found = _program.exact_tie_break(program, bounds, chosen, found, deadline)
    else:
        chosen, found = _program.local_tie_break(problem, chosen, found, budget)
    assignment, objective = found
    state = "optimal" if status == 0 else "time_limit"
    return Selection(tuple(chosen), assignment, objective, state, problem.cost(chosen))


def select_exhaustive(
    networks: Sequence[Network],
    tasks: Iterable[str] | None = None,
    budget: float | None = None,
    max_networks: int | None = None,
    partition: bool = False,
    maximize: bool = True,
    time_limit: float | None = None,
) -> Selection:
    """Same contract as ``select``, by enumerating every subset of networks (small instances only).

    ``time_limit`` is accepted for signature parity and ignored.
    """
    check_bounds(budget, max_networks)
    problem = prepare(networks, tasks, partition, maximize)
    m = len(problem.eligible)
    if m > EXHAUSTIVE_LIMIT:
        raise ValueError(f"select_exhaustive handles at most {EXHAUSTIVE_LIMIT} networks, got {m}")
    limit = m if max_networks is None else min(m, int(max_networks))
    feasible = []
    for size in range(1, limit + 1):
        for combo in itertools.combinations(problem.eligible, size):
            if budget is not None and problem.cost(combo) > budget + _program.BUDGET_TOLERANCE:
                continue
            if partition and not problem.disjoint(combo):
                continue
            found = problem.evaluate(combo)
            if found is not None:
                feasible.append((combo, found))
    if not feasible:
        raise _program.infeasible(problem, budget, max_networks)
    best = feasible[0][1][1]
    for _, (_, value) in feasible:
        if problem.better(value, best):
            best = value
    tied = [f for f in feasible if ties(f[1][1], best)]
    combo, (assignment, objective) = min(tied, key=lambda f: (problem.tie_key(f[0]), f[0]))
    return Selection(tuple(combo), assignment, objective, "optimal", problem.cost(combo))

