"""Group scores: how well each task is predicted to do in a group, from pairwise affinities or
measured subsets, and the candidate networks built from them for selection.

Conventions. ``M[i][j]`` is the effect of source task i on target task j (higher = more helpful), as
in affinity.json. A score is a task's predicted gain in a group relative to its single-task network,
so a task alone scores 0 (the single-task baseline) under every rule here.

- HOA (Standley et al., 2020): with pairwise transfer gains, a task's score in a group is the mean of
  its gains in the pairs inside the group, i.e. the mean of ``M[i][j]`` over the other members i.
- TAG (Fifty et al., 2021): with one-run lookahead affinities, a task's score in a group is the mean
  affinity onto it from the other members: numerically the same mean, read from a different matrix.
- Measured subsets: the gain measured for the exact subset (``analyze --exhaustive`` or user files);
  a subset that was not measured falls back to HOA over the measured pairs.

Missing entries (NaN) are skipped in the means; a task with no usable entry scores 0.
"""

from __future__ import annotations

import math
from typing import Callable, Iterable, Mapping, Sequence

import numpy as np

from taskgroup.grouping.network import Network

GroupScorer = Callable[[Sequence[int]], dict[int, float]]
"""Maps a group (task indices) to each member's score."""


def _mean_onto(matrix: np.ndarray, group: Sequence[int]) -> dict[int, float]:
    members = list(dict.fromkeys(int(i) for i in group))
    out = {}
    for j in members:
        values = [matrix[i, j] for i in members if i != j and not math.isnan(matrix[i, j])]
        out[j] = float(math.fsum(values) / len(values)) if values else 0.0
    return out


def hoa_group_scores(M: Sequence[Sequence[float]] | np.ndarray, group: Sequence[int]) -> dict[int, float]:
    """Higher-order approximation: each member's mean pairwise gain from the other members.

    ``M`` holds pairwise transfer gains (``M[i][j]`` = gain of j when trained with i). A singleton
    scores 0, its own single-task baseline.
    """
    return _mean_onto(np.asarray(M, dtype=float), group)


def tag_group_scores(M: Sequence[Sequence[float]] | np.ndarray, group: Sequence[int]) -> dict[int, float]:
    """TAG group score: each member's mean affinity from the other members (singleton: 0).

    ``M`` holds one-run affinities such as lookahead transfer or gradient cosine.
    """
    return _mean_onto(np.asarray(M, dtype=float), group)


def matrix_scorer(M: Sequence[Sequence[float]] | np.ndarray, rule: str = "hoa") -> GroupScorer:
    """A ``GroupScorer`` over a pairwise matrix, by rule ``"hoa"`` or ``"tag"``."""
    matrix = np.asarray(M, dtype=float)
    if rule not in ("hoa", "tag"):
        raise ValueError(f"unknown group score rule {rule!r}")
    return lambda group: _mean_onto(matrix, group)


def mean_stderr(stderr: Sequence[Sequence[float]] | np.ndarray | None, group: Sequence[int]) -> dict[int, float]:
    """Standard error of each member's mean-onto score, treating entries as independent."""
    members = list(dict.fromkeys(int(i) for i in group))
    if stderr is None:
        return {j: 0.0 for j in members}
    se = np.asarray(stderr, dtype=float)
    out = {}
    for j in members:
        values = [se[i, j] ** 2 for i in members if i != j and not math.isnan(se[i, j])]
        out[j] = math.sqrt(math.fsum(values)) / len(values) if values else 0.0
    return out


class MeasuredScorer:
    """Scores from measured subsets; unmeasured groups fall back to HOA over the measured pairs."""

    def __init__(self, names: Sequence[str], subsets: Iterable[Mapping]) -> None:
        self.names = list(names)
        index = {t: i for i, t in enumerate(self.names)}
        self.table: dict[frozenset[int], dict[int, float]] = {}
        self.stderr: dict[frozenset[int], dict[int, float]] = {}
        for entry in subsets:
            key = frozenset(index[t] for t in entry["tasks"])
            self.table[key] = {index[t]: float(v) for t, v in entry["scores"].items()}
            self.stderr[key] = {index[t]: float(v) for t, v in dict(entry.get("stderr") or {}).items()}
        n = len(self.names)
        self.pairs = np.full((n, n), np.nan)
        for key, scores in self.table.items():
            if len(key) == 2:
                i, j = sorted(key)
                self.pairs[i, j] = scores.get(j, np.nan)
                self.pairs[j, i] = scores.get(i, np.nan)

    def has_all_pairs(self) -> bool:
        """Whether every pair was measured, so that ``pairs`` is a full transfer matrix."""
        off = ~np.eye(len(self.names), dtype=bool)
        return bool(np.all(~np.isnan(self.pairs[off])))

    def __call__(self, group: Sequence[int]) -> dict[int, float]:
        key = frozenset(int(i) for i in group)
        if len(key) == 1:
            (j,) = key
            return {j: float(self.table.get(key, {}).get(j, 0.0))}
        measured = self.table.get(key)
        predicted = _mean_onto(self.pairs, list(group))
        if measured is None:
            return predicted
        return {j: measured.get(j, predicted[j]) for j in predicted}

    def group_stderr(self, group: Sequence[int]) -> dict[int, float]:
        """Reported standard errors of a measured subset's scores (0 where none is given)."""
        key = frozenset(int(i) for i in group)
        known = self.stderr.get(key, {})
        return {int(j): float(known.get(int(j), 0.0)) for j in dict.fromkeys(group)}


def candidate_networks(
    groups: Iterable[Sequence[int]],
    scorer: GroupScorer,
    names: Sequence[str],
    cost: float | Callable[[Sequence[int]], float] = 1.0,
) -> list[Network]:
    """One ``Network`` per group, scored by ``scorer``; ``cost`` is a number or a function of the group."""
    out = []
    for group in groups:
        scores = scorer(group)
        price = cost(group) if callable(cost) else cost
        out.append(Network(tuple(names[i] for i in group), price, {names[i]: s for i, s in scores.items()}))
    return out


def predict_hoa_networks(networks: Sequence[Network]) -> list[Network]:
    """Replace the scores of every network with 3+ tasks by the pair-mean prediction (HOA).

    A task's predicted score is the mean of its scores in the pair networks (exactly two tasks, any
    cost) whose tasks both lie inside the network; a task with no such pair gets no score (the
    network then does not serve it). Networks with one or two tasks keep their measured scores.
    """
    pairs = [net for net in networks if len(net.tasks) == 2]
    out = []
    for net in networks:
        if len(net.tasks) < 3:
            out.append(net)
            continue
        inside = set(net.tasks)
        scores = {}
        for t in net.tasks:
            values = [p.scores[t] for p in pairs if t in p.scores and set(p.tasks) <= inside]
            if values:
                scores[t] = math.fsum(values) / len(values)
        out.append(Network(net.tasks, net.cost, scores))
    return out
