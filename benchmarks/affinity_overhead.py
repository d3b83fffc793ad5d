"""Cost and fidelity of the one-run affinities (issue 3).

On the built-in synthetic data with 10 tasks (2 planted clusters x 5 tasks, own rows per task):

- ``ratio``: a joint training that measures gradient cosine and lookahead on the default schedule
  (``[analyze]`` defaults: every, window, phase, steps) over the same training without measurement
  (``joint_run(measures=())``); median over ``--repeats`` interleaved runs.
- ``vs_probes``: the full pairwise probe set at the same data (singles and pairs, the default probe
  seeds, width, steps and early stopping, batched in chunks of 64 as ``analyze`` plans them) over the
  one measured run; with ``--sequential-probes`` also ``vs_sequential_probes``, the same probes
  trained one network at a time (the anchors' way) over the one run.
- ``rank_agreement``: per measure, the Spearman correlation over off-diagonal entries between the
  default schedule's matrix and a reference that measures at every step of the same phase and
  accumulates over all of it, averaged over ``--seeds`` training seeds (see
  :func:`reference_agreement`); with the reference's own seed-to-seed agreement as its ceiling.

``--explore`` also runs a grid of schedules and prints one JSON line per schedule with its ratio and
rank agreement (against the every-step reference with the same steps and phase).
"""

from __future__ import annotations

import json
import statistics
from dataclasses import asdict, replace
from typing import Any, Sequence

from ._common import (Timer, base_parser, emit, load, machine, peak_rss_mb, set_threads, spearman_offdiag,
                      warm_up)

TARGETS = {"ratio": 1.25, "vs_probes": 20.0, "rank_agreement": 0.9}
MEASURES = ("gradient_cosine", "lookahead")


def _timed_joint(taskset, names, cfg, model, seed: int, measures: tuple[str, ...]) -> tuple[float, dict[str, Any]]:
    from taskgroup.affinity.joint import joint_run

    with Timer() as t:
        res = joint_run(taskset, names, cfg, model, seed=seed, measures=measures, keep_records=False)
    return t.seconds, res


def agreement(taskset, names, cfg, model, seed: int, default: dict[str, Any] | None = None,
              reference: dict[str, Any] | None = None) -> tuple[dict[str, float], dict[str, Any], dict[str, Any]]:
    """Spearman per measure between ``cfg``'s matrices and every-step measurement, same seed."""
    if default is None:
        _, default = _timed_joint(taskset, names, cfg, model, seed, MEASURES)
    if reference is None:
        _, reference = _timed_joint(taskset, names, replace(cfg, every=1, window=1), model, seed, MEASURES)
    rho = {m: spearman_offdiag(default[m]["matrix"], reference[m]["matrix"]) for m in MEASURES}
    return rho, default, reference


def reference_agreement(taskset, names, cfg, model, seeds: Sequence[int],
                        first: dict[str, Any] | None = None) -> dict[str, Any]:
    """Rank agreement of the default schedule with a reference that is not noisier than what it judges.

    The reference measures at every step of the same measured phase and accumulates over all of it
    (gradients summed over the whole phase before their cosine; lookahead averaged over every step),
    once per seed in ``seeds``, and averages the seeds' matrices. Reported per measure: Spearman
    (off-diagonal) of each seed's default-schedule matrix with that mean reference (``rank_agreement``,
    mean over seeds), the same with the reference built from the other seeds only
    (``rank_agreement_other_seeds``), and the reference's own seed-to-seed agreement (mean over
    pairs of seeds), the ceiling any single run can reach against it. ``first``: the first seed's
    default-schedule result when already measured.
    """
    import numpy as np

    phase_steps = int(cfg.steps * cfg.phase)
    ref_cfg = replace(cfg, every=phase_steps, window=phase_steps)
    default = {s: first if (k == 0 and first) else _timed_joint(taskset, names, cfg, model, s, MEASURES)[1]
               for k, s in enumerate(seeds)}
    refs = {s: _timed_joint(taskset, names, ref_cfg, model, s, MEASURES)[1] for s in seeds}
    out: dict[str, Any] = {"reference": {"every": ref_cfg.every, "window": ref_cfg.window, "seeds": list(seeds),
                                         "accumulated": "gradients summed over the phase; lookahead mean of every step"},
                           "rank_seeds": list(seeds)}
    per_seed: dict[str, list[float]] = {}
    others: dict[str, list[float]] = {}
    ceiling: dict[str, list[float]] = {}
    for m in MEASURES:
        mats = {s: np.asarray(refs[s][m]["matrix"]) for s in seeds}
        mean_ref = np.mean(list(mats.values()), axis=0)
        per_seed[m] = [spearman_offdiag(default[s][m]["matrix"], mean_ref) for s in seeds]
        if len(seeds) > 1:
            others[m] = [spearman_offdiag(default[s][m]["matrix"], np.mean([mats[o] for o in seeds if o != s], axis=0))
                         for s in seeds]
            ceiling[m] = [spearman_offdiag(mats[a], mats[b]) for i, a in enumerate(seeds) for b in seeds[i + 1:]]

    def summary(values: dict[str, list[float]]) -> dict[str, float]:
        mean = {m: statistics.fmean(v) for m, v in values.items()}
        return {**mean, "min": min(mean.values())}

    out["rank_agreement"] = summary(per_seed)
    out["rank_agreement_per_seed"] = per_seed
    if ceiling:
        out["rank_agreement_other_seeds"] = summary(others)
        out["reference_ceiling"] = summary(ceiling)
        out["reference_ceiling_pairs"] = ceiling
    return out


