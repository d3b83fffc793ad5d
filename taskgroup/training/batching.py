"""Tensors of a task group and the batches drawn from them.

A batch is a set of row indices plus a ``(rows, tasks)`` weight matrix: the loss of task t is the
weighted sum of its per-row losses, so a row that is not labelled for t (or not drawn for t) weighs
nothing. One representation serves rows shared by all tasks and rows owned by one task each.

Equal exposure: ``batch_size`` is the number of its own labelled rows each task sees per step,
whatever network it is in. With rows shared by all tasks one batch of ``batch_size`` rows serves
every task; otherwise each task draws its own ``batch_size`` rows (the batch holds ``batch_size``
rows per task, as multi-input multi-task trainers do), so a task in a 9-task network is trained on
as many of its rows per step as in its single-task network, and groups are not under-trained. The
``uniform`` sampling (the default) keeps this exactly; ``proportional`` and ``temperature`` share
the same ``batch_size x tasks`` rows by task size instead, and the ``round_robin`` schedule trains
one task per step.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .objectives import metric_value, predictions, rmse, row_loss
from .sampling import SAMPLINGS, SCHEDULES
from .valparts import PARTS, divide, row_keys
from ..tasks import TEST, TRAIN, VAL, Task, TaskSet


#: torch generators take seeds below 2**63
SEED_RANGE = 2**63


class TaskData:
    """Inputs and standardised targets of a group of tasks as tensors, with per-split row indices."""

    def __init__(self, taskset: TaskSet, names: list[str] | None = None, device: torch.device | str = "cpu") -> None:
        names = list(names or taskset.task_names)
        self.device = torch.device(device)
        self.tasks: list[Task] = [taskset.task(n) for n in names]
        self.names = names
        #: a tensor, or streamed inputs that read the indexed rows on demand (same indexing)
        self.X = taskset.inputs if taskset.streamed else torch.from_numpy(taskset.inputs)
        self.X = self.X.to(self.device) if isinstance(self.X, torch.Tensor) else _OnDevice(self.X, self.device)
        self.targets: list[torch.Tensor] = []
        self.raw_targets: list[np.ndarray] = []
        self.mean: list[float] = []
        self.std: list[float] = []
        self.rows: dict[int, list[torch.Tensor]] = {TRAIN: [], VAL: [], TEST: []}
        for t in self.tasks:
            split = taskset.splits[t.name]
            y = np.asarray(taskset.targets[t.name])
            for s in self.rows:
                self.rows[s].append(torch.from_numpy(np.flatnonzero(split == s)))
            mean, std = 0.0, 1.0
            if t.kind == "regression":
                tr = y[split == TRAIN].astype(np.float64)
                mean, std = float(tr.mean()), float(tr.std()) or 1.0
            yf = y.astype(np.float64) if t.kind != "custom" else y
            self.raw_targets.append(yf)
            z = (yf - mean) / std if t.kind == "regression" else yf
            z = np.where(np.isnan(z), 0.0, z) if np.asarray(z).dtype.kind == "f" else z
            self.targets.append(torch.as_tensor(np.asarray(z), dtype=torch.float32, device=self.device))
            self.mean.append(mean)
            self.std.append(std)
        keys = row_keys(len(self.X))
        for p in PARTS.values():
            self.rows[p] = []
        for t, val, y in zip(self.tasks, self.rows[VAL], self.raw_targets):
            v = val.numpy()
            labels = y[v] if t.kind in ("binary", "multiclass") else None
            for p, rows in divide(v, keys, labels).items():
                self.rows[p].append(torch.from_numpy(rows))
        train_sets = [r.numpy() for r in self.rows[TRAIN]]
        self.shared = all(len(a) == len(train_sets[0]) and np.array_equal(a, train_sets[0]) for a in train_sets)
        self.n_train = [len(r) for r in self.rows[TRAIN]]

    @property
    def n_tasks(self) -> int:
        return len(self.tasks)

    def scores(self, i: int, output: torch.Tensor, rows: torch.Tensor, keep_scores: bool = False) -> dict[str, Any]:
        """Task ``i``'s ``metric`` for ``output`` on ``rows``, and for regression its ``rmse`` too (the
        value Delta_m and transfer gains compare, :mod:`taskgroup.delta`). Regression predictions are
        mapped back to the target's units first, so an RMSE is in the units of the data.
        ``keep_scores`` adds each row's score (what the metric consumes) under ``"scores"``."""
        task = self.tasks[i]
        values = predictions(task, output)
        y = self.raw_targets[i][rows.numpy()]
        if task.kind == "regression":
            values = values * self.std[i] + self.mean[i]
        out: dict[str, Any] = {"metric": metric_value(task, y, values)}
        if task.kind == "regression":
            out["rmse"] = rmse(y, values)
        if keep_scores:
            out["scores"] = values
        return out

    def target_batch(self, rows: torch.Tensor) -> list[torch.Tensor]:
        return [y[rows] for y in self.targets]

    def row_losses(self, outputs: list[torch.Tensor], targets: list[torch.Tensor]) -> torch.Tensor:
        """Per-row loss of every task, shape ``(..., rows, tasks)``."""
        return torch.stack([row_loss(t, o, y) for t, o, y in zip(self.tasks, outputs, targets)], dim=-1)


