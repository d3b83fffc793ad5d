"""Relative change against a baseline: the one formula behind Delta_m, transfer gains and the report.

Delta_m (Maninis et al., CVPR 2019) is the mean over tasks of each task's signed relative change
against its single-task network. Divided by the raw baseline, that change explodes when the
baseline is near zero (R^2 from 0.002 to 0.05 reads +1199 %; an AUC of 0.0 from one validation
positive reads 6.8e12 %). Here the denominator can never vanish:

- **regression** tasks are compared on their RMSE whatever metric is displayed (R^2 is fine to
  show, not to divide by): ``change = (S - M) / max(S, 0.05 * sd)``, ``sd`` the spread of the
  task's training targets (the RMSE of predicting their mean). Scaling the target scales S, M and
  sd alike, so the change is unit-free;
- **bounded** metrics (AUC, accuracy, F1, R^2) are measured from the metric's chance level:
  ``change = (M - S) / max(|S - chance|, 0.1 * (best - chance))``, chance 0.5 for AUC, 1/K for
  accuracy over K classes, 0 for F1 and R^2; so +0.02 AUC over a 0.80 baseline is +6.7 % of the
  baseline's skill above chance;
- **custom** metrics keep Maninis' ``(M - S) / |S|`` (their chance level is unknown).

A baseline that cannot carry a relative change is *degenerate* and its task is left out of
Delta_m (and named) rather than dominating it: a non-finite baseline, a regression target with no
spread, a bounded baseline worse than chance by more than the floor (an AUC of 0.0 from one
positive), a custom baseline of zero. Each task's change is clipped to +-1000 % and a non-finite
value (a diverged network) counts as the worst change, so nothing here is ever NaN or infinite.
Changes are positive when the value is better than the baseline, whatever the metric's direction.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Mapping

import numpy as np

if TYPE_CHECKING:
    from .tasks import TaskSet

#: per-task change bound, as a fraction (10 = 1000 %)
LIMIT = 10.0
#: bounded metrics: the denominator is at least this share of the range from chance to best
BOUNDED_FLOOR = 0.1
#: regression: the RMSE denominator is at least this share of the target's spread
ERROR_FLOOR = 0.05
#: custom metrics: a baseline closer to zero than this is degenerate
CUSTOM_EPS = 1e-9

#: bounded metric -> (chance level, best value); accuracy's chance depends on the class count
BOUNDED: dict[str, tuple[float, float]] = {"auc": (0.5, 1.0), "accuracy": (0.5, 1.0), "f1": (0.0, 1.0),
                                           "r2": (0.0, 1.0)}


@dataclass(frozen=True)
class Reference:
    """How one task's metric becomes a relative change.

    ``rule`` is ``"error"`` (regression RMSE, ``scale`` = the target's spread), ``"bounded"``
    (``chance`` and ``best`` of the metric) or ``"plain"`` (custom metrics: divide by ``|S|``).
    ``metric`` names the value the change is computed on, which for regression is always RMSE.
    """

    metric: str
    lower_is_better: bool
    rule: str
    chance: float = 0.0
    best: float = 1.0
    scale: float = 1.0

    def floor(self) -> float:
        """The smallest denominator this reference allows."""
        if self.rule == "error":
            return ERROR_FLOOR * self.scale
        if self.rule == "bounded":
            return BOUNDED_FLOOR * abs(self.best - self.chance)
        return CUSTOM_EPS

    def degenerate(self, baseline: float) -> str | None:
        """Why ``baseline`` cannot carry a relative change, or None when it can."""
        b = float(baseline)
        if not math.isfinite(b):
            return f"baseline {self.metric} is not a number"
        if self.rule == "error":
            if not (math.isfinite(self.scale) and self.scale > 0):
                return "the regression target has no spread"
            if b < 0:
                return f"baseline {self.metric} {b:g} is negative"
            return None
        if self.rule == "bounded":
            if b < self.chance - self.floor():
                return f"baseline {self.metric} {b:.3g} is below chance ({self.chance:.3g})"
            return None
        if abs(b) < CUSTOM_EPS:
            return f"baseline {self.metric} is zero"
        return None

    def denominator(self, baseline: float) -> float:
        """The positive number a difference from ``baseline`` is divided by (baseline not degenerate)."""
        b = float(baseline)
        if self.rule == "error":
            return max(b, self.floor())
        if self.rule == "bounded":
            return max(abs(b - self.chance), self.floor())
        return max(abs(b), self.floor())

    def to_dict(self) -> dict[str, object]:
        return {"metric": self.metric, "lower_is_better": self.lower_is_better, "rule": self.rule,
                "chance": self.chance, "best": self.best, "scale": self.scale, "floor": self.floor()}


def reference(kind: str, metric: str, lower_is_better: bool, *, n_classes: int = 2,
              target_scale: float = 1.0) -> Reference:
    """The reference of a task of ``kind`` judged by ``metric``.

    ``target_scale`` (regression only) is the spread of the task's training targets, in its units.
    """
    if kind == "regression":
        return Reference("rmse", True, "error", chance=float(target_scale), best=0.0, scale=float(target_scale))
    if metric in BOUNDED and kind != "custom":
        chance, best = BOUNDED[metric]
        if metric == "accuracy":
            chance = 1.0 / max(int(n_classes), 2)
        return Reference(metric, bool(lower_is_better), "bounded", chance=chance, best=best)
    return Reference(metric, bool(lower_is_better), "plain")


def relative_change(value: float, baseline: float, ref: Reference) -> float | None:
    """Signed relative change of ``value`` against ``baseline`` as a fraction (positive = better).

    None when the baseline is degenerate (see :meth:`Reference.degenerate`); otherwise finite and
    within +-:data:`LIMIT`. A non-finite ``value`` is the worst change, ``-LIMIT``.
    """
    if ref.degenerate(baseline) is not None:
        return None
    v = float(value)
    if not math.isfinite(v):
        return -LIMIT
    sign = -1.0 if ref.lower_is_better else 1.0
    change = sign * (v - float(baseline)) / ref.denominator(baseline)
    return float(min(LIMIT, max(-LIMIT, change)))


@dataclass(frozen=True)
class DeltaM:
    """Delta_m in percent over the tasks with a usable baseline, and the tasks left out with why."""

    value: float
    per_task: dict[str, float] = field(default_factory=dict)
    excluded: dict[str, str] = field(default_factory=dict)


def delta_m(values: Mapping[str, float], baselines: Mapping[str, float],
            refs: Mapping[str, Reference]) -> DeltaM:
    """Maninis et al.'s Delta_m in percent: mean over tasks of :func:`relative_change` x 100.

    Tasks whose baseline is degenerate are left out and listed in ``excluded``; with none left the
    value is 0.0 (no measurable difference), never NaN.
    """
    per_task: dict[str, float] = {}
    excluded: dict[str, str] = {}
    for task, v in values.items():
        ref = refs[task]
        why = ref.degenerate(baselines[task])
        if why is not None:
            excluded[task] = why
            continue
        change = relative_change(v, baselines[task], ref)
        per_task[task] = 100.0 * float(change)  # type: ignore[arg-type]
    value = float(np.mean(list(per_task.values()))) if per_task else 0.0
    return DeltaM(value, per_task, excluded)




def references(taskset: "TaskSet") -> dict[str, Reference]:
    """Every task's reference; a regression task's scale is the spread of its training targets."""
    from .tasks import TRAIN

    out: dict[str, Reference] = {}
    for t in taskset.tasks:
        scale = 1.0
        if t.kind == "regression":
            y = np.asarray(taskset.targets[t.name], dtype=np.float64)[taskset.splits[t.name] == TRAIN]
            scale = float(np.std(y)) if len(y) else 0.0
        out[t.name] = reference(t.kind, t.metric, bool(t.lower_is_better), n_classes=max(t.n_classes, 2),
                                target_scale=scale)
    return out


def compared_value(ref: Reference, task: str, metrics: Mapping[str, float], rmse: Mapping[str, float]) -> float:
    """The value a record's ``task`` is compared on: its RMSE under the error rule, else its metric."""
    if ref.rule == "error":
        return float(rmse[task])
    return float(metrics[task])


__all__ = ["BOUNDED", "DeltaM", "LIMIT", "Reference", "compared_value", "delta_m", "reference", "references",
           "relative_change"]