def _probe_seconds(taskset, cfg, model, seed: int, batched: bool = True) -> float:
    """Seconds to train the full pairwise probe set at ``cfg``'s probe settings, as ``analyze`` does."""
    from taskgroup.affinity.analyze import probe_specs
    from taskgroup.affinity.probes import ProbeSpec, train_probes

    specs = [ProbeSpec(t, s) for t, s in probe_specs(taskset.task_names, cfg.probe_seeds, seed, False)]
    with Timer() as t:
        train_probes(taskset, specs, cfg, model, batched=batched, max_stack=64)
    return t.seconds


def run(clusters: int = 2, per_cluster: int = 5, rows: int = 300, seeds: Sequence[int] = (0,), repeats: int = 3,
        probes: bool = True, overrides: dict[str, Any] | None = None, sequential_probes: bool = False) -> dict[str, Any]:
    """Measure ratio, vs_probes and rank agreement; see the module docstring."""
    from taskgroup.affinity.analyze import probe_specs, transfer_matrices
    from taskgroup.affinity.probes import ProbeSpec, train_probes
    from taskgroup.config import AnalyzeConfig, ModelConfig

    data_seed = seeds[0]
    taskset = load("synthetic", {"n_clusters": clusters, "tasks_per_cluster": per_cluster,
                                 "rows_per_task": rows, "seed": data_seed}, seed=data_seed)
    names = taskset.task_names
    cfg = replace(AnalyzeConfig(), **(overrides or {}))
    model = ModelConfig()
    warm_up(taskset)

    plain_s, measured_s = [], []
    measured: dict[str, Any] = {}
    for r in range(repeats):  # interleaved, alternating order, so that load drift hits both alike
        order = (False, True) if r % 2 == 0 else (True, False)
        for with_measures in order:
            secs, res = _timed_joint(taskset, names, cfg, model, data_seed, MEASURES if with_measures else ())
            (measured_s if with_measures else plain_s).append(secs)
            if with_measures:
                measured = res
    plain, meas = statistics.median(plain_s), statistics.median(measured_s)

    fidelity = reference_agreement(taskset, names, cfg, model, seeds, first=measured)
    out: dict[str, Any] = {
        "benchmark": "affinity_overhead", "tasks": len(names),
        "schedule": {k: getattr(cfg, k) for k in ("steps", "every", "window", "phase", "batch_size", "lr")},
        "measured_steps": measured["gradient_cosine"]["n"] * cfg.window if measured else None,
        "plain_s": plain, "measured_s": meas, "plain_runs_s": plain_s, "measured_runs_s": measured_s,
        "ratio": meas / plain, "ratio_target": f"<= {TARGETS['ratio']:g}", "ratio_pass": meas / plain <= TARGETS["ratio"],
        **fidelity, "rank_target": f">= {TARGETS['rank_agreement']:g}",
        "rank_pass": fidelity["rank_agreement"]["min"] >= TARGETS["rank_agreement"],
    }
    if probes:
        specs = [ProbeSpec(t, s) for t, s in probe_specs(names, cfg.probe_seeds, data_seed, False)]
        with Timer() as tp:
            records = train_probes(taskset, specs, cfg, model, batched=True, max_stack=64)
        transfer, probe_cos = transfer_matrices(records, taskset)
        out.update({
            "probes": len(specs), "probe_seeds": cfg.probe_seeds, "probe_steps": cfg.probe_steps,
            "probes_s": tp.seconds, "vs_probes": tp.seconds / meas,
            "vs_probes_target": f">= {TARGETS['vs_probes']:g}", "vs_probes_pass": tp.seconds / meas >= TARGETS["vs_probes"],
            "spearman_vs_transfer": {m: spearman_offdiag(measured[m]["matrix"], transfer.matrix) for m in MEASURES}
            | {"probe_cosine": spearman_offdiag(probe_cos.matrix, transfer.matrix)},
        })
    if sequential_probes:
        seq = _probe_seconds(taskset, cfg, model, data_seed, batched=False)
        out.update({"sequential_probes_s": seq, "vs_sequential_probes": seq / meas})
    out["pass"] = bool(out["ratio_pass"] and out["rank_pass"] and out.get("vs_probes_pass", True))
    out["peak_rss_mb"] = peak_rss_mb()
    out["machine"] = machine()
    return out


