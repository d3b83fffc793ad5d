"""``group``: from affinity.json to groupings.json (the recommended grouping and every candidate).

Candidates:

- every clustering proposal of ``graph.propose`` for k = 1..K (all-in-one, greedy modularity,
  Louvain, spectral, average linkage), within the bound;
- the exact selection over a candidate pool (``pools.candidate_pool``): networks are pool subsets
  scored by the chosen source, cost ``network_cost`` each (1 unless affinity.json says otherwise, or
  a measured subset's own ``cost``), at most K networks and/or within ``budget``; overlap is allowed
  unless ``partition``.

K is ``max_groups``; else, with a budget, the number of networks the budget buys; else
``min(N, DEFAULT_MAX_GROUPS)``, which then also bounds the selection.

Every candidate's ``predicted`` is the mean over tasks of the score of the group that serves the
task (its best group when groups overlap): a predicted gain per task relative to single-task
training, so 0 means "no better than training each task alone". ``predicted_stderr`` propagates the
measure's standard errors, treating entries as independent.

The recommendation is the candidate with the highest predicted score, except that candidates within
one standard error of the best (``predicted_stderr`` of the best; at least a 1e-9 relative margin)
count as equally good, and among those the fewest groups win (less inference cost), then the higher
predicted score, then the earlier candidate. Identical groupings proposed by several methods appear
once, under the first method, with all of them in ``proposed_by``. Everything is deterministic.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from taskgroup.errors import ConfigError
from taskgroup.grouping.calibration import CALIBRATED, Calibration, calibrate_affinity, calibration_record
from taskgroup.grouping.graph import linkage_dict, propose
from taskgroup.grouping.pools import candidate_pool
from taskgroup.grouping.scores import MeasuredScorer, matrix_scorer, mean_stderr
from taskgroup.grouping.selection import Network, select
from taskgroup.grouping.sources import choose_source, validate

DEFAULT_MAX_GROUPS = 6
"""K when neither ``max_groups`` nor ``budget`` is given (capped at the number of tasks)."""

SELECTION_TIME_LIMIT = 60.0
"""Seconds the selection solver may take before it returns its best choice so far."""


class _Scoring:
    """Scores and standard errors of groups (index tuples) under the chosen source."""

    def __init__(self, affinity: dict, source_name: str, calibration: Calibration | None = None) -> None:
        self.names = affinity["tasks"]
        self.measured = None
        if source_name == CALIBRATED:
            self.scorer = calibration.group_scorer()
            self.stderr = None
        elif source_name == "subsets":
            self.measured = MeasuredScorer(self.names, affinity["subsets"])
            self.scorer = self.measured
            self.stderr = None
        else:
            entry = affinity["measures"][source_name]
            self.scorer = matrix_scorer(entry["matrix"])
            self.stderr = entry["stderr"]

    def scores(self, group: Sequence[int]) -> dict[int, float]:
        return self.scorer(group)

    def errors(self, group: Sequence[int]) -> dict[int, float]:
        if self.measured is not None:
            return self.measured.group_stderr(group)
        return mean_stderr(self.stderr, group)


def _cluster_matrix(affinity: dict, source_name: str, scoring: _Scoring,
                    calibration: Calibration | None = None) -> tuple[np.ndarray, str]:
    """The pairwise matrix the affinity graph is built from, and its name."""
    if source_name == CALIBRATED:
        return calibration.pair_matrix(len(affinity["tasks"])), "calibrated (predicted pair gains)"
    if source_name != "subsets":
        return affinity["measures"][source_name]["matrix"], source_name
    measured = scoring.measured
    if measured.has_all_pairs() or not affinity["measures"]:
        return measured.pairs, "subsets (measured pairs)"
    fallback = choose_source({**affinity, "subsets": None}, "auto").name
    return affinity["measures"][fallback]["matrix"], fallback


def _bound_k(n: int, max_groups: int | None, budget: float | None, cost: float) -> int:
    if max_groups is not None:
        return min(int(max_groups), n)
    if budget is not None:
        return max(1, min(n, int(math.floor(budget / cost + 1e-9))))
    return min(n, DEFAULT_MAX_GROUPS)


def _check_options(max_groups: Any, budget: Any, measure: Any) -> None:
    if max_groups is not None and (isinstance(max_groups, bool) or not isinstance(max_groups, int) or max_groups < 1):
        raise ConfigError(f"max_groups: expected a whole number >= 1, got {max_groups!r}")
    if budget is not None and (isinstance(budget, bool) or not isinstance(budget, (int, float))
                               or not math.isfinite(budget) or budget <= 0):
        raise ConfigError(f"budget: expected a number > 0, got {budget!r}")
    if not isinstance(measure, str) or not measure:
        raise ConfigError(f"measure: expected a measure name or 'auto', got {measure!r}")


def _describe(groups, names, scoring: _Scoring, served: dict[str, int] | None = None) -> dict:
    """Assignment, predicted mean served score and its standard error for a grouping."""
    index = {t: i for i, t in enumerate(names)}
    values: dict[str, float] = {}
    errors: dict[str, float] = {}
    assignment: dict[str, int] = {}
    for g, group in enumerate(groups):
        members = [index[t] for t in group]
        scores, errs = scoring.scores(members), scoring.errors(members)
        for t in group:
            i = index[t]
            take = served[t] == g if served is not None else (t not in values or scores[i] > values[t])
            if take:
                values[t], errors[t], assignment[t] = scores[i], errs[i], g
    n = len(names)
    predicted = math.fsum(values[t] for t in names) / n
    stderr = math.sqrt(math.fsum(errors[t] ** 2 for t in names)) / n
    return {"assignment": {t: assignment[t] for t in names}, "predicted": predicted, "predicted_stderr": stderr}


def group(
    affinity: dict,
    max_groups: int | None = None,
    budget: float | None = None,
    partition: bool = True,
    measure: str = "auto",
    seed: int = 0,
    time_limit: float | None = SELECTION_TIME_LIMIT,
) -> dict:
    """Propose task groupings from the content of affinity.json and return groupings.json's content.

    ``max_groups`` bounds the number of groups (networks), ``budget`` their total cost; ``partition``
    forbids a task in two groups; ``measure`` picks the score source (``"auto"``, ``"subsets"``,
    ``"calibrated"`` or a measure name; see ``sources``); with ``auto`` (and no measured subsets)
    or ``calibrated`` the result holds ``calibration`` (see ``calibration``). ``seed`` fixes Louvain
    and spectral clustering. The module docstring states how candidates are built and how the
    recommendation is chosen.
    """
    _check_options(max_groups, budget, measure)
    doc = validate(affinity)
    names = doc["tasks"]
    n = len(names)
    calibration = calibrate_affinity(doc) if measure == CALIBRATED or (
        measure == "auto" and doc["subsets"] is None) else None
    source = choose_source(doc, measure, calibration)
    scoring = _Scoring(doc, source.name, calibration)
    matrix, matrix_name = _cluster_matrix(doc, source.name, scoring, calibration)
    k_max = _bound_k(n, max_groups, budget, doc["network_cost"])
    cost_of = _cost_function(doc, names)

    proposals = propose(matrix, names, k_max, seed)
    candidates: dict[tuple, dict] = {}
    for p in proposals:
        _add(candidates, p.groups, p.method, names, scoring, source.name, cost_of, budget)

    selection_bound = max_groups if max_groups is not None else (None if budget is not None else k_max)
    chosen, groups, served, pool_size = _select_over_pool(
        doc, scoring, proposals, cost_of, budget, selection_bound, partition, time_limit)
    _add(candidates, groups, "selection", names, scoring, source.name, cost_of, budget, served)

    ordered = list(candidates.values())
    recommended = _recommend(ordered)
    extra = {"calibration": calibration_record(calibration, source.name)} if calibration is not None else {}
    return {
        "schema": 1,
        "tasks": list(names),
        "recommended": recommended,
        "candidates": ordered,
        "linkage": linkage_dict(matrix, names),
        "selection": {
            "status": chosen.status,
            "objective": chosen.objective,
            "mean_objective": chosen.objective / n,
            "cost": chosen.cost,
            "pool_size": pool_size,
            "partition": bool(partition),
        },
        "settings": {
            "max_groups": max_groups,
            "budget": budget,
            "k_max": k_max,
            "partition": bool(partition),
            "measure_requested": measure,
            "measure": source.name,
            "measure_reason": source.reason,
            "score_rule": source.rule,
            "graph_matrix": matrix_name,
            "seed": seed,
        },
        **extra,
    }


def _select_over_pool(doc, scoring, proposals, cost_of, budget, max_networks, partition, time_limit):
    """Exact selection over the candidate pool (plus every measured subset); returns the
    selection, its groups in canonical order, the group serving each task, and the pool size."""
    names = doc["tasks"]
    index = {t: i for i, t in enumerate(names)}
    clusters = [[index[t] for t in g] for p in proposals for g in p.groups]
    pool = set(candidate_pool(len(names), scoring.scores, clusters))
    pool |= {tuple(sorted(index[t] for t in s["tasks"])) for s in doc["subsets"] or []}
    pool = sorted(pool, key=lambda g: (len(g), g))
    networks = [
        Network(tuple(names[i] for i in g), cost_of(g), {names[i]: s for i, s in scoring.scores(g).items()})
        for g in pool
    ]
    chosen = select(networks, tasks=names, budget=budget, max_networks=max_networks,
                    partition=partition, maximize=True, time_limit=time_limit)
    groups = _canonical_overlapping([networks[c].tasks for c in chosen.chosen], names)
    served = {t: groups.index(networks[chosen.assignment[t]].tasks) for t in names}
    return chosen, groups, served, len(pool)


def _cost_function(doc: dict, names: list[str]):
    index = {t: i for i, t in enumerate(names)}
    own = {}
    for s in doc["subsets"] or []:
        if s.get("cost") is not None:
            own[tuple(sorted(index[t] for t in s["tasks"]))] = float(s["cost"])
    default = doc["network_cost"]
    return lambda g: own.get(tuple(sorted(g)), default)


def _canonical_overlapping(groups, names) -> list[tuple[str, ...]]:
    """Groups in task order, listed by their first task, then by their task indices."""
    order = {t: i for i, t in enumerate(names)}
    ordered = [tuple(sorted(g, key=order.__getitem__)) for g in groups]
    return sorted(ordered, key=lambda g: [order[t] for t in g])


def _add(candidates, groups, method, names, scoring, measure, cost_of, budget, served=None) -> None:
    groups = [tuple(g) for g in groups]
    key = tuple(groups)
    if key in candidates:
        candidates[key]["proposed_by"].append(method)
        return
    index = {t: i for i, t in enumerate(names)}
    cost = math.fsum(cost_of([index[t] for t in g]) for g in groups)
    if budget is not None and cost > budget + 1e-9:
        return
    described = _describe(groups, names, scoring, served)
    candidates[key] = {
        "groups": [list(g) for g in groups],
        "method": method,
        "proposed_by": [method],
        "k": len(groups),
        "measure": measure,
        "cost": cost,
        **described,
    }


def _recommend(candidates: list[dict]) -> dict:
    best = max(candidates, key=lambda c: c["predicted"])
    margin = max(best["predicted_stderr"], 1e-9 * max(1.0, abs(best["predicted"])))
    close = [(i, c) for i, c in enumerate(candidates) if c["predicted"] >= best["predicted"] - margin]
    i, pick = min(close, key=lambda ic: (ic[1]["k"], -ic[1]["predicted"], ic[0]))
    reason = "highest predicted gain"
    if pick is not best:
        reason = (f"fewest groups among candidates within one standard error ({margin:.3g}) "
                  "of the highest predicted gain")
    return {**{k: v for k, v in pick.items()}, "reason": reason}
