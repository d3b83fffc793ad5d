"""The verdict: should these tasks share networks? An honest reading of the comparison.

The decision uses validation data only: multi-task learning is recommended when the recommended
grouping's validation Delta_m beats single-task networks by more than twice its standard error over
seeds (and the grouping actually shares a network). Test figures are reported beside it; when the
test gain is within seed noise the summary says so.
"""

from __future__ import annotations

from typing import Any

import numpy as np

NOISE_SIGMAS = 2.0


def _se(values: list[float]) -> float:
    return float(np.std(values, ddof=1) / np.sqrt(len(values))) if len(values) > 1 else 0.0


def _fmt_groups(groups: list[list[str]]) -> str:
    return "; ".join("{" + ", ".join(g) + "}" for g in groups)


def negative_transfer_share(affinity: dict[str, Any] | None) -> tuple[float | None, str | None]:
    """Share of ordered task pairs whose measured effect is negative (transfer if present, else lookahead)."""
    if not affinity:
        return None, None
    for name in ("transfer", "lookahead", "gradient_cosine"):
        m = affinity.get("measures", {}).get(name)
        if m:
            a = np.asarray(m["matrix"], dtype=float)
            off = a[~np.eye(len(a), dtype=bool)]
            return (float(np.mean(off < 0)) if len(off) else 0.0), name
    return None, None


def verdict(comparison: dict[str, Any], affinity: dict[str, Any] | None = None) -> dict[str, Any]:
    """``{"use_mtl", "summary", "evidence"}`` from the alternatives of a comparison."""
    alts = {a["name"]: a for a in comparison["alternatives"]}
    rec = alts["recommended"]
    shares = any(len(g) > 1 for g in rec["groups"])
    val_vals = [v for v in _val_values(rec)]
    dm_val, se_val = float(rec["delta_m_val"]), _se(val_vals)
    test_vals = rec.get("delta_m_values", [rec["delta_m"]])
    dm_test, se_test = float(rec["delta_m"]), _se(test_vals)
    margin = NOISE_SIGMAS * se_val
    use_mtl = bool(shares and dm_val > margin and dm_val > 0)
    test_within_noise = abs(dm_test) <= NOISE_SIGMAS * se_test
    evidence: dict[str, Any] = {
        "recommended_groups": rec["groups"],
        "delta_m_test": dm_test, "delta_m_test_std": rec["delta_m_std"], "delta_m_test_se": round(se_test, 6),
        "delta_m_val": dm_val, "delta_m_val_se": round(se_val, 6),
        "seeds": len(test_vals),
    }
    aio = alts.get("all_in_one")
    if aio:
        evidence["vs_all_in_one_test"] = round(dm_test - float(aio["delta_m"]), 6)
        evidence["vs_all_in_one_val"] = round(dm_val - float(aio["delta_m_val"]), 6)
        evidence["inference_cost_ratio_vs_all_in_one"] = round(rec["inference_cost"] / max(aio["inference_cost"], 1), 6)
    randoms = [a for a in comparison["alternatives"] if a.get("family") == "random"]
    if randoms:
        evidence["vs_random_mean_test"] = round(dm_test - float(np.mean([a["delta_m"] for a in randoms])), 6)
    share, source = negative_transfer_share(affinity)
    if share is not None:
        evidence["negative_transfer_share"] = round(share, 6)
        evidence["negative_transfer_measure"] = source
    mtl_alts = [a for a in comparison["alternatives"] if a["name"] not in ("single_task", "single_task_half", "oracle")]
    best_val = max(mtl_alts, key=lambda a: a["delta_m_val"]) if mtl_alts else rec
    evidence["best_on_validation"] = best_val["name"]

    groups = _fmt_groups(rec["groups"])
    noise_note = (" The test difference is within seed noise." if test_within_noise
                  else "")
    if not shares:
        summary = (f"Train each task on its own network: the recommended grouping keeps every task separate "
                   f"(test Delta_m {dm_test:+.2f}% against single-task networks).")
    elif use_mtl:
        summary = (f"Share networks as {groups}: on validation these groups beat single-task networks "
                   f"by Delta_m {dm_val:+.2f}% (± {se_val:.2f} standard error over {len(val_vals)} seeds); on test "
                   f"{dm_test:+.2f}% (std {rec['delta_m_std']:.2f}).{noise_note}")
        if aio and best_val["name"] != "recommended":
            summary += f" Note: on validation, '{best_val['name']}' scored higher still (Delta_m {best_val['delta_m_val']:+.2f}%)."
    else:
        reason = ("is worse than" if dm_val < 0 else "is not clearly better than")
        summary = (f"Train the tasks separately: the best grouping found ({groups}) {reason} single-task networks on "
                   f"validation (Delta_m {dm_val:+.2f}% ± {se_val:.2f} over {len(val_vals)} seeds; test "
                   f"{dm_test:+.2f}%).{noise_note}")
    if share is not None:
        summary += f" {share:.0%} of task pairs showed negative transfer ({source})."
    return {"use_mtl": use_mtl, "summary": summary, "evidence": evidence}


def _val_values(alt: dict[str, Any]) -> list[float]:
    return alt.get("delta_m_val_values") or [alt["delta_m_val"]]