GRID: tuple[dict[str, Any], ...] = (
    {}, {"every": 5, "window": 5}, {"every": 2, "window": 1}, {"every": 20, "window": 10}, {"window": 10},
    {"phase": 0.25}, {"phase": 1.0}, {"steps": 100}, {"steps": 100, "every": 5, "window": 5}, {"steps": 60},
)


def explore(clusters: int = 2, per_cluster: int = 5, rows: int = 300, seeds: Sequence[int] = (0, 1, 2),
            grid: Sequence[dict[str, Any]] = GRID) -> list[dict[str, Any]]:
    """Ratio and rank agreement for each schedule in ``grid``, over ``seeds`` (one timing per seed).

    Each schedule is compared with measuring at every step at the same steps and phase and seed;
    the plain training time is taken once per (seed, steps).
    """
    from taskgroup.config import AnalyzeConfig, ModelConfig

    taskset = load("synthetic", {"n_clusters": clusters, "tasks_per_cluster": per_cluster,
                                 "rows_per_task": rows, "seed": seeds[0]}, seed=seeds[0])
    names = taskset.task_names
    model = ModelConfig()
    warm_up(taskset)
    probes_s = _probe_seconds(taskset, AnalyzeConfig(), model, seeds[0])
    plain: dict[tuple[int, int], float] = {}
    refs: dict[tuple[int, str], dict[str, Any]] = {}
    out = []
    for change in grid:
        cfg = replace(AnalyzeConfig(), **change)
        ratios: list[float] = []
        rhos: dict[str, list[float]] = {m: [] for m in MEASURES}
        secs: list[float] = []
        for seed in seeds:
            if (seed, cfg.steps) not in plain:
                plain[seed, cfg.steps], _ = _timed_joint(taskset, names, cfg, model, seed, ())
            t, res = _timed_joint(taskset, names, cfg, model, seed, MEASURES)
            key = (seed, json.dumps({k: v for k, v in asdict(cfg).items() if k not in ("every", "window")},
                                    sort_keys=True))
            if key not in refs:
                _, refs[key] = _timed_joint(taskset, names, replace(cfg, every=1, window=1), model, seed, MEASURES)
            rho, _, _ = agreement(taskset, names, cfg, model, seed, default=res, reference=refs[key])
            ratios.append(t / plain[seed, cfg.steps])
            secs.append(t)
            for m in MEASURES:
                rhos[m].append(rho[m])
        rank = {m: statistics.fmean(v) for m, v in rhos.items()}
        rec = {"benchmark": "affinity_schedule", "change": change,
               "schedule": {k: getattr(cfg, k) for k in ("steps", "every", "window", "phase")},
               "measured_s": statistics.median(secs), "ratio": statistics.median(ratios), "ratios": ratios,
               "vs_probes": probes_s / statistics.median(secs),
               "rank_agreement": {**rank, "min": min(rank.values())}, "rank_per_seed": rhos,
               "meets": statistics.median(ratios) <= TARGETS["ratio"] and min(rank.values()) >= TARGETS["rank_agreement"]}
        emit(rec)
        out.append(rec)
    return out


def main(argv: Sequence[str] | None = None) -> None:
    p = base_parser(__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=3, help="interleaved timing repeats (median taken)")
    p.add_argument("--seeds", type=int, default=5, help="seeds of the fidelity reference and the rank agreement")
    p.add_argument("--no-probes", action="store_true", help="skip the pairwise probe timing")
    p.add_argument("--sequential-probes", action="store_true",
                   help="also time the probe set one network at a time (the anchors' way; minutes)")
    p.add_argument("--explore", action="store_true", help="also run a grid of measurement schedules")
    p.add_argument("--explore-only", action="store_true", help="only the grid of measurement schedules")
    p.add_argument("--grid", default=None, help='schedules to explore as JSON, e.g. \'[{"steps": 100}]\'')
    a = p.parse_args(argv)
    set_threads(a.threads)
    if a.smoke:
        emit(run(clusters=2, per_cluster=2, rows=40, seeds=(0, 1), repeats=1, probes=not a.no_probes,
                 overrides={"steps": 20, "every": 5, "window": 2, "probe_steps": 10, "probe_seeds": 1},
                 sequential_probes=a.sequential_probes))
        return
    grid = tuple(json.loads(a.grid)) if a.grid else GRID
    if a.explore_only:
        explore(seeds=tuple(range(a.seeds)), grid=grid)
        return
    emit(run(seeds=tuple(range(a.seeds)), repeats=a.repeats, probes=not a.no_probes,
             sequential_probes=a.sequential_probes))
    if a.explore:
        explore(seeds=tuple(range(a.seeds)), grid=grid)


if __name__ == "__main__":
    main()
