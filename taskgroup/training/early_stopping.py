"""Early stopping on a validation score, for one network or a stack of them at once.

In the spirit of ignite's ``EarlyStopping`` handler, but vectorised: ``runs`` networks trained
together (stacked probes, stacked networks) each keep their own best score, best step, count of
evaluations without improvement and best state, and each stops on its own.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

State = dict[str, torch.Tensor]


class EarlyStopping:
    """Tracks the best (lowest) validation score of ``runs`` networks (None: one, unstacked).

    ``update(scores, step, state)`` records an evaluation: a run improves when its score is below
    its best by more than ``min_delta``; a run stops after ``patience`` evaluations in a row without
    improvement and is never updated again. ``state()`` gives the current parameters (for stacked
    runs, tensors whose first dimension is the run), called only when some run improved; the best
    state of each run is kept in :attr:`best_state`.
    """

    def __init__(self, patience: int, runs: int | None = None, min_delta: float = 1e-6,
                 state: State | None = None) -> None:
        self.patience, self.min_delta, self.runs = patience, min_delta, runs
        shape = () if runs is None else (runs,)
        self.best: torch.Tensor | None = None
        self.best_step = torch.zeros(shape, dtype=torch.long)
        self.bad = torch.zeros(shape, dtype=torch.long)
        self.stopped = torch.zeros(shape, dtype=torch.bool)
        self.best_state = _copy(state) if state is not None else None

    def update(self, scores: torch.Tensor | float, step: int,
               state: Callable[[], State] | None = None) -> torch.Tensor:
        """Record the scores of an evaluation at ``step``; returns which runs improved."""
        scores = torch.as_tensor(scores)
        if self.best is None:
            self.best = torch.full_like(scores, float("inf"))
        improved = (scores < self.best - self.min_delta) & ~self.stopped
        self.bad = torch.where(improved, torch.zeros_like(self.bad), self.bad + (~self.stopped).long())
        self.best = torch.where(improved, scores, self.best)
        self.best_step = torch.where(improved, torch.full_like(self.best_step, step), self.best_step)
        if state is not None and bool(improved.any()):
            self._keep(state(), improved)
        self.stopped |= self.bad >= self.patience
        return improved

    @property
    def done(self) -> bool:
        """Every run has stopped."""
        return bool(self.stopped.all())

    def _keep(self, current: State, improved: torch.Tensor) -> None:
        if self.runs is None or self.best_state is None:
            if self.runs is None:
                self.best_state = _copy(current)
                return
            self.best_state = {k: torch.zeros_like(v) for k, v in current.items()}
        for k, v in current.items():
            select = improved.view(-1, *([1] * (v.dim() - 1)))
            self.best_state[k] = torch.where(select, v.detach(), self.best_state[k])


def _copy(state: State) -> State:
    return {k: v.detach().clone() for k, v in state.items()}
