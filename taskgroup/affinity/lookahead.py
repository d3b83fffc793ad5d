"""Lookahead transfer as TAG defines it: the optimizer's own update on one task, then every task's loss.

Fifty et al. (NeurIPS 2021, "TAG") measure, at a training step with parameters theta and batch B,

    Z[i][j] = 1 - L_j(theta'_i; B) / L_j(theta; B),

where theta'_i is the shared parameters after the step the training optimizer would take on task i's
loss alone (task heads fixed). Here that step is the optimizer's own update rule applied from its
current state: Adam's step from the current first and second moment estimates at the training
learning rate (the step count advanced by one, as ``optimizer.step()`` does), or SGD's step with its
momentum buffer. All source tasks are updated at once: :func:`optimizer_updates` turns the ``(T, P)``
per-task gradients into ``T`` parameter sets, and one vmapped forward pass evaluates every task's
loss under each of them and under the unchanged parameters.

Randomness (dropout, or a user encoder that draws random numbers): the ``T + 1`` forward passes run
under ``vmap(randomness="same")``, so the losses before and after every source's step are taken with
one and the same dropout mask, and Z compares like with like.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch.func import functional_call, vmap


def _unflatten(flat: torch.Tensor, params: list[torch.Tensor]) -> list[torch.Tensor]:
    """``(..., P)`` flat gradients as a list shaped like ``params`` (leading dimensions kept)."""
    out, start = [], 0
    for p in params:
        n = p.numel()
        out.append(flat[..., start:start + n].reshape(*flat.shape[:-1], *p.shape))
        start += n
    return out


def _group_of(opt: torch.optim.Optimizer, p: torch.Tensor) -> dict:
    for group in opt.param_groups:
        if any(q is p for q in group["params"]):
            return group
    raise ValueError("a shared parameter is not handled by the optimizer")


def optimizer_updates(opt: torch.optim.Optimizer, params: list[torch.Tensor], grads: torch.Tensor) -> list[torch.Tensor]:
    """The values ``params`` would take after one ``opt.step()`` on each row of ``grads`` alone.

    ``grads``: ``(T, P)`` flattened gradients (P = total size of ``params``). Returns one tensor per
    parameter, shaped ``(T, *p.shape)``. The optimizer's state is read, never changed. Supports
    :class:`torch.optim.Adam` (with L2 ``weight_decay``; not ``amsgrad``) and :class:`torch.optim.SGD`
    (momentum, dampening, Nesterov, weight decay).
    """
    flat = _flat_adam(opt, params, grads)
    if flat is not None:
        return _unflatten(flat, params)
    steps = _unflatten(grads.detach(), params)
    out = []
    for p, g in zip(params, steps):
        group = _group_of(opt, p)
        state = opt.state.get(p, {})
        theta = p.detach().unsqueeze(0)
        wd = group.get("weight_decay", 0.0)
        if wd:
            g = g + wd * theta
        if isinstance(opt, torch.optim.Adam):
            if group.get("amsgrad") or group.get("maximize"):
                raise ValueError("lookahead supports Adam without amsgrad or maximize")
            beta1, beta2 = group["betas"]
            m = state.get("exp_avg", torch.zeros_like(p)).unsqueeze(0)
            v = state.get("exp_avg_sq", torch.zeros_like(p)).unsqueeze(0)
            t = float(state["step"]) + 1.0 if "step" in state else 1.0
            m = beta1 * m + (1 - beta1) * g
            v = beta2 * v + (1 - beta2) * g * g
            denom = (v.sqrt() / (1 - beta2 ** t) ** 0.5) + group["eps"]
            out.append(theta - group["lr"] / (1 - beta1 ** t) * m / denom)
        elif isinstance(opt, torch.optim.SGD):
            if group.get("maximize"):
                raise ValueError("lookahead supports SGD without maximize")
            mom = group.get("momentum", 0.0)
            if mom:
                buf = state.get("momentum_buffer")
                buf = g if buf is None else mom * buf.unsqueeze(0) + (1 - group.get("dampening", 0.0)) * g
                g = g + mom * buf if group.get("nesterov") else buf
            out.append(theta - group["lr"] * g)
        else:
            raise ValueError(f"lookahead supports Adam and SGD, not {type(opt).__name__}")
    return out


def _flat_adam(opt: torch.optim.Optimizer, params: list[torch.Tensor], grads: torch.Tensor) -> torch.Tensor | None:
    """Adam's update of all ``params`` at once on the flat ``(T, P)`` gradients, when they share one
    parameter group and one step count (the per-parameter rule elementwise, so the same numbers with
    a few operations instead of a dozen per parameter); None otherwise."""
    if type(opt) is not torch.optim.Adam:
        return None
    group = _group_of(opt, params[0])
    if group.get("amsgrad") or group.get("maximize") or any(_group_of(opt, p) is not group for p in params[1:]):
        return None
    states = [opt.state.get(p, {}) for p in params]
    if not all("exp_avg" in s for s in states) or len({float(s["step"]) for s in states}) != 1:
        return None
    theta = torch.cat([p.detach().reshape(-1) for p in params]).unsqueeze(0)
    m = torch.cat([s["exp_avg"].reshape(-1) for s in states]).unsqueeze(0)
    v = torch.cat([s["exp_avg_sq"].reshape(-1) for s in states]).unsqueeze(0)
    g = grads.detach()
    if group.get("weight_decay", 0.0):
        g = g + group["weight_decay"] * theta
    beta1, beta2 = group["betas"]
    t = float(states[0]["step"]) + 1.0
    m = beta1 * m + (1 - beta1) * g
    v = beta2 * v + (1 - beta2) * g * g
    denom = (v.sqrt() / (1 - beta2 ** t) ** 0.5) + group["eps"]
    return theta - group["lr"] / (1 - beta1 ** t) * m / denom


def lookahead(encoder: torch.nn.Module, decode: Callable[[torch.Tensor], list[torch.Tensor]],
              task_losses: Callable[[list[torch.Tensor]], torch.Tensor], x: torch.Tensor,
              opt: torch.optim.Optimizer, grads: torch.Tensor) -> torch.Tensor:
    """TAG's Z (T x T) at this step: row i is every task's relative loss decrease after a step on task i.

    ``encoder``'s parameters are the shared ones; ``decode`` maps shared features to the task
    outputs with the heads as they are; ``task_losses`` maps outputs to the ``(T,)`` losses on the
    step's batch ``x``; ``grads`` are the ``(T, P)`` per-task gradients of the shared parameters.
    """
    return lookahead_from_features(encoder, lambda z: task_losses(decode(z)), x, opt, grads)


def lookahead_from_features(encoder: torch.nn.Module, feature_losses: Callable[[torch.Tensor], torch.Tensor],
                            x: torch.Tensor, opt: torch.optim.Optimizer, grads: torch.Tensor,
                            forward: Callable[[dict[str, torch.Tensor], torch.Tensor], torch.Tensor] | None = None,
                            before: torch.Tensor | None = None) -> torch.Tensor:
    """:func:`lookahead` with ``feature_losses`` mapping the shared features of ``x`` to the ``(T,)`` losses
    (heads and losses in one function, so that each head can be evaluated on its own rows only).

    ``forward(stacked, x)``, when given, runs the encoder under S stacked parameter sets at once
    (``(S, B, h)`` features, which ``feature_losses`` then maps to ``(S, T)``) in place of vmap; it
    needs an encoder without randomness. ``before``: the ``(T,)`` losses at the current parameters,
    when the caller has them already (then only the T updated parameter sets are evaluated).
    """
    names = [n for n, _ in encoder.named_parameters()]
    params = [p for _, p in encoder.named_parameters()]
    updated = optimizer_updates(opt, params, grads)
    buffers = dict(encoder.named_buffers())

    def losses(p: dict[str, torch.Tensor]) -> torch.Tensor:
        return feature_losses(functional_call(encoder, (p, buffers), (x,)))

    with torch.no_grad():
        if forward is not None:
            stacked = dict(zip(names, updated)) if before is not None else \
                {n: torch.cat([u, p.detach().unsqueeze(0)]) for n, u, p in zip(names, updated, params)}
            h = x.flatten(start_dim=1)
            all_losses = feature_losses(forward(stacked, h.expand(len(next(iter(stacked.values()))), *h.shape)))
            if before is not None:
                all_losses = torch.cat([all_losses, before.detach().unsqueeze(0)])
        else:
            stacked = {n: torch.cat([u, p.detach().unsqueeze(0)]) for n, u, p in zip(names, updated, params)}
            all_losses = vmap(losses, randomness="same")(stacked)     # (T + 1, T); the last row: no step
    after, before = all_losses[:-1], all_losses[-1]
    safe = torch.where(before > 0, before, torch.ones_like(before))
    z = 1.0 - after / safe
    return torch.where(before.unsqueeze(0) > 0, z, torch.zeros_like(z))
