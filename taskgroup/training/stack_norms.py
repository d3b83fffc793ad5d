"""Per-network gradient norms of every task loss on its network's last shared layer, for a stack.

GradNorm (:class:`~taskgroup.training.weighting._gradnorm.StackedGradNorm`) needs, each step, the
norm of dL_t/dW for every network m and task t, W being network m's last shared layer. Networks of
a stack share no parameter, so the gradient of ``losses[:, t].sum()`` with respect to a stacked
tensor holds every network's own gradient in its own slice: :func:`autograd_norms` takes one
backward per task (the general route). For the built-in MLP encoder with linear heads,
:func:`traced_norms` gets the same numbers in closed form from the layer's input and output and one
backward to the head outputs: dL_t/dW = (dL_t/dout_t W_t * relu'(pre))^T a, over the rows task t's
head reads (its own rows where each task owns its rows).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .stack import OwnRows, Stack


def can_trace(stack: Stack) -> bool:
    """Whether :func:`traced_norms` applies: batched MLP layers ending Linear, ReLU; linear heads; hard sharing."""
    layers = stack.layers
    return (not stack.soft and stack.linear_heads and layers is not None and len(layers) >= 2
            and layers[-1] is None and layers[-2] is not None)


def traced_norms(stack: Stack, outs: list[torch.Tensor], groups: Sequence[Sequence[int]], losses: torch.Tensor,
                 at: OwnRows, zs: torch.Tensor) -> torch.Tensor:
    """(M, K) norms in closed form from ``stack.trace`` (kept by the forward that made ``outs``):
    ``outs``, ``groups`` as :func:`~.stack.decode_slots` made them from the slot features ``zs``
    (M, K, L, h) at the batch positions ``at.pos``. Padded positions weigh nothing in ``losses``,
    so their gradient is zero."""
    assert stack.trace is not None
    a = stack.trace[0].detach()[:, at.pos]  # (M, K, L, i): the last layer's input at each slot's rows
    live = zs.detach() > 0
    douts = torch.autograd.grad(losses.sum(), outs, retain_graph=True)
    cols = []
    for g, d in zip(groups, douts):
        g = list(g)
        w = torch.stack([stack.head[f"heads.{k}.weight"].detach() for k in g], 1)  # (M, G, o, h)
        dpre = torch.matmul(d, w) * live[:, g]  # (M, G, L, h)
        gw = torch.matmul(dpre.transpose(-1, -2), a[:, g])  # (M, G, h, i)
        cols.append(gw.pow(2).sum((-1, -2)) + dpre.sum(2).pow(2).sum(-1))
    sq = cols[0] if len(groups) == 1 else torch.cat(cols, 1)[:, torch.argsort(
        torch.tensor([k for g in groups for k in g], device=losses.device))]
    return sq.sqrt()


def autograd_norms(stack: Stack, losses: torch.Tensor) -> torch.Tensor:
    """(M, K) norms by one backward per task to the stacked last-layer parameters."""
    params = [stack.enc[n] for n in stack.last_layer()]
    cols = []
    for k in range(losses.shape[1]):
        grads = torch.autograd.grad(losses[:, k].sum(), params, retain_graph=True, allow_unused=True)
        sq = torch.zeros(losses.shape[0], device=losses.device)
        for g in grads:
            if g is not None:
                sq = sq + g.detach().pow(2).flatten(1).sum(1)
        cols.append(sq.sqrt())
    return torch.stack(cols, dim=1)
