"""The analyze step: run the chosen measures as resumable units and assemble ``affinity.json``.

Units: one joint measurement run (gradient cosine and lookahead), ``analyze.stability_runs`` more
at other seeds, and probe trainings in chunks (transfer gains and probe cosine). The measures come
from the main run; every run's measurements per window, and the probes' per seed, are kept in
``affinity.json["samples"]`` for the group step to resample (stability of the grouping). Each unit is keyed by a content hash of the data fingerprint,
the tasks, the settings it depends on and its seed, and is committed to the run store as soon as it
finishes, so a rerun reuses every finished unit.
"""

from __future__ import annotations

import itertools
from dataclasses import asdict
from typing import Any

import numpy as np

from ..config import AnalyzeConfig, Config, ModelConfig
from ..runtime.execution import INLINE, Execution
from ..runtime.device import choose_device, resolve_device
from ..scaling import analyze_measures
from ..runtime.executors import Unit, run_units
from ..runtime.hashing import content_hash
from ..runtime.progress import ProgressFn
from ..runtime.store import RunStore
from ..delta import Reference, compared_value, references, relative_change
from ..tasks import TaskSet
from .calibration import calibration_groups
from .matrix import AffinityMatrix, agreement
from .measures import JOINT, MEASURES, PROBES

JOINT_SETTINGS = ("steps", "batch_size", "rows_per_task", "lr", "every", "window", "phase", "chunk_size")
PROBE_SETTINGS = ("batch_size", "lr", "every", "probe_steps", "probe_width", "probe_eval_every", "probe_patience")
MAX_EXHAUSTIVE = 10


def joint_unit(args: dict[str, Any]) -> dict[str, Any]:
    """Unit function: one joint measurement run."""
    from ..runtime.device import resolve_device
    from .joint import joint_run

    return joint_run(args["taskset"], args["names"], AnalyzeConfig(**args["analyze"]), ModelConfig(**args["model"]),
                     seed=args["seed"], measures=tuple(args["measures"]), device=resolve_device(args.get("device", "cpu")))


def probe_unit(args: dict[str, Any]) -> dict[str, Any]:
    """Unit function: a chunk of probes trained together."""
    from ..runtime.device import resolve_device
    from .probes import ProbeSpec, train_probes

    specs = [ProbeSpec(tuple(t), s) for t, s in args["specs"]]
    records = train_probes(args["taskset"], specs, AnalyzeConfig(**args["analyze"]), ModelConfig(**args["model"]),
                           batched=args.get("batched", True), device=resolve_device(args.get("device", "cpu")))
    return {"records": records}


def stability_seeds(cfg: Config) -> list[int]:
    """Seeds of the extra joint runs whose measurements the stability of the grouping resamples."""
    return [cfg.seed + 1000 + k for k in range(cfg.analyze.stability_runs)]


def probe_specs(names: list[str], seeds: int, base_seed: int, exhaustive: bool) -> list[tuple[tuple[str, ...], int]]:
    """Singles and pairs (or every non-empty subset when exhaustive) for each seed."""
    if exhaustive:
        subsets = [c for k in range(1, len(names) + 1) for c in itertools.combinations(names, k)]
    else:
        subsets = [(n,) for n in names] + list(itertools.combinations(names, 2))
    return [(s, base_seed + k) for k in range(seeds) for s in subsets]


