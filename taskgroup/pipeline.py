"""The steps of a run as library calls: analyze, group, compare, report, and ``run`` chaining them.

Each step reads only what the previous one wrote into the run directory, so any step can be rerun
alone; the CLI is a thin layer over these functions.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .config import Config, load_config
from .errors import RunDirError, TaskgroupError
from .runtime.execution import INLINE, Execution
from .runtime.documents import AffinityDoc, ComparisonDoc, GroupingsDoc
from .preflight import preflight
from .provenance import analyze_inputs, data_inputs, require_current, require_fresh_documents, upstream_inputs
from .runtime.documents import check_same_tasks
from .runtime.ownership import claim, is_run_dir, record, stale as stale_outputs
from .runtime.rundir import (FILES, locked, open_existing, open_run, prepare_out, read_document, read_optional,
                             write_document)
from .tasks import TaskSet


def resolve_config(config: str | Path | Config | None) -> Config:
    """A configuration from a file, as given, or the defaults (None: for data given from Python)."""
    if config is None:
        return Config()
    return config if isinstance(config, Config) else load_config(config)


def load_data(cfg: Config, *, step: bool = True) -> TaskSet:
    """The task set a configuration describes, validated (a user encoder's import path included);
    ``step=False`` for ``check``, which warns about a single task instead of refusing it."""
    from .data import load_taskset

    taskset = load_taskset(cfg)
    check_encoder(cfg)
    preflight(cfg, taskset, step=step)
    return taskset


def resolve_data(cfg: Config, data: TaskSet | None) -> tuple[Config, TaskSet]:
    """The configuration and task set of a step: from ``[data]``, or ``data`` given from Python.

    With ``data``, the configuration records where it came from (``data.origin``), so later steps
    know to ask for it again; its fingerprint is checked against the one ``analyze`` recorded.
    """
    if data is None:
        return cfg, load_data(cfg)
    from dataclasses import replace

    from .data.load import taskset_for_config

    origin = str(getattr(data, "meta", {}).get("origin") or "TaskSet")
    taskset = taskset_for_config(data, replace(cfg, data=replace(cfg.data, origin=None)))
    check_encoder(cfg)
    preflight(cfg, taskset)
    return replace(cfg, data=replace(cfg.data, origin=origin)), taskset


def check_same_data(directory: str | Path, taskset: TaskSet) -> None:
    """Refuse data whose fingerprint differs from the one recorded by ``analyze`` in DIR/affinity.json."""
    from .errors import DataError

    affinity = read_optional(directory, AffinityDoc)
    if affinity is None:
        return
    recorded = affinity.data
    fp = recorded.fingerprint
    if fp and fp != taskset.fingerprint():
        raise DataError(f"{directory}: the data differ from those analyze measured ({recorded.source or '?'}, "
                        f"fingerprint {fp}; now {taskset.fingerprint()}); rerun analyze with --force on these data")


def check_encoder(cfg: Config) -> None:
    """Import a user encoder named by ``model.encoder`` now, so a bad path fails before any work."""
    from .errors import ConfigError
    from .registry import import_object

    spec = cfg.model.encoder
    if ":" not in spec:  # a built-in encoder or auto (the config checked the name)
        return
    try:
        factory = import_object(spec, "encoder")
    except TaskgroupError as exc:
        raise ConfigError(f"{cfg.source}: model.{exc}") from None
    if not callable(factory):
        raise ConfigError(f"{cfg.source}: model.encoder {spec!r} is not callable")


def analyze(config: str | Path | Config | None, out: str | Path, *, measures: list[str] | None = None,
            exhaustive: bool | None = None, force: bool = False, data: TaskSet | None = None,
            execution: Execution = INLINE) -> AffinityDoc:
    """Measure task affinities and write ``OUT/affinity.json``; finished units are reused.

    ``force`` reuses an ``out`` that belongs to another configuration (its results are dropped).
    ``data``: a :class:`TaskSet` built in Python, in place of the configuration's ``[data]``.
    """
    from .affinity.analyze import analyze as _analyze

    cfg, taskset = resolve_data(resolve_config(config), data)
    fp = taskset.fingerprint()
    with open_run(out, cfg, fp, force=force) as store:
        raw = _analyze(cfg, taskset, store, measures=measures, exhaustive=exhaustive, execution=execution)
        doc = AffinityDoc.from_json(raw)
        write_document(out, doc, "analyze", analyze_inputs(out, cfg, fp))
    return doc


def group(directory: str | Path, *, max_groups: int | None = None, budget: float | None = None,
          partition: bool | None = None, measure: str | None = None) -> GroupingsDoc:
    """Propose groupings from ``DIR/affinity.json`` and write ``DIR/groupings.json`` (the candidates
    of every informative measure; :mod:`.grouping.proposals`)."""
    from .grouping.proposals import group_all as _group
    from .grouping.stability import group_with_stability

    with open_existing(directory) as (cfg, _store):
        affinity = read_document(directory, AffinityDoc, "group")
        taskset = None if cfg.data.origin else load_data(cfg)  # data given from Python: not at hand here
        if taskset is not None:
            check_same_data(directory, taskset)
        require_current(directory, taskset, affinity, AffinityDoc.FILE)
        g = cfg.group
        raw = group_with_stability(affinity.to_json(), _group, g.stability_resamples,
                                   max_groups=max_groups if max_groups is not None else g.max_groups,
                                   budget=budget if budget is not None else g.budget,
                                   partition=g.partition if partition is None else partition,
                                   measure=measure or g.measure,
                                   seed=cfg.seed)
        doc = GroupingsDoc.from_json(raw)
        write_document(directory, doc, "group", upstream_inputs(directory, AffinityDoc.FILE))
    return doc


def compare(directory: str | Path, *, seeds: int | None = None, data: TaskSet | None = None,
            execution: Execution = INLINE) -> ComparisonDoc:
    """Train the groupings and alternatives, write ``DIR/comparison.json`` and ``DIR/models/``.

    ``data``: the task set given to ``analyze`` from Python (its fingerprint must match).
    """
    from .comparison.compare import compare as _compare
    from .comparison.deliver import MODELS, save_models

    with open_existing(directory) as (cfg, store):
        groupings = read_document(directory, GroupingsDoc, "compare")
        affinity = read_optional(directory, AffinityDoc)
        cfg, taskset = resolve_data(cfg, data)
        check_same_data(directory, taskset)
        require_current(directory, taskset, affinity, AffinityDoc.FILE, GroupingsDoc.FILE)
        check_same_tasks(groupings.tasks, taskset.task_names, f"{Path(directory) / GroupingsDoc.FILE}: tasks",
                         "the run's data")
        doc = _compare(cfg, taskset, groupings, store, affinity=affinity, seeds=seeds, execution=execution)
        inputs = {**upstream_inputs(directory, AffinityDoc.FILE, GroupingsDoc.FILE),
                  **data_inputs(cfg, taskset.fingerprint())}
        claim(directory, MODELS)
        save_models(directory, doc, store, taskset, cfg.model)
        record(directory, MODELS, "compare", inputs)
        write_document(directory, doc, "compare", inputs)
    return doc


def report(directory: str | Path) -> dict[str, Path]:
    """Render ``report.html``, ``report.md`` and ``figures/`` from the files in DIR alone.

    Holds the directory's lock, and refuses when a document present is stale.
    """
    from .reporting import render_report

    d = Path(directory)
    if not is_run_dir(d):
        raise RunDirError(f"{d}: not a taskgroup run directory; run 'taskgroup run CONFIG --out {d}' first")
    with locked(d):
        require_fresh_documents(d)
        paths = render_report(d)
        inputs = upstream_inputs(d, *FILES)
        for key in ("html", "markdown"):
            record(d, paths[key].name, "report", inputs)
    return paths


def run(config: str | Path | Config | None, out: str | Path, *, force: bool = False, max_groups: int | None = None,
        budget: float | None = None, seeds: int | None = None, data: TaskSet | None = None,
        track: str | None = None, execution: Execution = INLINE) -> dict[str, Any]:
    """analyze, group, compare and report in one go; every step resumes from the store.

    ``data``: a :class:`TaskSet` built in Python, in place of the configuration's ``[data]``.
    ``track``: an MLflow tracking URI (``""`` for ``./mlruns``) to log the finished run to, in place
    of ``[track] mlflow``; the MLflow run id is returned under ``"mlflow_run"``.
    """
    cfg = resolve_config(config)
    resolve_data(cfg, data)  # bad input is refused before the folder is created
    with locked(prepare_out(out)):  # no other process slips in between the steps
        analyze(cfg, out, force=force, data=data, execution=execution)
        group(out, max_groups=max_groups, budget=budget)
        compare(out, seeds=seeds, data=data, execution=execution)
        paths: dict[str, Any] = dict(report(out))
    uri = track if track is not None else cfg.track.mlflow
    if uri is not None:
        from .tracking import log_run

        paths["mlflow_run"] = log_run(out, uri or None)
    return paths


def status(directory: str | Path, *, data: TaskSet | None = None) -> dict[str, Any]:
    """What a run directory holds: finished units by kind, time spent, steps done, units left.

    Reads only (no lock), so it can watch a run in progress. ``left`` maps ``analyze`` (and
    ``compare`` once ``groupings.json`` exists) to ``{"total": n, "done": k}`` over the units that
    step plans from the saved configuration; it is empty when the data cannot be loaded (pass
    ``data`` for a run whose task set was given from Python).
    """
    from .runtime.store import RunStore
    from .runtime.rundir import FILES, STORE

    d = Path(directory)
    if not (d / STORE).is_file():
        from .errors import RunDirError

        raise RunDirError(f"{d}: not a run directory (no {STORE})")
    with RunStore(d / STORE, create=False) as store:
        summary = store.summary()
        left, fingerprint = _planned(d, store, data)
    steps = {name.split(".")[0]: (d / name).is_file() for name in (*FILES, "report.html")}
    seconds = sum(row["seconds"] for row in summary.values())
    stale = {name.split(".")[0]: s.hint(d) for name, s in stale_outputs(d, fingerprint).items()}
    return {"units": summary, "steps": steps, "left": left, "seconds": seconds, "stale": stale}


def _planned(d: Path, store: Any, data: TaskSet | None = None) -> tuple[dict[str, dict[str, int]], str | None]:
    """Units each step plans from the saved config, and how many of them the store holds."""
    from .affinity.analyze import plan_units
    from .comparison.compare import network_key, plan
    from .runtime.rundir import CONFIG, load_run_config
    from .scaling import analyze_measures

    if not (d / CONFIG).is_file():
        return {}, None
    out: dict[str, dict[str, int]] = {}
    fp = None
    try:
        cfg, taskset = resolve_data(load_run_config(d), data)
        fp = taskset.fingerprint()
        affinity = read_optional(d, AffinityDoc)
        settings = affinity.settings if affinity is not None else {}
        measures = settings.get("measures") or analyze_measures(cfg, len(taskset.task_names), cfg.analyze.measures)
        exhaustive = bool(settings.get("exhaustive", cfg.analyze.exhaustive))
        keys = {u.key for u in plan_units(cfg, taskset, list(measures), exhaustive)}
        out["analyze"] = {"total": len(keys), "done": sum(store.has(k) for k in keys)}
        groupings = read_optional(d, GroupingsDoc)
        if groupings is not None:
            comparison = read_optional(d, ComparisonDoc)
            seeds = len(comparison.seeds) if comparison is not None and comparison.seeds else None
            _alts, specs, _seeds = plan(cfg, taskset, groupings, affinity, seeds)
            keys = {network_key(fp, sp, cfg) for sp in specs}
            out["compare"] = {"total": len(keys), "done": sum(store.has(k) for k in keys)}
    except (TaskgroupError, KeyError, TypeError, ValueError):
        pass  # a status display: show what could be worked out
    return out, fp
