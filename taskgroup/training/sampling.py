"""How a training batch is shared among tasks: samplings (rows per task) and schedules.

A sampling maps the tasks' training-set sizes to the share of a batch each task gets; a schedule
says which tasks a step trains. Both registries are readable without torch (the configuration and
the command line need only the names); the schedules themselves live in
:mod:`taskgroup.training.batching`.
"""

from __future__ import annotations

import numpy as np

from ..registry import Registry


def proportional(sizes: np.ndarray, temperature: float) -> np.ndarray:
    """Shares proportional to each task's number of training rows."""
    return sizes


def uniform(sizes: np.ndarray, temperature: float) -> np.ndarray:
    """The same share for every task."""
    return np.ones_like(sizes)


def tempered(sizes: np.ndarray, temperature: float) -> np.ndarray:
    """Shares proportional to size^(1/temperature): between proportional (1) and uniform (large)."""
    return sizes ** (1.0 / temperature)


SAMPLINGS = Registry("sampling", [
    ("proportional", f"{__name__}:proportional", "rows per task proportional to its training rows"),
    ("uniform", f"{__name__}:uniform", "the same rows for every task"),
    ("temperature", f"{__name__}:tempered", "rows proportional to size^(1/temperature)"),
])

SCHEDULES = Registry("schedule", [
    ("all", "taskgroup.training.batching:every_task", "every task in every step"),
    ("round_robin", "taskgroup.training.batching:round_robin", "one task per step, in turn"),
])
