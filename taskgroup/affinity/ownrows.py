"""A measured step's work restricted to each task's own rows of the batch.

With per-task rows (every row of the joint run's batch carries the weight of one task only), task
t's loss depends only on its own rows. Evaluating every head on every row, as the training
forward does, makes the lookahead O(T^2 B) per step and the batched per-task backward O(T B):
with ``B = rows_per_task x T`` both grow as T^3. Here each head sees only its own task's rows,
and each task's encoder gradient is pushed back through its own rows only, so a measured step is
O(T B) for the lookahead (T + 1 parameter sets, each on the B rows) and O(B) for the gradients.

The built-in MLP encoder runs as batched matrix products over its parameter sets (one per task for
the gradients, one per source task for the lookahead) instead of ``functional_call`` under vmap:
at the joint run's sizes the per-call cost of those, not the arithmetic, dominates a measured step.

The fast path needs an equal number of rows per task (the joint run's proportional allocation on
tasks of equal size, or any batch with that property), linear heads of one shape, and an encoder
without dropout (its forward is recomputed per task). :func:`own_rows` returns None otherwise and
the joint run keeps the dense computation; both give the same numbers up to float rounding.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
from torch.func import functional_call, vjp, vmap

from ..tasks import Task
from ..training.objectives import row_loss
from ..training.stack import _linear_layers


@dataclass(frozen=True)
class OwnRows:
    """Positions ``index`` (T, k) of each task's k rows in the batch, their targets and loss weights."""

    index: torch.Tensor      # (T, k) long: row positions within the batch
    targets: torch.Tensor    # (T, k): task t's targets on its rows
    weights: torch.Tensor    # (T, k): task t's loss weights on its rows
    kinds: tuple[tuple[Task, torch.Tensor | None], ...]  # (a task of the kind, the task positions; None = all)


def _kind_groups(tasks: Sequence[Task]) -> tuple[tuple[Task, torch.Tensor | None], ...] | None:
    """Tasks grouped by built-in kind (one loss call per kind); None when a task has its own loss."""
    if any(t.kind not in ("regression", "binary", "multiclass") for t in tasks):
        return None
    kinds = sorted({t.kind for t in tasks})
    if len(kinds) == 1:
        return ((tasks[0], None),)
    return tuple((next(t for t in tasks if t.kind == k),
                  torch.tensor([i for i, t in enumerate(tasks) if t.kind == k])) for k in kinds)


def own_rows(weights: torch.Tensor, targets: list[torch.Tensor], tasks: Sequence[Task],
             heads: Sequence[torch.nn.Module], encoder: torch.nn.Module) -> OwnRows | None:
    """Each task's own rows of a batch with ``weights`` (B, T), or None when the fast path does not apply.

    It applies when every row weighs for at most one task, every task owns the same number of rows,
    the heads are ``nn.Linear`` of one shape, every task has a built-in loss, and the encoder has no
    active dropout. ``weights`` stay where they are drawn (the CPU); the result is on the targets' device.
    """
    if any(isinstance(m, torch.nn.Dropout) and m.p > 0 for m in encoder.modules()):
        return None
    if not all(type(h) is torch.nn.Linear for h in heads) or len({h.weight.shape for h in heads}) != 1:
        return None
    kinds = _kind_groups(tasks)
    if kinds is None:
        return None
    owned = weights != 0
    if bool((owned.sum(1) > 1).any()):
        return None
    counts = owned.sum(0)
    k = int(counts[0])
    if k == 0 or bool((counts != k).any()):
        return None
    # rows of each task in batch order: the column positions of its nonzero weights
    index = owned.T.nonzero()[:, 1].reshape(len(tasks), k)
    w = weights.T.gather(1, index)
    device = targets[0].device
    index = index.to(device)
    y = torch.stack(targets).gather(1, index)
    return OwnRows(index, y, w.to(device), tuple((t, None if i is None else i.to(device)) for t, i in kinds))


def own_losses(own: OwnRows, heads: Sequence[torch.nn.Linear]):
    """A function from shared features z (..., B, h) to every task's loss (..., T), each head on its own rows."""
    weight = torch.stack([h.weight for h in heads]).detach().transpose(1, 2)   # (T, h, o)
    bias = torch.stack([h.bias for h in heads]).detach().unsqueeze(1) if heads[0].bias is not None else None

    def losses(z: torch.Tensor) -> torch.Tensor:
        out = torch.matmul(z[..., own.index, :], weight)                      # (..., T, k, o)
        if bias is not None:
            out = out + bias
        return (row_losses(own, out) * own.weights).sum(-1)

    return losses


