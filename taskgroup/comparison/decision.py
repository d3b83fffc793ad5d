"""The decision: share networks for accuracy, share them for cost, train separately, or inconclusive.

Taken on the estimate part of the validation rows (rows that chose neither checkpoints nor the
grouping), from the paired interval of :mod:`.statistics`, in this order:

| decision | rule |
|---|---|
| ``inconclusive`` | fewer than :data:`MIN_SEEDS` seeds: never a positive answer |
| ``train_separately`` | the grouping keeps every task on its own network (nothing to share) |
| ``share_for_accuracy`` | the 95 % interval of Delta_m lies above 0 |
| ``share_for_cost`` | the 90 % interval lies inside ``[-margin, +margin]`` (two one-sided tests at 5 %) and the grouping needs fewer networks |
| ``train_separately`` | the 95 % interval lies below 0 (and not inside the margin) |
| ``inconclusive`` | anything else; the seeds that would settle it are estimated from the observed spread |

A loss smaller than the margin counts as equal accuracy: that is what the margin means.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .statistics import Interval

DECISIONS = ("share_for_accuracy", "share_for_cost", "train_separately", "inconclusive")
#: fewer seeds than this never give a positive answer
MIN_SEEDS = 3
#: the most seeds :func:`seeds_to_settle` looks at
MAX_SEEDS = 50


@dataclass(frozen=True)
class Cost:
    """What the decided grouping costs against one network per task."""

    networks: int
    tasks: int
    inference_ratio: float     # multiply-adds of the grouping / of the single-task networks
    params_ratio: float

    @property
    def saves(self) -> bool:
        return self.networks < self.tasks or self.inference_ratio < 1.0

    def to_dict(self) -> dict[str, Any]:
        return {"networks": self.networks, "tasks": self.tasks, "inference_ratio": round(self.inference_ratio, 6),
                "params_ratio": round(self.params_ratio, 6)}


@dataclass(frozen=True)
class Decision:
    """The decision, the rule that fired, and what would settle an inconclusive answer."""

    decision: str
    reason: str
    seeds_needed: int | None = None     # inconclusive: seeds that would likely settle it (None: seeds will not)

    @property
    def use_mtl(self) -> bool:
        return self.decision in ("share_for_accuracy", "share_for_cost")


def decide(iv: Interval, shares: bool, cost: Cost, margin: float) -> Decision:
    """Apply the rules of this module's table to one paired interval (percent Delta_m)."""
    if iv.seeds < MIN_SEEDS:
        return Decision("inconclusive", f"{iv.seeds} seed{'s' if iv.seeds != 1 else ''} cannot separate a real "
                        f"effect from seed noise; rerun with --seeds {MIN_SEEDS} or more", MIN_SEEDS)
    if not shares:
        return Decision("train_separately", "the grouping keeps every task on its own network")
    if iv.low > 0:
        return Decision("share_for_accuracy", "the 95% interval of Delta_m lies above 0")
    if -margin < iv.low90 and iv.high90 < margin and cost.saves:
        return Decision("share_for_cost", f"the 90% interval lies within ±{margin:g} points (two one-sided tests "
                        "at 5%) and the grouping needs fewer networks")
    if iv.high < 0:
        return Decision("train_separately", "the 95% interval of Delta_m lies below 0, beyond the equivalence "
                        "margin")
    need = seeds_to_settle(iv, margin)
    why = (f"about {need} seeds would likely settle it" if need is not None else
           "more seeds alone will not settle it: the validation rows' own noise is too large; add validation rows")
    return Decision("inconclusive", f"the interval is too wide to tell; {why}", need)


def seeds_to_settle(iv: Interval, margin: float) -> int | None:
    """The fewest seeds whose interval (same spread, same mean) would exclude 0 or fit in the margin."""
    m = abs(iv.mean)
    for n in range(max(MIN_SEEDS, iv.seeds + 1), MAX_SEEDS + 1):
        if iv.half_width(n) < m or (m < margin and iv.half_width(n, 0.90) < margin - m):
            return n
    return None


def cost_of(groups: list[list[str]], n_tasks: int, macs: float, single_macs: float, params: float,
            single_params: float) -> Cost:
    """Cost of a grouping against single-task networks (ratios of multiply-adds and parameters)."""
    return Cost(len(groups), n_tasks, float(macs / single_macs) if single_macs > 0 else float("nan"),
                float(params / single_params) if single_params > 0 else float("nan"))


def fmt_interval(iv: Interval) -> str:
    """``+1.23% (95% interval +0.40 to +2.06, 3 seeds)`` or a note when no interval exists."""
    if not np.isfinite(iv.low):
        return f"{iv.mean:+.2f}% (no interval from {iv.seeds} seed{'s' if iv.seeds != 1 else ''})"
    return f"{iv.mean:+.2f}% (95% interval {iv.low:+.2f} to {iv.high:+.2f}, {iv.seeds} seeds)"
