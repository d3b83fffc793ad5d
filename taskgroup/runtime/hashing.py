"""Stable content hashes: the keys of the run store.

A unit of work is found again on a rerun only if its key is computed identically in every process,
on every run, whatever the order in which a dict was built. :func:`content_hash` therefore hashes a
canonical JSON text: keys sorted, no whitespace, floats written with ``repr`` (the shortest text
that reads back to the same double, so no two different floats share a text), tuples as lists, numpy
scalars as Python numbers. Arrays (numpy or torch) are hashed by dtype, shape and raw bytes rather
than expanded to lists, so fingerprinting a data set stays fast; an array therefore hashes
differently from the list of its values, and ``1`` differently from ``1.0`` and ``True``: the type
is part of the content.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import json
import math
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

#: default number of hex characters of a key (80 bits: collisions are not a practical concern)
DEFAULT_LENGTH = 20


def content_hash(obj: Any, length: int = DEFAULT_LENGTH) -> str:
    """Return the first ``length`` hex characters of the sha256 of ``obj``'s canonical JSON text."""
    if not 1 <= length <= 64:
        raise ValueError(f"length must be between 1 and 64, got {length}")
    return hashlib.sha256(canonical_json(obj).encode("utf-8")).hexdigest()[:length]


def canonical_json(obj: Any) -> str:
    """The text that :func:`content_hash` hashes (useful to see why two keys differ)."""
    return json.dumps(_canonical(obj), sort_keys=True, separators=(",", ":"), allow_nan=True,
                      ensure_ascii=False)


def file_hash(path: str | os.PathLike[str], length: int = DEFAULT_LENGTH) -> str:
    """Hex sha256 of a file's bytes, read in chunks (a data fingerprint for large inputs)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()[:length]


def _canonical(obj: Any) -> Any:
    """Map ``obj`` to plain JSON values (dict with str keys, list, str, int, float, bool, None)."""
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, int) and not isinstance(obj, enum.Enum):
        return int(obj)
    if isinstance(obj, float):
        # json writes repr(float): an exact round trip. NaN/inf are tagged to stay valid JSON.
        return float(obj) if math.isfinite(obj) else {"__float__": repr(float(obj))}
    if isinstance(obj, np.generic):
        return _canonical(obj.item())
    if isinstance(obj, np.ndarray):
        return _array(obj)
    if _is_torch_tensor(obj):
        return _tensor(obj)
    if isinstance(obj, Mapping):
        out: dict[str, Any] = {}
        for key, value in obj.items():
            if not isinstance(key, str):
                raise TypeError(f"content_hash needs string dict keys, got {type(key).__name__} "
                                f"key {key!r}")
            out[key] = _canonical(value)
        return out
    if isinstance(obj, (list, tuple)):
        return [_canonical(item) for item in obj]
    if isinstance(obj, (set, frozenset)):
        items = [_canonical(item) for item in obj]
        return {"__set__": sorted(items, key=lambda item: json.dumps(item, sort_keys=True))}
    if isinstance(obj, (bytes, bytearray, memoryview)):
        return {"__bytes__": hashlib.sha256(bytes(obj)).hexdigest()}
    if isinstance(obj, enum.Enum):
        return _canonical(obj.value)
    if isinstance(obj, Path):
        return obj.as_posix()
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        fields = {f.name: _canonical(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
        return {"__dataclass__": type(obj).__qualname__, "fields": fields}
    raise TypeError(f"content_hash cannot hash a {type(obj).__module__}.{type(obj).__qualname__}; "
                    "pass JSON-like data (dict, list, str, number, bool, None, numpy array)")


def _array(array: np.ndarray) -> Any:
    """Describe an array by dtype, shape and a digest of its little-endian C-order bytes."""
    if array.dtype.hasobject:
        return {"__object_array__": list(array.shape), "items": _canonical(array.tolist())}
    canonical_dtype = array.dtype.newbyteorder("<") if array.dtype.byteorder == ">" else array.dtype
    data = np.ascontiguousarray(array, dtype=canonical_dtype)
    return {"__ndarray__": canonical_dtype.str, "shape": list(data.shape),
            "sha256": hashlib.sha256(data.tobytes()).hexdigest()}


def _tensor(tensor: Any) -> Any:
    """A tensor hashes like the numpy array it converts to; other dtypes (bfloat16) by raw bytes."""
    tensor = tensor.detach().cpu().contiguous()
    try:
        return _array(tensor.numpy())
    except TypeError:
        import torch

        raw = tensor.reshape(-1).view(torch.uint8).numpy()
        return {"__tensor__": str(tensor.dtype), "shape": list(tensor.shape),
                "sha256": hashlib.sha256(raw.tobytes()).hexdigest()}


def _is_torch_tensor(obj: Any) -> bool:
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(obj, torch.Tensor)
