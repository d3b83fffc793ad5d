"""Toy unit functions for the store and executor tests: top-level, picklable, importable by workers.

Each takes the unit's ``args`` dict and returns a JSON-able dict, like the real units (probes, joint
runs, networks). Side effects go to files named in ``args`` so a test can count what actually ran.
Heavy imports (torch) happen inside the functions that need them, to keep worker start-up cheap.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from taskgroup.errors import TrainingError


def _log(args: dict[str, Any], line: str) -> None:
    """Append one line to ``args["log"]`` (O_APPEND: safe with several writers)."""
    if args.get("log"):
        with open(args["log"], "a", encoding="utf-8") as handle:
            handle.write(line + "\n")


def seeded(args: dict[str, Any]) -> dict[str, Any]:
    """Draw from numpy and torch generators seeded from ``args["seed"]``; a tiny model's loss."""
    import torch

    rng = np.random.default_rng(args["seed"])
    x = rng.normal(size=(32, 4))
    generator = torch.Generator().manual_seed(int(args["seed"]))
    weight = torch.randn(4, 3, generator=generator, dtype=torch.float64)
    out = torch.from_numpy(x) @ weight
    loss = torch.nn.functional.softplus(out).mean()
    return {"seed": args["seed"], "numpy": x[:2, 0].tolist(), "torch": weight[0].tolist(),
            "loss": float(loss), "threads": torch.get_num_threads()}


def square(args: dict[str, Any]) -> dict[str, Any]:
    """Cheap arithmetic; logs its index so tests can count runs."""
    time.sleep(float(args.get("sleep", 0.0)))
    _log(args, str(args["i"]))
    return {"i": args["i"], "square": args["i"] ** 2}


def with_blob(args: dict[str, Any]) -> dict[str, Any]:
    """A payload with a blob, as a trained network returns its state dict bytes."""
    return {"n": args["n"], "blob": bytes(range(args["n"]))}


def dies_once(args: dict[str, Any]) -> dict[str, Any]:
    """Kill its worker process the first time (a marker file remembers), succeed afterwards."""
    marker = Path(args["marker"])
    if not marker.exists():
        marker.write_text("died\n")
        os._exit(1)
    _log(args, str(args["i"]))
    return {"i": args["i"], "survived": True}


def always_dies(args: dict[str, Any]) -> dict[str, Any]:
    """Kill its worker process every time (a unit that runs out of memory, say)."""
    _log(args, "died")
    os._exit(1)


def diverges(args: dict[str, Any]) -> dict[str, Any]:
    """Fail the way training does when a loss turns NaN."""
    time.sleep(float(args.get("sleep", 0.0)))
    raise TrainingError(f"loss of task {args['task']!r} became NaN at step {args['step']}")


def not_a_dict(args: dict[str, Any]) -> list[int]:
    """A broken unit function: returns a list instead of a dict."""
    return [1, 2, 3]


def toy_measure(args: dict[str, Any]) -> dict[str, Any]:
    """A measure with its own unit function: affinity 1 between tasks whose names share a first letter."""
    names = args["names"]
    matrix = [[1.0 if a[0] == b[0] else 0.0 for b in names] for a in names]
    return {m: {"matrix": matrix, "stderr": [[0.0] * len(names) for _ in names], "n": 1} for m in args["measures"]}
