"""Built-in ``digits``: scikit-learn's bundled 8x8 handwritten digits as several binary image tasks.

Small and real (1,797 images, no download). Each task asks one yes/no question about the digit:
one-vs-rest (``is_3``) or an attribute (``even``, ``ge5``, ``has_loop``, ``prime``, ``straight``).
The default tasks come in confusable families (3/5/8 and 1/7/4), which gives some known-ish
structure. Images have shape (1, 8, 8) with pixel values scaled to [0, 1].
"""

from __future__ import annotations

import difflib
from typing import Any, Sequence

import numpy as np

from ..errors import ConfigError
from ..tasks import Task, TaskSet

DEFAULT_TASKS: tuple[str, ...] = ("is_3", "is_5", "is_8", "is_1", "is_7", "is_4")
ATTRIBUTES: dict[str, tuple[int, ...]] = {
    "even": (0, 2, 4, 6, 8),
    "ge5": (5, 6, 7, 8, 9),
    "has_loop": (0, 6, 8, 9),
    "prime": (2, 3, 5, 7),
    "straight": (1, 4, 7),
}


def digit_task_names() -> list[str]:
    """Every task name ``digits`` understands."""
    return [f"is_{k}" for k in range(10)] + list(ATTRIBUTES)


def positives(task: str) -> tuple[int, ...]:
    """The digits that make ``task`` true; unknown names raise a ConfigError with a suggestion."""
    if task in ATTRIBUTES:
        return ATTRIBUTES[task]
    if task.startswith("is_") and task[3:].isdigit() and len(task) == 4:
        return (int(task[3]),)
    close = difflib.get_close_matches(task, digit_task_names(), n=1, cutoff=0.5)
    hint = f"; did you mean {close[0]!r}?" if close else f"; choose from {', '.join(digit_task_names())}"
    raise ConfigError(f"digits: unknown task {task!r}{hint}")


def digits(tasks: Sequence[str] = DEFAULT_TASKS, shared_rows: bool = True, rows_per_task: int | None = None,
           seed: int = 0) -> TaskSet:
    """Binary tasks on the bundled digits.

    ``shared_rows=True``: every image is labelled for every task. ``False``: the images are shuffled
    with ``seed`` and dealt into disjoint blocks, one per task (``rows_per_task`` each, by default
    as many as fit), so each task sees its own images, as in Landmine. Splits use ``seed`` too.
    """
    from sklearn.datasets import load_digits

    if isinstance(tasks, str) or not tasks:
        raise ConfigError("digits: tasks must be a non-empty list of task names, e.g. ['is_3', 'even']")
    tasks = list(tasks)
    if len(set(tasks)) != len(tasks):
        raise ConfigError(f"digits: task {next(t for t in tasks if tasks.count(t) > 1)!r} is listed twice")
    pos = {t: positives(t) for t in tasks}
    if not isinstance(shared_rows, bool):
        raise ConfigError(f"digits: shared_rows must be true or false, not {shared_rows!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ConfigError(f"digits: seed must be an integer >= 0, not {seed!r}")
    bunch = load_digits()
    images = (bunch.images / 16.0).astype(np.float32)[:, None, :, :]
    labels = bunch.target.astype(np.int64)
    n, T = len(labels), len(tasks)
    if shared_rows:
        if rows_per_task is not None:
            raise ConfigError("digits: rows_per_task applies only with shared_rows = false")
        order = np.arange(n)
        owner = None
    else:
        most = n // T
        per = most if rows_per_task is None else rows_per_task
        if isinstance(per, bool) or not isinstance(per, int) or not 1 <= per <= most:
            raise ConfigError(f"digits: rows_per_task must be an integer from 1 to {most} for {T} tasks, not {per!r}")
        order = np.random.default_rng(np.random.SeedSequence([seed, 11])).permutation(n)[:per * T]
        owner = np.repeat(np.arange(T), per)
    X, digit = images[order], labels[order]
    targets, masks = {}, {}
    for i, t in enumerate(tasks):
        targets[t] = np.isin(digit, pos[t]).astype(np.int64)
        masks[t] = np.ones(len(order), dtype=bool) if owner is None else owner == i
        if owner is not None:
            targets[t][~masks[t]] = 0
    meta: dict[str, Any] = {"generator": "digits", "positives": {t: list(p) for t, p in pos.items()},
                            "shared_rows": shared_rows}
    return TaskSet(X, [Task(t, "binary", classes=(0, 1)) for t in tasks], targets, masks, name="digits",
                   split_seed=seed, meta=meta)


__all__ = ["digits", "digit_task_names", "positives", "DEFAULT_TASKS", "ATTRIBUTES"]
