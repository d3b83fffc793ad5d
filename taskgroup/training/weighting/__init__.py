"""Loss weightings: how per-task losses combine into the one loss that is minimised.

One private module per weighting, each a subclass of :class:`~._base.Weighting`; :data:`WEIGHTINGS`
names them (readable without torch, for the configuration and the command line) and
:func:`make_weighting` builds one. Adding a weighting is one new module and one line below.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ...registry import Registry

if TYPE_CHECKING:
    from ._base import StackedWeighting, Weighting

WEIGHTINGS = Registry("loss weighting", [
    ("equal", f"{__name__}._equal:EqualWeighting", "the plain sum of task losses"),
    ("uncertainty", f"{__name__}._uncertainty:UncertaintyWeighting",
     "learnt homoscedastic uncertainty (Kendall et al., 2018)"),
    ("dwa", f"{__name__}._dwa:DynamicWeightAverage", "dynamic weight average (Liu et al., 2019)"),
    ("gradnorm", f"{__name__}._gradnorm:GradNorm", "balanced gradient norms (Chen et al., 2018)"),
])


def make_weighting(name: str, n_tasks: int, shared: Any = (), window: int = 50) -> Weighting:
    """The weighting registered as ``name`` for ``n_tasks`` tasks (``shared``: the last shared
    layer's parameters, for GradNorm; ``window``: steps per window, for DWA)."""
    return WEIGHTINGS.load(name).create(n_tasks, shared=shared, window=window)


def make_stacked_weighting(name: str, n_networks: int, n_tasks: int, window: int = 50) -> StackedWeighting:
    """The weighting registered as ``name`` for ``n_networks`` stacked networks of ``n_tasks`` tasks;
    a one-line error when it has no stacked form (see :func:`stacks`)."""
    cls = WEIGHTINGS.load(name).stacked
    if cls is None:
        raise ValueError(f"loss weighting {name!r} cannot be stacked")
    return cls(n_networks, n_tasks, window=window)


def stacks(name: str) -> bool:
    """Whether the weighting ``name`` can train stacked networks."""
    return WEIGHTINGS.load(name).stacked is not None


__all__ = ["WEIGHTINGS", "make_stacked_weighting", "make_weighting", "stacks"]
