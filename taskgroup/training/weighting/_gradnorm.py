"""GradNorm (Chen et al., ICML 2018)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import nn

from ._base import StackedWeighting, Weighting


class GradNorm(Weighting):
    """GradNorm (Chen et al., ICML 2018): learn weights that balance gradient norms at the last shared layer.

    Each step the weights move towards G_t = mean(G) * (L_t / L_t(0) / mean)^alpha, where G_t is the
    norm of the gradient of w_t L_t with respect to the last shared layer; weights are renormalised
    to sum to the number of tasks.
    """

    @classmethod
    def create(cls, n_tasks: int, shared: Sequence[nn.Parameter] = (), window: int = 50) -> Weighting:
        return cls(n_tasks, shared)

    def __init__(self, n_tasks: int, shared: Sequence[nn.Parameter], alpha: float = 1.5, lr: float = 0.025) -> None:
        super().__init__(n_tasks)
        self.alpha, self.lr = alpha, lr
        self.shared = list(shared)
        self.w = torch.ones(n_tasks)
        self._initial: torch.Tensor | None = None

    def combine(self, losses: torch.Tensor, step: int) -> torch.Tensor:
        if self._initial is None:
            self._initial = losses.detach().clamp_min(1e-12)
        active = losses.detach() > 0
        self.w = self.w.to(losses.device)
        norms = torch.zeros(self.n_tasks, device=losses.device)
        for t in range(self.n_tasks):
            if active[t] and losses.requires_grad:
                g = torch.autograd.grad(losses[t], self.shared, retain_graph=True, allow_unused=True)
                norms[t] = math.sqrt(sum(float((x ** 2).sum()) for x in g if x is not None))
        if active.sum() > 1:
            gw = self.w * norms
            ratio = losses.detach() / self._initial
            rel = ratio / ratio[active].mean()
            target = gw[active].mean() * rel ** self.alpha
            # d|w_t G_t - target_t| / dw_t = sign(.) * G_t, target held constant as in the paper
            grad = torch.sign(gw - target) * norms
            grad[~active] = 0
            self.w = (self.w - self.lr * grad).clamp_min(1e-3)
            self.w = self.w * self.n_tasks / self.w.sum()
        return (self.w * losses).sum()

    def weights(self) -> list[float]:
        return self.w.tolist()


class StackedGradNorm(StackedWeighting):
    """GradNorm for M stacked networks: the update of :class:`GradNorm`, row by row, from the (M, K)
    gradient norms each network's task losses have on its own last shared layer."""

    needs_norms = True

    def __init__(self, n_networks: int, n_tasks: int, window: int = 50, alpha: float = 1.5,
                 lr: float = 0.025) -> None:
        super().__init__(n_networks, n_tasks, window)
        self.alpha, self.lr = alpha, lr
        self.w = torch.ones(n_networks, n_tasks)
        self._initial: torch.Tensor | None = None

    def combine(self, losses: torch.Tensor, step: int, norms: Callable[[], torch.Tensor]) -> torch.Tensor:
        if self._initial is None:
            self._initial = losses.detach().clamp_min(1e-12)
        active = losses.detach() > 0
        self.w = self.w.to(losses.device)
        g = norms() * active if losses.requires_grad else torch.zeros_like(losses)
        gw = self.w * g
        ratio = losses.detach() / self._initial
        n_active = active.sum(1, keepdim=True)
        rel = ratio / ((ratio * active).sum(1, keepdim=True) / n_active.clamp_min(1))
        target = (gw * active).sum(1, keepdim=True) / n_active.clamp_min(1) * rel ** self.alpha
        grad = torch.where(active, torch.sign(gw - target) * g, torch.zeros_like(g))
        w = (self.w - self.lr * grad).clamp_min(1e-3)
        w = w * self.n_tasks / w.sum(1, keepdim=True)
        self.w = torch.where(n_active > 1, w, self.w)
        return (self.w * losses).sum()

    def weights(self, m: int) -> list[float]:
        return self.w[m].tolist()


GradNorm.stacked = StackedGradNorm
