"""Everything that can be known from the configuration and the data, checked before any work.

``taskgroup check`` and the start of every step run :func:`preflight`, so a value that would fail
later (inside a worker, after minutes of training, or only in the report) is refused at once with
one line naming the key or task: a single task, networks or batches too large to allocate. (Each
config section checks its own values and names, and :meth:`TaskSet.validate` refuses regression
targets too large or not finite, for every data source.)
"""

from __future__ import annotations

import numpy as np

from .config import Config
from .errors import ConfigError, DataError
from .tasks import TaskSet

#: largest network the model settings may describe (parameters of one network)
MAX_PARAMETERS = 200_000_000
#: largest batch of rows per step
MAX_BATCH = 1_000_000


def single_task(cfg: Config, taskset: TaskSet) -> str | None:
    """Why the steps will refuse a task set of fewer than two tasks (None when there are two or more)."""
    if len(taskset.tasks) >= 2:
        return None
    names = ", ".join(repr(t.name) for t in taskset.tasks) or "none"
    return (f"{cfg.source}: found {len(taskset.tasks)} task ({names}); taskgroup compares groupings of at least "
            "two tasks: add [[tasks]]")


def preflight(cfg: Config, taskset: TaskSet, *, step: bool = True) -> None:
    """Raise one clear line for any setting or data that cannot run to the end.

    With ``step=False`` (``taskgroup check``, which also inspects the data and its split) a single
    task is left for the caller to warn about.
    """
    src = cfg.source
    problem = single_task(cfg, taskset)
    if problem and step:
        raise DataError(problem)
    for key, size in (("train.batch_size", cfg.train.batch_size), ("analyze.batch_size", cfg.analyze.batch_size)):
        if size > MAX_BATCH:
            raise ConfigError(f"{src}: {key} = {size} is larger than {MAX_BATCH:,} rows per step; use a smaller batch")
    params = _mlp_parameters(taskset, cfg)
    if params > MAX_PARAMETERS:
        raise ConfigError(f"{src}: model.hidden = {cfg.model.hidden} (width {cfg.model.width:g}) describes a network "
                          f"of about {params:,.0f} parameters, more than {MAX_PARAMETERS:,}; use narrower layers")


def _mlp_parameters(taskset: TaskSet, cfg: Config) -> float:
    """Parameters of the shared encoder's dense layers (an upper bound for the CNN as well)."""
    width = [max(1, round(h * cfg.model.width)) for h in cfg.model.hidden]
    inputs = float(np.prod(taskset.input_shape)) if taskset.input_shape else 1.0
    total, previous = 0.0, inputs
    for h in width:
        total += previous * h + h
        previous = h
    return total + previous * len(taskset.tasks) * 2

