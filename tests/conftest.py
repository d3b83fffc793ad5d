"""Shared fixtures: the shared data folder (skipped when absent), a fixed seed, small files on disk."""

from __future__ import annotations

import json
import os
import random
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest
import torch

torch.set_num_threads(1)

#: the smallest experiment that runs every step: synthetic-small (4 tasks), tiny networks, few steps
TINY: dict[str, Any] = {
    "seed": 0,
    "data": {"builtin": "synthetic-small"},
    "model": {"hidden": [8]},
    "train": {"steps": 20, "eval_every": 10},
    "analyze": {"steps": 20, "every": 5, "window": 2, "probe_steps": 20, "probe_eval_every": 10, "probe_seeds": 1},
    "compare": {"seeds": 1, "random_groupings": 0, "alternatives": ["recommended", "single_task"]},
}


def tiny_toml(**sections: dict[str, Any]) -> str:
    """The TOML text of :data:`TINY`, each section updated by ``sections`` (``train={"steps": 30}``)."""
    doc = {k: (dict(v) if isinstance(v, dict) else v) for k, v in TINY.items()}
    for name, values in sections.items():
        doc.setdefault(name, {}).update(values)
    lines = [f"{k} = {json.dumps(v)}" for k, v in doc.items() if not isinstance(v, dict)]
    for name, values in doc.items():
        if isinstance(values, dict):
            lines.append(f"[{name}]")
            lines += [f"{k} = {json.dumps(v)}" for k, v in values.items()]
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="session")
def tiny_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """:data:`TINY` written once per session; tests read it, never change it."""
    path = tmp_path_factory.mktemp("tiny") / "config.toml"
    path.write_text(tiny_toml(), encoding="utf-8")
    return path


@pytest.fixture(name="tiny_toml")
def tiny_toml_fixture() -> Callable[..., str]:
    """:func:`tiny_toml`, for a test that needs a variant of the tiny experiment."""
    return tiny_toml


def shared_path() -> Path:
    """``$TASKGROUP_SHARED`` if set, else the ``shared`` folder beside the checkout."""
    env = os.environ.get("TASKGROUP_SHARED")
    return Path(env) if env else Path(__file__).resolve().parents[1].parent / "shared"


@pytest.fixture
def shared_dir() -> Path:
    """The shared folder (holding ``data/``); the test is skipped with a reason when it is absent."""
    path = shared_path()
    if not (path / "data").is_dir():
        pytest.skip(f"shared data folder {path / 'data'} is absent (set TASKGROUP_SHARED to use another)")
    return path


@pytest.fixture
def seed() -> int:
    """Seed Python, NumPy and torch with 0 and return it."""
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)
    return 0


@pytest.fixture
def write_file(tmp_path: Path) -> Callable[[str, str | bytes], Path]:
    """``write_file(name, text_or_bytes)`` writes a file under ``tmp_path`` and returns its path."""

    def write(name: str, content: str | bytes) -> Path:
        path = tmp_path / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        return path

    return write


@pytest.fixture
def tiny_taskset():
    """Three tasks, each with its own rows: a seeded synthetic set small enough for unit tests."""
    from taskgroup.data.synthetic import synthetic

    return synthetic(n_clusters=1, tasks_per_cluster=3, rows_per_task=40, n_features=4, seed=0)
