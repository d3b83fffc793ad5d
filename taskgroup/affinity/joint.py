"""One joint training of all tasks that measures gradient cosine and lookahead transfer as it goes.

Every ``every`` steps a measurement opens: the per-task gradients of the shared encoder are taken in
one batched pass (:mod:`.pergrad`) and summed over ``window`` consecutive steps before their cosine
is taken (a longer window averages out sampling noise; with per-task rows that noise dominates a
single step). At the first step of each measurement, lookahead transfer (Fifty et al., NeurIPS 2021)
is measured on the same batch: for each source task i the shared parameters take one step on L_i
alone, preconditioned like the optimizer's own step, heads fixed, and
Z[i][j] = (1 - L_j(after) / L_j(before)) / lr, divided by the lookahead step size ``lookahead_lr``
as TAG's code does, so that values do not depend on the step size to first order (a small step keeps
the first-order effect, the gradients' alignment, and not the overshoot of a large step). Measurements are kept in the first ``phase`` fraction of training,
where the relationships between tasks show most clearly.

The shared gradient the optimizer uses on a measured step is the sum of the per-task gradients
already computed, so a measurement costs one batched pass, not an extra backward.
"""

from __future__ import annotations

import time
from typing import Any, Callable

import numpy as np
import torch
from torch.func import functional_call, vmap

from ..training.batching import Batcher, TaskData
from ..config import AnalyzeConfig, ModelConfig
from ..tasks import TaskSet
from ..training.trainer import build_model, check_finite
from .pergrad import cosine_matrix, per_task_gradients

Progress = Callable[[int, int, dict[str, Any]], None]


def _adam_scale(opt: torch.optim.Optimizer, params: list[torch.Tensor], lr: float) -> list[torch.Tensor]:
    """Per-parameter step size of the optimizer's next step: lr / (sqrt(v_hat) + eps), or lr before any step."""
    out = []
    group = opt.param_groups[0]
    beta2, eps = group.get("betas", (0.9, 0.999))[1], group.get("eps", 1e-8)
    for p in params:
        state = opt.state.get(p, {})
        if "exp_avg_sq" in state:
            step = float(state["step"])
            v_hat = state["exp_avg_sq"] / (1 - beta2 ** step)
            out.append(lr / (v_hat.sqrt() + eps))
        else:
            out.append(torch.full_like(p, lr))
    return out


def _unflatten(flat: torch.Tensor, params: list[torch.Tensor]) -> list[torch.Tensor]:
    out, start = [], 0
    for p in params:
        n = p.numel()
        out.append(flat[..., start:start + n].reshape(*flat.shape[:-1], *p.shape))
        start += n
    return out


def lookahead_matrix(model, data: TaskData, x: torch.Tensor, targets, weights: torch.Tensor,
                     losses: torch.Tensor, grads: torch.Tensor, scale: list[torch.Tensor]) -> torch.Tensor:
    """Z[i][j] = 1 - L_j(theta - step_i) / L_j(theta) for every source i at once (vmapped over i)."""
    names = [n for n, _ in model.encoder.named_parameters()]
    params = [p.detach() for _, p in model.encoder.named_parameters()]
    steps = _unflatten(grads.detach(), params)
    stacked = {n: p.unsqueeze(0) - s * g for n, p, s, g in zip(names, params, scale, steps)}
    buffers = dict(model.encoder.named_buffers())

    def after(p: dict[str, torch.Tensor]) -> torch.Tensor:
        z = functional_call(model.encoder, (p, buffers), (x,))
        per_row = data.row_losses(model.decode(z), targets)
        return (per_row * weights).sum(0)

    with torch.no_grad():
        post = vmap(after)(stacked)
    before = losses.detach()
    safe = torch.where(before > 0, before, torch.ones_like(before))
    z = 1.0 - post / safe
    return torch.where(before.unsqueeze(0) > 0, z, torch.zeros_like(z))


