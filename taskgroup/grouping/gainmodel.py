"""A small regularised predictor of a group's measured gain from its group scores and its size.

Inputs: one row per trained group; one column per affinity measure (the measure's group score) and a
last column with the group's number of tasks. Target: the group's measured gain. With five to ten
training groups a model with a parameter per measure (let alone splines of each score) has about as
many parameters as points, so the fit has two parameters and a fixed, strong prior:

1. each measure's trust is its squared Spearman correlation with the gains over the training groups
   (0 when negative), normalised to sum to 1 (equal trust when no measure correlates positively);
   the measures' standardised scores, weighted by their trust, make one combined score;
2. ridge regression of the gain on the combined score and the group size (both standardised;
   penalty :data:`PENALTY` per training group).

The size enters because every group score here is a mean over pairs, the same for a pair and a group
of six with the same pairs inside, while the measured gain of sharing also depends on how many tasks
share the network (more rows pooled on the one hand, more tasks competing for its capacity on the
other; which one wins differs between task sets, so its sign is learnt). The result is one linear
function of the scores and the size (:class:`GainModel`). :func:`cross_validate` gives the
leave-one-group-out predictions of the whole procedure. Deterministic: closed forms throughout.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PENALTY = 0.1
"""Ridge penalty per training group on the two standardised columns (combined score, size)."""

FORM = "trust-weighted scores + group size, ridge"


@dataclass(frozen=True)
class GainModel:
    """A fitted predictor: ``intercept + sum_k coef[k] * (x[k] - center[k]) / scale[k]`` over the
    measures' group scores and the size; ``trust`` is each measure's weight in the combined score."""

    center: tuple[float, ...]
    scale: tuple[float, ...]
    coef: tuple[float, ...]
    intercept: float
    trust: tuple[float, ...]
    form: str = FORM

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Predicted gains of the groups whose columns (scores, then size) are the rows of ``X``."""
        Z = (np.asarray(X, dtype=float) - np.asarray(self.center)) / np.asarray(self.scale)
        return self.intercept + Z @ np.asarray(self.coef)

    def spread(self, X: np.ndarray) -> np.ndarray:
        """How much each column moves the prediction over the rows of ``X`` (the standard deviation
        of its term): the weight of each measure, and of the size, in the prediction."""
        Z = (np.asarray(X, dtype=float) - np.asarray(self.center)) / np.asarray(self.scale)
        return np.std(Z * np.asarray(self.coef), axis=0)


def _standardise(X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    center = X.mean(axis=0)
    scale = X.std(axis=0)
    scale = np.where(scale > 1e-12, scale, 1.0)
    return (X - center) / scale, center, scale


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman correlation; 0 when either side is constant."""
    import math

    from scipy.stats import spearmanr

    if len(a) < 2 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return 0.0
    value = float(spearmanr(a, b).statistic)
    return value if math.isfinite(value) else 0.0


def r2(pred: np.ndarray, y: np.ndarray) -> float:
    """Coefficient of determination of ``pred`` for ``y`` (0 when ``y`` is constant)."""
    ss = float(np.sum((y - y.mean()) ** 2))
    return 1.0 - float(np.sum((y - pred) ** 2)) / ss if ss > 0 else 0.0


def trust(scores: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Each measure's trust: its squared positive Spearman correlation with ``y``, normalised."""
    rho = np.array([max(0.0, spearman(scores[:, k], y)) for k in range(scores.shape[1])]) ** 2
    return rho / rho.sum() if rho.sum() > 0 else np.full(scores.shape[1], 1.0 / scores.shape[1])


def fit(X: np.ndarray, y: np.ndarray) -> GainModel:
    """Fit on the rows of ``X`` (measures' group scores, then the size) and the gains ``y``."""
    X = np.asarray(X, dtype=float)
    y = np.asarray(y, dtype=float)
    Z, center, scale = _standardise(X)
    w = trust(X[:, :-1], y)
    combined = Z[:, :-1] @ w
    D, _, dscale = _standardise(np.c_[combined, Z[:, -1]])  # combined and Z's size column are centred already
    beta = np.linalg.solve(D.T @ D + PENALTY * len(y) * np.eye(2), D.T @ (y - y.mean()))
    coef = np.r_[beta[0] / dscale[0] * w, beta[1] / dscale[1]]
    return GainModel(tuple(map(float, center)), tuple(map(float, scale)), tuple(map(float, coef)), float(y.mean()),
                     tuple(map(float, w)))


def cross_validate(X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Leave-one-group-out predictions: row i predicted by :func:`fit` on every other row."""
    X = np.asarray(X, dtype=float)
    y = np.asarray(y, dtype=float)
    out = np.empty(len(y))
    for i in range(len(y)):
        keep = np.arange(len(y)) != i
        out[i] = fit(X[keep], y[keep]).predict(X[i:i + 1])[0]
    return out
