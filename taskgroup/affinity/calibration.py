"""Calibration probes: a seeded sample of groups of three or more tasks, trained like the pair probes.

Their measured gains (``affinity.json["measured_groups"]``) are the training data of the calibrated
group scores (:mod:`taskgroup.grouping.calibration`). Sizes are drawn uniformly from 3 to
:data:`MAX_SIZE` (at most the number of tasks); a probe's cost grows with its number of tasks.
"""

from __future__ import annotations

import math
import random

MAX_SIZE = 6
"""Largest calibration group."""


def calibration_groups(names: list[str], count: int, seed: int) -> list[tuple[str, ...]]:
    """``count`` distinct seeded random groups of 3 to ``MAX_SIZE`` tasks (all of them when fewer
    exist), each in the order of ``names``. Deterministic in (``names``, ``count``, ``seed``)."""
    top = min(len(names), MAX_SIZE)
    if top < 3 or count <= 0:
        return []
    total = sum(math.comb(len(names), k) for k in range(3, top + 1))
    if total <= count:
        import itertools

        return [c for k in range(3, top + 1) for c in itertools.combinations(names, k)]
    rng = random.Random(f"calibration-{seed}")
    out: list[tuple[str, ...]] = []
    seen: set[tuple[str, ...]] = set()
    while len(out) < count:
        size = rng.randint(3, top)
        group = tuple(sorted(rng.sample(names, size), key=names.index))
        if group not in seen:
            seen.add(group)
            out.append(group)
    return out
