"""Paired comparisons with honest intervals: seeds and evaluation rows as the two sources of noise.

An alternative is compared with the single-task networks of the same seed, on the same rows, so
most of the noise both share cancels. What is left has two sources:

- **seeds**: another initialisation and batch order gives another Delta_m. The per-seed values
  d_1..d_n give a Student-t standard error ``s / sqrt(n)`` with n - 1 degrees of freedom.
- **rows**: the evaluation rows are one sample of the rows the tasks will meet. A Poisson bootstrap
  over rows (every row gets a weight drawn from Poisson(1), the same weights for every alternative,
  seed and task that share the row, so the comparison stays paired) gives the rows' standard error
  of the seed-mean Delta_m.

The two variances add; the degrees of freedom of the sum follow Welch and Satterthwaite. The
interval is ``mean ± t_{df} * sqrt(se_seeds^2 + se_rows^2)``; fewer seeds mean fewer degrees of
freedom and a wider interval.

Which rows: :mod:`..training.valparts` cuts every task's validation rows into a checkpoint part
(early stopping), a select part (choosing among candidates, :func:`score_on` with
``part="select"``) and an estimate part (the effect the decision rests on). Test rows are only
reported.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Mapping, Sequence

import numpy as np
from scipy import stats as sps

from ..delta import Reference, delta_m
from ..registry import import_object
from ..tasks import Task
from ..training.valparts import PARTS

#: bootstrap resamples of the evaluation rows
RESAMPLES = 200
BOOTSTRAP_SEED = 7_331
Scores = Mapping[str, np.ndarray]          # task -> each row's score on one part


def score_on(alternatives: Sequence[Mapping[str, Any]], part: str = "select") -> dict[str, float]:
    """Each alternative's mean Delta_m over seeds on ``part`` of the validation rows, by name.

    ``part="select"`` is for choosing among candidates; ``part="estimate"`` for the effect of the
    chosen one (rows that took no part in the choice).
    """
    if part not in PARTS or part == "checkpoint":
        raise ValueError(f"part must be 'select' or 'estimate', not {part!r}")
    return {str(a["name"]): float(a[f"delta_m_{part}"]) for a in alternatives if f"delta_m_{part}" in a}


@dataclass(frozen=True)
class Interval:
    """Delta_m of an alternative against single-task networks, with its noise.

    ``low``/``high``: the two-sided interval at ``level`` (95 %); ``low90``/``high90``: the 90 %
    interval, whose inclusion in ``[-margin, margin]`` is the two one-sided tests (TOST) at 5 %.
    """

    mean: float
    low: float
    high: float
    low90: float
    high90: float
    se: float
    se_seeds: float
    se_rows: float
    df: float
    seeds: int
    values: tuple[float, ...]
    part: str
    level: float = 0.95

    def to_dict(self) -> dict[str, Any]:
        r = lambda x: None if not np.isfinite(x) else round(float(x), 6)  # noqa: E731
        return {"mean": r(self.mean), "low": r(self.low), "high": r(self.high), "low90": r(self.low90),
                "high90": r(self.high90), "se": r(self.se), "se_seeds": r(self.se_seeds),
                "se_rows": r(self.se_rows), "df": r(self.df), "seeds": self.seeds,
                "values": [r(v) for v in self.values], "part": self.part, "level": self.level}

    def half_width(self, seeds: int, level: float = 0.95) -> float:
        """Half-width of the interval this spread would give with ``seeds`` seeds."""
        sd = self.se_seeds * np.sqrt(max(self.seeds, 1))
        v_seed, v_rows = sd ** 2 / seeds, self.se_rows ** 2
        df = welch_df(v_seed, seeds - 1, v_rows)
        return float(sps.t.ppf(0.5 + level / 2, df) * np.sqrt(v_seed + v_rows))


def welch_df(v_seed: float, df_seed: int, v_rows: float) -> float:
    """Welch-Satterthwaite degrees of freedom of ``v_seed + v_rows`` (the rows' part counts as many)."""
    if df_seed < 1:
        return float("inf") if v_rows > 0 else 1.0
    if v_seed <= 0:
        return float("inf") if v_rows > 0 else float(df_seed)
    return float((v_seed + v_rows) ** 2 / (v_seed ** 2 / df_seed))


def interval(values: Sequence[float], boot_means: np.ndarray, part: str, level: float = 0.95) -> Interval:
    """Combine per-seed values and bootstrap replicates of their mean into an :class:`Interval`."""
    vals = np.asarray(values, dtype=float)
    n = len(vals)
    mean = float(vals.mean())
    v_seed = float(vals.var(ddof=1) / n) if n > 1 else 0.0
    boot = np.asarray(boot_means, dtype=float)
    boot = boot[np.isfinite(boot)]
    v_rows = float(boot.var(ddof=1)) if len(boot) > 1 else 0.0
    df = welch_df(v_seed, n - 1, v_rows)
    se = float(np.sqrt(v_seed + v_rows))
    if n < 2:
        # one seed says nothing about the seeds' spread: no finite interval
        lo = hi = lo90 = hi90 = float("nan")
    else:
        q, q90 = sps.t.ppf(0.5 + level / 2, df), sps.t.ppf(0.95, df)
        lo, hi, lo90, hi90 = mean - q * se, mean + q * se, mean - q90 * se, mean + q90 * se
    return Interval(mean, lo, hi, lo90, hi90, se, float(np.sqrt(v_seed)), float(np.sqrt(v_rows)), df, n,
                    tuple(float(v) for v in vals), part, level)


# -- weighted metrics: one metric value per bootstrap weight vector ---------------------------------

def weighted_metric(task: Task, y: np.ndarray, score: np.ndarray, w: np.ndarray) -> np.ndarray:
    """The task's metric under row weights ``w`` (shape ``(B, rows)``): one value per weight row.

    With all weights 1 it equals :func:`..training.objectives.metric_value`. NaN where the weighted
    rows cannot score the metric (one class left, no rows).
    """
    y = np.asarray(y, dtype=float)
    score = np.asarray(score, dtype=float)
    w = np.asarray(w, dtype=float)
    total = w.sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        if task.kind == "custom":
            return _resampled(task, y, score, w)
        if task.kind == "binary":
            yb = y.astype(int)
            if task.metric == "auc":
                return _weighted_auc(yb, score, w)
            pred = (score >= 0.5).astype(int)
            if task.metric == "accuracy":
                return (w * (pred == yb)).sum(1) / total
            return _weighted_f1(yb, pred, w, [1])
        if task.kind == "multiclass":
            pred = np.argmax(score, axis=-1)
            yc = y.astype(int)
            if task.metric == "accuracy":
                return (w * (pred == yc)).sum(1) / total
            return _weighted_f1(yc, pred, w, sorted(set(yc.tolist()) | set(pred.tolist())))
        sq = (y - score) ** 2
        if task.metric == "rmse":
            return np.sqrt((w * sq).sum(1) / total)
        ybar = (w * y).sum(1, keepdims=True) / total[:, None]
        return 1.0 - (w * sq).sum(1) / (w * (y - ybar) ** 2).sum(1)


def _weighted_auc(y: np.ndarray, score: np.ndarray, w: np.ndarray) -> np.ndarray:
    order = np.argsort(score, kind="stable")
    s_sorted = score[order]
    starts = np.flatnonzero(np.r_[True, s_sorted[1:] != s_sorted[:-1]])
    pos = np.add.reduceat(w[:, order] * (y[order] == 1), starts, axis=1)
    neg = np.add.reduceat(w[:, order] * (y[order] == 0), starts, axis=1)
    below = np.cumsum(neg, axis=1) - neg
    num = (pos * (below + 0.5 * neg)).sum(1)
    den = pos.sum(1) * neg.sum(1)
    return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def _weighted_f1(y: np.ndarray, pred: np.ndarray, w: np.ndarray, labels: list[int]) -> np.ndarray:
    out = []
    for c in labels:
        tp = (w * ((pred == c) & (y == c))).sum(1)
        fp = (w * ((pred == c) & (y != c))).sum(1)
        fn = (w * ((pred != c) & (y == c))).sum(1)
        den = 2 * tp + fp + fn
        out.append(np.where(den > 0, 2 * tp / np.where(den > 0, den, 1.0), np.nan))
    arr = np.stack(out)
    if len(labels) == 1:
        return np.nan_to_num(arr[0], nan=0.0)
    return np.nanmean(arr, axis=0)


def _resampled(task: Task, y: np.ndarray, score: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Custom metrics take no weights: repeat each row as often as its (integer) weight."""
    fn = import_object(task.metric, "metric")
    out = []
    for row in w.astype(int):
        idx = np.repeat(np.arange(len(y)), row)
        out.append(float(fn(y[idx], score[idx])) if len(idx) else np.nan)
    return np.asarray(out)


# -- the paired comparison on one part of the validation rows ---------------------------------------

@dataclass
class PartRows:
    """The rows of one part: per task, the global row indices and their true targets."""

    name: str
    rows: dict[str, np.ndarray]
    y: dict[str, np.ndarray]


class RowEvidence:
    """Every alternative's per-row scores on the select and estimate parts, per seed.

    ``scores[alternative][part][seed_index][task]`` is the score array of the network that serves
    the task. Each task is compared on the value its reference names (:mod:`taskgroup.delta`: RMSE
    for regression whatever metric is shown).
    """

    def __init__(self, tasks: Sequence[Task], parts: Mapping[str, PartRows], n_rows: int,
                 refs: Mapping[str, Reference], resamples: int = RESAMPLES, seed: int = BOOTSTRAP_SEED) -> None:
        self.tasks = {t.name: (replace(t, metric="rmse") if refs[t.name].rule == "error" else t) for t in tasks}
        self.refs = dict(refs)
        self.parts = dict(parts)
        self.scores: dict[str, dict[str, list[Scores]]] = {}
        rng = np.random.default_rng(seed)
        # one weight per row and resample, shared by every task, alternative and seed (paired)
        self.weights = rng.poisson(1.0, size=(resamples, n_rows)).astype(float)

    def add(self, alternative: str, part: str, per_seed: list[Scores]) -> None:
        self.scores.setdefault(alternative, {})[part] = per_seed

    def has(self, alternative: str) -> bool:
        return alternative in self.scores

    def _metrics(self, alternative: str, parts: tuple[str, ...], boot: bool) -> list[dict[str, np.ndarray]]:
        out = []
        for k in range(len(self.scores[alternative][parts[0]])):
            per_task = {}
            for t in self.tasks:
                rows = np.concatenate([self.parts[p].rows[t] for p in parts])
                y = np.concatenate([self.parts[p].y[t] for p in parts])
                sc = np.concatenate([np.asarray(self.scores[alternative][p][k][t]) for p in parts])
                w = self.weights[:, rows] if boot else np.ones((1, len(rows)))
                per_task[t] = weighted_metric(self.tasks[t], y, sc, w)
            out.append(per_task)
        return out

    def compare(self, alternative: str, baseline: str, part: str | tuple[str, ...] = "estimate") -> Interval:
        """Delta_m of ``alternative`` against ``baseline`` (same seeds, same rows) with its interval.

        ``part``: one part, or several pooled (``("select", "estimate")`` for an alternative that no
        choice on validation rows picked).
        """
        part = (part,) if isinstance(part, str) else tuple(part)
        names = list(self.tasks)
        point_a, point_b = self._metrics(alternative, part, False), self._metrics(baseline, part, False)
        values = [delta_m({t: float(a[t][0]) for t in names}, {t: float(b[t][0]) for t in names}, self.refs).value
                  for a, b in zip(point_a, point_b)]
        boot_a, boot_b = self._metrics(alternative, part, True), self._metrics(baseline, part, True)
        n_boot = len(self.weights)
        means = np.full(n_boot, np.nan)
        for k in range(n_boot):
            per_seed = []
            for a, b in zip(boot_a, boot_b):
                ma, mb = {t: float(a[t][k]) for t in names}, {t: float(b[t][k]) for t in names}
                if all(np.isfinite(v) for v in (*ma.values(), *mb.values())):
                    per_seed.append(delta_m(ma, mb, self.refs).value)
            if len(per_seed) == len(boot_a):
                means[k] = float(np.mean(per_seed))
        return interval(values, means, "+".join(part))
