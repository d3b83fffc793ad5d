"""What each step's output was made from, and the refusal to build on outputs that are out of date.

Every output records the hashes of its inputs in the run directory's manifest
(:mod:`taskgroup.runtime.ownership`): ``affinity.json`` the resolved config, the data fingerprint
(inputs, targets, masks and split) and the data table's bytes; ``groupings.json`` the affinity file;
``comparison.json`` and ``models/`` the groupings, the affinity and the data; the report every
document it rendered. A step refuses to read an input that is stale, and every step after
``analyze`` checks that the data still has the fingerprint ``analyze`` saw.
"""

from __future__ import annotations

from pathlib import Path

from .config import Config
from .errors import RunDirError
from .runtime import ownership
from .runtime.documents import AffinityDoc, check_same_tasks
from .runtime.rundir import CONFIG, FILES
from .tasks import TaskSet


def data_inputs(cfg: Config, fingerprint: str) -> dict[str, str]:
    """The data part of an output's inputs: the fingerprint, and the table file's own hash if any."""
    out = {ownership.DATA_INPUT: fingerprint}
    if cfg.data.path:
        table = (Path(cfg.base_dir) / cfg.data.path).resolve()
        h = ownership.current_hash("/", ownership.FILE_INPUT + str(table))
        if h is not None:
            out[ownership.FILE_INPUT + str(table)] = h
    return out


def analyze_inputs(directory: str | Path, cfg: Config, fingerprint: str) -> dict[str, str]:
    return {**ownership.inputs_of(directory, [CONFIG]), **data_inputs(cfg, fingerprint)}


def upstream_inputs(directory: str | Path, *names: str) -> dict[str, str]:
    return ownership.inputs_of(directory, names)


def require_current(directory: str | Path, taskset: TaskSet | None, affinity: AffinityDoc | None,
                    *needed: str) -> None:
    """Refuse when a document ``needed`` is stale, or when affinity.json names other tasks than the data.

    (That the data still has the fingerprint analyze recorded is checked by ``check_same_data``.)
    """
    d = Path(directory)
    fp = taskset.fingerprint() if taskset is not None else None
    if affinity is not None and taskset is not None:
        check_same_tasks(affinity.tasks, taskset.task_names, f"{d / AffinityDoc.FILE}: tasks", "the run's data")
    stale = ownership.stale(d, fp)
    for name in needed:
        if name in stale:
            raise RunDirError(stale[name].message(d))


def require_fresh_documents(directory: str | Path) -> None:
    """Refuse to render when a document present is stale (so a report never mixes runs)."""
    from .runtime.documents import ComparisonDoc, GroupingsDoc
    from .runtime.rundir import read_optional

    d = Path(directory)
    for cls in (AffinityDoc, GroupingsDoc, ComparisonDoc):  # a broken file is named before staleness
        read_optional(d, cls)
    stale = ownership.stale(d)
    for name in FILES:
        if name in stale:
            raise RunDirError(stale[name].message(d) + " (or 'taskgroup run') before 'report'")
