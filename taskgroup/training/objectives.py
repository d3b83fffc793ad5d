"""Per-row losses and the metrics that judge each task (scikit-learn's, never hand-written)."""

from __future__ import annotations

import functools
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from sklearn import metrics as skm

from ..errors import DataError
from ..registry import import_object
from ..tasks import Task


def row_loss(task: Task, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Loss of every row, shape ``output.shape[:-1]`` (leading stacked dimensions allowed).

    Regression targets are expected standardised; classification targets hold class indices
    (as floats). Rows that are not labelled must carry a finite placeholder target.
    """
    if task.kind == "binary":
        return F.binary_cross_entropy_with_logits(output[..., 0], target, reduction="none")
    if task.kind == "multiclass":
        lead = output.shape[:-1]
        flat = F.cross_entropy(output.reshape(-1, output.shape[-1]), target.reshape(-1).long(), reduction="none")
        return flat.reshape(lead)
    if task.kind == "regression":
        return (output[..., 0] - target) ** 2
    return _custom_loss(task.loss)(output, target)


@functools.lru_cache(maxsize=None)
def _custom_loss(path: str) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    return import_object(path, "loss", DataError)


def predictions(task: Task, output: torch.Tensor) -> np.ndarray:
    """Scores a metric consumes: probabilities (binary), class probabilities, or values."""
    out = output.detach().cpu()
    if task.kind == "binary":
        return torch.sigmoid(out[..., 0]).numpy()
    if task.kind == "multiclass":
        return torch.softmax(out, dim=-1).numpy()
    if task.kind == "regression":
        return out[..., 0].numpy()
    return out.numpy()


def metric_value(task: Task, y_true: np.ndarray, y_score: np.ndarray) -> float:
    """The task's metric on one split; ``y_score`` as returned by :func:`predictions`."""
    m = task.metric
    if task.kind == "custom":
        return float(import_object(m, "metric", DataError)(y_true, y_score))
    if task.kind == "binary":
        y = y_true.astype(int)
        if m == "auc":
            if len(np.unique(y)) < 2:
                return float("nan")
            return float(skm.roc_auc_score(y, y_score))
        label = (y_score >= 0.5).astype(int)
        return float(skm.accuracy_score(y, label) if m == "accuracy" else skm.f1_score(y, label, zero_division=0))
    if task.kind == "multiclass":
        label = np.argmax(y_score, axis=-1)
        y = y_true.astype(int)
        return float(skm.accuracy_score(y, label) if m == "accuracy"
                     else skm.f1_score(y, label, average="macro", zero_division=0))
    if m == "rmse":
        return rmse(y_true, y_score)
    return float(skm.r2_score(y_true, y_score))


def rmse(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Root mean squared error, in the units of the target."""
    return float(np.sqrt(skm.mean_squared_error(y_true, y_pred)))
