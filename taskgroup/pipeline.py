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


def compare(directory: str | Path, seeds: int | None = None, executor: str = "inline", workers: int = 1,
            address: str | None = None, progress: ProgressFactory = _no_progress) -> dict[str, Any]:
    """Train the groupings and alternatives, write ``DIR/comparison.json`` and ``DIR/models/``."""
    from .compare import compare as _compare
    from .deliver import save_models

    with open_existing(directory) as (cfg, store):
        groupings = read_json(directory, "groupings.json", "compare")
        affinity_path = Path(directory) / "affinity.json"
        affinity = read_json(directory, "affinity.json", "compare") if affinity_path.is_file() else None
        taskset = load_data(cfg)
        doc = _compare(cfg, taskset, groupings, store, affinity, seeds, executor, workers, progress("compare"), address)
        save_models(directory, doc, store, taskset, cfg.model)
        write_output(directory, "comparison.json", doc)
    return doc


def report(directory: str | Path) -> dict[str, Path]:
    """Render ``report.html``, ``report.md`` and ``figures/`` from the files in DIR alone."""
    from .report import render_report

    return render_report(directory)


def run(config: str | Path | Config, out: str | Path, executor: str = "inline", workers: int = 1,
        force: bool = False, address: str | None = None, max_groups: int | None = None,
        budget: float | None = None, seeds: int | None = None,
        progress: ProgressFactory = _no_progress) -> dict[str, Path]:
    """analyze, group, compare and report in one go; every step resumes from the store."""
    cfg = resolve_config(config)
    analyze(cfg, out, executor=executor, workers=workers, force=force, address=address, progress=progress)
    group(out, max_groups=max_groups, budget=budget)
    compare(out, seeds=seeds, executor=executor, workers=workers, address=address, progress=progress)
    return report(out)


def status(directory: str | Path) -> dict[str, Any]:
    """What a run directory holds: finished units by kind, time spent, and which steps are done."""
    from .store import RunStore
    from .rundir import FILES, STORE

    d = Path(directory)
    if not (d / STORE).is_file():
        from .errors import RunDirError

        raise RunDirError(f"{d}: not a run directory (no {STORE})")
    with RunStore(d / STORE, create=False) as store:
        summary = store.summary()
    steps = {name.split(".")[0]: (d / name).is_file() for name in (*FILES, "report.html")}
    return {"units": summary, "steps": steps}
