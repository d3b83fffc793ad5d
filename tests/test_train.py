"""The trainer: masked losses, weightings, sampling, scheduling, early stopping, determinism."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from taskgroup.training.batching import Batcher, TaskData, allocation
from taskgroup.config import ModelConfig, TrainConfig
from taskgroup.data.synthetic import synthetic
from taskgroup.tasks import TRAIN, Task, TaskSet
from taskgroup.training.trainer import train_network

FAST = TrainConfig(steps=60, batch_size=32, eval_every=20, patience=3)
SMALL = ModelConfig(hidden=[16])


def _mixed_taskset(seed: int = 0) -> TaskSet:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(300, 5)).astype(np.float32)
    f = np.tanh(X @ rng.normal(size=5))
    reg = f + 0.1 * rng.normal(size=300)
    reg[:100] = np.nan  # a third of the rows carry no label for this task
    targets = {"reg": reg, "bin": (f > 0).astype(float), "multi": np.digitize(f, [-0.3, 0.3]).astype(float)}
    tasks = [Task("reg", "regression"), Task("bin", "binary"), Task("multi", "multiclass", n_classes=3)]
    return TaskSet(X, tasks, targets, {})


def test_unlabelled_rows_never_enter_a_batch_for_that_task():
    ts = _mixed_taskset()
    data = TaskData(ts)
    batcher = Batcher(data, 32, seed=1)
    unlabelled = set(range(100))
    for step in range(50):
        b = batcher.next(step)
        rows_for_reg = b.rows[b.weights[:, 0] > 0].tolist()
        assert not unlabelled & set(rows_for_reg)


def test_training_a_table_with_missing_targets_reports_every_task():
    ts = _mixed_taskset()
    result, state = train_network(ts, ts.task_names, FAST, SMALL, seed=0)
    assert set(result.test) == {"reg", "bin", "multi"}
    assert all(np.isfinite(v) for v in result.test.values())
    assert result.params > 0 and result.macs > 0 and state


@pytest.mark.parametrize("shared_rows", [True, False], ids=["shared-rows", "per-task-rows"])
def test_both_shapes_of_data_train(shared_rows):
    ts = synthetic(n_clusters=2, tasks_per_cluster=2, rows_per_task=120, shared_rows=shared_rows, seed=3)
    result, _ = train_network(ts, ts.task_names, FAST, SMALL, seed=0)
    assert set(result.val) == set(ts.task_names)


def test_same_seed_gives_bit_identical_metrics():
    ts = _mixed_taskset()
    a, _ = train_network(ts, ts.task_names, FAST, SMALL, seed=5)
    b, _ = train_network(ts, ts.task_names, FAST, SMALL, seed=5)
    c, _ = train_network(ts, ts.task_names, FAST, SMALL, seed=6)
    assert a.test == b.test and a.val == b.val
    assert a.test != c.test


@pytest.mark.parametrize("weighting", ["uncertainty", "dwa", "gradnorm"])
def test_adaptive_weightings_move_their_weights(weighting):
    ts = _mixed_taskset()
    cfg = TrainConfig(steps=80, batch_size=32, eval_every=10, patience=100, weighting=weighting)
    result, _ = train_network(ts, ts.task_names, cfg, SMALL, seed=0)
    assert len(result.weights) == 3
    assert not np.allclose(result.weights, 1.0)
    equal, _ = train_network(ts, ts.task_names, TrainConfig(steps=80, batch_size=32, eval_every=10, patience=100),
                             SMALL, seed=0)
    assert equal.weights == [1.0, 1.0, 1.0]
    assert result.test != equal.test


def test_sampling_sets_each_tasks_share_of_a_batch():
    sizes = [400, 100, 25]
    prop = allocation(sizes, 60, "proportional", 2.0)
    uni = allocation(sizes, 60, "uniform", 2.0)
    temp = allocation(sizes, 60, "temperature", 2.0)
    assert sum(prop) == sum(uni) == sum(temp) == 60
    assert prop[0] > temp[0] > uni[0]
    assert prop[2] < temp[2] < uni[2]
    assert max(uni) - min(uni) <= 1


def test_allocation_does_not_depend_on_task_order():
    names = ["a", "b", "c", "d", "e"]
    counts = dict(zip(names, allocation([10] * 5, 32, "proportional", 2.0, names)))
    rev = dict(zip(names[::-1], allocation([10] * 5, 32, "proportional", 2.0, names[::-1])))
    assert counts == rev


def test_round_robin_trains_one_task_per_step():
    ts = synthetic(n_clusters=1, tasks_per_cluster=3, rows_per_task=60, seed=0)
    batcher = Batcher(TaskData(ts), 16, schedule="round_robin", seed=0)
    active = [int(torch.nonzero(batcher.next(s).weights.sum(0)).flatten()[0]) for s in range(6)]
    assert active == [0, 1, 2, 0, 1, 2]


def test_early_stopping_keeps_the_best_validation_checkpoint():
    ts = _mixed_taskset()
    cfg = TrainConfig(steps=400, batch_size=32, eval_every=10, patience=2, lr=0.05)
    result, _ = train_network(ts, ts.task_names, cfg, SMALL, seed=0)
    assert result.steps < 400
    rel = {h["step"]: h["val_rel_loss"] for h in result.history}
    assert rel[result.best_step] == min(rel.values())


def test_soft_sharing_trains_one_encoder_per_task():
    ts = _mixed_taskset()
    hard, _ = train_network(ts, ["reg", "bin"], FAST, SMALL, seed=0)
    soft, _ = train_network(ts, ["reg", "bin"], FAST, SMALL, seed=0, sharing="soft")
    assert soft.params > hard.params
    assert set(soft.test) == {"reg", "bin"}


def test_only_training_rows_are_drawn():
    ts = _mixed_taskset()
    data = TaskData(ts)
    b = Batcher(data, 64, seed=0)
    for step in range(20):
        batch = b.next(step)
        for t, name in enumerate(data.names):
            rows = batch.rows[batch.weights[:, t] > 0].numpy()
            assert np.all(ts.splits[name][rows] == TRAIN)
