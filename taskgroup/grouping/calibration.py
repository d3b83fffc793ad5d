"""Calibrated group scores: which measure to trust, learned from a few trained groups.

Every fixed group score (HOA from pairwise transfer gains, TAG's score from lookahead, the gradient
cosine group score) is one formula of pair affinities, and no measure is right on every task set.
ETAP (Ayman et al., ICLR 2026) corrects a gradient-based group score with a small model fit on the
measured gains of 5-10 trained groups. taskgroup's version:

- training data: groups of three or more tasks whose gain was measured: the calibration probes of
  ``analyze`` (``analyze.calibration_groups`` seeded random groups, trained like the pair probes;
  ``affinity.json["measured_groups"]``) and the measured subsets of exhaustive mode. Pairs are not
  used: the pairwise measures are computed from the very pair probes, so a pair's transfer score
  is its measured gain;
- target: the group's gain, the mean over its tasks of the relative change against each task's
  single-task probe;
- features: every measure's group score (the mean of its entries between members, which is also
  the mean over members of their HOA/TAG score), and the group's number of tasks;
- predictor: :mod:`.gainmodel` (measures weighted by their rank agreement with the gains, then a
  ridge regression on the weighted score and the size), evaluated by leave-one-group-out.

``choice`` says what ``group.measure = "auto"`` uses: ``"calibrated"`` when the predictor's
held-out Spearman correlation with the measured gains beats every raw measure's (a raw score needs
no fitting, so its Spearman over the training groups is already held out); else the raw measure
that agrees best; either only when its Spearman is beyond chance (:func:`min_agreement`); else None
(the fixed order of ``sources.PREFERENCE`` decides). ``weights`` is each measure's (and the size's) share of the fitted
prediction's movement over the training groups, which tells which measure the data trust.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from taskgroup.grouping.gainmodel import GainModel, cross_validate, fit, r2, spearman
from taskgroup.runtime.documents import CalibrationDoc

MIN_GROUPS = 5
"""Fewer measured groups than this: no calibration (a 4-task set has only 5 groups of 3 or more)."""

Z_ONE_SIDED = 1.645
"""One-sided 5% normal quantile: the agreement a choice needs is beyond chance at this level."""


def min_agreement(groups: int) -> float:
    """The Spearman correlation with the measured gains that ``groups`` groups must show before the
    calibration overrides the fixed order: ``1.645 / sqrt(groups - 1)``, the one-sided 5% level of
    Spearman's correlation under no relation (normal approximation): 0.82 for 5 groups, 0.55 for
    10, 0.38 for 20."""
    return Z_ONE_SIDED / math.sqrt(max(groups - 1, 1))

CALIBRATED = "calibrated"
SIZE = "group_size"
"""The name of the group-size column among the predictor's weights."""


@dataclass(frozen=True)
class MeasuredGroup:
    """A trained group (task indices) and its measured gain."""

    members: tuple[int, ...]
    gain: float


@dataclass
class Calibration:
    """What the calibration found (``summary``, as groupings.json records it) and the fitted
    predictor (``model``, over the measures' ``matrices``; None when too few groups were measured)."""

    summary: CalibrationDoc
    model: GainModel | None = None
    matrices: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    @property
    def choice(self) -> str | None:
        """``"calibrated"``, a measure, or None (the fixed order decides)."""
        return self.summary.choice

    @property
    def reason(self) -> str:
        return self.summary.reason

    def predict(self, groups: Sequence[Sequence[int]]) -> np.ndarray:
        """Predicted gain of each group (task indices); needs a fitted model."""
        if self.model is None:
            raise ValueError("no fitted calibration model")
        return self.model.predict(design(self.matrices, groups))

    def group_scorer(self):
        """Group (task indices) -> each member's score: the group's predicted gain (a task alone: 0)."""
        def score(group: Sequence[int]) -> dict[int, float]:
            members = list(dict.fromkeys(int(i) for i in group))
            if len(members) < 2:
                return {i: 0.0 for i in members}
            value = float(self.predict([members])[0])
            return {i: value for i in members}

        return score

    def pair_matrix(self, n: int) -> np.ndarray:
        """Predicted gain of every pair (symmetric, 0 on the diagonal): the matrix the affinity graph
        and the clustering proposals are built from when the calibrated scores are used."""
        pairs = list(itertools.combinations(range(n), 2))
        out = np.zeros((n, n))
        if pairs:
            for (i, j), v in zip(pairs, self.predict([list(p) for p in pairs])):
                out[i, j] = out[j, i] = float(v)
        return out


def group_score(matrix: np.ndarray, members: Sequence[int]) -> float:
    """Mean of a measure's entries between the members of a group (missing entries skipped; 0 if none)."""
    vals = [matrix[i, j] for i in members for j in members if i != j and not math.isnan(matrix[i, j])]
    return float(np.mean(vals)) if vals else 0.0


