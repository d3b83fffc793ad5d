"""taskgroup: should these tasks share a network, and which ones?

The library measures how tasks help or hurt each other, proposes groupings, trains them next to the
alternatives and reports whether multi-task learning pays off. The steps, as functions over a run
directory: :func:`analyze`, :func:`group`, :func:`compare`, :func:`report`, and :func:`run` for all
of them; :func:`load` returns the trained recommended grouping for prediction.
"""

from __future__ import annotations

from ._version import __version__  # noqa: E402
from .config import Config, load_config  # noqa: E402
from .errors import ConfigError, DataError, RunDirError, TaskgroupError, TrainingError  # noqa: E402
from .pipeline import analyze, compare, group, report, run, status  # noqa: E402
from .tasks import Task, TaskSet  # noqa: E402



def __getattr__(name: str):
    # the trained-model API needs torch; import it only when asked for, so the CLI starts fast
    if name in ("load", "Predictor"):
        from .comparison import deliver

        return getattr(deliver, name)
    raise AttributeError(f"module 'taskgroup' has no attribute {name!r}")


__all__ = [
    "Config", "ConfigError", "DataError", "Predictor", "RunDirError", "Task", "TaskSet", "TaskgroupError",
    "TrainingError", "__version__", "analyze", "compare", "group", "load", "load_config", "report", "run", "status",
]
