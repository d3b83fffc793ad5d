"""Lookahead as TAG defines it: the optimizer's own step on one task, checked against a deep copy."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from taskgroup.affinity.lookahead import lookahead
from taskgroup.affinity.pergrad import per_task_gradients
from taskgroup.config import AnalyzeConfig, Config, DataConfig, ModelConfig
from taskgroup.data import load_builtin
from taskgroup.training.batching import Batcher, TaskData
from taskgroup.training.trainer import build_model

OPTIMIZERS = {
    "adam": lambda ps: torch.optim.Adam(ps, lr=3e-3),
    "adam_wd": lambda ps: torch.optim.Adam(ps, lr=1e-2, weight_decay=1e-3),
    "sgd_momentum": lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.9),
    "sgd_nesterov": lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-4),
}


def _setup(dropout: float = 0.0):
    ts = load_builtin("synthetic", {"n_clusters": 2, "tasks_per_cluster": 2, "rows_per_task": 80, "n_features": 6})
    data = TaskData(ts)
    model = build_model(ts, ts.task_names, ModelConfig(hidden=[16, 16], dropout=dropout), seed=0)
    return ts, data, model, Batcher(data, 64, seed=1)


def _losses(model, data, batch):
    out = model(data.X[batch.rows])
    return (data.row_losses(out, data.target_batch(batch.rows)) * batch.weights).sum(0)


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_lookahead_equals_a_deep_copied_optimizer_step_on_each_task(name, seed):
    _, data, model, batcher = _setup()
    opt = OPTIMIZERS[name](model.parameters())
    for step in range(3):                    # some optimizer state first: moments, momentum buffers
        loss = _losses(model, data, batcher.next(step)).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
    batch = batcher.next(3)
    x, targets = data.X[batch.rows], data.target_batch(batch.rows)
    z = model.encode(x)
    losses = (data.row_losses(model.decode(z), targets) * batch.weights).sum(0)
    g = per_task_gradients(losses, z, model.shared_parameters())
    got = lookahead(model.encoder, model.decode, lambda o: (data.row_losses(o, targets) * batch.weights).sum(0),
                    x, opt, g)

    T = data.n_tasks
    ref = np.zeros((T, T))
    before = _losses(model, data, batch).detach()
    for i in range(T):
        m2 = copy.deepcopy(model)
        o2 = OPTIMIZERS[name](m2.parameters())
        o2.load_state_dict(copy.deepcopy(opt.state_dict()))
        o2.zero_grad(set_to_none=True)
        _losses(m2, data, batch)[i].backward()
        for p in m2.heads.parameters():      # TAG: the heads stay fixed
            p.grad = None
        o2.step()
        with torch.no_grad():
            ref[i] = (1 - _losses(m2, data, batch) / before).numpy()
    np.testing.assert_allclose(got.numpy(), ref, rtol=1e-4, atol=1e-6)
    assert np.abs(ref).max() > 1e-4          # the step moved the losses: the check is not vacuous


def test_lookahead_with_dropout_uses_one_mask_before_and_after(seed):
    _, data, model, batcher = _setup(dropout=0.3)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    batch = batcher.next(0)
    x, targets = data.X[batch.rows], data.target_batch(batch.rows)
    model.train()
    z = model.encode(x)
    losses = (data.row_losses(model.decode(z), targets) * batch.weights).sum(0)
    g = per_task_gradients(losses, z, model.shared_parameters())
    zero = lookahead(model.encoder, model.decode, lambda o: (data.row_losses(o, targets) * batch.weights).sum(0),
                     x, opt, torch.zeros_like(g))
    # Adam's first step with a zero gradient does not move: with one shared mask Z is exactly 0
    assert torch.count_nonzero(zero) == 0
    z1 = lookahead(model.encoder, model.decode, lambda o: (data.row_losses(o, targets) * batch.weights).sum(0),
                   x, opt, g)
    assert torch.isfinite(z1).all() and (torch.diagonal(z1) > 0).all()


def test_analyze_runs_with_dropout(tmp_path, seed):
    from taskgroup.affinity.analyze import analyze
    from taskgroup.data import load_taskset

    cfg = Config(data=DataConfig(builtin="synthetic", options={"n_clusters": 2, "tasks_per_cluster": 2,
                                                               "rows_per_task": 100, "n_features": 8}),
                 model=ModelConfig(hidden=[16, 16], dropout=0.2),
                 analyze=AnalyzeConfig(steps=40, probe_steps=40, probe_eval_every=20, probe_seeds=2))
    doc = analyze(cfg, load_taskset(cfg), None)
    for m in ("gradient_cosine", "lookahead", "transfer"):
        assert np.isfinite(np.asarray(doc["measures"][m]["matrix"])).all()