def features(matrices: dict[str, np.ndarray], groups: Sequence[Sequence[int]]) -> np.ndarray:
    """One row per group, one column per measure: the measure's group score."""
    return np.array([[group_score(m, g) for m in matrices.values()] for g in groups], dtype=float).reshape(
        len(groups), len(matrices))


def measured_groups(names: list[str], measured: Sequence[dict] | None, subsets: Sequence[dict] | None) -> list[MeasuredGroup]:
    """Groups of three or more tasks with a measured gain (``{tasks, scores}`` entries), deduplicated
    (a calibration probe first, then a measured subset)."""
    index = {t: i for i, t in enumerate(names)}
    out: dict[tuple[int, ...], float] = {}
    for entry in [*(measured or []), *(subsets or [])]:
        members = tuple(sorted(index[t] for t in entry["tasks"]))
        scores = [float(v) for v in entry["scores"].values() if v is not None]
        if len(members) >= 3 and scores and members not in out:
            out[members] = float(np.mean(scores))
    return [MeasuredGroup(m, g) for m, g in out.items()]


def design(matrices: dict[str, np.ndarray], groups: Sequence[Sequence[int]]) -> np.ndarray:
    """The predictor's columns: every measure's group score, then the group's number of tasks."""
    return np.c_[features(matrices, groups), [len(set(g)) for g in groups]]


def _line_loo(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Leave-one-group-out predictions of a straight line through one score."""
    out = np.empty(len(y))
    for i in range(len(y)):
        keep = np.arange(len(y)) != i
        slope, icpt = np.polyfit(x[keep], y[keep], 1) if np.ptp(x[keep]) > 0 else (0.0, float(y[keep].mean()))
        out[i] = icpt + slope * x[i]
    return out


def calibrate(names: list[str], matrices: dict[str, np.ndarray], groups: Sequence[MeasuredGroup]) -> Calibration:
    """Fit and cross-validate the predictor on ``groups``; decide what ``auto`` uses (module docstring).

    ``matrices`` maps each measure to its matrix, in the order of ``names``.
    """
    measures = list(matrices)
    if not measures:
        return Calibration(CalibrationDoc(len(groups), [], reason="no measure to calibrate"))
    if len(groups) < MIN_GROUPS:
        return Calibration(CalibrationDoc(len(groups), measures, reason=(
            f"{len(groups)} measured groups of 3 or more tasks; calibration needs {MIN_GROUPS} "
            "(analyze.calibration_groups)")))
    X = design(matrices, [g.members for g in groups])
    y = np.array([g.gain for g in groups])
    held_out = cross_validate(X, y)
    doc = CalibrationDoc(len(groups), measures, cv_spearman=round(spearman(held_out, y), 6),
                         cv_r2=round(r2(held_out, y), 6))
    for k, m in enumerate(measures):
        doc.raw_spearman[m] = round(spearman(X[:, k], y), 6)
        doc.raw_r2[m] = round(r2(_line_loo(X[:, k], y), y), 6)  # a straight line through this score alone
    best = max(measures, key=lambda m: (doc.raw_spearman[m], -measures.index(m)))
    best_raw = doc.raw_spearman[best]
    floor = min_agreement(len(y))
    if doc.cv_spearman > best_raw and doc.cv_spearman >= floor:
        doc.choice = CALIBRATED
        doc.reason = (f"the calibrated predictor's held-out Spearman {doc.cv_spearman:.2f} beats every raw measure's "
                      f"(best: {best}, {best_raw:.2f}) on {len(y)} measured groups")
    elif best_raw >= floor:
        doc.choice = best
        doc.reason = (f"{best}'s group scores agree best with {len(y)} measured group gains (Spearman {best_raw:.2f}; "
                      f"calibrated predictor {doc.cv_spearman:.2f} held out)")
    else:
        doc.reason = (f"no score agrees with {len(y)} measured group gains beyond chance (best Spearman "
                      f"{max(best_raw, doc.cv_spearman):.2f} < {floor:.2f}); the fixed order decides")
    model = fit(X, y)
    doc.form = model.form
    spread = model.spread(X)
    total = float(spread.sum())
    doc.weights = {m: round(float(v) / total, 6) if total > 0 else 0.0 for m, v in zip([*measures, SIZE], spread)}
    doc.trusted = max(measures, key=lambda m: (doc.weights[m], -measures.index(m))) if total > 0 else None
    return Calibration(doc, model, dict(matrices))


def calibrate_affinity(doc: dict) -> Calibration:
    """:func:`calibrate` on a validated affinity document (``sources.validate``): every measure, and
    the measured groups and subsets of three or more tasks."""
    names = doc["tasks"]
    matrices = {m: np.asarray(e["matrix"], dtype=float) for m, e in doc["measures"].items()}
    return calibrate(names, matrices, measured_groups(names, doc.get("measured_groups"), doc.get("subsets")))


def calibration_record(cal: Calibration, used: str) -> dict:
    """The calibration as ``groupings.json`` records it; ``used`` is the score source group used."""
    return dataclasses.asdict(dataclasses.replace(cal.summary, used=used))
