"""Validation rows divided by purpose, so that no choice is scored on the rows that made it.

Three choices rest on validation data: each network's checkpoint (early stopping), the grouping
chosen among candidates, and the estimate of its effect that the decision rests on. Scoring a choice
on the rows that made it biases the score: checkpoints picked on the same rows inflate the
validation scores of the networks that overfit fastest, and the best of many candidates looks
better than it is (the winner's curse). So every task's validation rows are cut into three parts of
equal size:

- ``checkpoint``: early stopping and the checkpoint kept;
- ``select``: choosing among candidate groupings;
- ``estimate``: the effect the decision is taken on.

A task's rows are ordered by a fixed random key per row (the same key for a row shared by several
tasks, so that shared rows mostly land in the same part for all their tasks) and cut into thirds,
within each class for classification tasks so that every part holds every class.
"""

from __future__ import annotations

import numpy as np

CHECKPOINT, SELECT, ESTIMATE = 11, 12, 13
PARTS: dict[str, int] = {"checkpoint": CHECKPOINT, "select": SELECT, "estimate": ESTIMATE}
#: seed of the per-row key; fixed, so that every network of a run sees the same division
KEY_SEED = 20_211


def row_keys(n_rows: int) -> np.ndarray:
    """A fixed random key per row of the task set."""
    return np.random.default_rng(KEY_SEED).random(n_rows)


def divide(val_rows: np.ndarray, keys: np.ndarray, labels: np.ndarray | None = None) -> dict[int, np.ndarray]:
    """Cut one task's validation rows into the three parts (sorted row indices per part).

    ``labels`` (class per row of ``val_rows``, or None for regression) stratifies the cut.
    """
    val_rows = np.asarray(val_rows)
    strata = [np.arange(len(val_rows))] if labels is None else \
        [np.flatnonzero(labels == c) for c in np.unique(labels)]
    parts: dict[int, list[np.ndarray]] = {p: [] for p in PARTS.values()}
    offset = 0
    for idx in strata:
        order = idx[np.argsort(keys[val_rows[idx]], kind="stable")]
        # rank i goes to part (i + offset) % 3: each part gets a third of each class, and the
        # leftover rows of successive classes go to different parts
        for i, r in enumerate(order):
            parts[(CHECKPOINT, SELECT, ESTIMATE)[(i + offset) % 3]].append(val_rows[r])
        offset += len(order)
    return {p: np.sort(np.asarray(v, dtype=np.int64)) for p, v in parts.items()}
