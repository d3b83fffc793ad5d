"""``taskgroup`` end to end at 100 (and 200) tasks with default settings (issue 15, item 4).

The built-in synthetic data with N tasks in N/10 planted clusters of 10 (each task on its own 300
rows). ``taskgroup plan`` runs first (its estimate is kept next to the actual time), then the steps
as a user runs them: ``analyze``, ``group``, ``compare``, ``report``, each a separate process with
default settings (one torch thread per unit; ``--executor``/``--workers`` passed through). Reports
the time of every step and in all, the peak resident memory of the largest step process, and the
adjusted Rand index between the final grouping (``comparison.json`` ``final``, else the
recommended one) and the planted clusters.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from ._common import base_parser, emit, machine

TARGET_SECONDS = 30 * 60
TARGET_MIB = 4096
TARGET_ARI = 0.9
CONFIG = """seed = 0
[data]
builtin = "synthetic"
options = {{ n_clusters = {clusters}, tasks_per_cluster = {per} }}
{extra}"""
SMOKE = """[model]
hidden = [8]
[train]
steps = 30
eval_every = 10
[analyze]
steps = 20
every = 5
window = 2
probe_steps = 20
probe_eval_every = 10
probe_seeds = 1
[compare]
seeds = 1
random_groupings = 1
"""


CPU: dict[str, float] = {}


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _step(args: list[str], env: dict[str, str]) -> tuple[float, str]:
    """Run one CLI step; its wall seconds (returned) and CPU seconds (kept in :data:`CPU`)."""
    start, cpu = time.perf_counter(), _cpu()
    proc = subprocess.run([sys.executable, "-m", "taskgroup.cli", *args], capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - start
    CPU[args[0]] = _cpu() - cpu
    if proc.returncode != 0:
        raise RuntimeError(f"taskgroup {args[0]} failed: {proc.stderr.strip().splitlines()[-1:]}")
    return seconds, proc.stdout + proc.stderr


def _ari(out: Path, clusters: dict[str, str]) -> tuple[float, list[list[str]], str]:
    from sklearn.metrics import adjusted_rand_score

    comparison = json.loads((out / "comparison.json").read_text())
    final = comparison.get("final") or {}
    groups = final.get("groups")
    source = "final"
    if not groups:
        groups = json.loads((out / "groupings.json").read_text())["recommended"]["groups"]
        source = "recommended"
    label = {t: i for i, g in enumerate(groups) for t in g}
    names = sorted(clusters)
    return float(adjusted_rand_score([clusters[t] for t in names], [label[t] for t in names])), groups, source


def run(clusters: int, per: int, executor: str, workers: int, smoke: bool, keep: str | None) -> dict[str, Any]:
    from taskgroup.data.synthetic import synthetic

    folder = Path(keep) if keep else Path(tempfile.mkdtemp(prefix="tg-e2e-"))
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "exp.toml"
    config.write_text(CONFIG.format(clusters=clusters, per=per, extra=SMOKE if smoke else ""))
    out = folder / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    ex = ["--executor", executor, "--workers", str(workers)]
    plan_s, plan_text = _step(["plan", str(config)], env)
    steps: dict[str, float] = {}
    steps["analyze"], _ = _step(["analyze", str(config), "--out", str(out), "--quiet", "--force", *ex], env)
    steps["group"], _ = _step(["group", str(out)], env)
    steps["compare"], _ = _step(["compare", str(out), "--quiet", *ex], env)
    steps["report"], _ = _step(["report", str(out)], env)
    total = sum(steps.values())
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0
    planted = synthetic(n_clusters=clusters, tasks_per_cluster=per).meta["clusters"]
    ari, groups, source = _ari(out, planted)
    estimate = _plan_estimate(plan_text)
    n = clusters * per
    return {"benchmark": "end_to_end", "tasks": n, "clusters": clusters, "executor": executor, "workers": workers,
            "seconds": total, "steps": steps, "cpu_seconds": {k: v for k, v in CPU.items() if k != "plan"},
            "peak_rss_mib": peak, "ari": ari, "grouping_source": source,
            "groups": len(groups), "plan_seconds": plan_s, "plan_estimate_s": estimate,
            "plan_ratio": (estimate / total) if estimate else None,
            "targets": {"seconds": TARGET_SECONDS, "peak_rss_mib": TARGET_MIB, "ari": TARGET_ARI} if n == 100 else {},
            "pass": ({"seconds": total < TARGET_SECONDS, "memory": peak < TARGET_MIB, "ari": ari >= TARGET_ARI}
                     if n == 100 else None), "plan": plan_text.strip().splitlines(), **machine()}


def _plan_estimate(text: str) -> float | None:
    """The total of ``taskgroup plan``'s first line (``... estimated X s|min|h in all``)."""
    first = text.strip().splitlines()[0] if text.strip() else ""
    try:
        value, unit = first.split("estimated ")[1].split(" in all")[0].split()
    except (IndexError, ValueError):
        return None
    return float(value) * {"s": 1, "min": 60, "h": 3600}[unit]


def main() -> None:
    p = base_parser(__doc__.splitlines()[0])
    p.add_argument("--tasks", type=int, default=100)
    p.add_argument("--executor", default="inline")
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--keep", default=None, help="folder for the config and run directory (default: a temp folder)")
    args = p.parse_args()
    if args.smoke:
        emit(run(2, 2, args.executor, args.workers, True, args.keep))
        return
    emit(run(args.tasks // 10, 10, args.executor, args.workers, False, args.keep))


if __name__ == "__main__":
    main()