def _window_lookahead(model, data: TaskData, batches: list, grads: torch.Tensor, cfg: AnalyzeConfig,
                      shared: list[torch.Tensor]) -> np.ndarray:
    """Lookahead over a whole measurement window: the step is each task's mean gradient over the
    window, and losses before and after are taken on all the window's batches together, so both
    the step and its effect average out the sampling noise of single batches."""
    rows = torch.cat([r for r, _ in batches])
    weights = torch.cat([w for _, w in batches]) / len(batches)
    x = data.X[rows]
    targets = data.target_batch(rows)
    with torch.no_grad():
        before = (data.row_losses(model.decode(model.encode(x)), targets) * weights).sum(0)
    scale = [torch.full_like(p, cfg.lookahead_lr) for p in shared]
    return lookahead_matrix(model, data, x, targets, weights, before, grads, scale).numpy() / cfg.lookahead_lr


def _summary(samples: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    arr = np.stack(samples) if samples else np.zeros((1, 1, 1))
    mean = arr.mean(0)
    stderr = arr.std(0, ddof=1) / np.sqrt(len(arr)) if len(arr) > 1 else np.zeros_like(mean)
    return mean, stderr


def joint_run(taskset: TaskSet, names: list[str], cfg: AnalyzeConfig, model_cfg: ModelConfig, seed: int = 0,
              measures: tuple[str, ...] = ("gradient_cosine", "lookahead"), method: str = "batched",
              progress: Progress | None = None, keep_records: bool = True) -> dict[str, Any]:
    """Train all ``names`` jointly for ``cfg.steps`` steps and measure the one-run affinities.

    Returns ``{"gradient_cosine": {...}, "lookahead": {...}, "seconds": s, "records": {...}}`` with
    each measure's mean matrix, its standard error over measurements, and the raw measurements.
    With ``measures=()`` it is the same training without measurement (the overhead baseline).
    """
    start = time.perf_counter()
    data = TaskData(taskset, names)
    model = build_model(taskset, names, model_cfg, sharing="hard", seed=seed)
    shared = model.shared_parameters()
    heads = list(model.heads.parameters())
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    # every task needs enough rows in each step for its gradient to mean something
    batcher = Batcher(data, max(cfg.batch_size, cfg.rows_per_task * len(names)), seed=seed + 7919)
    want_cos = "gradient_cosine" in measures
    want_look = "lookahead" in measures
    last_measured = int(cfg.steps * getattr(cfg, "phase", 1.0))
    window = max(1, min(cfg.window, cfg.every))
    acc = None
    window_batches: list = []
    cos_samples: list[np.ndarray] = []
    norm_samples: list[np.ndarray] = []
    look_samples: list[np.ndarray] = []
    steps_measured: list[int] = []
    model.train()
    for step in range(cfg.steps):
        batch = batcher.next(step)
        x = data.X[batch.rows]
        targets = data.target_batch(batch.rows)
        z = model.encode(x)
        out = model.decode(z)
        losses = (data.row_losses(out, targets) * batch.weights).sum(0)
        check_finite(losses, names, step + 1, "analyze.lr")
        phase_pos = step % cfg.every
        measuring = (want_cos or want_look) and step < last_measured and phase_pos < window
        if measuring:
            g = per_task_gradients(losses, z, shared, cfg.chunk_size, method)
            acc = g if acc is None or phase_pos == 0 else acc + g
            window_batches = [] if phase_pos == 0 else window_batches
            window_batches.append((batch.rows, batch.weights))
            if phase_pos == window - 1:
                if want_cos:
                    cos_samples.append(cosine_matrix(acc).numpy())
                    n = acc.norm(dim=1).numpy()
                    norm_samples.append(n[:, None] / np.maximum(n[None, :], 1e-12))
                    steps_measured.append(step)
                if want_look:
                    look_samples.append(_window_lookahead(model, data, window_batches, acc / window, cfg, shared))
            opt.zero_grad(set_to_none=True)
            head_grads = torch.autograd.grad(losses.sum(), heads, allow_unused=True)
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