def plan_units(cfg: Config, taskset: TaskSet, measures: list[str], exhaustive: bool = False,
               batched: bool = True, chunk: int = 64, device: str | None = None) -> list[Unit]:
    """The units an analysis needs, each keyed by what its result depends on.

    Joint-run measures share one unit, transfer (and probe cosine) the probe units; a measure with
    its own unit function (see :mod:`.measures`) gets one unit that receives ``taskset``, ``names``,
    ``analyze``, ``model``, ``seed`` and ``measures`` and returns ``{measure: {"matrix": N x N,
    "stderr": N x N, "n": measurements}}``. ``device`` (default ``train.device``) is where they run;
    it is not part of any key.
    """
    names = taskset.task_names
    fp = taskset.fingerprint()
    a = asdict(cfg.analyze)
    model = asdict(cfg.model)
    units: list[Unit] = []
    joint_measures = [m for m in measures if MEASURES[m].target == JOINT]
    if joint_measures:
        settings = {k: a[k] for k in JOINT_SETTINGS}
        for seed in [cfg.seed, *stability_seeds(cfg)]:  # the main run, then the runs stability resamples
            key = content_hash({"kind": "joint", "lookahead": "optimizer-step", "data": fp, "tasks": names,
                                "settings": settings, "model": model, "seed": seed, "measures": sorted(joint_measures)})
            units.append(Unit(key, "joint", JOINT,
                              {"taskset": taskset, "names": names, "analyze": a, "model": model, "seed": seed,
                               "measures": joint_measures, "device": device or cfg.train.device}))
    if exhaustive or any(MEASURES[m].target == PROBES for m in measures):
        if exhaustive and len(names) > MAX_EXHAUSTIVE:
            from ..errors import ConfigError

            raise ConfigError(f"exhaustive mode trains every subset and allows at most {MAX_EXHAUSTIVE} tasks, "
                              f"not {len(names)}")
        specs = probe_specs(names, cfg.analyze.probe_seeds, cfg.seed, exhaustive)
        extra = [] if exhaustive else [(g, cfg.seed + k) for k in range(cfg.analyze.probe_seeds)
                                       for g in calibration_groups(names, cfg.analyze.calibration_groups, cfg.seed)]
        settings = {k: a[k] for k in PROBE_SETTINGS}
        # the calibration probes in chunks of their own, so the pairs' chunks keep their keys
        for part in [specs[s:s + chunk] for s in range(0, len(specs), chunk)] + \
                [extra[s:s + chunk] for s in range(0, len(extra), chunk)]:
            key = content_hash({"kind": "probes", "records": 3, "data": fp, "tasks": names, "settings": settings, "model": model,
                                "specs": [[list(t), seed] for t, seed in part]})
            units.append(Unit(key, "probes", PROBES,
                              {"taskset": taskset, "specs": [[list(t), seed] for t, seed in part], "analyze": a,
                               "model": model, "batched": batched, "device": device or cfg.train.device}))
    for target in dict.fromkeys(MEASURES[m].target for m in measures if MEASURES[m].target not in (JOINT, PROBES)):
        # any other measure: one unit per unit function, called with the same arguments as the joint run
        own = [m for m in measures if MEASURES[m].target == target]
        key = content_hash({"kind": "measure", "fn": target, "data": fp, "tasks": names, "analyze": a,
                            "model": model, "seed": cfg.seed, "measures": sorted(own)})
        units.append(Unit(key, "measure", target, {"taskset": taskset, "names": names, "analyze": a, "model": model,
                                                   "seed": cfg.seed, "measures": own}))
    return units


def transfer_matrices(records: list[dict[str, Any]], taskset: TaskSet) -> tuple[AffinityMatrix, AffinityMatrix]:
    """Pairwise transfer gain and probe cosine from single and pair probe records.

    gain[i][j] = relative change of task j's validation value in the pair (i, j) against j alone, per
    seed (:func:`taskgroup.delta.relative_change`: RMSE for regression, distance from chance for
    bounded metrics; 0 where j's single-task baseline is degenerate); mean and standard error over
    seeds.
    """
    names = taskset.task_names
    gains, cos = transfer_samples(records, taskset)
    return (AffinityMatrix("transfer", names, gains.mean(0), _stderr(gains)),
            AffinityMatrix("probe_cosine", names, cos.mean(0), _stderr(cos)))


