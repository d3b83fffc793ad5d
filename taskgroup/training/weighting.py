"""Loss weightings: how per-task losses combine into the one loss that is minimised.

Each weighting is one small class with the same interface: ``combine(losses, step)`` returns the
scalar to back-propagate, ``parameters()`` any learnable weights it owns (trained with the model),
and ``weights()`` the current per-task weights for the training record.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import nn


class Weighting(nn.Module):
    """Equal weights: the plain sum of task losses."""

    name = "equal"

    def __init__(self, n_tasks: int) -> None:
        super().__init__()
        self.n_tasks = n_tasks

    def combine(self, losses: torch.Tensor, step: int) -> torch.Tensor:
        return losses.sum()

    def weights(self) -> list[float]:
        return [1.0] * self.n_tasks


class UncertaintyWeighting(Weighting):
    """Homoscedastic uncertainty (Kendall, Gal & Cipolla, CVPR 2018): sum_t exp(-s_t) L_t + s_t."""

    name = "uncertainty"

    def __init__(self, n_tasks: int) -> None:
        super().__init__(n_tasks)
        self.log_var = nn.Parameter(torch.zeros(n_tasks))

    def combine(self, losses: torch.Tensor, step: int) -> torch.Tensor:
        return (torch.exp(-self.log_var) * losses + self.log_var).sum()

    def weights(self) -> list[float]:
        return torch.exp(-self.log_var).detach().tolist()


class DynamicWeightAverage(Weighting):
    """Dynamic Weight Average (Liu, Johns & Davison, CVPR 2019).

    w_t = T softmax_t(r_t / temperature), r_t = mean loss of t over the last window divided by the
    window before it; windows of ``window`` steps stand in for the paper's epochs.
    """

    name = "dwa"

    def __init__(self, n_tasks: int, window: int = 50, temperature: float = 2.0) -> None:
        super().__init__(n_tasks)
        self.window, self.temperature = window, temperature
        self._sum = torch.zeros(n_tasks)
        self._count = 0
        self._history: list[torch.Tensor] = []
        self._w = torch.ones(n_tasks)

    def combine(self, losses: torch.Tensor, step: int) -> torch.Tensor:
        self._sum, self._w = self._sum.to(losses.device), self._w.to(losses.device)
        self._sum += losses.detach()
        self._count += 1
        if self._count == self.window:
            self._history = (self._history + [self._sum / self._count])[-2:]
            self._sum, self._count = torch.zeros(self.n_tasks, device=losses.device), 0
            if len(self._history) == 2:
                ratio = self._history[1] / self._history[0].clamp_min(1e-12)
                self._w = self.n_tasks * torch.softmax(ratio / self.temperature, dim=0)
        return (self._w * losses).sum()

    def weights(self) -> list[float]:
        return self._w.tolist()


class GradNorm(Weighting):
    """GradNorm (Chen et al., ICML 2018): learn weights that balance gradient norms at the last shared layer.

    Each step the weights move towards G_t = mean(G) * (L_t / L_t(0) / mean)^alpha, where G_t is the
    norm of the gradient of w_t L_t with respect to the last shared layer; weights are renormalised
    to sum to the number of tasks.
    """

    name = "gradnorm"

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


WEIGHTINGS = ("equal", "uncertainty", "dwa", "gradnorm")


def make_weighting(name: str, n_tasks: int, shared: Sequence[nn.Parameter] = (), window: int = 50) -> Weighting:
    """The weighting called ``name`` for ``n_tasks`` tasks."""
    if name == "equal":
        return Weighting(n_tasks)
    if name == "uncertainty":
        return UncertaintyWeighting(n_tasks)
    if name == "dwa":
        return DynamicWeightAverage(n_tasks, window=window)
    if name == "gradnorm":
        return GradNorm(n_tasks, shared)
    raise ValueError(f"unknown loss weighting {name!r}; choose one of {', '.join(WEIGHTINGS)}")
