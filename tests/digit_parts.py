"""A user's own encoder and two custom tasks on the digits images, importable by path in tests.

``small``: reconstruct the image downsampled to 4x4 (a dense output of 16 values); ``moments``: a
multi-output target (ink, horizontal and vertical centre of mass). Losses are per-row mean squared
errors; metrics are the root mean squared error over all outputs (lower is better).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


class SmallConv(nn.Module):
    """One 3x3 convolution and a linear layer: the user's encoder for (1, 8, 8) images."""

    def __init__(self, input_shape=(1, 8, 8), width=1.0):
        super().__init__()
        channels = max(2, int(8 * width))
        self.conv = nn.Sequential(nn.Conv2d(input_shape[0], channels, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2))
        self.fc = nn.Sequential(nn.Flatten(), nn.Linear(channels * 16, 32), nn.ReLU())
        self.out_features = 32

    def forward(self, x):
        return self.fc(self.conv(x))


def encoder(input_shape, width=1.0):
    return SmallConv(input_shape, width)


def dense_head(in_features):
    return nn.Linear(in_features, 16)


def moments_head(in_features):
    return nn.Linear(in_features, 3)


def mse(prediction, target):
    """Per-row mean squared error over the outputs of each row: shape ``(..., rows)``."""
    return ((prediction - target) ** 2).mean(dim=-1)


def rmse(y_true, y_pred):
    return float(np.sqrt(np.mean((np.asarray(y_true) - np.asarray(y_pred)) ** 2)))


def targets(images: np.ndarray) -> dict[str, np.ndarray]:
    """The two structured targets of (n, 1, 8, 8) images in [0, 1]."""
    n = len(images)
    small = images.reshape(n, 4, 2, 4, 2).mean(axis=(2, 4)).reshape(n, 16)
    ink = images.reshape(n, -1).sum(axis=1)
    grid = np.arange(8) / 7.0
    cx = (images[:, 0].sum(axis=1) * grid).sum(axis=1) / np.maximum(ink, 1e-9)
    cy = (images[:, 0].sum(axis=2) * grid).sum(axis=1) / np.maximum(ink, 1e-9)
    return {"small": small, "moments": np.stack([ink / 64.0, cx, cy], axis=1)}
