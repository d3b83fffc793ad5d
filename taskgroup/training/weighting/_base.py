"""The interface every loss weighting implements."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


class Weighting(nn.Module):
    """Combines per-task losses into the one loss that is minimised.

    ``combine(losses, step)`` returns the scalar to back-propagate (``losses``: one value per task,
    0 for a task absent from the batch); ``parameters()`` any learnable weights it owns (trained
    with the model); ``weights()`` the current per-task weights for the training record.
    Subclasses override :meth:`create` when they need more than the number of tasks; their name
    is the one they are registered under in :data:`~taskgroup.training.weighting.WEIGHTINGS`.
    """

    def __init__(self, n_tasks: int) -> None:
        super().__init__()
        self.n_tasks = n_tasks

    @classmethod
    def create(cls, n_tasks: int, shared: Sequence[nn.Parameter] = (), window: int = 50) -> Weighting:
        """Build for ``n_tasks`` tasks; ``shared``: the last shared layer's parameters, ``window``: steps
        per averaging window (for weightings that need them)."""
        return cls(n_tasks)

    def combine(self, losses: torch.Tensor, step: int) -> torch.Tensor:
        raise NotImplementedError

    def weights(self) -> list[float]:
        raise NotImplementedError
