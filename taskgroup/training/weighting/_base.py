"""The interface every loss weighting implements."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import ClassVar

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

    #: the class that applies this weighting to many stacked networks at once (None: not stackable)
    stacked: ClassVar[type[StackedWeighting] | None] = None

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


class StackedWeighting(nn.Module):
    """A weighting applied to M stacked networks of K tasks each, every network on its own.

    ``combine(losses, step, norms)`` takes ``losses`` (M, K) and returns the sum over networks of
    what each network's :class:`Weighting` returns for its row (networks never share a parameter, so
    the gradient each receives is its own); ``norms()`` gives, on demand, the (M, K) norms of each
    task loss's gradient on its network's last shared layer. Learnable weights are stacked along
    the first dimension, so one elementwise optimizer treats them as M separate ones.
    """

    def __init__(self, n_networks: int, n_tasks: int, window: int = 50) -> None:
        super().__init__()
        self.n_networks, self.n_tasks, self.window = n_networks, n_tasks, window

    #: whether :meth:`combine` calls ``norms`` (the stack then keeps what computing them needs)
    needs_norms: ClassVar[bool] = False

    def combine(self, losses: torch.Tensor, step: int, norms: Callable[[], torch.Tensor]) -> torch.Tensor:
        raise NotImplementedError

    def weights(self, m: int) -> list[float]:
        """Network ``m``'s current per-task weights, as its :meth:`Weighting.weights` would say."""
        raise NotImplementedError
