"""Probe-set time against the number of tasks, probes carrying only their own heads (issue 15, item 2).

For N in 10, 20, 40, 80 (built-in synthetic data, clusters of 10 tasks, or 2 x 5 at N = 10; each task
on its own 300 rows), the probe set of one seed (N singles + N(N-1)/2 pairs, default width and
steps, early stopping off so every probe trains the same number of steps) is trained in chunks of
64 as ``analyze`` does. Up to ``--full-up-to`` tasks every chunk is trained; above, one chunk of
singles and ``--pair-chunks`` chunks of pairs are trained and the set's time is extrapolated from
their time per probe (said in the record). The growth exponent b of time ~ N^b is fitted over
the sizes; the target is b <= 2.1 (the number of probes grows as N^2).
"""

from __future__ import annotations

import itertools
import time
from dataclasses import replace
from typing import Any

from ._common import base_parser, emit, growth_exponent, load, machine, set_threads, warm_up

TARGET = 2.1
CHUNK = 64


def _time(taskset: Any, specs: list, cfg: Any, model: Any, data: Any) -> float:
    from taskgroup.affinity.probes import train_probes

    start = time.perf_counter()
    for s in range(0, len(specs), CHUNK):
        train_probes(taskset, specs[s:s + CHUNK], cfg, model, data=data, device="cpu")
    return time.perf_counter() - start


def point(n: int, full_up_to: int, pair_chunks: int, steps: int | None, rows: int) -> dict[str, Any]:
    from taskgroup.affinity.probes import ProbeSpec
    from taskgroup.config import AnalyzeConfig, ModelConfig
    from taskgroup.training.batching import TaskData

    clusters, per = (2, n // 2) if n < 20 else (n // 10, 10)
    taskset = load("synthetic", {"n_clusters": clusters, "tasks_per_cluster": per, "rows_per_task": rows})
    warm_up(taskset)
    names = taskset.task_names
    cfg = AnalyzeConfig()
    cfg = replace(cfg, probe_steps=steps or cfg.probe_steps)
    cfg = replace(cfg, probe_patience=cfg.probe_steps)
    model = ModelConfig()
    data = TaskData(taskset, device="cpu")
    singles = [ProbeSpec((t,), 0) for t in names]
    pairs = [ProbeSpec(p, 0) for p in itertools.combinations(names, 2)]
    total = len(singles) + len(pairs)
    if n <= full_up_to:
        seconds = _time(taskset, singles + pairs, cfg, model, data)
        return {"tasks": n, "probes": total, "seconds": seconds, "timed": total, "extrapolated": False}
    s_part = singles[:CHUNK]
    p_part = pairs[:: max(1, len(pairs) // (CHUNK * pair_chunks))][: CHUNK * pair_chunks]
    s_sec = _time(taskset, s_part, cfg, model, data)
    p_sec = _time(taskset, p_part, cfg, model, data)
    seconds = s_sec * len(singles) / len(s_part) + p_sec * len(pairs) / len(p_part)
    return {"tasks": n, "probes": total, "seconds": seconds, "timed": len(s_part) + len(p_part),
            "extrapolated": True, "pair_s_each": p_sec / len(p_part)}


def main() -> None:
    p = base_parser(__doc__.splitlines()[0])
    p.add_argument("--sizes", default="10,20,40,80")
    p.add_argument("--full-up-to", type=int, default=20)
    p.add_argument("--pair-chunks", type=int, default=2)
    p.add_argument("--steps", type=int, default=None)
    p.add_argument("--rows", type=int, default=300)
    args = p.parse_args()
    set_threads(args.threads)
    if args.smoke:
        sizes, steps, rows, full, chunks = [4, 8], 20, 60, 4, 1
    else:
        sizes, steps, rows, full, chunks = ([int(x) for x in args.sizes.split(",")], args.steps, args.rows,
                                            args.full_up_to, args.pair_chunks)
    points = [point(n, full, chunks, steps, rows) for n in sizes]
    b = growth_exponent([q["tasks"] for q in points], [q["seconds"] for q in points])
    emit({"benchmark": "probe_growth", "sizes": sizes, "points": points, "growth_exponent": b,
          "target": f"<= {TARGET:g}", "pass": bool(b <= TARGET), "probe_steps": steps or 300, **machine()})


if __name__ == "__main__":
    main()
