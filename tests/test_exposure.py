"""Equal exposure (issue 12): a task sees the same number of its labelled rows per step in its single-task
network, in a pair and in the all-tasks network, whether rows are shared by the tasks or owned by one each."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from taskgroup.data.synthetic import synthetic
from taskgroup.tasks import TRAIN, Task, TaskSet
from taskgroup.training.batching import Batcher, TaskData

BATCH = 32


def _partly_labelled() -> TaskSet:
    """Shared rows with a third of them unlabelled for one task: neither layout exactly."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 4))
    y = {n: X @ rng.normal(size=4) for n in "abc"}
    y["a"][:100] = np.nan
    return TaskSet(X, [Task(n, "regression") for n in "abc"], y, {})


LAYOUTS = {
    "shared-rows": lambda: synthetic(n_clusters=2, tasks_per_cluster=2, rows_per_task=150, shared_rows=True),
    "per-task-rows": lambda: synthetic(n_clusters=2, tasks_per_cluster=2, rows_per_task=150, shared_rows=False),
    "partly-labelled": _partly_labelled,
}


def _exposure(ts: TaskSet, names: list[str], task: str, steps: int = 20) -> list[int]:
    """Labelled training rows of ``task`` that carry its loss in each of ``steps`` batches."""
    data = TaskData(ts, names)
    i = names.index(task)
    train = set(data.rows[TRAIN][i].tolist())
    batcher = Batcher(data, BATCH, seed=3)
    seen = []
    for step in range(steps):
        b = batcher.next(step)
        used = b.rows[b.weights[:, i] > 0]
        assert set(used.tolist()) <= train
        assert torch.isclose(b.weights[:, i].sum(), torch.tensor(1.0))
        seen.append(len(used))
    return seen


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_a_task_sees_batch_size_rows_per_step_in_any_network(layout):
    ts = LAYOUTS[layout]()
    names = ts.task_names
    task = names[0]
    for network in ([task], names[:2], names):
        assert _exposure(ts, network, task) == [BATCH] * 20, (layout, network)


def test_shared_rows_are_one_batch_for_all_tasks():
    ts = LAYOUTS["shared-rows"]()
    b = Batcher(TaskData(ts), BATCH, seed=0).next(0)
    assert len(b.rows) == BATCH and bool((b.weights > 0).all())


def test_per_task_rows_give_each_task_its_own_rows():
    ts = LAYOUTS["per-task-rows"]()
    b = Batcher(TaskData(ts), BATCH, seed=0).next(0)
    assert len(b.rows) == BATCH * len(ts.task_names)
    assert ((b.weights > 0).sum(dim=1) == 1).all()