class _OnDevice:
    """Streamed inputs whose rows arrive on ``device`` (they are read on the CPU)."""

    def __init__(self, inputs, device: torch.device) -> None:
        self.inputs, self.device = inputs, device
        self.batch_size = inputs.batch_size

    def __len__(self) -> int:
        return len(self.inputs)

    def __getattr__(self, name: str):
        return getattr(self.inputs, name)

    def __getitem__(self, index) -> torch.Tensor:
        if isinstance(index, torch.Tensor):
            index = index.cpu()
        x = self.inputs[index]
        return x if self.device.type == "cpu" else x.to(self.device)


@dataclass
class Batch:
    rows: torch.Tensor      # (B,) long
    weights: torch.Tensor   # (B, T): task t's loss = sum_b weights[b, t] * loss[b, t]

    def to(self, device: torch.device) -> "Batch":
        """The same batch with its tensors on ``device`` (batches are drawn on the CPU)."""
        return self if device.type == "cpu" else Batch(self.rows.to(device), self.weights.to(device))


def allocation(sizes: list[int], batch_size: int, sampling: str, temperature: float,
               names: list[str] | None = None) -> list[int]:
    """Rows of each task in one batch, shared by the sampling ``sampling`` (see :data:`SAMPLINGS`).

    Largest-remainder rounding, so the counts always add up to ``batch_size`` and every task gets
    at least one row when the batch is large enough. Ties go to the task whose name sorts first, so
    the counts do not depend on the order of the tasks.
    """
    p = SAMPLINGS.load(sampling)(np.asarray(sizes, dtype=np.float64), temperature)
    p = p / p.sum()
    k = len(sizes)
    floor_each = 1 if batch_size >= k else 0
    rest = batch_size - floor_each * k
    raw = p * rest
    counts = np.floor(raw).astype(int)
    names = names or [f"{i:09d}" for i in range(len(sizes))]
    frac = raw - counts
    order = sorted(range(len(sizes)), key=lambda i: (-round(float(frac[i]), 9), names[i]))
    for i in order[: rest - int(counts.sum())]:
        counts[i] += 1
    return (counts + floor_each).tolist()


class Batcher:
    """Draws training batches for a task group from its own seeded generator."""

    def __init__(self, data: TaskData, batch_size: int, sampling: str = "uniform", temperature: float = 2.0,
                 schedule: str = "all", seed: int = 0, active: list[int] | None = None,
                 per_task: bool = True) -> None:
        """``batch_size`` rows per task per step (``per_task``), or in all when ``per_task`` is False."""
        self.data = data
        self.batch_size = batch_size
        self.schedule = SCHEDULES.load(schedule)
        self.active = list(range(data.n_tasks)) if active is None else list(active)
        # seeds are folded into torch's range (identical for every seed below 2**63 / 1_000_003)
        self.gen = torch.Generator().manual_seed(int(seed) % SEED_RANGE)
        # one stream per task, keyed by its name: a task's draws do not depend on the task order
        self.task_gen = [torch.Generator().manual_seed((int(seed) * 1_000_003 + zlib.crc32(n.encode())) % SEED_RANGE)
                         for n in data.names]
        train = [data.rows[TRAIN][i] for i in self.active]
        self.shared = all(len(r) == len(train[0]) and torch.equal(r, train[0]) for r in train)
        total = batch_size * len(self.active) if per_task else batch_size
        self.counts = allocation([len(r) for r in train], total, sampling, temperature,
                                 [data.names[i] for i in self.active])

    def _draw(self, rows: torch.Tensor, k: int, gen: torch.Generator | None = None) -> torch.Tensor:
        return rows[torch.randint(len(rows), (k,), generator=gen or self.gen)]

    def next(self, step: int) -> Batch:
        """The batch of step ``step``, as the schedule draws it."""
        return self.schedule(self, step)


