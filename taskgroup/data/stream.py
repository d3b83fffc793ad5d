"""Inputs read on demand from a map-style ``torch.utils.data.Dataset``, never all held in memory.

:class:`StreamedInputs` stands in for the input array of a :class:`~taskgroup.tasks.TaskSet`: it
has a ``shape``, a length, and indexing by row numbers (an integer tensor of any shape, or a slice)
that reads just those rows through a ``DataLoader`` and returns them as a float32 tensor. Every
training step asks for one batch of rows (the stacked networks of a step share it), so memory holds
a batch, not the data set. A content digest taken while streaming stands in for hashing the array.
"""

from __future__ import annotations

import hashlib
from typing import Any, Sequence

import numpy as np
import torch

from ..errors import DataError


def collate_items(items: Sequence[Any]) -> tuple[torch.Tensor, list[Any]]:
    """Stack the inputs of ``(input, labels)`` items; keep the labels as a list (tasks may be missing)."""
    inputs = torch.stack([torch.as_tensor(_input(item), dtype=torch.float32) for item in items])
    return inputs, [item[1] if isinstance(item, (tuple, list)) and len(item) > 1 else None for item in items]


def collate_inputs(items: Sequence[Any]) -> torch.Tensor:
    """Stack only the inputs of ``(input, labels)`` items."""
    return torch.stack([torch.as_tensor(_input(item), dtype=torch.float32) for item in items])


def _input(item: Any) -> Any:
    return item[0] if isinstance(item, (tuple, list)) else item


def loader(dataset: Any, rows: Sequence[int] | None, batch_size: int, workers: int, collate: Any) -> Any:
    """A DataLoader over ``rows`` of ``dataset`` (all rows when None), in order."""
    from torch.utils.data import DataLoader, Subset

    data = dataset if rows is None else Subset(dataset, list(rows))
    return DataLoader(data, batch_size=batch_size, shuffle=False, num_workers=workers, collate_fn=collate)


class StreamedInputs:
    """The input rows of a Dataset, read through a DataLoader when indexed.

    ``mean``/``std`` (broadcastable against one row) standardise rows as they are read.
    """

    def __init__(self, dataset: Any, n_rows: int, row_shape: tuple[int, ...], digest: str, *,
                 batch_size: int = 256, workers: int = 0, mean: np.ndarray | None = None,
                 std: np.ndarray | None = None) -> None:
        self.dataset = dataset
        self.n_rows = int(n_rows)
        self.row_shape = tuple(row_shape)
        self.batch_size = int(batch_size)
        self.workers = int(workers)
        self.mean = None if mean is None else torch.as_tensor(np.asarray(mean), dtype=torch.float32)
        self.std = None if std is None else torch.as_tensor(np.asarray(std), dtype=torch.float32)
        self._raw_digest = digest

    # -- the array-like surface the trainer and the measures use ---------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        return (self.n_rows, *self.row_shape)

    @property
    def ndim(self) -> int:
        return 1 + len(self.row_shape)

    def __len__(self) -> int:
        return self.n_rows

    def __getitem__(self, index: Any) -> torch.Tensor:
        if isinstance(index, slice):
            index = torch.arange(self.n_rows)[index]
        idx = torch.as_tensor(index, dtype=torch.long)
        flat = idx.reshape(-1)
        if len(flat) and (int(flat.min()) < 0 or int(flat.max()) >= self.n_rows):
            raise IndexError(f"row index out of range for {self.n_rows} rows")
        unique, inverse = torch.unique(flat, return_inverse=True)
        block = self.read(unique.tolist())
        return block[inverse].reshape(*idx.shape, *self.row_shape)

    def __iter__(self) -> Any:
        raise TypeError("streamed inputs are read by row numbers, not iterated as a whole")

    def read(self, rows: Sequence[int]) -> torch.Tensor:
        """Rows ``rows`` (in that order), standardised when a scaling is set."""
        if not rows:
            return torch.empty((0, *self.row_shape))
        workers = self.workers if len(rows) > self.batch_size else 0
        parts = [b for b in loader(self.dataset, rows, self.batch_size, workers, collate_inputs)]
        x = torch.cat(parts)
        if tuple(x.shape[1:]) != self.row_shape:
            raise DataError(f"dataset item inputs have shape {tuple(x.shape[1:])}, expected {self.row_shape}")
        if self.mean is not None and self.std is not None:
            x = (x - self.mean) / self.std
        return x

    def chunks(self, rows: Sequence[int]) -> Any:
        """Yield ``(row numbers, inputs)`` for ``rows`` one loader batch at a time."""
        rows = list(rows)
        for start in range(0, len(rows), self.batch_size):
            part = rows[start:start + self.batch_size]
            yield part, self.read(part)

    def digest(self) -> str:
        """Content digest of the rows as read (the scaling included)."""
        h = hashlib.sha256(self._raw_digest.encode())
        if self.mean is not None and self.std is not None:
            h.update(self.mean.numpy().tobytes())
            h.update(self.std.numpy().tobytes())
        return h.hexdigest()

    def with_scaling(self, mean: np.ndarray, std: np.ndarray) -> "StreamedInputs":
        """The same rows, standardised with ``mean`` and ``std`` as they are read."""
        return StreamedInputs(self.dataset, self.n_rows, self.row_shape, self._raw_digest,
                              batch_size=self.batch_size, workers=self.workers, mean=mean, std=std)


def channel_statistics(inputs: StreamedInputs, rows: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation of ``rows``, per feature (vector rows) or per channel (images).

    One streamed pass with running sums in float64; the result is shaped like one row, broadcastable.
    """
    raw = StreamedInputs(inputs.dataset, inputs.n_rows, inputs.row_shape, inputs._raw_digest,
                         batch_size=inputs.batch_size, workers=inputs.workers)
    axes = (0,) if len(raw.row_shape) == 1 else tuple(i for i in range(len(raw.row_shape) + 1) if i != 1)
    total = count = total_sq = None
    for _part, x in raw.chunks(rows):
        x64 = x.double()
        s = x64.sum(dim=axes, keepdim=True)[0]
        s2 = (x64 ** 2).sum(dim=axes, keepdim=True)[0]
        n = x64.numel() / s.numel()
        total = s if total is None else total + s
        total_sq = s2 if total_sq is None else total_sq + s2
        count = n if count is None else count + n
    if total is None or total_sq is None or not count:
        raise DataError("no training rows to standardise the features with")
    mean = (total / count).numpy()
    var = np.maximum((total_sq / count).numpy() - mean ** 2, 0.0)
    std = np.sqrt(var)
    std[std < 1e-12] = 1.0
    return mean, std


__all__ = ["StreamedInputs", "channel_statistics", "collate_inputs", "collate_items", "loader"]
