"""The verdict: the decision of :mod:`.decision` in one sentence, with its evidence.

The decision is taken for the final recommendation (``comparison["final"]``) when the comparison has
one, else for the recommended grouping, on the estimate part of the validation rows against the
single-task networks of the same seeds (:mod:`.statistics`). Test figures are reported beside it and
never decide anything. The networks to train follow the decision: the grouping's networks for the
two ``share_*`` answers, one network per task otherwise.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..runtime.documents import AffinityDoc, ComparisonDoc, Verdict
from .decision import Cost, Decision, cost_of, decide, fmt_interval
from .statistics import Interval, RowEvidence

#: a pair counts as negative (positive) transfer only when its 95 % interval lies below (above) 0
Z95 = 1.959964


def _fmt_groups(groups: list[list[str]]) -> str:
    return "; ".join("{" + ", ".join(g) + "}" for g in groups)


def transfer_signs(affinity: AffinityDoc | None) -> dict[str, Any] | None:
    """Task pairs with negative, positive and no clear transfer, from the first informative measure.

    Looks at pairwise transfer gains, then lookahead; a measure flagged uninformative is never used.
    A pair counts only when its 95 % interval (entry ± 1.96 standard errors) excludes 0.
    """
    measures = affinity.measures if affinity is not None else {}
    for name in ("transfer", "lookahead"):
        m = measures.get(name)
        if m is None or m.informative is False:
            continue
        a = np.asarray([[np.nan if v is None else v for v in row] for row in m.matrix], dtype=float)
        se = np.asarray([[0.0 if v is None else v for v in row] for row in m.stderr] if m.stderr else np.zeros_like(a),
                        dtype=float)
        off = ~np.eye(len(a), dtype=bool)
        if not off.any():
            return None
        lo, hi = (a - Z95 * se)[off], (a + Z95 * se)[off]
        pairs = int(off.sum())
        neg, pos = int(np.sum(hi < 0)), int(np.sum(lo > 0))
        return {"measure": name, "pairs": pairs, "negative": neg, "positive": pos, "no_clear_effect": pairs - neg - pos}
    return None


def _sentence(d: Decision, iv: Interval, cost: Cost, groups: list[list[str]], margin: float) -> str:
    k, n = cost.networks, cost.tasks
    at_cost = f"{k} of {n} networks ({cost.inference_ratio:.0%} of the single-task inference cost)"
    est = fmt_interval(iv)
    if d.decision == "share_for_accuracy":
        return (f"Share networks for accuracy: {_fmt_groups(groups)} beats single-task networks by Delta_m {est}, "
                f"with {at_cost}.")
    if d.decision == "share_for_cost":
        return (f"Share networks for cost: {_fmt_groups(groups)} gives the same accuracy as single-task networks "
                f"within ±{margin:g} points (Delta_m {est}) with {at_cost}.")
    if d.decision == "train_separately":
        if cost.networks >= cost.tasks:
            return (f"Train each task separately: the best grouping found keeps every task on its own network "
                    f"(Delta_m {est}).")
        return (f"Train each task separately: sharing as {_fmt_groups(groups)} is worse than single-task networks "
                f"(Delta_m {est}).")
    return f"Inconclusive: sharing as {_fmt_groups(groups)} gives Delta_m {est}; {d.reason}."


def verdict(comparison: ComparisonDoc, affinity: AffinityDoc | None, evidence: RowEvidence,
            margin: float = 1.0, chosen_on_validation: bool = True) -> Verdict:
    """The ``verdict`` entry of ``comparison.json``: decision, interval, margin, cost and summary.

    The effect is estimated on the estimate part of the validation rows when the grouping was chosen
    on validation rows (the final recommendation, picked on the select part; a grouping proposed
    from probe gains, which read validation metrics). A grouping that no choice on validation rows
    picked (proposed from the joint run's training batches) is estimated on the select and estimate
    parts pooled: more rows, no winner's curse.
    """
    final = getattr(comparison, "final", None)
    final_name = getattr(final, "name", None)
    target = final_name if comparison.alternative(final_name or "") and evidence.has(final_name) else "recommended"
    alt, single = comparison.alternative(target), comparison.alternative("single_task")
    assert alt is not None and single is not None  # compare always trains both
    groups = getattr(final, "groups", None) or alt.groups
    pooled = target == "recommended" and not chosen_on_validation and not final
    iv = evidence.compare(target, "single_task", ("select", "estimate") if pooled else "estimate")
    names = comparison.tasks
    cost = cost_of(groups, len(names), alt.inference_cost, single.inference_cost, alt.params, single.params)
    shares = any(len(g) > 1 for g in groups)
    d = decide(iv, shares, cost, margin)
    summary = _sentence(d, iv, cost, groups, margin)
    test = [v for v in alt.delta_m_values if v is not None] or [alt.delta_m if alt.delta_m is not None else np.nan]
    summary += f" On test rows (reported only): Delta_m {float(np.mean(test)):+.2f}%."
    signs = transfer_signs(affinity)
    if signs is not None:
        summary += (f" Transfer between task pairs ({signs['measure']}, 95% intervals): {signs['negative']} of "
                    f"{signs['pairs']} negative, {signs['positive']} positive, {signs['no_clear_effect']} no clear "
                    "effect.")
    train = groups if d.use_mtl else [[t] for t in names]
    evidence_doc: dict[str, Any] = {
        "alternative": target, "groups": groups,
        "delta_m_estimate": round(iv.mean, 6), "delta_m_select": alt.delta_m_select,
        "delta_m_val": alt.delta_m_val, "delta_m_test": alt.delta_m,
        "delta_m_test_std": alt.delta_m_std, "seeds": iv.seeds,
    }
    aio = comparison.alternative("all_in_one")
    if aio:
        evidence_doc["all_in_one_delta_m_estimate"] = aio.delta_m_estimate
    mtl = [a for a in comparison.alternatives if a.name not in ("single_task", "single_task_half", "oracle")
           and a.delta_m_select is not None]
    if mtl:
        evidence_doc["best_on_select"] = max(mtl, key=lambda a: a.delta_m_select or 0.0).name
    return Verdict(use_mtl=d.use_mtl, decision=d.decision, reason=d.reason, summary=summary,
                   alternative=target, groups=groups, train=train,
                   interval=iv.to_dict(), margin=margin, cost=cost.to_dict(),
                   cost_ratio=round(cost.inference_ratio, 6), seeds_needed=d.seeds_needed,
                   negative_transfer=signs, evidence=evidence_doc)