def every_task(batcher: Batcher, step: int) -> Batch:
    """Schedule ``all``: every active task in every batch, with its allocated rows."""
    T, B = batcher.data.n_tasks, batcher.batch_size
    weights = torch.zeros(B, T)
    train = batcher.data.rows[TRAIN]
    if batcher.shared:
        rows = batcher._draw(train[batcher.active[0]], B)
        weights[:, batcher.active] = 1.0 / B
        return Batch(rows, weights)
    weights = torch.zeros(sum(batcher.counts), T)
    parts, start = [], 0
    for t, k in zip(batcher.active, batcher.counts):
        parts.append(batcher._draw(train[t], k, batcher.task_gen[t]))
        if k:
            weights[start:start + k, t] = 1.0 / k
        start += k
    return Batch(torch.cat(parts), weights)


def round_robin(batcher: Batcher, step: int) -> Batch:
    """Schedule ``round_robin``: one active task per batch, in turn."""
    T, B = batcher.data.n_tasks, batcher.batch_size
    weights = torch.zeros(B, T)
    t = batcher.active[step % len(batcher.active)]
    rows = batcher._draw(batcher.data.rows[TRAIN][t], B, batcher.task_gen[t])
    weights[:, t] = 1.0 / B
    return Batch(rows, weights)


def stack_batches(batches: list[Batch]) -> Batch:
    """Batches of several networks stacked to ``(networks, rows)``; shorter ones padded with weightless rows."""
    L = max(len(b.rows) for b in batches)
    rows = torch.stack([torch.cat([b.rows, b.rows[:1].expand(L - len(b.rows))]) for b in batches])
    weights = torch.zeros(len(batches), L, batches[0].weights.shape[1])
    for m, b in enumerate(batches):
        weights[m, :len(b.rows)] = b.weights
    return Batch(rows, weights)


def evaluate(outputs_fn, data: TaskData, split: int, tasks: list[int] | None = None,
             keep_scores: bool = False) -> dict[str, dict]:
    """Mean loss and metric of each task on ``split``, from ``outputs_fn(X) -> list of outputs``.

    ``split`` is a split or a part of the validation split (:mod:`.valparts`). Regression
    predictions are mapped back to the original target scale before the metric, so an RMSE is in
    the units of the data; regression tasks also report ``rmse`` whatever their metric, the value
    Delta_m and transfer gains compare (:mod:`taskgroup.delta`). ``keep_scores`` adds each row's
    score (what the metric consumes, in the order of ``data.rows[split]``) under ``"scores"``.
    """
    idx = list(range(data.n_tasks)) if tasks is None else tasks
    rows = torch.unique(torch.cat([data.rows[split][i] for i in idx]))
    position = torch.full((len(data.X),), -1, dtype=torch.long)
    position[rows] = torch.arange(len(rows))
    rows, position = rows.to(data.device), position.to(data.device)
    with torch.no_grad():
        outputs = forward_rows(outputs_fn, data.X, rows)
    result: dict[str, dict[str, float]] = {}
    for i in idx:
        task = data.tasks[i]
        r = data.rows[split][i]
        rd = r.to(data.device)
        out = outputs[i][position[rd]]
        loss = float(row_loss(task, out, data.targets[i][rd]).mean())
        result[task.name] = {"loss": loss, **data.scores(i, out, r, keep_scores)}
    return result


def forward_rows(outputs_fn, X, rows: torch.Tensor, dim: int = 0) -> list[torch.Tensor]:
    """``outputs_fn(X[rows])``; streamed inputs go through in loader-sized chunks along ``dim`` of ``rows``."""
    if isinstance(X, torch.Tensor):
        return outputs_fn(X[rows])
    size = X.batch_size
    parts = [outputs_fn(X[rows.narrow(dim, i, min(size, rows.shape[dim] - i))])
             for i in range(0, rows.shape[dim], size)]
    return [torch.cat([p[t] for p in parts], dim=dim) for t in range(len(parts[0]))]
