"""How often propose-then-verify would end at the final grouping under the group step's resamples.

``groupings.json["stability"]`` keeps what the group step proposed from each resample of the
affinity measurements. In resample r the verified answer is what :func:`.final.choose_final` picks
among the trained alternatives whose grouping resample r proposed, plus the baselines all-in-one
and single-task (always trained). Groupings a resample proposed that were never trained cannot be
verified without training them: the answer comes from those that were, and ``untrained`` counts
the resamples whose recommended grouping is among the untrained ones.
"""

from __future__ import annotations

import numpy as np

from ..grouping.stability import co_assignment, key
from ..runtime.documents import AlternativeResult, FinalStability, StabilityDoc
from .final import choose_final

BASELINES = ("all_in_one", "single_task")


def final_stability(stab: StabilityDoc | None, alternatives: list[AlternativeResult], final_groups: list[list[str]],
                    names: list[str]) -> FinalStability | None:
    """The final grouping's reproduction over ``stab``'s resamples (None without resamples)."""
    if stab is None or not stab.partitions:
        return None
    trained = {key(a.groups) for a in alternatives}
    target = key(final_groups)
    answers: list[list[list[str]]] = []
    untrained = 0
    for part in stab.partitions:
        offered = {key(g) for g in [part.recommended, *part.candidates]}
        untrained += key(part.recommended) not in trained
        field = [a for a in alternatives if key(a.groups) in offered or a.name in BASELINES]
        try:
            answers.append(choose_final(field, {}).groups)
        except ValueError:  # nothing eligible was trained for this resample
            answers.append([])
    n = len(stab.partitions)
    return FinalStability(resamples=n, reproduced=sum(key(a) == target for a in answers if a) / n,
                          co_assignment=np.round(co_assignment([a for a in answers if a], names), 6).tolist(),
                          untrained=untrained / n)
