"""Homoscedastic uncertainty weighting (Kendall, Gal & Cipolla, CVPR 2018)."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from ._base import StackedWeighting, Weighting


class UncertaintyWeighting(Weighting):
    """sum_t exp(-s_t) L_t + s_t with a learnt log-variance s_t per task."""

    def __init__(self, n_tasks: int) -> None:
        super().__init__(n_tasks)
        self.log_var = nn.Parameter(torch.zeros(n_tasks))

    def combine(self, losses: torch.Tensor, step: int) -> torch.Tensor:
        return (torch.exp(-self.log_var) * losses + self.log_var).sum()

    def weights(self) -> list[float]:
        return torch.exp(-self.log_var).detach().tolist()


class StackedUncertainty(StackedWeighting):
    """Uncertainty weighting for M stacked networks: a (M, K) learnt log-variance, one row per network."""

    def __init__(self, n_networks: int, n_tasks: int, window: int = 50) -> None:
        super().__init__(n_networks, n_tasks, window)
        self.log_var = nn.Parameter(torch.zeros(n_networks, n_tasks))

    def combine(self, losses: torch.Tensor, step: int, norms: Callable[[], torch.Tensor]) -> torch.Tensor:
        return (torch.exp(-self.log_var) * losses + self.log_var).sum()

    def weights(self, m: int) -> list[float]:
        return torch.exp(-self.log_var[m]).detach().tolist()


UncertaintyWeighting.stacked = StackedUncertainty