def transfer_samples(records: list[dict[str, Any]], taskset: TaskSet) -> tuple[np.ndarray, np.ndarray]:
    """Per-seed pairwise transfer gains and probe cosines, each of shape (seeds, N, N)."""
    names = taskset.task_names
    idx = {n: i for i, n in enumerate(names)}
    N = len(names)
    refs = references(taskset)
    seeds = sorted({r["seed"] for r in records})
    single = {(r["tasks"][0], r["seed"]): r for r in records if len(r["tasks"]) == 1}
    gains = np.zeros((len(seeds), N, N))
    cos = np.tile(np.eye(N), (len(seeds), 1, 1))
    for r in records:
        if len(r["tasks"]) != 2:
            continue
        si = seeds.index(r["seed"])
        a, b = r["tasks"]
        for src, dst in ((a, b), (b, a)):
            gains[si, idx[src], idx[dst]] = probe_gain(refs[dst], dst, r, single[(dst, r["seed"])])
        cos[si, idx[a], idx[b]] = cos[si, idx[b], idx[a]] = r["cosine"][0][1]
    return gains, cos


def joint_samples(records: dict[str, Any], window: int) -> dict[str, list[np.ndarray]]:
    """One joint run's measurements per measured window: gradient cosine as measured, lookahead
    averaged over the ``window`` steps of each window (so both count the same measurements)."""
    out: dict[str, list[np.ndarray]] = {}
    if records.get("cosine"):
        out["gradient_cosine"] = [np.asarray(c, dtype=float) for c in records["cosine"]]
    look = [np.asarray(z, dtype=float) for z in records.get("lookahead") or []]
    if look:
        out["lookahead"] = [np.mean(look[i:i + window], 0) for i in range(0, len(look), window)]
    return out


def probe_gain(ref: Reference, task: str, record: dict[str, Any], alone: dict[str, Any]) -> float:
    """Relative change of ``task``'s validation value in probe ``record`` against its single probe ``alone``.

    0.0 (no evidence either way) when the single-task baseline is degenerate.
    """
    value = compared_value(ref, task, record["val"], record.get("val_rmse", {}))
    base = compared_value(ref, task, alone["val"], alone.get("val_rmse", {}))
    change = relative_change(value, base, ref)
    return 0.0 if change is None else change


def subset_scores(records: list[dict[str, Any]], taskset: TaskSet) -> list[dict[str, Any]]:
    """Every trained subset's per-task gain over training alone, averaged over seeds (exhaustive mode)."""
    refs = references(taskset)
    single = {(r["tasks"][0], r["seed"]): r for r in records if len(r["tasks"]) == 1}
    by_subset: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for r in records:
        by_subset.setdefault(tuple(r["tasks"]), []).append(r)
    out = []
    for subset, recs in by_subset.items():
        scores = {t: float(np.mean([probe_gain(refs[t], t, r, single[(t, r["seed"])]) for r in recs]))
                  for t in subset}
        val = {t: float(np.mean([r["val"][t] for r in recs])) for t in subset}
        out.append({"tasks": list(subset), "scores": {t: round(v, 8) for t, v in scores.items()},
                    "val": {t: round(v, 8) for t, v in val.items()}})
    return out


def _stderr(samples: np.ndarray) -> np.ndarray:
    if len(samples) < 2:
        return np.zeros(samples.shape[1:])
    return samples.std(0, ddof=1) / np.sqrt(len(samples))


def data_record(taskset: TaskSet) -> dict[str, Any]:
    """What a run document records about its data: fingerprint, name, and the row split's method and hash."""
    return {"fingerprint": taskset.fingerprint(), "name": taskset.name,
            "source": str(taskset.meta.get("source") or taskset.name), "split": taskset.split_method,
            "split_hash": taskset.split_hash()}


def task_info(taskset: TaskSet) -> list[dict[str, Any]]:
    counts = taskset.counts()
    return [{**t.to_dict(), "rows": counts[t.name]} for t in taskset.tasks]


