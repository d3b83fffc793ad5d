"""The joint run's measured step on each task's own rows gives the numbers of the dense computation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from taskgroup.affinity import joint, ownrows
from taskgroup.affinity.lookahead import lookahead, lookahead_from_features
from taskgroup.affinity.ownrows import (mlp_forward, mlp_layers, own_feature_gradients, own_gradients, own_losses,
                                        own_rows)
from taskgroup.affinity.pergrad import per_task_gradients
from taskgroup.config import AnalyzeConfig, ModelConfig
from taskgroup.data.synthetic import synthetic
from taskgroup.training.batching import Batcher, TaskData
from taskgroup.training.trainer import build_model

QUICK = AnalyzeConfig(steps=40, batch_size=32, rows_per_task=16, every=5, window=2)


def _step(kind: str = "mixed", dropout: float = 0.0, shared_rows: bool = False):
    ts = synthetic(n_clusters=2, tasks_per_cluster=3, rows_per_task=60, n_features=6, kind=kind,
                   shared_rows=shared_rows)
    data = TaskData(ts)
    model = build_model(ts, ts.task_names, ModelConfig(hidden=[16, 16], dropout=dropout), seed=0)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    batcher = Batcher(data, 16 * data.n_tasks, sampling="proportional", seed=3, per_task=False)
    for step in range(3):                     # some optimizer state first
        b = batcher.next(step)
        loss = (data.row_losses(model(data.X[b.rows]), data.target_batch(b.rows)) * b.weights).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return data, model, opt, batcher.next(3)


@pytest.mark.parametrize("kind,mlp", [("regression", True), ("mixed", True), ("mixed", False)])
def test_own_rows_reproduce_the_dense_gradients_losses_and_lookahead(kind, mlp, monkeypatch):
    data, model, opt, batch = _step(kind)
    layers = mlp_layers(model.encoder)
    assert layers is not None
    if not mlp:                       # any other encoder: functional_call under vmap
        monkeypatch.setattr(ownrows, "mlp_layers", lambda encoder: None)
    x, targets = data.X[batch.rows], data.target_batch(batch.rows)
    z = model.encode(x)
    out = model.decode(z)
    losses = (data.row_losses(out, targets) * batch.weights).sum(0)
    dense_g = per_task_gradients(losses, z, model.shared_parameters(), method="sequential")

    own = own_rows(batch.weights, targets, data.tasks, model.heads, model.encoder)
    assert own is not None and own.index.shape == (data.n_tasks, 16)
    d_out = torch.autograd.grad(losses.sum(), out, retain_graph=True)
    g = own_gradients(own, model.encoder, x, own_feature_gradients(own, list(d_out), model.heads))
    assert torch.allclose(g, dense_g, atol=1e-6)
    assert torch.allclose(own_losses(own, model.heads)(z.detach()), losses.detach(), atol=1e-6)

    dense_z = lookahead(model.encoder, model.decode, lambda o: (data.row_losses(o, targets) * batch.weights).sum(0),
                        x, opt, dense_g)
    forward = (lambda p, h: mlp_forward(layers, p, h)) if mlp else None
    own_z = lookahead_from_features(model.encoder, own_losses(own, model.heads), x, opt, g, forward)
    assert dense_z.abs().max() > 1e-3            # a real signal is compared, not zeros
    assert torch.allclose(own_z, dense_z, atol=1e-5)


def test_joint_run_on_own_rows_matches_the_previous_dense_computation(monkeypatch):
    ts = synthetic(n_clusters=2, tasks_per_cluster=3, rows_per_task=60, n_features=6, kind="mixed")
    used: list[bool] = []
    real = joint.own_rows
    monkeypatch.setattr(joint, "own_rows", lambda *a: used.append(real(*a) is not None) or real(*a))
    fast = joint.joint_run(ts, ts.task_names, QUICK, ModelConfig(hidden=[16, 16]), seed=0)
    assert used and all(used)
    dense = joint.joint_run(ts, ts.task_names, QUICK, ModelConfig(hidden=[16, 16]), seed=0, method="sequential")
    for key in ("cosine", "lookahead"):
        a, b = np.array(fast["records"][key]), np.array(dense["records"][key])
        assert a.shape == b.shape and len(a) > 1
        np.testing.assert_allclose(a, b, atol=1e-4)


def test_own_rows_decline_shared_rows_dropout_and_unequal_rows():
    data, model, _, batch = _step("regression", shared_rows=True)
    assert own_rows(batch.weights, data.target_batch(batch.rows), data.tasks, model.heads, model.encoder) is None
    data, model, _, batch = _step("regression", dropout=0.2)
    assert own_rows(batch.weights, data.target_batch(batch.rows), data.tasks, model.heads, model.encoder) is None
    data, model, _, batch = _step("regression")
    targets = data.target_batch(batch.rows)
    assert own_rows(batch.weights, targets, data.tasks, model.heads, model.encoder) is not None
    uneven = batch.weights.clone()
    uneven[0] = 0.0                                   # the first task loses a row
    assert own_rows(uneven, targets, data.tasks, model.heads, model.encoder) is None
