"""Built-in ``synthetic`` task sets with planted task clusters: the ground truth for tests and demos.

Every task of cluster ``c`` predicts ``f_c(x) + specific * g_t(x) + noise * e`` for ``x ~ N(0, I)``.
``f_c``, shared by the cluster, is a unit-variance :class:`PlantedFunction`: a linear part (a share
``linear`` of its variance) plus the nonlinear part of a random tanh network; ``g_t`` is the task's
own, smaller function. Clusters draw independent ``f_c``. A task's own rows (300 by default) teach
it the linear part but not the nonlinear one, and pooling the cluster's rows does: that is the
structure a grouping tool should find. Task names (``c0_t1``), ``meta["clusters"]`` and
:func:`planted_groups` give the truth.

``conflicting`` adds tasks ``c{c}_x{j}`` that predict ``-f_c(x)`` plus their own part: their
gradients on a shared encoder point against the cluster's (negative gradient cosine in joint
training), although a separate head per task can absorb the sign once trained, so they need not
lower the cluster's final accuracy. ``unrelated`` gives every task its own independent function
(the case where sharing cannot help). Functions depend only on ``seed`` and the task's place, not on
the number of rows, so a larger ``rows_per_task`` gives more samples of the same tasks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..tasks import Task, TaskSet

KINDS = ("regression", "binary", "mixed")
_REFERENCE_ROWS = 4096


@dataclass(frozen=True)
class PlantedFunction:
    """A random function of ``x ~ N(0, I)`` with unit variance: a linear part plus a nonlinear part.

    ``f(x) = sqrt(linear) * v.x / |v| + sqrt(1 - linear) * r(x)``, where ``r`` is a random one-layer
    tanh network with its best linear fit removed and scaled to unit variance. Random tanh networks
    are nearly linear on Gaussian inputs, which a single task learns from a few rows; removing the
    linear fit leaves the part that needs many rows, which is what pooling a cluster's rows buys.
    """

    v: np.ndarray
    W: np.ndarray
    b: np.ndarray
    a: np.ndarray
    gain: float
    linear: float
    coef: np.ndarray
    scale: float

    @classmethod
    def draw(cls, rng: np.random.Generator, d: int, hidden: int, gain: float, linear: float,
             reference: np.ndarray) -> "PlantedFunction":
        v = rng.standard_normal(d)
        W, b, a = rng.standard_normal((hidden, d)), rng.uniform(-1.0, 1.0, hidden), rng.standard_normal(hidden)
        net = cls(v / np.linalg.norm(v), W, b, a, gain, linear, np.zeros(d + 1), 1.0)
        raw = net._net(reference)
        design = np.c_[reference, np.ones(len(reference))]
        coef = np.linalg.solve(design.T @ design, design.T @ raw)
        scale = float(np.std(raw - design @ coef)) or 1.0
        return cls(net.v, W, b, a, gain, linear, coef, scale)

    def _net(self, X: np.ndarray) -> np.ndarray:
        return np.tanh(self.gain * X @ self.W.T / np.sqrt(X.shape[1]) + self.b) @ self.a

    def __call__(self, X: np.ndarray) -> np.ndarray:
        residual = (self._net(X) - np.c_[X, np.ones(len(X))] @ self.coef) / self.scale
        return np.sqrt(self.linear) * (X @ self.v) + np.sqrt(1.0 - self.linear) * residual


def _stream(seed: int, *key: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, *key]))


def _positive_int(name: str, value: Any, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ConfigError(f"synthetic: {name} must be an integer >= {minimum}, not {value!r}")
    return int(value)


def _non_negative(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) or not np.isfinite(value) or value < 0:
        raise ConfigError(f"synthetic: {name} must be a number >= 0, not {value!r}")
    return float(value)


def synthetic(n_clusters: int = 3, tasks_per_cluster: int = 3, rows_per_task: int = 300, n_features: int = 16,
              noise: float = 0.1, conflicting: int = 0, shared_rows: bool = False, kind: str = "regression",
              unrelated: bool = False, specific: float = 0.3, linear: float = 0.3, hidden: int = 8,
              gain: float = 1.0, seed: int = 0) -> TaskSet:
    """A task set with planted clusters (see the module docstring).

    ``kind``: ``regression``, ``binary`` (the latent thresholded at its median, so classes are
    balanced) or ``mixed`` (within a cluster, even-numbered tasks regress, odd ones classify).
    ``shared_rows``: every row labelled for every task (``rows_per_task`` rows in all); otherwise
    each task owns ``rows_per_task`` rows of its own. The splits use ``seed`` as well.
    """
    n_clusters = _positive_int("n_clusters", n_clusters)
    tasks_per_cluster = _positive_int("tasks_per_cluster", tasks_per_cluster)
    rows_per_task = _positive_int("rows_per_task", rows_per_task)
    d = _positive_int("n_features", n_features)
    hidden = _positive_int("hidden", hidden)
    conflicting = _positive_int("conflicting", conflicting, minimum=0)
    noise, specific, gain = _non_negative("noise", noise), _non_negative("specific", specific), _non_negative("gain", gain)
    linear = _non_negative("linear", linear)
    if linear > 1:
        raise ConfigError(f"synthetic: linear must be between 0 and 1, not {linear!r}")
    seed = _positive_int("seed", seed, minimum=0)
    if kind not in KINDS:
        raise ConfigError(f"synthetic: kind must be one of {', '.join(KINDS)}, not {kind!r}")
    if not isinstance(shared_rows, bool) or not isinstance(unrelated, bool):
        raise ConfigError("synthetic: shared_rows and unrelated must be true or false")
    if unrelated and conflicting:
        raise ConfigError("synthetic: conflicting tasks negate a cluster's function, so they need unrelated = false")

    reference = _stream(seed, 0).standard_normal((_REFERENCE_ROWS, d))
    # (name, cluster label, function index, sign, position in cluster)
    plan: list[tuple[str, str, int, float, int]] = []
    if unrelated:
        for i in range(n_clusters * tasks_per_cluster):
            plan.append((f"u{i}", f"u{i}", i, 1.0, 0))
    else:
        for c in range(n_clusters):
            plan += [(f"c{c}_t{t}", f"c{c}", c, 1.0, t) for t in range(tasks_per_cluster)]
        for j in range(conflicting):
            c = j % n_clusters
            plan.append((f"c{c}_x{j // n_clusters}", f"c{c}_x{j // n_clusters}", c, -1.0, j // n_clusters))
    n_functions = max(p[2] for p in plan) + 1
    shared = [PlantedFunction.draw(_stream(seed, 1, k), d, hidden, gain, linear, reference) for k in range(n_functions)]

    n_tasks = len(plan)
    n_rows = rows_per_task if shared_rows else n_tasks * rows_per_task
    X = _stream(seed, 2).standard_normal((n_rows, d)) if shared_rows else np.concatenate(
        [_stream(seed, 2, i).standard_normal((rows_per_task, d)) for i in range(n_tasks)])
    tasks, targets, masks = [], {}, {}
    for i, (name, _, f, sign, position) in enumerate(plan):
        own = PlantedFunction.draw(_stream(seed, 3, i), d, max(2, hidden // 2), gain, 0.5, reference)
        rows = slice(None) if shared_rows else slice(i * rows_per_task, (i + 1) * rows_per_task)
        mask = np.zeros(n_rows, dtype=bool)
        mask[rows] = True
        clean = sign * shared[f](X[rows]) + specific * own(X[rows])
        latent = clean + noise * _stream(seed, 4, i).standard_normal(len(clean))
        task_kind = kind if kind != "mixed" else ("regression" if position % 2 == 0 else "binary")
        y = np.zeros(n_rows, dtype=np.int64 if task_kind == "binary" else np.float64)
        if task_kind == "binary":
            threshold = float(np.median(sign * shared[f](reference) + specific * own(reference)))
            y[rows] = (latent > threshold).astype(np.int64)
            tasks.append(Task(name, "binary", classes=(0, 1)))
        else:
            y[rows] = latent
            tasks.append(Task(name, "regression"))
        targets[name] = y
        masks[name] = mask

    clusters = {name: label for name, label, *_ in plan}
    groups: dict[str, list[str]] = {}
    for name, label in clusters.items():
        groups.setdefault(label, []).append(name)
    meta = {
        "generator": "synthetic",
        "options": dict(n_clusters=n_clusters, tasks_per_cluster=tasks_per_cluster, rows_per_task=rows_per_task,
                        n_features=d, noise=noise, conflicting=conflicting, shared_rows=shared_rows, kind=kind,
                        unrelated=unrelated, specific=specific, linear=linear, hidden=hidden, gain=gain,
                        seed=seed),
        "clusters": clusters,
        "planted_groups": list(groups.values()),
        "conflicts": {name: f"c{f}" for name, _, f, sign, _ in plan if sign < 0},
    }
    return TaskSet(X, tasks, targets, masks, name="synthetic", feature_names=[f"x{j}" for j in range(d)],
                   split_seed=seed, meta=meta)


def planted_groups(taskset: TaskSet) -> list[list[str]]:
    """The planted grouping of a synthetic task set, restricted to the tasks it still holds.

    Each cluster's tasks form one group; every conflicting or unrelated task is a group of its own.
    """
    groups = taskset.meta.get("planted_groups")
    if groups is None:
        raise ConfigError(f"task set {taskset.name!r} has no planted groups (only synthetic task sets do)")
    present = set(taskset.task_names)
    return [kept for g in groups if (kept := [t for t in g if t in present])]


__all__ = ["synthetic", "planted_groups", "PlantedFunction"]
