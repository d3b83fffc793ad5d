"""What every report section needs besides the run's data: the group colours and figure names."""

from __future__ import annotations

from dataclasses import dataclass, field

from .figures import UNGROUPED, group_colors
from .load import RunData


@dataclass
class Context:
    """The run's data plus presentation state shared across sections."""

    data: RunData
    groups: list[list[str]] = field(default_factory=list)
    colors: list[str] = field(default_factory=list)
    figure_names: set[str] = field(default_factory=set)

    @classmethod
    def of(cls, data: RunData) -> "Context":
        groups = data.recommended_groups() or []
        return cls(data=data, groups=groups, colors=group_colors(len(groups)))

    def group_names(self) -> list[str]:
        """Legend entries: ``network 1`` ... in the order of the recommended grouping."""
        return [f"network {i + 1}" for i in range(len(self.groups))]

    def networks_of(self, task: str) -> list[int]:
        """The 1-based numbers of the recommended networks that serve ``task`` (overlap allowed)."""
        return [i + 1 for i, g in enumerate(self.groups) if task in g]

    def color_of(self, task: str) -> str:
        """The colour of the first network serving ``task``, grey when none does."""
        nets = self.networks_of(task)
        return self.colors[nets[0] - 1] if nets else UNGROUPED
