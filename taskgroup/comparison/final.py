"""The final recommendation: propose, then verify.

Affinity measures only predict which tasks should share; compare trains the proposals. The final
recommendation is the trained grouping with the best selection score: the affinity-based
recommendation, every candidate grouping, and the plain baselines all-in-one and single-task (hard
sharing, equal weighting, full width). Random groupings and the oracle are controls and never
eligible. Ties go to the grouping with fewer networks, then to the earlier alternative.

The selection score reads validation figures only (test rows are reported, never used to choose):
``selection_score``, the mean Delta_m over seeds on the select part of the validation rows; the
decision's effect is then estimated on the estimate part (the verdict), so the choice among many
candidates does not inflate it.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np
from scipy import stats

from ..runtime.documents import AlternativeResult, FinalChoice, GroupingsDoc

CONTROLS = ("random", "oracle", "single_task_half")

Score = Callable[[AlternativeResult], float]


def selection_score(alt: AlternativeResult) -> float:
    """The score that chooses the final grouping (higher is better): mean Delta_m over seeds on the
    select part of the validation rows, or on all validation rows without it (-inf without either)."""
    for v in (alt.delta_m_select, alt.delta_m_val):
        if v is not None and np.isfinite(v):
            return float(v)
    return float("-inf")


def eligible(alt: AlternativeResult) -> bool:
    """A plain hard-shared grouping that is not a control."""
    if alt.family in CONTROLS or alt.name in CONTROLS:
        return False
    return alt.sharing == "hard" and alt.weighting == "equal" and alt.width == 1.0


def t_interval(values: list[float], level: float = 0.95) -> list[float]:
    """Student-t interval of the mean over seeds (n - 1 degrees of freedom); a point for one seed."""
    x = np.asarray(values, dtype=float)
    m = float(x.mean())
    if len(x) < 2:
        return [m, m]
    half = float(stats.t.ppf(0.5 + level / 2, len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x)))
    return [m - half, m + half]


def choose_final(alternatives: list[AlternativeResult], proposed_by: dict[str, list[str]],
                 score: Score = selection_score) -> FinalChoice:
    """The eligible alternative scoring best (its decision is filled in after the verdict)."""
    pool = [(i, a) for i, a in enumerate(alternatives) if eligible(a)]
    if not pool:
        raise ValueError("no eligible grouping was trained")
    i, best = max(pool, key=lambda ia: (score(ia[1]), -len(ia[1].groups), -ia[0]))
    vals = [v for v in best.delta_m_val_values if v is not None] or \
        ([best.delta_m_val] if best.delta_m_val is not None else [])
    s = score(best)
    return FinalChoice(groups=[list(g) for g in best.groups], name=best.name,
                       proposed_by=list(proposed_by.get(best.name, [best.method or best.name])),
                       selection_score=round(s, 8) if np.isfinite(s) else None,
                       delta_m_val=best.delta_m_val, delta_m_test=best.delta_m,
                       interval=[round(v, 8) for v in t_interval(vals)] if vals else None,
                       considered=[a.name for _, a in pool])


def proposers(groupings: GroupingsDoc, alternatives: list[AlternativeResult]) -> dict[str, list[str]]:
    """For each alternative name, the methods that proposed its grouping (from groupings.json)."""
    def key(groups: list[list[str]]) -> tuple:
        return tuple(sorted(tuple(sorted(g)) for g in groups))

    by_groups: dict[tuple, list[str]] = {}
    for c in [groupings.recommended, *groupings.candidates]:
        if c.groups:
            found = by_groups.setdefault(key(c.groups), [])
            found += [n for n in (c.proposed_by or [c.method or "recommended"]) if n not in found]
    out = {}
    for a in alternatives:
        found = by_groups.get(key(a.groups)) if a.groups else None
        if found:
            out[a.name] = found
        elif a.name in ("all_in_one", "single_task"):
            out[a.name] = [a.name]
    return out
