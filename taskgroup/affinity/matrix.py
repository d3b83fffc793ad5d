"""Affinity matrices, their signal-to-noise figure, and the agreement between measures."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.stats import chi2, spearmanr

#: below this signal-to-noise figure a measure is flagged uninformative (see :func:`signal_to_noise`)
INFORMATIVE_SNR = 0.5
#: and its entries must differ from "no relationship" at this significance (chi-square test)
INFORMATIVE_P = 0.01


def off_diagonal(m: np.ndarray) -> np.ndarray:
    """Entries i != j, row by row."""
    m = np.asarray(m, dtype=float)
    return m[~np.eye(len(m), dtype=bool)]


def _independent(matrix: np.ndarray, stderr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Off-diagonal entries and standard errors, the upper triangle only when the measure is symmetric."""
    m, s = np.asarray(matrix, dtype=float), np.asarray(stderr, dtype=float)
    symmetric = np.allclose(m, m.T) and np.allclose(s, s.T)
    mask = np.triu(np.ones_like(m, dtype=bool), 1) if symmetric else ~np.eye(len(m), dtype=bool)
    return m[mask], s[mask]


def signal_to_noise(matrix: np.ndarray, stderr: np.ndarray) -> float:
    """How far the entries stand from "no relationship" (0), beyond their noise, in units of that noise.

    ``sqrt(max(mean(v^2) - mean(se^2), 0) / mean(se^2))`` over the off-diagonal entries ``v`` with
    standard errors ``se``. The mean square of the entries is their spread squared plus their common
    level squared, so the figure sees both differences between pairs (what a grouping is read from)
    and a relationship every pair shares (identical tasks, or two tasks with a strong affinity); the
    noise part, the mean squared standard error, is removed. 0 for pure noise; 1 when the entries
    stand one noise unit from 0. :func:`spread_to_noise` keeps the spread alone.
    """
    vals, errs = off_diagonal(matrix), off_diagonal(stderr)
    if len(vals) == 0:
        return float("inf")
    noise2 = float(np.mean(errs ** 2))
    excess = max(float(np.mean(vals ** 2)) - noise2, 0.0)
    if noise2 == 0:
        return float("inf") if excess > 0 else 0.0
    return float(np.sqrt(excess / noise2))


def spread_to_noise(matrix: np.ndarray, stderr: np.ndarray) -> float:
    """The spread of the off-diagonal entries beyond their noise, in units of one entry's noise."""
    vals, errs = off_diagonal(matrix), off_diagonal(stderr)
    if len(vals) < 2:
        return 0.0
    noise2 = float(np.mean(errs ** 2))
    excess = max(float(np.var(vals)) - noise2, 0.0)
    if noise2 == 0:
        return float("inf") if excess > 0 else 0.0
    return float(np.sqrt(excess / noise2))


def no_relationship_p(matrix: np.ndarray, stderr: np.ndarray) -> float:
    """P-value of "every entry is 0 up to its noise": sum of (v / se)^2 against chi-square.

    Uses the independent entries (the upper triangle of a symmetric measure); entries without a
    standard error are left out. The entries of one joint run share measurements, so the test is
    approximate; it stops a handful of noisy entries from looking like a relationship.
    """
    vals, errs = _independent(matrix, stderr)
    keep = errs > 0
    if not keep.any():
        return 0.0 if np.any(vals != 0) else 1.0
    stat = float(np.sum((vals[keep] / errs[keep]) ** 2))
    return float(chi2.sf(stat, int(keep.sum())))


def is_informative(matrix: np.ndarray, stderr: np.ndarray) -> bool:
    """Informative: signal-to-noise of at least :data:`INFORMATIVE_SNR` and entries that differ from
    0 beyond their noise (p < :data:`INFORMATIVE_P`)."""
    return bool(signal_to_noise(matrix, stderr) >= INFORMATIVE_SNR
                and no_relationship_p(matrix, stderr) < INFORMATIVE_P)


@dataclass
class AffinityMatrix:
    """One measure's N x N matrix: ``matrix[i][j]`` is the effect of source i on target j (higher helps)."""

    measure: str
    tasks: list[str]
    matrix: np.ndarray
    stderr: np.ndarray
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def snr(self) -> float:
        return signal_to_noise(self.matrix, self.stderr)

    def to_dict(self) -> dict[str, Any]:
        snr = self.snr
        spread = spread_to_noise(self.matrix, self.stderr)
        d = {"matrix": _round(self.matrix), "stderr": _round(self.stderr),
             "snr": None if not np.isfinite(snr) else round(snr, 6),
             "snr_spread": None if not np.isfinite(spread) else round(spread, 6),
             "informative": is_informative(self.matrix, self.stderr)}
        for k, v in self.extra.items():
            d[k] = _round(v) if isinstance(v, np.ndarray) else v
        return d

    def permuted(self, order: list[int]) -> "AffinityMatrix":
        ix = np.ix_(order, order)
        extra = {k: (v[ix] if isinstance(v, np.ndarray) and v.shape == self.matrix.shape else v)
                 for k, v in self.extra.items()}
        return AffinityMatrix(self.measure, [self.tasks[i] for i in order], self.matrix[ix], self.stderr[ix], extra)


def _round(a: np.ndarray) -> list:
    """Rounded to 8 significant decimals so files are stable across platforms' last-bit noise."""
    return np.round(np.asarray(a, dtype=float), 8).tolist()


def spearman_offdiag(a: Any, b: Any) -> float:
    """Spearman rank correlation of two square matrices over their off-diagonal entries (NaN when
    there are fewer than three or either side is constant)."""
    x, y = off_diagonal(a), off_diagonal(b)
    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan")
    return float(spearmanr(x, y).statistic)


def agreement(measures: dict[str, AffinityMatrix]) -> dict[str, float]:
    """Spearman rank correlation between every two measures over off-diagonal entries."""
    names = sorted(measures)
    out: dict[str, float] = {}
    for a_i, a in enumerate(names):
        for b in names[a_i + 1:]:
            rho = spearman_offdiag(measures[a].matrix, measures[b].matrix)
            out[f"{a}~{b}"] = None if not np.isfinite(rho) else round(rho, 6)
    return out
