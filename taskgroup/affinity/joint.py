"""One joint training of all tasks that measures gradient cosine and lookahead transfer as it goes.

Every ``every`` steps a measurement opens: the per-task gradients of the shared encoder are taken in
one batched pass (:mod:`.pergrad`) and summed over ``window`` consecutive steps before their cosine
is taken (a longer window averages out sampling noise; with per-task rows that noise dominates a
single step). At every step of the window, lookahead transfer (Fifty et al., NeurIPS 2021) is
measured as TAG defines it (:mod:`.lookahead`): on that step's batch, for every source task i at
once, the shared parameters take the training optimizer's own update (Adam from its current
moments, at the training learning rate) on L_i alone, heads fixed, and
Z[i][j] = 1 - L_j(after) / L_j(before). Measurements are kept in the first ``phase`` fraction of
training, where the relationships between tasks show most clearly.

The shared gradient the optimizer uses on a measured step is the sum of the per-task gradients
already computed, so a measurement costs one batched pass, not an extra backward. With per-task
rows, each head is evaluated and each task's gradient taken on that task's own rows only
(:mod:`.ownrows`), so a measured step grows as T^2 rather than T^3; other batches (rows shared by
all tasks, unequal rows per task, dropout, heads that are not linear) keep the dense computation.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch

from ..training.batching import Batcher, TaskData
from ..config import AnalyzeConfig, ModelConfig
from ..tasks import TaskSet
from ..training.trainer import build_model, check_finite
from .lookahead import _unflatten, lookahead_from_features
from .ownrows import mlp_forward, mlp_layers, own_feature_gradients, own_gradients, own_losses, own_rows, own_step
from ..runtime.progress import ProgressFn
from .pergrad import cosine_matrix, linear_feature_gradients, per_task_gradients


def _summary(samples: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    arr = np.stack(samples) if samples else np.zeros((1, 1, 1))
    mean = arr.mean(0)
    stderr = arr.std(0, ddof=1) / np.sqrt(len(arr)) if len(arr) > 1 else np.zeros_like(mean)
    return mean, stderr


def joint_run(taskset: TaskSet, names: list[str], cfg: AnalyzeConfig, model_cfg: ModelConfig, seed: int = 0,
              measures: tuple[str, ...] = ("gradient_cosine", "lookahead"), method: str = "batched",
              progress: ProgressFn | None = None, keep_records: bool = True,
              device: torch.device | str = "cpu") -> dict[str, Any]:
    """Train all ``names`` jointly for ``cfg.steps`` steps and measure the one-run affinities.

    Returns ``{"gradient_cosine": {...}, "lookahead": {...}, "seconds": s, "records": {...}}`` with
    each measure's mean matrix, its standard error over measurements, and the raw measurements.
    With ``measures=()`` it is the same training without measurement (the overhead baseline).
    """
    start = time.perf_counter()
    device = torch.device(device)  # initialisation and batches are drawn on the CPU, whatever the device
    data = TaskData(taskset, names, device)
    model = build_model(taskset, names, model_cfg, sharing="hard", seed=seed).to(device)
    shared = model.shared_parameters()
    heads = list(model.heads.parameters())
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    # every task needs enough rows in each step for its gradient to mean something
    batcher = Batcher(data, max(cfg.batch_size, cfg.rows_per_task * len(names)), sampling="proportional",
                      seed=seed + 7919, per_task=False)
    want_cos = "gradient_cosine" in measures
    want_look = "lookahead" in measures
    last_measured = int(cfg.steps * cfg.phase)
    window = cfg.window_steps
    if want_cos or want_look:
        cfg.check_windows()
    acc = None
    cos_samples: list[np.ndarray] = []
    norm_samples: list[np.ndarray] = []
    look_samples: list[np.ndarray] = []
    steps_measured: list[int] = []
    model.train()
    for step in range(cfg.steps):
        drawn = batcher.next(step)
        batch = drawn.to(device)
        x = data.X[batch.rows]
        targets = data.target_batch(batch.rows)
        phase_pos = step % cfg.every
        measuring = (want_cos or want_look) and step < last_measured and phase_pos < window
        # measured steps on each task's own rows when the batch allows it (:mod:`.ownrows`)
        own = own_rows(drawn.weights, targets, data.tasks, model.heads, model.encoder) \
            if measuring and method == "batched" else None
        layers = mlp_layers(model.encoder) if own is not None else None
        if layers is not None:  # one forward and backward give every task's gradient and the heads'
            losses, g, head_grads = own_step(own, layers, model.encoder, model.heads, x)
        else:
            z = model.encode(x)
            out = model.decode(z)
            losses = (data.row_losses(out, targets) * batch.weights).sum(0)
        check_finite(losses, names, step + 1, "analyze.lr")
        if measuring:
            forward = before = None
            if layers is not None:
                feature_losses = own_losses(own, model.heads)
                forward, before = (lambda p, h: mlp_forward(layers, p, h)), losses  # noqa: E731
            elif own is not None:
                grads = torch.autograd.grad(losses.sum(), [*out, *heads], retain_graph=True, allow_unused=True)
                g = own_gradients(own, model.encoder, x, own_feature_gradients(own, grads[:len(out)], model.heads))
                head_grads = grads[len(out):]
                feature_losses = own_losses(own, model.heads)
            else:
                dz = linear_feature_gradients(losses, out, list(model.heads)) if method == "batched" else None
                g = per_task_gradients(losses, z, shared, cfg.chunk_size, method, feature_grads=dz)
                head_grads = torch.autograd.grad(losses.sum(), heads, allow_unused=True)
                feature_losses = lambda f: (data.row_losses(model.decode(f), targets) * batch.weights).sum(0)  # noqa: E731
            acc = g if acc is None or phase_pos == 0 else acc + g
            if want_look:
                look_samples.append(lookahead_from_features(model.encoder, feature_losses, x, opt, g, forward,
                                                            before).cpu().numpy())
            if phase_pos == window - 1:
                if want_cos:
                    cos_samples.append(cosine_matrix(acc).cpu().numpy())
                    n = acc.norm(dim=1).cpu().numpy()
                    norm_samples.append(n[:, None] / np.maximum(n[None, :], 1e-12))
                    steps_measured.append(step)
            opt.zero_grad(set_to_none=True)
            for p, gp in zip(heads, head_grads):
                p.grad = gp
            for p, gp in zip(shared, _unflatten(g.sum(0), shared)):
                p.grad = gp.clone()
        else:
            opt.zero_grad(set_to_none=True)
            losses.sum().backward()
        opt.step()
        if progress and (step + 1) % 25 == 0:
            progress(step + 1, cfg.steps, {})
    seconds = time.perf_counter() - start
    result: dict[str, Any] = {"seconds": seconds, "steps": cfg.steps, "tasks": list(names)}
    if want_cos:
        mean, stderr = _summary(cos_samples)
        arr = np.stack(cos_samples)
        result["gradient_cosine"] = {
            "matrix": mean.tolist(), "stderr": stderr.tolist(), "n": len(cos_samples),
            "conflict_rate": (arr < 0).mean(0).tolist(),
            "norm_ratio": np.mean(np.stack(norm_samples), 0).tolist(),
        }
    if want_look:
        mean, stderr = _summary(look_samples)
        result["lookahead"] = {"matrix": mean.tolist(), "stderr": stderr.tolist(), "n": len(look_samples)}
    if keep_records:
        result["records"] = {"steps": steps_measured, "cosine": [c.tolist() for c in cos_samples],
                             "lookahead": [z.tolist() for z in look_samples]}
    return result
