"""Full trainings of many networks at once: the stacked counterpart of :func:`.trainer.train_network`.

Networks that share an architecture and a budget (the same sharing, loss weighting and width, the
same number of tasks with heads of the same shape slot by slot, no dropout) are trained as one
stack (:mod:`.stack`): the same initialisation, batches, optimizer, evaluation schedule, early
stopping and checkpoint choice as each would get alone, so the results agree with one-at-a-time
training up to floating-point rounding. A network that stops early keeps its best checkpoint while
the rest of the stack trains on. Learnt loss weightings are stacked too (one row of weights per
network, :class:`~.weighting._base.StackedWeighting`; GradNorm's gradient norms from
:mod:`.stack_norms`), and soft sharing stacks all encoders of all networks, each encoder reading
only its own task's rows of the batch when tasks own their rows (the other rows weigh nothing in
its loss, so this changes no result).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Sequence

import torch

from ..config import ModelConfig, TrainConfig
from ..tasks import TEST, VAL, TaskSet
from .batching import Batcher, TaskData, stack_batches
from .models import count_parameters, multiply_adds
from .resume import Checkpoint, capture, restore
from .stack import OwnRows, SlotData, Stack, decode_slots, head_signature, slot_groups, vmap_works
from .stack_norms import autograd_norms, can_trace, traced_norms
from .trainer import TrainResult, build_model, check_finite, train_network
from .weighting import make_stacked_weighting, stacks
from .valparts import CHECKPOINT, PARTS


@dataclass(frozen=True)
class StackMember:
    """One network of a stack: its tasks, seed, width, sharing and loss weighting."""

    tasks: tuple[str, ...]
    seed: int
    width: float = 1.0
    sharing: str = "hard"
    weighting: str = "equal"


def stack_signature(taskset: TaskSet, tasks: Sequence[str], width: float, sharing: str = "hard",
                    weighting: str = "equal") -> tuple:
    """Networks with equal signatures can train in one stack."""
    return (len(tasks), float(width), tuple(head_signature(taskset.task(t)) for t in tasks), sharing, weighting)


def stackable(model_cfg: ModelConfig, sharing: str, weighting: str) -> bool:
    """Whether networks trained with these settings can be stacked (else they train one at a time):
    no dropout, hard or soft sharing, a weighting with a stacked form (GradNorm with hard sharing only)."""
    if model_cfg.dropout != 0 or sharing not in ("hard", "soft") or not stacks(weighting):
        return False
    return sharing == "hard" or not make_stacked_weighting(weighting, 1, 1).needs_norms


def train_stacked(taskset: TaskSet, members: Sequence[StackMember], train_cfg: TrainConfig,
                  model_cfg: ModelConfig, device: torch.device | str = "cpu",
                  use_vmap: bool = True, resume: Sequence[Checkpoint] | None = None,
                  checkpoints: list[Checkpoint | None] | None = None) -> list[tuple[TrainResult, dict[str, torch.Tensor]]]:
    """Train ``members`` (equal :func:`stack_signature`) together; per member, its record and best
    state dict (on the CPU), as :func:`~.trainer.train_network` would return them.

    ``resume`` (one per member) continues from the checkpoints of a shorter budget; ``checkpoints``,
    when given, receives one per member (None for a network early stopping ended; :mod:`.resume`)."""
    start = time.perf_counter()
    device = torch.device(device)
    names = list(dict.fromkeys(t for mb in members for t in mb.tasks))
    data = TaskData(taskset, names, device)
    index = {n: i for i, n in enumerate(names)}
    active = [[index[t] for t in mb.tasks] for mb in members]
    sharing, weighting = members[0].sharing, members[0].weighting
    if any((mb.sharing, mb.weighting) != (sharing, weighting) for mb in members):
        raise ValueError("a stack's networks share one sharing and one loss weighting")
    if (resume or checkpoints is not None) and (sharing, weighting) != ("hard", "equal"):
        # a checkpoint holds one encoder and the optimizer state of the network's own parameters only
        raise ValueError("continuing from a checkpoint needs hard sharing and equal weights")
    models = [build_model(taskset, list(mb.tasks), model_cfg, mb.width, sharing, train_cfg.soft_sharing_penalty,
                          mb.seed).to(device) for mb in members]
    stack = Stack(models, use_vmap=use_vmap)
    if (stack.use_vmap and not vmap_works(stack, data.X[: len(members)].unsqueeze(1))) or (
            stack.soft and not stack.use_vmap):
        if sharing == "hard" and weighting == "equal":
            return [r for i, mb in enumerate(members)
                    for r in train_stacked(taskset, [mb], train_cfg, model_cfg, device, False,
                                           [resume[i]] if resume else None, checkpoints)]
        return [train_network(taskset, list(mb.tasks), train_cfg, model_cfg, mb.seed, mb.width, sharing, weighting,
                              device=device) for mb in members]
    M = len(members)
    slots = SlotData(data, active)
    batchers = [Batcher(data, train_cfg.batch_size, train_cfg.sampling, train_cfg.temperature, train_cfg.schedule,
                        seed=mb.seed + 7919, active=a) for mb, a in zip(members, active)]
    scheme = make_stacked_weighting(weighting, M, len(active[0]), window=train_cfg.eval_every).to(device)
    # where each task's rows sit in the batch, when tasks own their rows and every batch lays them out alike
    own = (OwnRows.of([b.counts for b in batchers], device)
           if train_cfg.schedule == "all" and not any(b.shared for b in batchers) else None)
    K = len(active[0])
    grouped = stack.linear_heads  # batched linear heads: slots run in groups of equal head shape
    groups = slot_groups(slots.slot_kind)
    traced = scheme.needs_norms and grouped and can_trace(stack)
    stack.keep_trace = traced
    opt = torch.optim.Adam(stack.parameters() + list(scheme.parameters()), lr=train_cfg.lr,
                           weight_decay=train_cfg.weight_decay)
    base = slots.split_losses(stack, CHECKPOINT)[0].clamp_min(1e-8)
    best = torch.full((M,), float("inf"), device=device)
    best_step = [0] * M
    stopped = [0] * M  # the step at which each network stopped (0: still training)
    bad = [0] * M
    best_params = stack.snapshot()
    histories: list[list[dict]] = [[] for _ in members]
    weights: list[list[float] | None] = [None] * M  # each network's loss weights when it stopped
    first = 0
    if resume:
        first = restore(resume, stack.named(), opt, best_params, base, batchers)
        best = torch.tensor([c.best for c in resume], device=device)
        best_step, bad = [c.best_step for c in resume], [c.bad for c in resume]
        histories = [list(c.history) for c in resume]
    step = first
    for step in range(first + 1, train_cfg.steps + 1):
        batch = stack_batches([b.next(step - 1) for b in batchers]).to(device)
        rows, w = batch.rows, slots.slot_weights(batch.weights)
        x = data.X[rows]
        if grouped:
            # each head (soft sharing: each encoder too) reads only its own task's rows, in batched groups
            at = own or OwnRows.everywhere(K, rows.shape[1], device)
            zs = stack.encode(x, pos=at.pos) if stack.soft else stack.encode(x)[:, at.pos]
            outs = decode_slots(stack, zs, groups)
            losses = slots.grouped_losses(outs, groups, rows, w, at)  # (M, K)
        else:
            by_task = own if stack.soft else None  # soft sharing: encoder k reads task k's rows only
            outs = stack.decode(stack.encode(x, pos=None if by_task is None else by_task.pos))
            losses = slots.losses(outs, rows, w, by_task)  # (M, K)
        if not bool(torch.isfinite(losses).all()):
            m_bad = int(torch.nonzero(~torch.isfinite(losses))[0][0])
            check_finite(losses[m_bad], list(members[m_bad].tasks), step)

        def norms() -> torch.Tensor:
            return traced_norms(stack, outs, groups, losses, at, zs) if traced else autograd_norms(stack, losses)

        total = scheme.combine(losses, step, norms)
        penalty = stack.penalty()
        if penalty is not None:
            total = total + penalty.sum()
        opt.zero_grad(set_to_none=True)
        total.backward()
        opt.step()
        if step % train_cfg.eval_every == 0 or step == train_cfg.steps:
            vl, outs = slots.split_losses(stack, CHECKPOINT)
            rel = (vl / base).mean(1)
            improved = torch.zeros(M, dtype=torch.bool, device=device)
            for m in range(M):
                if stopped[m]:
                    continue
                val = slots.metrics(outs, CHECKPOINT, m)[0]
                r = float(rel[m])
                histories[m].append({"step": step, "train_loss": losses[m].detach().cpu().tolist(),
                                     "val_rel_loss": r, "val": val})
                if r < float(best[m]) - 1e-6:
                    best[m], best_step[m], bad[m] = r, step, 0
                    improved[m] = True
                else:
                    bad[m] += 1
                if bad[m] >= train_cfg.patience:
                    stopped[m] = step
                    weights[m] = scheme.weights(m)  # a learnt weighting goes on for the rest of the stack
            stack.keep_improved(best_params, improved)
            if all(stopped):
                break
    seconds = (time.perf_counter() - start) / M
    if checkpoints is not None:
        checkpoints += [None if stopped[m] else capture(m, step, stack.named(), opt, best_params, base, float(best[m]),
                                                        best_step[m], bad[m], histories[m], batchers[m],
                                                        seconds + (resume[m].seconds if resume else 0.0))
                        for m in range(M)]
    stack.load(best_params)
    val_outs = slots.split_losses(stack, VAL)[1]
    test_outs = slots.split_losses(stack, TEST)[1]
    part_outs = {name: slots.split_losses(stack, part)[1] for name, part in PARTS.items()}
    params = count_parameters(models[0])
    macs = multiply_adds(models[0], taskset.input_shape)
    out = []
    for m, mb in enumerate(members):
        val, val_loss, val_rmse = slots.metrics(val_outs, VAL, m)
        test, _, test_rmse = slots.metrics(test_outs, TEST, m)
        parts, parts_rmse, scores = {}, {}, {}
        for name, part in PARTS.items():
            kept = None if part == CHECKPOINT else scores.setdefault(name, {})
            parts[name], _, parts_rmse[name] = slots.metrics(part_outs[name], part, m, kept)
        result = TrainResult(tasks=list(mb.tasks), val=val, test=test, val_loss=val_loss, val_rmse=val_rmse,
                             test_rmse=test_rmse, parts=parts, scores=scores, parts_rmse=parts_rmse,
                             steps=stopped[m] or step, best_step=best_step[m], params=params,
                             seconds=seconds + (resume[m].seconds if resume else 0.0),
                             macs=macs, history=histories[m], weights=weights[m] or scheme.weights(m))
        out.append((result, stack.state_dict(m, best_params)))
    return out
