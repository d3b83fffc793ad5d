"""The affinity measures by name, readable without torch; each names the unit function computing it.

Measures sharing a unit function are computed together in one unit (gradient cosine and lookahead
come from one joint training; pairwise transfer and probe cosine from the same probes). Traits:
``symmetric`` (M = M^T), ``unit_diagonal`` (M[i][i] = 1), ``derived`` (computed alongside another
measure, not requested on its own). ``matrix[i][j]`` is always the effect of source i on target j,
higher meaning more helpful.
"""

from __future__ import annotations

from ..registry import Entry, Registry

JOINT = "taskgroup.affinity.analyze:joint_unit"
PROBES = "taskgroup.affinity.analyze:probe_unit"

MEASURES = Registry("affinity measure", [
    Entry("gradient_cosine", JOINT, "cosine between per-task gradients of the shared encoder in one joint run",
          frozenset({"symmetric", "unit_diagonal"})),
    Entry("lookahead", JOINT, "relative loss change of task j after a step on task i alone (Fifty et al., 2021)"),
    Entry("transfer", PROBES, "relative validation gain of task j trained in a pair with i (Standley et al., 2020)"),
    Entry("probe_cosine", PROBES, "gradient cosine within each pair probe, from the same probes as transfer",
          frozenset({"symmetric", "unit_diagonal", "derived"})),
])

#: the measures a configuration or ``--measures`` may request, in the order they are reported
REQUESTABLE: tuple[str, ...] = tuple(n for n in MEASURES if "derived" not in MEASURES[n].traits)
