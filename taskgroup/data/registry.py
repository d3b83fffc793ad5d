"""The built-in data sets behind ``data.builtin`` and ``taskgroup datasets``.

Each entry is a one-line description and a factory taking keyword options (``[data] options``).
Unknown names and unknown options are refused with the closest match suggested.
"""

from __future__ import annotations

import difflib
import functools
import inspect
from typing import Any, Callable, Mapping, NamedTuple

from ..errors import ConfigError
from ..tasks import TaskSet
from .digits import digits
from .shared import computer_survey, landmine, sarcos, school
from .synthetic import synthetic


class Builtin(NamedTuple):
    """A registered data set: what ``taskgroup datasets`` prints, and how to build it."""

    description: str
    factory: Callable[..., TaskSet]


_SHARED = " (needs the shared data folder ../shared/data or $TASKGROUP_SHARED)"

BUILTINS: dict[str, Builtin] = {
    "synthetic": Builtin(
        "3 planted clusters x 3 regression tasks, 300 own rows per task, 16 features (demo default)", synthetic),
    "synthetic-shared": Builtin(
        "synthetic with every row labelled for every task (SARCOS-style shared rows)",
        functools.partial(synthetic, shared_rows=True)),
    "synthetic-binary": Builtin(
        "synthetic with binary tasks (planted latent thresholded at its median)",
        functools.partial(synthetic, kind="binary")),
    "synthetic-mixed": Builtin(
        "synthetic with regression and binary tasks in every cluster", functools.partial(synthetic, kind="mixed")),
    "synthetic-conflict": Builtin(
        "synthetic plus one task per cluster that predicts the negated shared function",
        functools.partial(synthetic, conflicting=3)),
    "synthetic-unrelated": Builtin(
        "9 tasks, each its own independent function: sharing should not help",
        functools.partial(synthetic, unrelated=True)),
    "synthetic-small": Builtin(
        "2 clusters x 2 regression tasks, 120 rows each, 8 features: quick tests",
        functools.partial(synthetic, n_clusters=2, tasks_per_cluster=2, rows_per_task=120, n_features=8)),
    "digits": Builtin(
        "scikit-learn 8x8 digits (1,797 images), 6 one-vs-rest binary tasks on shared rows", digits),
    "digits-per-task": Builtin(
        "digits with each task labelled on its own disjoint images (Landmine-style)",
        functools.partial(digits, shared_rows=False)),
    "landmine": Builtin("Landmine: 29 binary tasks, own rows, 2 known clusters" + _SHARED, landmine),
    "sarcos": Builtin("SARCOS: 7 torque regressions on 4,449 shared rows" + _SHARED, sarcos),
    "school": Builtin("School: 139 exam-score regressions, own rows" + _SHARED, school),
    "computer-survey": Builtin("Computer survey: 190 rating regressions on 20 shared profiles" + _SHARED,
                               computer_survey),
}


def list_builtins() -> list[tuple[str, str]]:
    """``(name, description)`` of every built-in, in registry order."""
    return [(name, b.description) for name, b in BUILTINS.items()]


def builtin_options(name: str) -> dict[str, Any]:
    """The options a built-in accepts, with their defaults."""
    return {p.name: p.default for p in inspect.signature(_get(name).factory).parameters.values()
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}


def _get(name: str) -> Builtin:
    if name not in BUILTINS:
        close = difflib.get_close_matches(name, list(BUILTINS), n=1, cutoff=0.5)
        hint = f"; did you mean {close[0]!r}?" if close else f"; choose one of {', '.join(BUILTINS)}"
        raise ConfigError(f"unknown built-in data set {name!r}{hint} (see 'taskgroup datasets')")
    return BUILTINS[name]


def load_builtin(name: str, options: Mapping[str, Any] | None = None) -> TaskSet:
    """Build the named data set with ``options``; unknown names or options raise a ConfigError."""
    builtin = _get(name)
    options = dict(options or {})
    known = builtin_options(name)
    for key in options:
        if key not in known:
            close = difflib.get_close_matches(key, list(known), n=1, cutoff=0.5)
            hint = f"; did you mean {close[0]!r}?" if close else f"; known options: {', '.join(known)}"
            raise ConfigError(f"data.options: {name!r} has no option {key!r}{hint}")
    try:
        return builtin.factory(**options)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"data.options for {name!r}: invalid value ({exc})") from None


__all__ = ["BUILTINS", "Builtin", "list_builtins", "load_builtin", "builtin_options"]
