"""Equal weights: the plain sum of task losses."""

from __future__ import annotations

from collections.abc import Callable

import torch

from ._base import StackedWeighting, Weighting


class EqualWeighting(Weighting):
    """Every task weighs 1: the loss is the sum of the task losses."""

    def combine(self, losses: torch.Tensor, step: int) -> torch.Tensor:
        return losses.sum()

    def weights(self) -> list[float]:
        return [1.0] * self.n_tasks


class StackedEqual(StackedWeighting):
    """Equal weights for M stacked networks."""

    def combine(self, losses: torch.Tensor, step: int, norms: Callable[[], torch.Tensor]) -> torch.Tensor:
        return losses.sum()

    def weights(self, m: int) -> list[float]:
        return [1.0] * self.n_tasks


EqualWeighting.stacked = StackedEqual
