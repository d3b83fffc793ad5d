"""The one-run measurement's time against the number of tasks (issue 15, item 5).

The joint run with default settings (gradient cosine and lookahead, 200 steps) on the built-in
synthetic data with N = 10, 40, 100 tasks (clusters of 10, or 2 x 5 at N = 10; each task on its
own 300 rows), inline, one torch thread. Reports each time, the growth exponent b of time ~ N^b
(target about 2) and whether 100 tasks take under 90 s.
"""

from __future__ import annotations

import time
from typing import Any

from ._common import base_parser, emit, growth_exponent, load, machine, set_threads, warm_up

TARGET_EXPONENT = 2.0
TARGET_SECONDS_100 = 90.0


def point(n: int, steps: int | None) -> dict[str, Any]:
    from dataclasses import replace

    from taskgroup.affinity.joint import joint_run
    from taskgroup.config import AnalyzeConfig, ModelConfig

    clusters, per = (2, n // 2) if n < 20 else (n // 10, 10)
    taskset = load("synthetic", {"n_clusters": clusters, "tasks_per_cluster": per})
    warm_up(taskset)
    cfg = AnalyzeConfig()
    cfg = replace(cfg, steps=steps or cfg.steps)
    start = time.perf_counter()
    joint_run(taskset, taskset.task_names, cfg, ModelConfig(), seed=0, keep_records=False, device="cpu")
    return {"tasks": n, "seconds": time.perf_counter() - start, "steps": cfg.steps}


def main() -> None:
    p = base_parser(__doc__.splitlines()[0])
    p.add_argument("--sizes", default="10,40,100")
    args = p.parse_args()
    set_threads(args.threads)
    sizes, steps = ([4, 8], 20) if args.smoke else ([int(x) for x in args.sizes.split(",")], None)
    points = [point(n, steps) for n in sizes]
    b = growth_exponent([q["tasks"] for q in points], [q["seconds"] for q in points])
    at100 = next((q["seconds"] for q in points if q["tasks"] == 100), None)
    emit({"benchmark": "joint_growth", "sizes": sizes, "points": points, "growth_exponent": b,
          "seconds_100": at100, "pass_exponent": bool(b <= TARGET_EXPONENT + 0.1),
          "pass_100": None if at100 is None else at100 < TARGET_SECONDS_100, **machine()})


if __name__ == "__main__":
    main()
