"""A selection problem after validation: targets in canonical order, eligible networks, and the
evaluation and tie rules shared by the integer program and the exhaustive search."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from typing import Iterable, Sequence

import numpy as np

from taskgroup.errors import DataError, TaskgroupError
from taskgroup.grouping.network import Network

TIE_TOLERANCE = 1e-9
"""Relative tolerance under which two objectives count as equal."""

BUDGET_TOLERANCE = 1e-9
"""Absolute slack on the budget, so that 0.5 + 0.5 + 0.5 fits a budget of 1.5."""


@dataclass
class Problem:
    networks: list[Network]
    targets: list[str]  # canonical order: first appearance over the networks' scores
    eligible: list[int]  # indices of the networks that may be chosen
    partition: bool
    maximize: bool

    def better(self, a: float, b: float) -> bool:
        """Is score ``a`` strictly better than score ``b``?"""
        return a > b if self.maximize else a < b

    @cached_property
    def score_matrix(self) -> np.ndarray:
        """Scores as (network x target), NaN where a network does not serve a target."""
        index = {t: i for i, t in enumerate(self.targets)}
        out = np.full((len(self.networks), len(self.targets)), np.nan)
        for n, net in enumerate(self.networks):
            for t, s in net.scores.items():
                if t in index:
                    out[n, index[t]] = s
        return out

    def evaluate(self, chosen: Sequence[int]) -> tuple[dict[str, int], float] | None:
        """Canonical assignment (best score, ties to the lowest index) and objective of a chosen
        set; None when some target is not served."""
        assignment: dict[str, int] = {}
        values = []
        ordered = sorted(chosen)
        for t in self.targets:
            best = None
            for n in ordered:
                s = self.networks[n].scores.get(t)
                if s is not None and (best is None or self.better(s, self.networks[best].scores[t])):
                    best = n
            if best is None:
                return None
            assignment[t] = best
            values.append(self.networks[best].scores[t])
        return assignment, math.fsum(values)

    def cost(self, chosen: Iterable[int]) -> float:
        return math.fsum(self.networks[n].cost for n in chosen)

    def tie_key(self, chosen: Sequence[int]) -> tuple[int, float, int]:
        """Preference among equally good choices: fewest networks, then cheapest, then fewest task
        slots (sum of network sizes: the least training work)."""
        return (len(chosen), round(self.cost(chosen), 9), sum(len(self.networks[n].tasks) for n in chosen))

    def disjoint(self, chosen: Iterable[int]) -> bool:
        seen: set[str] = set()
        for n in chosen:
            for t in self.networks[n].tasks:
                if t in seen:
                    return False
                seen.add(t)
        return True


def ties(a: float, b: float) -> bool:
    """Are two objectives equal within ``TIE_TOLERANCE``?"""
    return abs(a - b) <= TIE_TOLERANCE * max(1.0, abs(a), abs(b))


def check_bounds(budget: float | None, max_networks: int | None) -> None:
    if budget is not None and (isinstance(budget, bool) or not math.isfinite(budget) or budget < 0):
        raise TaskgroupError(f"budget: expected a finite number >= 0, got {budget}")
    if max_networks is not None and (
        isinstance(max_networks, bool) or int(max_networks) != max_networks or max_networks < 1
    ):
        raise TaskgroupError(f"max_networks: expected a whole number >= 1, got {max_networks}")


def _check_networks(networks: Sequence[Network]) -> None:
    if not networks:
        raise TaskgroupError("no candidate networks to select from")
    for i, net in enumerate(networks):
        if not net.tasks:
            raise DataError(f"networks[{i}].tasks: a network needs at least one task")
        if len(set(net.tasks)) != len(net.tasks):
            raise DataError(f"networks[{i}].tasks: a task is listed twice in {list(net.tasks)}")
        if not math.isfinite(net.cost) or net.cost < 0:
            raise DataError(f"networks[{i}].cost: expected a finite number >= 0, got {net.cost}")
        for task, score in net.scores.items():
            if task not in net.tasks:
                raise DataError(f"networks[{i}].scores: task '{task}' is not one of the network's tasks")
            if not math.isfinite(score):
                raise DataError(f"networks[{i}].scores.{task}: expected a finite number, got {score}")


def prepare(
    networks: Sequence[Network], tasks: Iterable[str] | None, partition: bool, maximize: bool
) -> Problem:
    """Validate the networks and fix the targets (default: every task some network scores)."""
    networks = list(networks)
    _check_networks(networks)
    scored: dict[str, None] = {}
    for net in networks:
        for t in net.tasks:
            if t in net.scores:
                scored.setdefault(t)
    if tasks is None:
        if not scored:
            raise TaskgroupError("no network has a score for any task: there is nothing to select")
        targets = list(scored)
    else:
        wanted = set(tasks)
        if not wanted:
            raise TaskgroupError("no tasks to cover")
        missing = sorted(wanted.difference(scored))
        if missing:
            raise TaskgroupError(f"task '{missing[0]}' has a score in no network, so no selection can serve it")
        targets = [t for t in scored if t in wanted]
    target_set = set(targets)
    eligible = [
        n for n, net in enumerate(networks)
        # in partition mode a chosen network serves every target task it contains
        if not (partition and any(t in target_set and t not in net.scores for t in net.tasks))
    ]
    if partition:
        servable = {t for n in eligible for t in networks[n].tasks}
        lost = [t for t in targets if t not in servable]
        if lost:
            raise TaskgroupError(
                f"task '{lost[0]}': in partition mode no network can serve it (each network that "
                "contains it lacks a score for one of its target tasks)"
            )
    return Problem(networks, targets, eligible, partition, maximize)
