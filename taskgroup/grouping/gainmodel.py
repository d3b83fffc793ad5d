"""A small regularised predictor of a group's measured gain from its group scores.

Inputs: one row per trained group, one column per affinity measure (the measure's group score);
target: the group's measured gain. The predictor is a linear model on standardised scores, of one
of a few forms (:func:`menu`): one measure alone (a straight line through its scores) or ridge
regression on every measure with a strong penalty. The form is chosen by leave-one-group-out
squared error on the training groups and then refit on all of them (:func:`fit`); the honest
estimate of how well that whole procedure predicts a group it has not seen is a second, outer
leave-one-group-out loop around it (:func:`cross_validate`). Everything is deterministic: closed
forms, no random restarts.

With five to ten training groups a richer model (splines of each score, interactions) has more
parameters than points; choosing between "trust one measure" and "average them, shrunk" is what
such a sample can support.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

RIDGE_PENALTIES = (0.3, 1.0, 3.0)
"""Ridge penalties, per training group, on standardised scores (the ridge forms of the menu)."""

_TINY = 1e-6
"""Penalty of the one-measure forms: only enough to keep a constant column solvable."""


@dataclass(frozen=True)
class Form:
    """A model form of the menu: which columns it uses and its penalty per training group."""

    name: str
    columns: tuple[int, ...]
    penalty: float


@dataclass(frozen=True)
class GainModel:
    """A fitted predictor: ``intercept + sum_k coef[k] * (x[k] - center[k]) / scale[k]``."""

    form: str
    center: tuple[float, ...]
    scale: tuple[float, ...]
    coef: tuple[float, ...]
    intercept: float

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Predicted gains of the groups whose scores are the rows of ``X``."""
        Z = (np.asarray(X, dtype=float) - np.asarray(self.center)) / np.asarray(self.scale)
        return self.intercept + Z @ np.asarray(self.coef)

    def spread(self, X: np.ndarray) -> np.ndarray:
        """How much each column moves the prediction over the rows of ``X`` (the standard deviation
        of its term), the measure's weight in the prediction."""
        Z = (np.asarray(X, dtype=float) - np.asarray(self.center)) / np.asarray(self.scale)
        return np.std(Z * np.asarray(self.coef), axis=0)


def menu(names: list[str]) -> list[Form]:
    """The forms :func:`fit` chooses from: ridge on every column (strongest penalty first), then
    each column alone."""
    every = tuple(range(len(names)))
    forms = [Form(f"ridge({p:g})", every, p) for p in sorted(RIDGE_PENALTIES, reverse=True)] if len(names) > 1 else []
    return forms + [Form(f"only {n}", (k,), _TINY) for k, n in enumerate(names)]


def fit_form(X: np.ndarray, y: np.ndarray, form: Form) -> GainModel:
    """Ridge regression of ``y`` on the columns of ``form``, scores standardised on these rows."""
    X = np.asarray(X, dtype=float)
    y = np.asarray(y, dtype=float)
    center = X.mean(axis=0)
    scale = X.std(axis=0)
    scale = np.where(scale > 1e-12, scale, 1.0)
    Z = ((X - center) / scale)[:, list(form.columns)]
    yc = y - y.mean()
    lam = form.penalty * len(y)
    beta = np.linalg.solve(Z.T @ Z + lam * np.eye(Z.shape[1]), Z.T @ yc)
    coef = np.zeros(X.shape[1])
    coef[list(form.columns)] = beta
    return GainModel(form.name, tuple(map(float, center)), tuple(map(float, scale)), tuple(map(float, coef)),
                     float(y.mean()))


def loo(X: np.ndarray, y: np.ndarray, fit_fn) -> np.ndarray:
    """Leave-one-group-out predictions: row i predicted by ``fit_fn`` trained on every other row."""
    X = np.asarray(X, dtype=float)
    y = np.asarray(y, dtype=float)
    out = np.empty(len(y))
    for i in range(len(y)):
        keep = np.arange(len(y)) != i
        out[i] = fit_fn(X[keep], y[keep]).predict(X[i:i + 1])[0]
    return out


def choose_form(X: np.ndarray, y: np.ndarray, names: list[str]) -> tuple[Form, dict[str, float]]:
    """The form with the least leave-one-group-out squared error (ties: earlier in the menu), and
    every form's error."""
    errors: dict[str, float] = {}
    best: Form | None = None
    for form in menu(names):
        pred = loo(X, y, lambda a, b, f=form: fit_form(a, b, f))
        errors[form.name] = float(np.mean((pred - y) ** 2))
        if best is None or errors[form.name] < errors[best.name] - 1e-15:
            best = form
    assert best is not None
    return best, errors


def fit(X: np.ndarray, y: np.ndarray, names: list[str]) -> GainModel:
    """The chosen form (:func:`choose_form`) refit on every row."""
    form, _ = choose_form(X, y, names)
    return fit_form(X, y, form)


def cross_validate(X: np.ndarray, y: np.ndarray, names: list[str]) -> np.ndarray:
    """Outer leave-one-group-out predictions of the whole procedure (form chosen inside each fold)."""
    return loo(X, y, lambda a, b: fit(a, b, names))
