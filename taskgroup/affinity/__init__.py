"""Affinity: how much each task helps or hurts each other task.

What the package offers, by module (the measures are listed in :data:`MEASURES`):

- ``measures``: the registry of measures and their traits (symmetric, unit diagonal, derived);
- ``analyze``: the analyze step: the measures as resumable units, assembled into ``affinity.json``;
- ``joint``: one joint training measuring gradient cosine and lookahead transfer as it goes;
- ``probes``: stacked pair probes for pairwise transfer gains and probe cosine;
- ``pergrad``: per-task gradients of the shared encoder in one batched pass, and their cosines;
- ``matrix``: :class:`AffinityMatrix`, signal-to-noise, and the agreement between measures.

Only the registry is imported here, so reading the measures' names does not import torch.
"""

from taskgroup.affinity.measures import MEASURES, REQUESTABLE

__all__ = ["MEASURES", "REQUESTABLE"]
