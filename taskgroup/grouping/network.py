"""The two value types of selection: a candidate ``Network`` and a ``Selection`` (the answer)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping


@dataclass(frozen=True)
class Network:
    """A candidate network: the tasks it trains on, its cost, and its score for each task it serves.

    Tasks without an entry in ``scores`` are helper tasks: trained on, never served by this network.
    """

    tasks: tuple[str, ...]
    cost: float = 1.0
    scores: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "tasks", tuple(self.tasks))
        object.__setattr__(self, "cost", float(self.cost))
        object.__setattr__(self, "scores", {str(t): float(s) for t, s in dict(self.scores).items()})


@dataclass(frozen=True)
class Selection:
    """The answer: chosen network indices (ascending), who serves each task, the objective, status.

    ``status`` is ``"optimal"``, or ``"time_limit"`` when the solver stopped at its time limit with
    the best choice found so far. ``objective`` is the sum over tasks of the served scores and
    ``cost`` the total cost of the chosen networks.
    """

    chosen: tuple[int, ...]
    assignment: dict[str, int]
    objective: float
    status: str
    cost: float
