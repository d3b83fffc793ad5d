"""How work runs: one small frozen value built once by the CLI or the caller and passed down.

The pipeline steps and :func:`~taskgroup.runtime.executors.run_units` take an :class:`Execution`
instead of a handful of positional arguments (executor, workers, address, device, threads,
progress), so a new option is one field here rather than a change in every layer.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import ConfigError
from ..registry import Registry
from .progress import ProgressFactory, ProgressFn, no_progress

#: where :func:`~taskgroup.runtime.executors.run_units` runs units: ``runner(todo, commit, execution, *,
#: max_crashes, gpus_per_unit)``
EXECUTORS = Registry("executor", [
    ("inline", "taskgroup.runtime.executors:run_inline", "in this process, one unit after another"),
    ("process", "taskgroup.runtime.executors:run_process", "a spawn process pool of --workers processes"),
    ("ray", "taskgroup.runtime.executors:run_ray", "one Ray task per unit, local or on a cluster (extra: ray)"),
])


@dataclass(frozen=True)
class Execution:
    """Where and how units of work run.

    ``executor``: ``"inline"`` (this process), ``"process"`` (a spawn pool) or ``"ray"``;
    ``workers``: units run at once; ``address``: a Ray cluster (default ``RAY_ADDRESS`` or a local
    Ray); ``device``: where torch computes (``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:1"``...);
    ``threads``: torch threads per unit (None leaves torch alone); ``progress``: called with a step's
    label (``"analyze"``, ``"compare"``) and returns that step's ``progress(done, total, info)``
    callback or None.
    """

    executor: str = "inline"
    workers: int = 1
    address: str | None = None
    device: str = "auto"
    threads: int | None = 1
    progress: ProgressFactory = no_progress

    def __post_init__(self) -> None:
        if self.executor not in EXECUTORS:
            raise ConfigError(f"unknown executor {self.executor!r}; choose one of {', '.join(EXECUTORS.names)}")
        if isinstance(self.workers, bool) or not isinstance(self.workers, int) or self.workers < 1:
            raise ConfigError(f"workers must be a positive integer, not {self.workers!r}")
        if self.threads is not None and (isinstance(self.threads, bool) or not isinstance(self.threads, int)
                                         or self.threads < 1):
            raise ConfigError(f"threads must be a positive integer or None, not {self.threads!r}")
        if not isinstance(self.device, str) or not self.device.strip():
            raise ConfigError(f"device must be a name such as 'auto', 'cpu' or 'cuda', not {self.device!r}")
        if not callable(self.progress):
            raise ConfigError("progress must be a callable taking a step label")

    def progress_for(self, label: str) -> ProgressFn | None:
        """The progress callback of the step ``label`` (None when nothing listens)."""
        return self.progress(label)


#: what runs when the caller says nothing: inline, one worker, one torch thread, silent
INLINE = Execution()
