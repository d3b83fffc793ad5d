"""Loaders for the real multi-task data sets kept outside the repository, in ``../shared/data``.

Landmine (29 binary tasks, each with its own rows), SARCOS (7 regressions on shared rows), School
(139 regressions, own rows) and the computer survey (190 regressions on 20 shared profiles). The
files are read in place, never copied. The folder is ``$TASKGROUP_SHARED`` when set, else the
``shared`` folder beside the checkout. Targets are left in their units: the trainer standardises
regression targets per task, and ``load_taskset`` standardises features.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError, DataError
from ..tasks import TaskSet
from .arrays import taskset_from_arrays

LANDMINE_FOLIATED = 15  #: fields 1-15 are foliated, 16-29 bare earth or desert (Xue et al. 2007)
SARCOS_FEATURES = [f"{kind}{j}" for kind in ("q", "dq", "ddq") for j in range(1, 8)]
SURVEY_ATTRIBUTES = ["hotline", "ram", "screen", "cpu", "disk", "cdrom", "cache", "colour", "availability",
                     "warranty", "software", "guarantee", "price"]


def shared_root() -> Path:
    """The ``shared`` folder: ``$TASKGROUP_SHARED`` if set, else ``<checkout>/../shared``."""
    env = os.environ.get("TASKGROUP_SHARED")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2].parent / "shared"


def _mat(relative: str, root: str | Path | None) -> dict[str, Any]:
    from scipy.io import loadmat

    base = Path(root) if root is not None else shared_root()
    path = base / "data" / relative
    if not path.is_file():
        raise DataError(f"{path}: not found; this built-in reads the shared data folder "
                        "(set TASKGROUP_SHARED to the folder that holds data/)")
    try:
        return loadmat(str(path))
    except Exception as exc:  # scipy raises several unrelated types for damaged files
        raise DataError(f"{path}: cannot read as a MATLAB file ({exc})") from None


def _max_tasks(value: Any, total: int, what: str) -> int:
    if value is None:
        return total
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{what}: max_tasks must be a positive integer, not {value!r}")
    return min(value, total)


def landmine(root: str | Path | None = None) -> TaskSet:
    """Landmine detection: 29 binary tasks (mine vs clutter), 9 radar features, each field its own rows.

    ``meta["planted_groups"]`` holds the known two clusters: fields 1-15 and 16-29.
    """
    m = _mat("landmine/LandmineData.mat", root)
    pairs = [(np.asarray(m["feature"][0][t], dtype=np.float64), np.asarray(m["label"][0][t]).ravel().astype(np.int64))
             for t in range(m["feature"].shape[1])]
    names = [f"field{t + 1:02d}" for t in range(len(pairs))]
    groups = [names[:LANDMINE_FOLIATED], names[LANDMINE_FOLIATED:]]
    meta = {"source": "shared/data/landmine", "planted_groups": groups,
            "clusters": {n: ("foliated" if i < LANDMINE_FOLIATED else "bare") for i, n in enumerate(names)}}
    return taskset_from_arrays(pairs, names=names, kinds="binary", metrics="auc", name="landmine",
                               feature_names=[f"f{j}" for j in range(1, 10)], meta=meta)


def sarcos(rows: int | None = None, seed: int = 0, root: str | Path | None = None) -> TaskSet:
    """SARCOS inverse dynamics (official test file): 7 torque regressions sharing 21 inputs.

    ``rows`` keeps a random subset of that many rows (drawn with ``seed``) for quicker runs.
    """
    D = np.asarray(_mat("sarcos/sarcos_inv_test.mat", root)["sarcos_inv_test"], dtype=np.float64)
    if rows is not None:
        if isinstance(rows, bool) or not isinstance(rows, int) or not 10 <= rows <= len(D):
            raise ConfigError(f"sarcos: rows must be an integer from 10 to {len(D)}, not {rows!r}")
        keep = np.sort(np.random.default_rng(np.random.SeedSequence([seed, 17])).permutation(len(D))[:rows])
        D = D[keep]
    return taskset_from_arrays(D[:, :21], D[:, 21:], names=[f"torque{j}" for j in range(1, 8)], kinds="regression",
                               name="sarcos", feature_names=SARCOS_FEATURES, seed=seed,
                               meta={"source": "shared/data/sarcos"})


def school(max_tasks: int | None = None, root: str | Path | None = None) -> TaskSet:
    """School exam scores: one regression task per school (139), 27 student and school attributes.

    The constant bias column of the file is dropped (encoders have their own biases).
    """
    m = _mat("school/school.mat", root)
    total = m["X"].shape[1]
    count = _max_tasks(max_tasks, total, "school")
    pairs = [(np.asarray(m["X"][0][t], dtype=np.float64)[:, :27], np.asarray(m["Y"][0][t], dtype=np.float64).ravel())
             for t in range(count)]
    return taskset_from_arrays(pairs, names=[f"school{t + 1:03d}" for t in range(count)], kinds="regression",
                               name="school", feature_names=[f"a{j}" for j in range(27)],
                               meta={"source": "shared/data/school"})


def computer_survey(max_tasks: int | None = None, drop_constant: bool = True,
                    root: str | Path | None = None) -> TaskSet:
    """Computer survey: one rating regression per respondent, all on the same 20 computer profiles.

    The constant column of the design is dropped. A respondent who gave every profile the same
    rating has nothing to learn; ``drop_constant`` leaves such tasks out (listed in ``meta``).
    """
    m = _mat("computer-survey/conjointAnalysisComputerBuyers.mat", root)
    X = np.asarray(m["designMarix"], dtype=np.float64)[:, 1:]
    ratings = np.asarray(m["likeBuy"], dtype=np.float64)
    names = [f"r{i + 1:03d}" for i in range(len(ratings))]
    constant = [n for n, r in zip(names, ratings) if np.ptp(r) == 0]
    keep = [i for i, n in enumerate(names) if not (drop_constant and n in constant)]
    keep = keep[:_max_tasks(max_tasks, len(keep), "computer-survey")]
    meta = {"source": "shared/data/computer-survey", "dropped_constant": constant if drop_constant else [],
            "holdout_rows": [16, 17, 18, 19]}
    return taskset_from_arrays(X, ratings[keep].T, names=[names[i] for i in keep], kinds="regression",
                               name="computer-survey", feature_names=SURVEY_ATTRIBUTES, meta=meta)


__all__ = ["shared_root", "landmine", "sarcos", "school", "computer_survey"]
