"""Batched probes versus one network at a time (issue 3).

The built-in synthetic data with 10 tasks (2 planted clusters x 5 tasks, each task on its own rows),
10 single-task and 45 pair probes at the default probe width and steps, one seed. Early stopping is
switched off (``probe_patience`` = ``probe_steps``) so that both paths train every probe for exactly
the same number of steps: the batched path trains all 55 as one stacked, vmapped network; the
sequential path (the anchors' way) trains them one after another. Both run in this process with the
same torch thread count. The batched path runs before and after the sequential one and ``batched_s``
is the mean of the two, so that both paths see the same machine load on average (the machine may be
shared). Prints one JSON line with ``batched_s``, ``sequential_s``, ``ratio`` and
the largest absolute difference between the two paths' results (validation metrics, validation
losses and probe cosines).

``--sample K`` trains only every (55 / K)-th probe sequentially and extrapolates the sequential time
per kind (single, pair); the default trains all 55 both ways.
"""

from __future__ import annotations

import itertools
from dataclasses import replace
from typing import Any, Sequence

import numpy as np

from ._common import Timer, base_parser, emit, load, machine, peak_rss_mb, set_threads, warm_up

TARGET = 5.0


def _max_diff(a: dict[str, Any], b: dict[str, Any]) -> dict[str, float]:
    """Largest absolute difference per result field of one probe trained both ways."""
    return {"val": max(abs(a["val"][t] - b["val"][t]) for t in a["val"]),
            "val_loss": max(abs(a["val_loss"][t] - b["val_loss"][t]) for t in a["val_loss"]),
            "cosine": float(np.abs(np.asarray(a["cosine"]) - np.asarray(b["cosine"])).max())}


def run(clusters: int = 2, per_cluster: int = 5, rows: int = 300, steps: int | None = None,
        sample: int = 0, seed: int = 0, repeat_batched: bool = True) -> dict[str, Any]:
    """Time both paths on the same probes; see the module docstring."""
    from taskgroup.affinity.probes import ProbeSpec, train_probes
    from taskgroup.config import AnalyzeConfig, ModelConfig

    taskset = load("synthetic", {"n_clusters": clusters, "tasks_per_cluster": per_cluster,
                                 "rows_per_task": rows, "seed": seed}, seed=seed)
    names = taskset.task_names
    specs = [ProbeSpec((n,), seed) for n in names] + [ProbeSpec(p, seed) for p in itertools.combinations(names, 2)]
    cfg = AnalyzeConfig()
    cfg = replace(cfg, probe_steps=steps or cfg.probe_steps)
    cfg = replace(cfg, probe_patience=cfg.probe_steps)  # no early stop: equal steps on both paths
    model = ModelConfig()
    warm_up(taskset)

    batched_runs: list[float] = []

    def timed_batched() -> list[dict[str, Any]]:
        with Timer() as tb:
            out = train_probes(taskset, specs, cfg, model, batched=True)
        batched_runs.append(tb.seconds)
        return out

    batched = timed_batched()
    chosen = list(range(len(specs)))
    if sample and sample < len(specs):
        chosen = sorted({int(i) for i in np.linspace(0, len(specs) - 1, sample)})
    seq_times: dict[int, float] = {}
    sequential: dict[int, dict[str, Any]] = {}
    for i in chosen:
        with Timer() as t:
            (sequential[i],) = train_probes(taskset, [specs[i]], cfg, model, batched=False)
        seq_times[i] = t.seconds
    if repeat_batched:  # once more after the sequential path, so both see the same load on average
        timed_batched()
    batched_s = float(np.mean(batched_runs))
    if len(chosen) == len(specs):
        seq_s = sum(seq_times.values())
    else:  # extrapolate per probe kind, since singles and pairs differ in cost
        seq_s = 0.0
        for size in (1, 2):
            kind = [i for i in range(len(specs)) if len(specs[i].tasks) == size]
            timed = [seq_times[i] for i in chosen if len(specs[i].tasks) == size]
            seq_s += len(kind) * float(np.mean(timed)) if timed else float("nan")
    per_field = [_max_diff(batched[i], sequential[i]) for i in chosen]
    diff = {k: max(d[k] for d in per_field) for k in per_field[0]}
    same_best = sum(batched[i]["best_step"] == sequential[i]["best_step"] for i in chosen)
    ratio = seq_s / batched_s
    return {
        "benchmark": "probe_speed", "tasks": len(names), "probes": len(specs),
        "singles": len(names), "pairs": len(specs) - len(names),
        "probe_steps": cfg.probe_steps, "probe_width": cfg.probe_width, "batch_size": cfg.batch_size,
        "early_stopping": False, "sequential_probes_timed": len(chosen),
        "sequential_extrapolated": len(chosen) < len(specs),
        "batched_s": batched_s, "batched_runs_s": batched_runs, "sequential_s": seq_s, "ratio": ratio,
        "target": f">= {TARGET:g}", "pass": bool(ratio >= TARGET), "max_abs_diff": max(diff.values()),
        "max_abs_diff_by_field": diff, "same_best_step": f"{same_best}/{len(chosen)}",
        "peak_rss_mb": peak_rss_mb(), "machine": machine(),
    }


def main(argv: Sequence[str] | None = None) -> None:
    p = base_parser(__doc__.splitlines()[0])
    p.add_argument("--sample", type=int, default=0, help="time only K probes sequentially and extrapolate")
    p.add_argument("--steps", type=int, default=None, help="probe steps (default: the library default)")
    a = p.parse_args(argv)
    set_threads(a.threads)
    if a.smoke:
        emit(run(clusters=2, per_cluster=2, rows=40, steps=10, sample=a.sample))
    else:
        emit(run(steps=a.steps, sample=a.sample))


if __name__ == "__main__":
    main()
