"""``taskgroup plan``'s estimate against the actual wall time of ``taskgroup run`` (issue 15, item 3).

On small and medium sets (built-in synthetic data, 4 and 8 tasks, 300 training steps, one compare
seed), each in fresh processes as a user runs them: ``taskgroup plan CONFIG`` (its estimate), then
``taskgroup run CONFIG --out DIR`` (its wall time, which includes the one-line plan it prints
first; that line's estimate is kept too). The target: the estimate within a factor of 2 of the
actual time (0.5 <= estimate / actual <= 2). The machine's load swings both alike only roughly;
the load average is recorded.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from ._common import base_parser, emit, machine
from .end_to_end import _plan_estimate

CONFIG = """seed = 0
[data]
builtin = "synthetic"
options = {{ n_clusters = {clusters}, tasks_per_cluster = {per} }}
[train]
steps = {steps}
[compare]
seeds = 1
random_groupings = 1
{extra}"""
SMOKE = """[model]
hidden = [8]
[analyze]
steps = 20
every = 5
window = 2
probe_steps = 20
probe_eval_every = 10
probe_seeds = 1
"""
SETS = {"synthetic 2x2 (4 tasks)": (2, 2), "synthetic 2x4 (8 tasks)": (2, 4)}
UNIT = {"s": 1, "min": 60, "h": 3600}


def _cli(args: list[str]) -> tuple[float, str]:
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "taskgroup.cli", *args], capture_output=True, text=True,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    if proc.returncode != 0:
        raise RuntimeError(f"taskgroup {args[0]} failed: {proc.stderr.strip().splitlines()[-1:]}")
    return time.perf_counter() - start, proc.stdout + proc.stderr


def _run_line_estimate(text: str) -> float | None:
    """The estimate in ``taskgroup run``'s plan line (``plan: N tasks on DEV, ~X s: ...``)."""
    m = re.search(r"^plan: .*?, ~([\d.]+) (s|min|h):", text, re.MULTILINE)
    return float(m.group(1)) * UNIT[m.group(2)] if m else None


def one(name: str, clusters: int, per: int, steps: int, smoke: bool) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="tg-plan-") as tmp:
        config = Path(tmp) / "exp.toml"
        config.write_text(CONFIG.format(clusters=clusters, per=per, steps=steps, extra=SMOKE if smoke else ""))
        plan_s, plan_text = _cli(["plan", str(config)])
        load = os.getloadavg()[0]
        actual, run_text = _cli(["run", str(config), "--out", str(Path(tmp) / "run")])
    estimate = _plan_estimate(plan_text)
    ratio = estimate / actual if estimate else None
    return {"set": name, "tasks": clusters * per, "train_steps": steps, "estimate_s": estimate,
            "actual_s": actual, "ratio": ratio, "run_line_estimate_s": _run_line_estimate(run_text),
            "plan_s": plan_s, "pass": None if ratio is None else 0.5 <= ratio <= 2.0,
            "plan": plan_text.strip().splitlines()[:4], "loadavg_at_run": load}


def main() -> None:
    p = base_parser(__doc__.splitlines()[0])
    args = p.parse_args()
    sets = {"synthetic 1x3 (3 tasks), smoke settings": (1, 3)} if args.smoke else SETS
    points = [one(name, c, k, 30 if args.smoke else 300, args.smoke) for name, (c, k) in sets.items()]
    emit({"benchmark": "plan_accuracy", "points": points,
          "pass": all(q["pass"] for q in points), **machine()})


if __name__ == "__main__":
    main()
