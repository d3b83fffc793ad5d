"""Selection at scale: candidate pool plus exact selection for N = 5, 10, 20, 30, 40 tasks.

Each N gets a random affinity matrix with four planted blocks and noise; the benchmark times the
clustering proposals, the candidate pool, the integer program over the pool (at most
``min(N, 6)`` networks) and the whole ``group`` call. Target: N = 30 under 10 s end to end. Prints
one JSON line per N and a summary line with the growth exponent of the selection time (least squares
slope of log time against log N); writes all of them to ``benchmarks/out/selection_scale.json``.
Run: ``python benchmarks/selection_scale.py [--smoke]``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import time
from pathlib import Path

from taskgroup.runtime.atomic import write_json

NAME = "selection_scale"
SIZES = (5, 10, 20, 30, 40)
SMOKE_SIZES = (5, 10)
TARGET_N, TARGET_SECONDS = 30, 10.0
OUT = Path(__file__).resolve().parent / "out" / f"{NAME}.json"


def _affinity(n: int, seed: int) -> dict:
    import numpy as np

    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 4, n)
    matrix = np.where(labels[:, None] == labels[None, :], 0.3, -0.1) + rng.normal(0, 0.3, (n, n))
    np.fill_diagonal(matrix, 1.0)
    names = [f"task{i:02d}" for i in range(n)]
    return {"schema": 1, "tasks": names,
            "measures": {"lookahead": {"matrix": matrix.tolist(), "stderr": np.full((n, n), 0.05).tolist()}}}


def measure(n: int, seed: int = 0) -> dict:
    """Time each stage of grouping ``n`` random tasks."""
    from taskgroup.grouping import group, propose
    from taskgroup.grouping.pools import candidate_pool
    from taskgroup.grouping.scores import candidate_networks, matrix_scorer
    from taskgroup.grouping.selection import select

    affinity = _affinity(n, seed)
    names, matrix = affinity["tasks"], affinity["measures"]["lookahead"]["matrix"]
    k = min(n, 6)
    t0 = time.perf_counter()
    proposals = propose(matrix, names, k, seed)
    t1 = time.perf_counter()
    index = {t: i for i, t in enumerate(names)}
    scorer = matrix_scorer(matrix)
    pool = candidate_pool(n, scorer, [[index[t] for t in g] for p in proposals for g in p.groups])
    networks = candidate_networks(pool, scorer, names)
    t2 = time.perf_counter()
    chosen = select(networks, tasks=names, max_networks=k, maximize=True)
    t3 = time.perf_counter()
    group(affinity, max_groups=k)
    t4 = time.perf_counter()
    return {
        "benchmark": NAME,
        "n_tasks": n,
        "max_networks": k,
        "pool_size": len(pool),
        "task_slots": sum(len(g) for g in pool),
        "propose_s": round(t1 - t0, 3),
        "pool_s": round(t2 - t1, 3),
        "select_s": round(t3 - t2, 3),
        "group_s": round(t4 - t3, 3),
        "status": chosen.status,
        "chosen": len(chosen.chosen),
    }


def _slope(xs: list[float], ys: list[float]) -> float:
    lx, ly = [math.log(x) for x in xs], [math.log(max(y, 1e-6)) for y in ys]
    mx, my = sum(lx) / len(lx), sum(ly) / len(ly)
    den = sum((x - mx) ** 2 for x in lx)
    return sum((x - mx) * (y - my) for x, y in zip(lx, ly)) / den if den else float("nan")


def run(smoke: bool = False) -> list[dict]:
    """One record per N and a summary record."""
    records = [measure(n) for n in (SMOKE_SIZES if smoke else SIZES)]
    summary = {
        "benchmark": NAME,
        "summary": True,
        "growth_exponent_select": round(_slope([r["n_tasks"] for r in records], [r["select_s"] for r in records]), 2),
        "growth_exponent_group": round(_slope([r["n_tasks"] for r in records], [r["group_s"] for r in records]), 2),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
    }
    target = [r for r in records if r["n_tasks"] == TARGET_N]
    if target:
        summary.update({"target": f"group() for N={TARGET_N} under {TARGET_SECONDS:g} s",
                        "target_seconds": TARGET_SECONDS, "measured_seconds": target[0]["group_s"],
                        "meets_target": target[0]["group_s"] < TARGET_SECONDS})
    return records + [summary]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help=f"N = {SMOKE_SIZES} only")
    args = parser.parse_args(argv)
    records = run(smoke=args.smoke)
    for record in records:
        print(json.dumps(record), flush=True)
    write_json(OUT, records)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
