"""Leak check: can a shared network score a small task on rows whose labels it trained on?

The construction of issue 12: task ``a`` labels 1000 rows, task ``c`` labels 30 of them with the
same target, and the target is pure noise (standard deviation 1, independent of the features), so
the RMSE of any honest prediction on held-out rows is at least about 1.0, the noise floor. If a row
could be validation or test data for ``c`` while being training data for ``a`` (splits cut per
task), a network sharing ``a`` and ``c`` would score ``c`` on labels it memorised and beat the noise
floor. One split per row rules that out.

For each split seed: the RMSE of ``c`` on its validation and test rows (the rows at risk) from the
network sharing ``a`` and ``c`` and from ``c``'s own network; pooled over seeds, their ratio is the
figure (target at least 0.95: sharing does not beat training alone on those rows). Also counted:
rows of ``c``'s validation or test split that are training rows of ``a`` (target 0).

Run: ``python -m benchmarks.leak_check [--smoke]``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ._common import base_parser, emit, machine, set_threads

NAME = "leak_check"
TARGET = 0.95
ROWS, SMALL, FEATURES = 1000, 30, 8


def construction(seed: int, rows: int = ROWS, small: int = SMALL, features: int = FEATURES, signal: float = 0.0):
    """The leaking situation: a ``rows``-row noisy task ``a`` and a ``small``-row task ``c`` inside it.

    The target is ``signal * x0`` plus standard normal noise (the noise floor of the RMSE is 1.0).
    """
    from taskgroup.tasks import Task, TaskSet

    rng = np.random.default_rng(1000 + seed)
    X = rng.normal(size=(rows, features))
    y = signal * X[:, 0] + rng.normal(size=rows)
    inside = np.zeros(rows, dtype=bool)
    inside[rng.choice(rows, size=small, replace=False)] = True
    tasks = [Task("a", "regression"), Task("c", "regression")]
    return TaskSet(X, tasks, {"a": y.copy(), "c": np.where(inside, y, 0.0)},
                   {"a": np.ones(rows, dtype=bool), "c": inside}, name="leak", split_seed=seed)


def crossed_rows(taskset: Any) -> int:
    """Rows in one task's validation or test split that are training rows of another task."""
    from taskgroup.tasks import TEST, TRAIN, VAL

    n = 0
    for t in taskset.task_names:
        held_out = np.isin(taskset.splits[t], (VAL, TEST))
        for u in taskset.task_names:
            if u != t:
                n += int(np.sum(held_out & (taskset.splits[u] == TRAIN)))
    return n


def held_out_rmse(taskset: Any, names: list[str], task: str, steps: int, seed: int) -> tuple[float, int]:
    """Squared-error sum of ``task`` over its validation and test rows from a network on ``names``; row count."""
    from taskgroup.config import ModelConfig, TrainConfig
    from taskgroup.training.trainer import train_network

    result, _ = train_network(taskset, names, TrainConfig(steps=steps), ModelConfig(), seed=seed)
    counts = taskset.counts()[task]
    sse = result.val[task] ** 2 * counts["val"] + result.test[task] ** 2 * counts["test"]
    return float(sse), counts["val"] + counts["test"]


def run(seeds: int, steps: int, signal: float = 0.0, features: int = FEATURES) -> dict[str, Any]:
    shared_sse = single_sse = 0.0
    rows = crossed = 0
    per_seed = []
    for seed in range(seeds):
        ts = construction(seed, signal=signal, features=features)
        crossed += crossed_rows(ts)
        sh, n = held_out_rmse(ts, ["a", "c"], "c", steps, seed)
        si, _ = held_out_rmse(ts, ["c"], "c", steps, seed)
        shared_sse += sh
        single_sse += si
        rows += n
        per_seed.append({"seed": seed, "shared_rmse": math.sqrt(sh / n), "single_rmse": math.sqrt(si / n)})
    shared, single = math.sqrt(shared_sse / rows), math.sqrt(single_sse / rows)
    ratio = shared / single
    return {"benchmark": NAME, "rows": ROWS, "small_task_rows": SMALL, "seeds": seeds, "steps": steps,
            "held_out_rows": rows, "crossed_rows": crossed, "shared_rmse": shared, "single_rmse": single,
            "noise_floor": 1.0, "ratio": ratio, "target": TARGET, "pass": bool(ratio >= TARGET and crossed == 0),
            "per_seed": per_seed, "machine": machine()}


def main(argv: list[str] | None = None) -> int:
    p = base_parser(__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=8)
    p.add_argument("--steps", type=int, default=1500)
    p.add_argument("--signal", type=float, default=0.0)
    p.add_argument("--features", type=int, default=FEATURES)
    args = p.parse_args(argv)
    set_threads(args.threads)
    if args.smoke:
        args.seeds, args.steps = 1, 100
    emit(run(args.seeds, args.steps, args.signal, args.features))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
