"""Affinity matrices, their signal-to-noise figure, and the agreement between measures."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.stats import spearmanr

#: below this signal-to-noise figure a measure is flagged uninformative (see :func:`signal_to_noise`)
INFORMATIVE_SNR = 0.5


def off_diagonal(m: np.ndarray) -> np.ndarray:
    """Entries i != j, row by row."""
    m = np.asarray(m, dtype=float)
    return m[~np.eye(len(m), dtype=bool)]


def signal_to_noise(matrix: np.ndarray, stderr: np.ndarray) -> float:
    """How far the real differences between task pairs stand out from the noise of one entry.

    A grouping is read from differences between pairs. The off-diagonal entries spread both because
    pairs differ and because each entry is noisy; the noise part of their variance is the mean
    squared standard error. The figure is the standard deviation left after removing it, divided by
    the root-mean-square standard error: 0 for pure noise, 1 when real differences are as large as
    one entry's noise. Group scores average several entries, so groupings are already stable from
    about :data:`INFORMATIVE_SNR` (on Landmine, gradient cosine at 0.9 recovers the known split).
    """
    vals, errs = off_diagonal(matrix), off_diagonal(stderr)
    if len(vals) < 2:
        return float("inf")
    noise2 = float(np.mean(errs ** 2))
    excess = max(float(np.var(vals)) - noise2, 0.0)
    if noise2 == 0:
        return float("inf") if excess > 0 else 0.0
    return float(np.sqrt(excess / noise2))


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
        d = {"matrix": _round(self.matrix), "stderr": _round(self.stderr),
             "snr": None if not np.isfinite(snr) else round(snr, 6),
             "informative": bool(snr >= INFORMATIVE_SNR)}
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
