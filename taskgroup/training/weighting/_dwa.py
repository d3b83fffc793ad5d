"""Dynamic Weight Average (Liu, Johns & Davison, CVPR 2019)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from ._base import StackedWeighting, Weighting


class DynamicWeightAverage(Weighting):
    """Dynamic Weight Average (Liu, Johns & Davison, CVPR 2019).

    w_t = T softmax_t(r_t / temperature), r_t = mean loss of t over the last window divided by the
    window before it; windows of ``window`` steps stand in for the paper's epochs.
    """

    @classmethod
    def create(cls, n_tasks: int, shared: Sequence[nn.Parameter] = (), window: int = 50) -> Weighting:
        return cls(n_tasks, window=window)

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


class StackedDWA(StackedWeighting):
    """Dynamic Weight Average for M stacked networks: the same windows, a softmax per network."""

    def __init__(self, n_networks: int, n_tasks: int, window: int = 50, temperature: float = 2.0) -> None:
        super().__init__(n_networks, n_tasks, window)
        self.temperature = temperature
        self._sum = torch.zeros(n_networks, n_tasks)
        self._count = 0
        self._history: list[torch.Tensor] = []
        self._w = torch.ones(n_networks, n_tasks)

    def combine(self, losses: torch.Tensor, step: int, norms: Callable[[], torch.Tensor]) -> torch.Tensor:
        self._sum, self._w = self._sum.to(losses.device), self._w.to(losses.device)
        self._sum += losses.detach()
        self._count += 1
        if self._count == self.window:
            self._history = (self._history + [self._sum / self._count])[-2:]
            self._sum, self._count = torch.zeros_like(self._sum), 0
            if len(self._history) == 2:
                ratio = self._history[1] / self._history[0].clamp_min(1e-12)
                self._w = self.n_tasks * torch.softmax(ratio / self.temperature, dim=1)
        return (self._w * losses).sum()

    def weights(self, m: int) -> list[float]:
        return self._w[m].tolist()


DynamicWeightAverage.stacked = StackedDWA
