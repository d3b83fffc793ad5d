"""The steps of a run as library calls: analyze, group, compare, report, and ``run`` chaining them.

Each step reads only what the previous one wrote into the run directory, so any step can be rerun
alone; the CLI is a thin layer over these functions.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from .config import Config, load_config
from .rundir import open_existing, open_run, read_json, write_output
from .tasks import TaskSet

Progress = Callable[[int, int, dict[str, Any]], None]
ProgressFactory = Callable[[str], Progress]


def _no_progress(label: str) -> Progress | None:
    return None


def resolve_config(config: str | Path | Config) -> Config:
    return config if isinstance(config, Config) else load_config(config)


def load_data(cfg: Config) -> TaskSet:
    """The task set a configuration describes, validated."""
    from .data import load_taskset

    return load_taskset(cfg)


def analyze(config: str | Path | Config, out: str | Path, measures: list[str] | None = None,
            exhaustive: bool | None = None, executor: str = "inline", workers: int = 1, force: bool = False,
            address: str | None = None, progress: ProgressFactory = _no_progress) -> dict[str, Any]:
    """Measure task affinities and write ``OUT/affinity.json``; finished units are reused."""
    from .affinity.analyze import analyze as _analyze

    cfg = resolve_config(config)
    taskset = load_data(cfg)
    with open_run(out, cfg, taskset.fingerprint(), force=force) as store:
        doc = _analyze(cfg, taskset, store, measures, exhaustive, executor, workers, progress("analyze"), address)
        write_output(out, "affinity.json", doc)
    return doc


def group(directory: str | Path, max_groups: int | None = None, budget: float | None = None,
          partition: bool | None = None, measure: str | None = None) -> dict[str, Any]:
    """Propose groupings from ``DIR/affinity.json`` and write ``DIR/groupings.json``."""
    from .grouping import group as _group

    with open_existing(directory) as (cfg, _store):
        affinity = read_json(directory, "affinity.json", "group")
        g = cfg.group
        doc = _group(affinity,
                     max_groups=max_groups if max_groups is not None else g.max_groups,
                     budget=budget if budget is not None else g.budget,
                     partition=g.partition if partition is None else partition,
                     measure=measure or g.measure)
        write_output(directory, "groupings.json", doc)
    return doc
