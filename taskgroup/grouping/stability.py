"""Stability of the recommendation: would another seed or another sample give the same grouping?

Cheap resampling, no extra training beyond the joint runs analyze already made: each resample
draws, for every measure with raw measurements in ``affinity.json["samples"]``, one of its runs
(the joint runs at different seeds; the probes form one run) and a bootstrap sample of that run's
measurements (measured windows, each on its own training batches, or probe seeds), averages it into
a matrix with its standard error, and redoes the group step with the same settings on it.

``co_assignment[i][j]`` is the share of resamples whose recommended grouping puts tasks i and j in
one group; ``reproduced`` the share whose recommended grouping equals the one recommended from all
measurements. Each resample's proposals are kept (``partitions``) so that compare can tell how often
the verified, final grouping would be reproduced (:mod:`taskgroup.comparison.reproduce`).
"""

from __future__ import annotations

import copy
from dataclasses import asdict
from typing import Any, Callable, Sequence

import numpy as np

from ..runtime.documents import ResampledGrouping, StabilityDoc

Groups = list[list[str]]
Grouper = Callable[[dict], dict]

TASK_RESAMPLES = 200
"""Each resample redoes the grouping, whose selection grows with the number of tasks N: at most
``TASK_RESAMPLES / N`` resamples are drawn, and at least ``MIN_RESAMPLES`` (never more than asked)."""
MIN_RESAMPLES = 5
RESAMPLE_TIME_LIMIT = 10.0
"""Seconds the selection solver may take in each resample."""
METHOD = "joint-run seed and bootstrap over measured windows and probe seeds, per measure"


def key(groups: Sequence[Sequence[str]]) -> tuple[tuple[str, ...], ...]:
    """A grouping with the order of its groups and of the tasks within them ignored."""
    return tuple(sorted(tuple(sorted(g)) for g in groups))


def resample_count(requested: int, n_tasks: int) -> int:
    """How many resamples to draw for ``n_tasks`` tasks when ``requested`` were asked for."""
    return min(requested, max(MIN_RESAMPLES, TASK_RESAMPLES // max(n_tasks, 1)))


def resample(affinity: dict, rng: np.random.Generator) -> dict:
    """A copy of ``affinity`` (JSON form) whose sampled measures are replaced by one bootstrap resample."""
    out = copy.deepcopy({k: v for k, v in affinity.items() if k != "samples"})
    for m, sampled in (affinity.get("samples") or {}).items():
        runs = [r for r in sampled["runs"] if len(r)]
        if m not in out.get("measures", {}) or not runs:
            continue
        run = np.asarray(runs[int(rng.integers(len(runs)))], dtype=float)
        draw = run[rng.integers(len(run), size=len(run))]
        entry = out["measures"][m]
        entry["matrix"] = draw.mean(0).tolist()
        entry["stderr"] = (draw.std(0, ddof=1) / np.sqrt(len(draw)) if len(draw) > 1
                           else np.zeros_like(draw[0])).tolist()
    return out


def co_assignment(groupings: Sequence[Groups], names: Sequence[str]) -> np.ndarray:
    """Share of ``groupings`` in which each pair of tasks shares a group (overlapping groups count)."""
    idx = {t: i for i, t in enumerate(names)}
    counts = np.zeros((len(names), len(names)))
    for groups in groupings:
        together = np.zeros_like(counts, dtype=bool)
        for g in groups:
            ids = [idx[t] for t in g]
            together[np.ix_(ids, ids)] = True
        counts += together
    return counts / max(len(groupings), 1)


def stability(affinity: dict, grouper: Grouper, recommended: Groups, resamples: int, seed: int = 0) -> StabilityDoc:
    """``groupings.json["stability"]`` over (at most) ``resamples`` resamples of ``affinity``'s measurements.

    ``grouper(affinity) -> groupings document (JSON form)`` is the group step with its settings fixed.
    """
    names = list(affinity["tasks"])
    samples = affinity.get("samples") or {}
    if resamples <= 0:
        return StabilityDoc(resamples=0, reason="off (group.stability_resamples = 0)")
    if not any(len(s["runs"]) for s in samples.values()):
        return StabilityDoc(resamples=0, reason="affinity.json holds no raw measurements to resample; rerun analyze")
    n = resample_count(resamples, len(names))
    rng = np.random.default_rng(seed)
    parts: list[ResampledGrouping] = []
    for _ in range(n):
        doc = grouper(resample(affinity, rng))
        parts.append(ResampledGrouping(recommended=_plain(doc["recommended"]["groups"]),
                                       candidates=[_plain(c["groups"]) for c in doc["candidates"]]))
    target = key(recommended)
    return StabilityDoc(resamples=n, method=METHOD,
                        runs={m: len(s["runs"]) for m, s in samples.items()},
                        co_assignment=np.round(co_assignment([p.recommended for p in parts], names), 6).tolist(),
                        reproduced=float(np.mean([key(p.recommended) == target for p in parts])),
                        partitions=parts)


def group_with_stability(affinity: dict, group_fn: Callable[..., dict], resamples: int, **options: Any) -> dict:
    """``group_fn(affinity, **options)`` plus ``stability`` over ``resamples`` resamples (JSON form).

    The resamples use ``options["seed"]`` for their draws and a solver time limit of
    :data:`RESAMPLE_TIME_LIMIT` seconds each.
    """
    doc = group_fn(affinity, **options)
    again = {**options, "time_limit": RESAMPLE_TIME_LIMIT}
    stab = stability(affinity, lambda a: group_fn(a, **again), doc["recommended"]["groups"], resamples,
                     int(options.get("seed", 0)))
    doc["stability"] = asdict(stab)
    return doc


def _plain(groups: Sequence[Sequence[str]]) -> Groups:
    return [list(g) for g in key(groups)]
