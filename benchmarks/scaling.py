"""Scaling with the number of tasks: one-run affinities, pairwise probes and selection, N = 5..40.

The built-in synthetic data with N/5 planted clusters of 5 tasks (300 own rows per task). For each N:
the one-run affinities (``joint_run`` on the ``[analyze]`` defaults, both measures), every single and
pair probe (N + N(N-1)/2 probes, one seed, batched in chunks of 64 as ``analyze`` plans them;
``--probe-steps`` steps with early stopping off, so every N does the same steps: the probe time at
the defaults scales with it; beyond ``--max-chunks`` chunks only the first ones are trained and the
time is extrapolated by probe count, which the output says), and ``group`` (proposals and exact selection) from the lookahead matrix
(TAG's group score) and from the pairwise gains (HOA). The growth exponent b of time ~ N^b is fitted
by least squares over log-log points.
"""

from __future__ import annotations

import itertools
from dataclasses import replace
from typing import Any, Sequence

from ._common import (Timer, base_parser, emit, grouping_api, growth_exponent, load, machine, peak_rss_mb,
                      set_threads, warm_up)

SIZES = (5, 10, 20, 40)
PROBE_STEPS = 50
CHUNK = 64  #: probes per stacked network, as ``analyze`` plans them
MAX_CHUNKS = 3  #: beyond this many chunks the probe time is extrapolated from the first ones
SELECT_MEASURES = ("lookahead", "transfer")


def affinity_doc(names: list[str], matrices: dict[str, Any]) -> dict[str, Any]:
    """A minimal affinity.json (schema 1) from AffinityMatrix objects."""
    from taskgroup.affinity.matrix import agreement

    return {"schema": 1, "tasks": names, "measures": {m: a.to_dict() for m, a in matrices.items()},
            "agreement": agreement(matrices)}


def one_size(n: int, probe_steps: int, rows: int, per_cluster: int = 5,
             analyze_overrides: dict[str, Any] | None = None, max_chunks: int = 0) -> dict[str, Any]:
    """Time the one-run affinities, the pair probes (the first ``max_chunks`` chunks of 64 when set,
    extrapolated by probe count) and ``group`` at ``n`` tasks."""
    from taskgroup.affinity.analyze import transfer_matrices
    from taskgroup.affinity.joint import joint_run
    from taskgroup.affinity.matrix import AffinityMatrix
    from taskgroup.affinity.probes import ProbeSpec, train_probes
    from taskgroup.config import AnalyzeConfig, ModelConfig

    per = min(per_cluster, n)
    taskset = load("synthetic", {"n_clusters": max(1, n // per), "tasks_per_cluster": per, "rows_per_task": rows})
    names = taskset.task_names
    cfg = replace(AnalyzeConfig(), **(analyze_overrides or {}))
    model = ModelConfig()
    warm_up(taskset)
    with Timer() as tj:
        joint = joint_run(taskset, names, cfg, model, measures=("gradient_cosine", "lookahead"), keep_records=False)
    specs = [ProbeSpec((t,), 0) for t in names] + [ProbeSpec(p, 0) for p in itertools.combinations(names, 2)]
    pcfg = replace(cfg, probe_steps=probe_steps, probe_patience=probe_steps)
    timed = specs if not max_chunks else specs[:max_chunks * CHUNK]
    with Timer() as tp:
        records = train_probes(taskset, timed, pcfg, model, batched=True, max_stack=CHUNK)
    probes_s = tp.seconds * len(specs) / len(timed)  # chunks are alike: extrapolate by probe count
    import numpy as np

    matrices = {m: AffinityMatrix(m, names, np.asarray(joint[m]["matrix"]), np.asarray(joint[m]["stderr"]))
                for m in ("gradient_cosine", "lookahead")}
    if len(timed) == len(specs):
        matrices["transfer"], _ = transfer_matrices(records, taskset)
    doc = affinity_doc(names, matrices)
    selection: dict[str, Any] = {}
    group, why = grouping_api()
    for m in SELECT_MEASURES:
        if m not in doc["measures"]:
            selection[m] = {"skipped": "pair probes only partly trained (time extrapolated)"}
            continue
        if group is None:
            selection[m] = {"skipped": why}
            continue
        try:
            with Timer() as ts:
                g = group(doc, max_groups=None, budget=None, partition=True, measure=m)
            selection[m] = {"seconds": ts.seconds, "groups": len(g["recommended"]["groups"])}
        except Exception as exc:
            selection[m] = {"error": f"{type(exc).__name__}: {exc}"}
    return {"benchmark": "scaling_point", "tasks": n, "one_run_s": tj.seconds, "probes": len(specs),
            "probes_timed": len(timed), "probes_extrapolated": len(timed) < len(specs), "probe_steps": probe_steps,
            "probes_s": probes_s, "probe_seconds_each": tp.seconds / len(timed), "selection": selection,
            "peak_rss_mb": peak_rss_mb()}


def run(sizes: Sequence[int], probe_steps: int, rows: int, per_cluster: int = 5,
        analyze_overrides: dict[str, Any] | None = None, max_chunks: int = MAX_CHUNKS) -> dict[str, Any]:
    points = []
    for n in sizes:
        rec = one_size(n, probe_steps, rows, per_cluster, analyze_overrides, max_chunks)
        emit(rec)
        points.append(rec)
    ns = [p["tasks"] for p in points]
    exps = {"one_run": growth_exponent(ns, [p["one_run_s"] for p in points]),
            "probes": growth_exponent(ns, [p["probes_s"] for p in points])}
    for m in SELECT_MEASURES:
        secs = [p["selection"][m].get("seconds") for p in points]
        exps[f"selection_{m}"] = growth_exponent(ns, secs) if all(s for s in secs) else None
    exps["probe_each"] = growth_exponent(ns, [p["probe_seconds_each"] for p in points])
    return {"benchmark": "scaling", "sizes": list(sizes), "rows_per_task": rows, "probe_steps": probe_steps,
            "probe_seeds": 1, "max_chunks": max_chunks, "points": points, "growth_exponent": exps, "machine": machine()}


def main(argv: Sequence[str] | None = None) -> None:
    p = base_parser(__doc__.splitlines()[0])
    p.add_argument("--sizes", default=",".join(map(str, SIZES)))
    p.add_argument("--probe-steps", type=int, default=PROBE_STEPS)
    p.add_argument("--max-chunks", type=int, default=MAX_CHUNKS, help="0: train every probe")
    a = p.parse_args(argv)
    set_threads(a.threads)
    if a.smoke:
        emit(run([3, 6], probe_steps=5, rows=30, per_cluster=3,
                 analyze_overrides={"steps": 20, "every": 5, "window": 2}))
        return
    emit(run([int(s) for s in a.sizes.split(",")], a.probe_steps, rows=300, max_chunks=a.max_chunks))


if __name__ == "__main__":
    main()
