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

from .decision import Cost, Decision, cost_of, decide, fmt_interval
from .statistics import Interval, RowEvidence

#: a pair counts as negative (positive) transfer only when its 95 % interval lies below (above) 0
Z95 = 1.959964


def _fmt_groups(groups: list[list[str]]) -> str:
    return "; ".join("{" + ", ".join(g) + "}" for g in groups)


def transfer_signs(affinity: dict[str, Any] | None) -> dict[str, Any] | None:
    """Task pairs with negative, positive and no clear transfer, from the first informative measure.

    Looks at pairwise transfer gains, then lookahead; a measure flagged uninformative is never used.
    A pair counts only when its 95 % interval (entry ± 1.96 standard errors) excludes 0.
    """
    measures = (affinity or {}).get("measures") or {}
    for name in ("transfer", "lookahead"):
        m = measures.get(name)
        if not m or m.get("informative") is False:
            continue
        a = np.asarray(m["matrix"], dtype=float)
        se = np.asarray(m.get("stderr") or np.zeros_like(a), dtype=float)
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


def verdict(comparison: dict[str, Any], affinity: dict[str, Any] | None, evidence: RowEvidence,
            margin: float = 1.0, chosen_on_validation: bool = True) -> dict[str, Any]:
    """The ``verdict`` entry of ``comparison.json``: decision, interval, margin, cost and summary.

    The effect is estimated on the estimate part of the validation rows when the grouping was chosen
    on validation rows (the final recommendation, picked on the select part; a grouping proposed
    from probe gains, which read validation metrics). A grouping that no choice on validation rows
    picked (proposed from the joint run's training batches) is estimated on the select and estimate
    parts pooled: more rows, no winner's curse.
    """
    alts = {a["name"]: a for a in comparison["alternatives"]}
    final = comparison.get("final") or {}
    target = final.get("name") if final.get("name") in alts and evidence.has(final.get("name")) else "recommended"
    alt, single = alts[target], alts["single_task"]
    groups = final.get("groups") or alt["groups"]
    pooled = target == "recommended" and not chosen_on_validation and not final
    iv = evidence.compare(target, "single_task", ("select", "estimate") if pooled else "estimate")
    names = comparison["tasks"]
    cost = cost_of(groups, len(names), alt["inference_cost"], single["inference_cost"], alt["params"], single["params"])
    shares = any(len(g) > 1 for g in groups)
    d = decide(iv, shares, cost, margin)
    summary = _sentence(d, iv, cost, groups, margin)
    test = alt.get("delta_m_values") or [alt["delta_m"]]
    summary += f" On test rows (reported only): Delta_m {float(np.mean(test)):+.2f}%."
    signs = transfer_signs(affinity)
    if signs is not None:
        summary += (f" Transfer between task pairs ({signs['measure']}, 95% intervals): {signs['negative']} of "
                    f"{signs['pairs']} negative, {signs['positive']} positive, {signs['no_clear_effect']} no clear "
                    "effect.")
    train = groups if d.use_mtl else [[t] for t in names]
    evidence_doc: dict[str, Any] = {
        "alternative": target, "groups": groups,
        "delta_m_estimate": round(iv.mean, 6), "delta_m_select": alt.get("delta_m_select"),
        "delta_m_val": alt.get("delta_m_val"), "delta_m_test": alt.get("delta_m"),
        "delta_m_test_std": alt.get("delta_m_std"), "seeds": iv.seeds,
    }
    aio = alts.get("all_in_one")
    if aio:
        evidence_doc["all_in_one_delta_m_estimate"] = aio.get("delta_m_estimate")
    mtl = [a for a in comparison["alternatives"] if a["name"] not in ("single_task", "single_task_half", "oracle")
           and "delta_m_select" in a]
    if mtl:
        evidence_doc["best_on_select"] = max(mtl, key=lambda a: a["delta_m_select"])["name"]
    return {"use_mtl": d.use_mtl, "decision": d.decision, "reason": d.reason, "summary": summary,
            "alternative": target, "groups": groups, "train": train,
            "interval": iv.to_dict(), "margin": margin, "cost": cost.to_dict(),
            "cost_ratio": round(cost.inference_ratio, 6), "seeds_needed": d.seeds_needed,
            "negative_transfer": signs, "evidence": evidence_doc}