def row_losses(own: OwnRows, out: torch.Tensor) -> torch.Tensor:
    """Per-row losses (..., T, k) of stacked outputs (..., T, k, o), one loss call per kind of task."""
    targets = own.targets.expand(out.shape[:-1])
    if len(own.kinds) == 1:
        return row_loss(own.kinds[0][0], out, targets)
    axis = out.dim() - 3
    rows = torch.empty(targets.shape, dtype=out.dtype, device=out.device)
    for task, idx in own.kinds:
        rows = rows.index_copy(axis, idx, row_loss(task, out.index_select(axis, idx), targets.index_select(axis, idx)))
    return rows


def own_feature_gradients(own: OwnRows, d_out: list[torch.Tensor], heads: Sequence[torch.nn.Linear]) -> torch.Tensor:
    """``dL_t/dz`` on task t's own rows, (T, k, h), from every ``dL_t/d outputs[t]`` (each (B, o))."""
    d = torch.stack(d_out).gather(1, own.index.unsqueeze(-1).expand(-1, -1, d_out[0].shape[-1]))   # (T, k, o)
    return torch.bmm(d, torch.stack([h.weight for h in heads]).detach())


def mlp_layers(encoder: torch.nn.Module) -> list[str | None] | None:
    """The built-in MLP encoder's Linear layer names (None for a ReLU), or None for any other encoder."""
    return None if any(True for _ in encoder.buffers()) else _linear_layers(encoder)


def mlp_forward(layers: list[str | None], params: dict[str, torch.Tensor], h: torch.Tensor) -> torch.Tensor:
    """The MLP with S parameter sets (each ``params[name]`` shaped (S, ...)) on ``h`` (S, R, in): (S, R, out)."""
    for name in layers:
        if name is None:
            h = torch.relu(h)
        else:
            h = torch.baddbmm(params[f"{name}.bias"].unsqueeze(1), h, params[f"{name}.weight"].transpose(1, 2))
    return h


def own_gradients(own: OwnRows, encoder: torch.nn.Module, x: torch.Tensor, dz: torch.Tensor) -> torch.Tensor:
    """Flattened encoder gradients (T, P) of every task, each pushed back through its own rows only.

    ``dz`` (T, k, h): each task's loss gradient on its rows' features. The encoder's forward is
    recomputed on each task's rows, so the cost is one forward and backward of the B rows.
    """
    names = [n for n, _ in encoder.named_parameters()]
    xs = x[own.index]
    layers = mlp_layers(encoder)
    if layers is not None:      # one copy of the parameters per task, trained through its rows only
        T = len(own.index)
        copies = {n: p.detach().unsqueeze(0).expand(T, *p.shape).requires_grad_() for n, p in encoder.named_parameters()}
        with torch.enable_grad():
            z = mlp_forward(layers, copies, xs.flatten(start_dim=2))
            grads = torch.autograd.grad(z, [copies[n] for n in names], dz)
        return torch.cat([g.reshape(T, -1) for g in grads], dim=1)
    params = {n: p.detach() for n, p in encoder.named_parameters()}
    buffers = dict(encoder.named_buffers())

    def one(rows: torch.Tensor, cot: torch.Tensor) -> torch.Tensor:
        _, pull = vjp(lambda p: functional_call(encoder, (p, buffers), (rows,)), params)
        (g,) = pull(cot)
        return torch.cat([g[n].reshape(-1) for n in names])

    return vmap(one)(xs, dz)


def own_step(own: OwnRows, layers: list[str | None], encoder: torch.nn.Module, heads: Sequence[torch.nn.Linear],
             x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, tuple[torch.Tensor, ...]]:
    """A measured training step's forward and backward for the built-in MLP encoder, on own rows.

    The encoder runs with one copy of its parameters per task, each on that task's rows, and each
    head on its task's rows, so one backward gives every task's encoder gradient. Returns the losses
    (T,) (detached), the flattened per-task gradients (T, P), and the gradients of the heads'
    parameters (in ``heads``' parameter order). The losses and the sum of the gradients are those
    of the ordinary training step.
    """
    T = len(own.index)
    named = list(encoder.named_parameters())
    copies = {n: p.detach().unsqueeze(0).expand(T, *p.shape).requires_grad_() for n, p in named}
    head_params = [p for h in heads for p in h.parameters()]
    with torch.enable_grad():
        z = mlp_forward(layers, copies, x[own.index].flatten(start_dim=2))             # (T, k, h)
        out = torch.bmm(z, torch.stack([h.weight for h in heads]).transpose(1, 2))
        if heads[0].bias is not None:
            out = out + torch.stack([h.bias for h in heads]).unsqueeze(1)
        losses = (row_losses(own, out) * own.weights).sum(-1)
        grads = torch.autograd.grad(losses.sum(), [copies[n] for n, _ in named] + head_params, allow_unused=True)
    g = torch.cat([gr.reshape(T, -1) for gr in grads[:len(named)]], dim=1)
    return losses.detach(), g, grads[len(named):]
