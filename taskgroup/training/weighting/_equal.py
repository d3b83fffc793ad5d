"""Equal weights: the plain sum of task losses."""

from __future__ import annotations

import torch

from ._base import Weighting


class EqualWeighting(Weighting):
    """Every task weighs 1: the loss is the sum of the task losses."""

    def combine(self, losses: torch.Tensor, step: int) -> torch.Tensor:
        return losses.sum()

    def weights(self) -> list[float]:
        return [1.0] * self.n_tasks