def analyze(cfg: Config, taskset: TaskSet, store: RunStore | None, *, measures: list[str] | None = None,
            exhaustive: bool | None = None, execution: Execution = INLINE,
            progress: ProgressFn | None = None) -> dict[str, Any]:
    """Compute the measures and return the content of ``affinity.json``.

    ``progress`` defaults to ``execution``'s callback for the step ``"analyze"``.
    """
    measures = list(measures) if measures else analyze_measures(cfg, len(taskset.task_names), cfg.analyze.measures)
    exhaustive = cfg.analyze.exhaustive if exhaustive is None else exhaustive
    device = choose_device(execution.device, cfg.train.device)
    resolve_device(device)  # a device that is not there stops the step before any work
    units = plan_units(cfg, taskset, measures, exhaustive, device=device)
    results = run_units(units, store, execution, progress or execution.progress_for("analyze"))
    names = taskset.task_names
    found: dict[str, AffinityMatrix] = {}
    records: list[dict[str, Any]] = []
    samples: dict[str, list[list[np.ndarray]]] = {}  # measure -> runs -> measurements (for stability)
    for unit, res in zip(units, results):
        if unit.kind == "joint":
            for m, run in joint_samples(res.get("records") or {}, cfg.analyze.window_steps).items():
                samples.setdefault(m, []).append(run)
            if unit.args["seed"] != cfg.seed:
                continue  # a stability run: its measurements are resampled, never averaged in
        if unit.kind in ("joint", "measure"):  # {measure: {"matrix", "stderr", extras...}}
            for m in MEASURES:
                if MEASURES[m].target == unit.fn and m in res:
                    extra = {k: np.asarray(res[m][k]) for k in ("conflict_rate", "norm_ratio") if k in res[m]}
                    extra["measurements"] = res[m].get("n")
                    found[m] = AffinityMatrix(m, names, np.asarray(res[m]["matrix"]), np.asarray(res[m]["stderr"]), extra)
        else:
            records.extend(res["records"])
    doc: dict[str, Any] = {"schema": 1, "tasks": names, "task_info": task_info(taskset),
                           "data": data_record(taskset)}
    if records and "transfer" in measures:
        transfer, probe_cos = transfer_matrices(records, taskset)
        found["transfer"] = transfer
        found["probe_cosine"] = probe_cos
        gains, cos = transfer_samples(records, taskset)
        samples["transfer"], samples["probe_cosine"] = [list(gains)], [list(cos)]
    ordered = {m: found[m] for m in MEASURES if m in found}
    doc["measures"] = {m: a.to_dict() for m, a in ordered.items()}
    if cfg.analyze.stability_runs or cfg.group.stability_resamples:
        doc["samples"] = {m: {"runs": [[np.round(x, 6).tolist() for x in run] for run in runs]}
                          for m, runs in samples.items() if m in ordered}
    doc["agreement"] = agreement(ordered)
    if exhaustive and records:
        doc["subsets"] = subset_scores(records, taskset)
    elif any(len(r["tasks"]) >= 3 for r in records):  # calibration probes (grouping.calibration)
        doc["measured_groups"] = [s for s in subset_scores(records, taskset) if len(s["tasks"]) >= 3]
    doc["settings"] = {"analyze": asdict(cfg.analyze), "model": asdict(cfg.model), "seed": cfg.seed,
                       "measures": measures, "exhaustive": bool(exhaustive)}
    doc["versions"] = versions()
    return doc


def versions() -> dict[str, str]:
    """Software versions for the reproducibility section of the report."""
    import platform

    import numpy
    import scipy
    import sklearn
    import torch

    from .._version import __version__

    return {"taskgroup": __version__, "python": platform.python_version(), "torch": torch.__version__,
            "numpy": numpy.__version__, "scipy": scipy.__version__, "scikit-learn": sklearn.__version__}
