"""Per-task gradients of the shared encoder, in one batched backward pass.

Each task's loss reaches the shared encoder only through the shared features ``z``. So the
gradients ``dL_t/dz`` of all tasks are taken together (cheap: ``z`` is small), then pushed back
through the encoder in one vmapped vector-Jacobian product (``is_grads_batched=True``). A chunk-size
knob bounds memory; the sequential fallback (one backward per task) gives the same numbers.
"""

from __future__ import annotations

import torch


def linear_feature_gradients(losses: torch.Tensor, outputs: list[torch.Tensor],
                             heads: list[torch.nn.Module]) -> torch.Tensor | None:
    """``dL_t/dz`` for every task at once, ``(T, B, h)``, when task t's loss depends on the shared
    features z only through its own linear head ``outputs[t] = heads[t](z)``: one ordinary backward
    gives every ``dL_t/d outputs[t]``, and ``dL_t/dz = dL_t/d outputs[t] @ W_t``. That costs
    O(T B h) instead of a batched backward through every head for every task (O(T^2 B h) when
    the batch holds rows of every task). None when a head is not ``nn.Linear``."""
    if not all(type(h) is torch.nn.Linear for h in heads):
        return None
    d_out = torch.autograd.grad(losses.sum(), outputs, retain_graph=True, allow_unused=True)
    d_out = [g if g is not None else torch.zeros_like(o) for g, o in zip(d_out, outputs)]
    if len({h.weight.shape for h in heads}) == 1:
        return torch.einsum("tbo,toh->tbh", torch.stack(d_out), torch.stack([h.weight for h in heads]))
    return torch.stack([g @ h.weight for g, h in zip(d_out, heads)])


def per_task_gradients(losses: torch.Tensor, z: torch.Tensor, params: list[torch.Tensor],
                       chunk_size: int = 0, method: str = "batched",
                       feature_grads: torch.Tensor | None = None) -> torch.Tensor:
    """Flattened gradients of each loss with respect to ``params``: shape ``(T, P)``.

    ``losses`` (T,) must depend on ``params`` only through ``z``. ``chunk_size`` = 0 takes all tasks
    in one pass; ``method="sequential"`` runs one backward per task (the reference path).
    ``feature_grads`` (T, B, h), when known (:func:`linear_feature_gradients`), replaces the batched
    backward from the losses to ``z``.
    """
    T = len(losses)
    if method == "sequential":
        rows = []
        for t in range(T):
            g = torch.autograd.grad(losses[t], params, retain_graph=True, allow_unused=True)
            rows.append(_flatten(g, params))
        return torch.stack(rows)
    if method != "batched":
        raise ValueError(f"unknown gradient method {method!r}; choose 'batched' or 'sequential'")
    if feature_grads is not None:
        dz = feature_grads.detach()
    else:
        eye = torch.eye(T, dtype=losses.dtype, device=losses.device)
        (dz,) = torch.autograd.grad(losses, z, grad_outputs=eye, is_grads_batched=True, retain_graph=True)
    step = chunk_size if chunk_size and chunk_size > 0 else T
    out = []
    for s in range(0, T, step):
        g = torch.autograd.grad(z, params, grad_outputs=dz[s:s + step], is_grads_batched=True,
                                retain_graph=True, allow_unused=True)
        out.append(_flatten_batched(g, params, len(dz[s:s + step])))
    return torch.cat(out)


def _flatten(grads, params) -> torch.Tensor:
    return torch.cat([(g if g is not None else torch.zeros_like(p)).reshape(-1) for g, p in zip(grads, params)])


def _flatten_batched(grads, params, n: int) -> torch.Tensor:
    return torch.cat([(g if g is not None else torch.zeros(n, *p.shape, device=p.device)).reshape(n, -1)
                      for g, p in zip(grads, params)], dim=1)


def cosine_matrix(g: torch.Tensor) -> torch.Tensor:
    """Pairwise cosine similarity of the rows of ``g`` (zero rows give 0 off the diagonal)."""
    norms = g.norm(dim=1, keepdim=True)
    unit = g / norms.clamp_min(1e-12)
    cos = unit @ unit.T
    cos.fill_diagonal_(1.0)
    return cos.clamp(-1.0, 1.0)
