"""Where torch computes: the one place that turns a device name into a ``torch.device``.

Names: ``auto`` (CUDA when available, else CPU), ``cpu``, ``cuda`` (the worker's own GPU, see
below), ``cuda:N`` and ``mps``. Everything that creates tensors (data, models, stacked probes and
networks, the measurement passes) asks :func:`resolve_device` once and passes the result down;
nothing else in taskgroup names a device.

Process-pool workers are numbered as they start (:func:`set_worker_slot`); ``auto`` and ``cuda``
then resolve to ``cuda:(slot mod GPU count)``, so a pool of several workers spreads over the GPUs.
"""

from __future__ import annotations

import os
import re
from typing import Any

from ..errors import ConfigError

DEVICE_NAMES = ("auto", "cpu", "cuda", "cuda:N", "mps")
_PATTERN = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")
#: environment variable holding a process-pool worker's number (set in the worker only)
SLOT_ENV = "TASKGROUP_WORKER_SLOT"


def check_device_name(name: Any, where: str = "device") -> str:
    """``name`` stripped and lower-cased if it is a known device name; a one-line error otherwise."""
    if not isinstance(name, str) or not _PATTERN.match(name.strip().lower()):
        raise ConfigError(f"{where} = {name!r} is not a device; choose one of {', '.join(DEVICE_NAMES)}")
    return name.strip().lower()


def choose_device(requested: str, configured: str) -> str:
    """The device a run uses: ``requested`` (``--device``, :class:`~.execution.Execution`) unless it is
    ``auto``, else the configuration's ``train.device``."""
    return configured if requested == "auto" else requested


def set_worker_slot(slot: int) -> None:
    """Record this process's number in a worker pool (spreads ``auto``/``cuda`` over the GPUs)."""
    os.environ[SLOT_ENV] = str(int(slot))


def _worker_slot() -> int:
    try:
        return int(os.environ.get(SLOT_ENV, "0"))
    except ValueError:
        return 0


def resolve_device(name: str | Any = "auto") -> Any:
    """The ``torch.device`` for ``name``; a one-line error when that device is not present.

    A ``torch.device`` is returned unchanged. ``auto`` never fails: it falls back to the CPU.
    """
    import torch

    if isinstance(name, torch.device):
        return name
    name = check_device_name(name)
    if name == "cpu":
        return torch.device("cpu")
    if name == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise ConfigError("device 'mps' is not available on this machine (no Apple GPU or a torch "
                              "without MPS); use --device cpu or auto")
        return torch.device("mps")
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if name == "auto":
        return torch.device("cuda", _worker_slot() % count) if count else torch.device("cpu")
    if count == 0:
        raise ConfigError(f"device {name!r} is not available: torch sees no CUDA GPU (torch "
                          f"{torch.__version__}); use --device cpu or auto")
    if name == "cuda":
        return torch.device("cuda", _worker_slot() % count)
    index = int(name.split(":")[1])
    if index >= count:
        raise ConfigError(f"device {name!r} is not available: torch sees {count} CUDA GPU(s) "
                          f"(cuda:0 to cuda:{count - 1})")
    return torch.device("cuda", index)


def device_label(device: Any) -> str:
    """A short description of ``device`` for logs and benchmark rows (GPU name when CUDA)."""
    import torch

    device = resolve_device(device)
    if device.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)})"
    return str(device)
