"""Candidate pools: which task subsets selection may choose from when N is too large for all 2^N.

A pool is a sorted list of distinct groups (tuples of task indices in ascending order). It joins:
every subset up to a size chosen to keep the pool near ``SUBSET_LIMIT``; the clusters proposed by the
affinity graph and their neighbours (one task added or removed); greedy growth from every task; the
singletons and the all-task group, so that any bound that allows a cover finds one.
"""

from __future__ import annotations

import itertools
import math
from typing import Iterable, Sequence

from taskgroup.grouping.scores import GroupScorer

SUBSET_LIMIT = 2000
"""Rough cap on the number of small subsets enumerated exhaustively."""

Group = tuple[int, ...]


def subsets_up_to(n: int, max_size: int) -> list[Group]:
    """Every subset of ``range(n)`` with 1..max_size tasks."""
    return [g for size in range(1, min(max_size, n) + 1) for g in itertools.combinations(range(n), size)]


def subset_size_for(n: int, limit: int = SUBSET_LIMIT) -> int:
    """The largest s with sum_{k<=s} C(n, k) <= limit (at least 2 unless n < 2, so pairs are in)."""
    total, size = 0, 0
    for k in range(1, n + 1):
        total += math.comb(n, k)
        if total > limit:
            break
        size = k
    return max(size, min(2, n))


def neighbours(group: Sequence[int], n: int) -> list[Group]:
    """The group itself, with one task removed, and with one outside task added."""
    members = set(group)
    out = [tuple(sorted(members))]
    if len(members) > 1:
        out += [tuple(sorted(members - {t})) for t in sorted(members)]
    out += [tuple(sorted(members | {t})) for t in range(n) if t not in members]
    return out


def group_value(scorer: GroupScorer, group: Sequence[int]) -> float:
    """A group's total predicted gain: the sum of its members' scores."""
    return math.fsum(scorer(group).values())


def greedy_growth(n: int, scorer: GroupScorer) -> list[Group]:
    """From each task, repeatedly add the task that raises the group's total gain most; keep every
    intermediate group; stop when no addition helps. Ties go to the lowest task index."""
    out = []
    for seed in range(n):
        group = [seed]
        value = group_value(scorer, group)
        while len(group) < n:
            best, best_value = None, value
            for t in range(n):
                if t in group:
                    continue
                candidate = group_value(scorer, group + [t])
                if candidate > best_value + 1e-12:
                    best, best_value = t, candidate
            if best is None:
                break
            group.append(best)
            value = best_value
            out.append(tuple(sorted(group)))
    return out


def candidate_pool(
    n: int,
    scorer: GroupScorer,
    clusters: Iterable[Sequence[int]] = (),
    max_subset_size: int | None = None,
) -> list[Group]:
    """The pool for ``n`` tasks: small subsets, clusters and their neighbours, greedy growth, the
    singletons and the all-task group; sorted by size, then lexicographically."""
    size = subset_size_for(n) if max_subset_size is None else max_subset_size
    pool: set[Group] = set(subsets_up_to(n, size))
    pool.update((i,) for i in range(n))
    pool.add(tuple(range(n)))
    for cluster in clusters:
        pool.update(neighbours(cluster, n))
    pool.update(greedy_growth(n, scorer))
    return sorted(pool, key=lambda g: (len(g), g))
