"""Probe trainings: many small networks, one per (task subset, seed), trained at once.

A probe is the encoder at ``probe_width`` with a head for each of its own tasks only (a pair probe:
two heads), so its cost does not grow with the number of tasks in the set. Probes whose heads match
slot by slot (:func:`~taskgroup.training.stack.head_signature`) share an architecture; their
parameters stack along a leading model dimension and one vmapped forward and backward trains them
all (:mod:`taskgroup.training.stack`). The one-at-a-time path runs the same code with one probe per
stack, which is also the fallback for user encoders that cannot be vmapped. Both give the same
numbers.

Each probe reports every task's validation metric at that task's own best validation checkpoint,
and (for two or more tasks) the gradient cosine between its tasks measured during its own training.
A probe stops after ``probe_patience`` evaluations in which neither any of its tasks nor their mean
improved (or at ``probe_steps``), so it trains at least as long as when it stopped on the mean alone. Reading a pair at one checkpoint chosen on its summed loss, as a single probe
is read at its own best, would bias pairwise transfer gains against sharing: the single task gets
the best of all its checkpoints, each task of the pair only a compromise between the two.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable

import torch

from ..training.batching import Batcher, TaskData, stack_batches
from ..config import AnalyzeConfig, ModelConfig
from ..training.stack import SlotData, Stack, head_signature, vmap_works
from ..tasks import VAL, TaskSet
from ..training.trainer import build_model, check_finite
from .pergrad import cosine_matrix

Progress = Callable[[int, int, dict[str, Any]], None]


@dataclass(frozen=True)
class ProbeSpec:
    """A probe: the tasks it trains on and its seed (the seed fixes its initialisation and batches)."""

    tasks: tuple[str, ...]
    seed: int


def train_probes(taskset: TaskSet, specs: list[ProbeSpec], cfg: AnalyzeConfig, model_cfg: ModelConfig,
                 batched: bool = True, progress: Progress | None = None, data: TaskData | None = None,
                 max_stack: int = 0, device: torch.device | str = "cpu") -> list[dict[str, Any]]:
    """Train every probe in ``specs`` on ``device``; return one JSON-able record per probe, in order.

    ``batched`` stacks up to ``max_stack`` probes (0: all) of one architecture into one vmapped
    network; otherwise each probe trains alone. Records hold ``tasks``, ``seed``, ``val`` (metric
    per task), ``val_loss``, ``best_step``, ``cosine`` (matrix over the probe's tasks) and
    ``seconds``.
    """
    device = torch.device(device)
    data = data if data is not None and data.device == device else TaskData(taskset, device=device)
    size = (max_stack or len(specs)) if batched else 1
    kinds: dict[tuple, list[int]] = {}
    for i, sp in enumerate(specs):
        kinds.setdefault(tuple(head_signature(taskset.task(t)) for t in sp.tasks), []).append(i)
    out: dict[int, dict[str, Any]] = {}
    done = 0
    for members in kinds.values():
        for s in range(0, len(members), size):
            chunk = members[s:s + size]
            for i, rec in zip(chunk, _train_stack(taskset, [specs[i] for i in chunk], cfg, model_cfg, data, batched)):
                out[i] = rec
            done += len(chunk)
            if progress:
                progress(done, len(specs), {})
    return [out[i] for i in range(len(specs))]


def _train_stack(taskset: TaskSet, specs: list[ProbeSpec], cfg: AnalyzeConfig, model_cfg: ModelConfig,
                 data: TaskData, batched: bool) -> list[dict[str, Any]]:
    """Train probes of one architecture (slot k of every probe has the same head shape) together."""
    start = time.perf_counter()
    dev = data.device
    index = {n: i for i, n in enumerate(data.names)}
    active = [[index[t] for t in sp.tasks] for sp in specs]
    models = [build_model(taskset, list(sp.tasks), model_cfg, width=cfg.probe_width, seed=sp.seed).to(dev)
              for sp in specs]
    stack = Stack(models, use_vmap=batched)
    if stack.use_vmap and not vmap_works(stack, data.X[: len(specs)].unsqueeze(1)):
        return [r for sp in specs for r in _train_stack(taskset, [sp], cfg, model_cfg, data, False)]
    M, K = len(specs), len(specs[0].tasks)
    slots = SlotData(data, active)
    batchers = [Batcher(data, cfg.batch_size, seed=sp.seed * 7919 + 17, active=a) for sp, a in zip(specs, active)]
    opt = torch.optim.Adam(stack.parameters(), lr=cfg.lr)
    base, best_outs = slots.split_losses(stack, VAL)
    base = base.clamp_min(1e-8)
    # every task of every probe keeps its own best checkpoint (relative validation loss); a probe stops
    # after probe_patience evaluations in which neither any of its tasks nor their mean improved
    task_best = torch.full((M, K), float("inf"), device=dev)
    task_step = torch.zeros(M, K, dtype=torch.long, device=dev)
    mean_best = torch.full((M,), float("inf"), device=dev)
    bad = torch.zeros(M, dtype=torch.long, device=dev)
    done = torch.zeros(M, dtype=torch.bool, device=dev)
    cos_sum = torch.zeros(M, K, K, device=dev)
    cos_n = 0
    eye = torch.eye(K, device=dev)
    shared_keys = list(stack.enc)
    for step in range(1, cfg.probe_steps + 1):
        batch = stack_batches([b.next(step - 1) for b in batchers]).to(dev)
        rows, w = batch.rows, slots.slot_weights(batch.weights)
        z = stack.encode(data.X[rows])
        losses = slots.losses(stack.decode(z), rows, w)  # (M, K)
        if not bool(torch.isfinite(losses).all()):
            m_bad = int(torch.nonzero(~torch.isfinite(losses))[0][0])
            check_finite(losses[m_bad], list(specs[m_bad].tasks), step, "analyze.lr")
        if K > 1 and (step - 1) % cfg.every == 0:
            # per-task gradients of every probe's shared encoder for its own tasks (slot k = the
            # probe's k-th task), in one batched pass through the shared features z
            (dz,) = torch.autograd.grad(losses.sum(0), z, grad_outputs=eye, is_grads_batched=True,
                                        retain_graph=True)
            g = torch.autograd.grad(z, [stack.enc[k] for k in shared_keys], grad_outputs=dz,
                                    is_grads_batched=True, retain_graph=True)
            flat = torch.cat([x.reshape(K, M, -1) for x in g], dim=2)  # (K, M, P)
            for m in range(M):
                cos_sum[m] += cosine_matrix(flat[:, m])
            cos_n += 1
        opt.zero_grad(set_to_none=True)
        losses.sum().backward()
        opt.step()
        if step % cfg.probe_eval_every == 0 or step == cfg.probe_steps:
            losses_now, outs = slots.split_losses(stack, VAL)
            rel = losses_now / base
            improved = (rel < task_best - 1e-6) & ~done.unsqueeze(1)
            mean_improved = (rel.mean(1) < mean_best - 1e-6) & ~done
            task_best = torch.where(improved, rel, task_best)
            task_step = torch.where(improved, torch.full_like(task_step, step), task_step)
            mean_best = torch.where(mean_improved, rel.mean(1), mean_best)
            bad = torch.where(improved.any(1) | mean_improved, torch.zeros_like(bad), bad + (~done).long())
            done |= bad >= cfg.probe_patience
            best_outs = [torch.where(improved[:, k].view(M, *([1] * (o.dim() - 1))), o, b)
                         for k, (o, b) in enumerate(zip(outs, best_outs))]
            if bool(done.all()):
                break
    best_step = task_step.max(1).values
    seconds = time.perf_counter() - start
    records = []
    for m, sp in enumerate(specs):
        val, vloss, vrmse = slots.metrics(best_outs, VAL, m)
        cos = (cos_sum[m] / max(cos_n, 1)) if K > 1 else torch.ones(1, 1)
        records.append({"tasks": list(sp.tasks), "seed": sp.seed, "val": val, "val_rmse": vrmse, "val_loss": vloss,
                        "best_step": int(best_step[m]), "cosine": cos.cpu().tolist(), "seconds": seconds / M})
    return records
