"""How close stacked probe training runs to the machine's arithmetic peak (issue 15, item 8; information).

Stacked probe training (64 pair probes of the built-in synthetic data, default probe settings, no
early stopping) at the default probe width and at 4x that width: the achieved rate of floating-point
operations, counted as 6 x multiply-adds of one forward pass per row (forward 2, backward 4) times the
rows of all probes per step, next to this machine's peak single-precision matrix-multiply rate
measured in the same process (square matmuls), as a ratio. And from the torch profiler, the share of
a training step's time spent outside the matrix products (dispatch, Python, small elementwise ops).
"""

from __future__ import annotations

import itertools
import time
from dataclasses import replace
from typing import Any

from ._common import base_parser, emit, load, machine, set_threads, warm_up

MATMUL_OPS = ("aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm")


def peak_gflops(size: int = 1024, repeats: int = 5) -> float:
    import torch

    a, b = torch.randn(size, size), torch.randn(size, size)
    a @ b
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return 2 * size ** 3 / best / 1e9


def probe_rate(width_factor: float, steps: int, probes: int) -> dict[str, Any]:
    import torch

    from taskgroup.affinity.probes import ProbeSpec, train_probes
    from taskgroup.config import AnalyzeConfig, ModelConfig
    from taskgroup.training.batching import TaskData
    from taskgroup.training.models import multiply_adds
    from taskgroup.training.trainer import build_model

    taskset = load("synthetic", {"n_clusters": 2, "tasks_per_cluster": 6})
    warm_up(taskset)
    names = taskset.task_names
    specs = [ProbeSpec(p, 0) for p in itertools.combinations(names, 2)][:probes]
    base = AnalyzeConfig()
    cfg = replace(base, probe_width=base.probe_width * width_factor, probe_steps=steps, probe_patience=steps,
                  probe_eval_every=steps)
    model = ModelConfig()
    data = TaskData(taskset, device="cpu")
    macs = multiply_adds(build_model(taskset, list(specs[0].tasks), model, width=cfg.probe_width), taskset.input_shape)
    train_probes(taskset, specs, replace(cfg, probe_steps=2, probe_eval_every=2), model, data=data)
    start = time.perf_counter()
    train_probes(taskset, specs, cfg, model, data=data)
    seconds = time.perf_counter() - start
    flops = 6.0 * macs * cfg.batch_size * len(specs) * steps
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        short = replace(cfg, probe_steps=max(10, steps // 10), probe_patience=steps, probe_eval_every=steps)
        start = time.perf_counter()
        train_probes(taskset, specs, short, model, data=data)
        prof_s = time.perf_counter() - start
    matmul_us = sum(e.self_cpu_time_total for e in prof.key_averages() if e.key in MATMUL_OPS)
    return {"width": cfg.probe_width, "probes": len(specs), "steps": steps, "macs_per_row": macs,
            "seconds": seconds, "gflops": flops / seconds / 1e9,
            "outside_matmul_share": max(0.0, 1.0 - matmul_us / 1e6 / prof_s)}


def main() -> None:
    p = base_parser(__doc__.splitlines()[0])
    args = p.parse_args()
    set_threads(args.threads)
    steps, probes = (10, 8) if args.smoke else (300, 64)
    peak = peak_gflops(256 if args.smoke else 1024)
    points = [probe_rate(f, steps, probes) for f in (1.0, 4.0)]
    for q in points:
        q["of_peak"] = q["gflops"] / peak
    emit({"benchmark": "flop_rate", "peak_gflops": peak, "points": points, **machine()})


if __name__ == "__main__":
    main()
