"""The same work on a CUDA GPU and on the CPU, where a GPU is present (issue 15, item 7).

Three checks, each timed on both devices in this one process (the CPU side with the benchmark's
torch threads) and compared for agreement:

* stacked probe training: the full pairwise probe set of 10 tasks (10 singles + 45 pairs, one
  seed, 300 steps, early stopping off so both sides train equal steps);
* the one-run measurement (gradient cosine and lookahead, default schedule) at 10 and 40 tasks;
* ``taskgroup run --device cuda`` and ``--device cpu`` on a small built-in configuration, end to
  end through the command line, then the saved models loaded and used for prediction in a process
  that sees no GPU (``CUDA_VISIBLE_DEVICES=``), so models trained on a GPU load on any machine.

Without a GPU it writes one row saying why it was skipped.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from ._common import base_parser, emit, load, machine, set_threads, warm_up

#: the device under test and the reference; a dry run on a machine without a GPU may set both to cpu
DEVICES = {"gpu": "cuda", "cpu": "cpu"}

RUN_CONFIG = """seed = 0
[data]
builtin = "synthetic"
options = {{ n_clusters = 2, tasks_per_cluster = 3 }}
[analyze]
steps = {steps}
probe_steps = {steps}
[train]
steps = {steps}
[compare]
seeds = 2
"""


def _sync() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()


def probes(steps: int) -> dict[str, Any]:
    import itertools

    from taskgroup.affinity.probes import ProbeSpec, train_probes
    from taskgroup.config import AnalyzeConfig, ModelConfig

    taskset = load("synthetic", {"n_clusters": 2, "tasks_per_cluster": 5})
    warm_up(taskset)
    names = taskset.task_names
    specs = [ProbeSpec((t,), 0) for t in names] + [ProbeSpec(p, 0) for p in itertools.combinations(names, 2)]
    cfg = replace(AnalyzeConfig(), probe_steps=steps, probe_patience=steps)
    out: dict[str, Any] = {"probes": len(specs), "steps": steps}
    records = {}
    for side, device in DEVICES.items():
        train_probes(taskset, specs[:3], replace(cfg, probe_steps=2, probe_eval_every=2), ModelConfig(),
                     device=device)  # warm-up: kernels, allocator
        _sync()
        start = time.perf_counter()
        records[side] = train_probes(taskset, specs, cfg, ModelConfig(), device=device)
        _sync()
        out[f"{side}_s"] = time.perf_counter() - start
    out["max_abs_diff_val"] = max(abs(a["val"][t] - b["val"][t]) for a, b in zip(records["gpu"], records["cpu"])
                                  for t in a["val"])
    return out


def joint(n: int) -> dict[str, Any]:
    from taskgroup.affinity.joint import joint_run
    from taskgroup.config import AnalyzeConfig, ModelConfig

    clusters, per = (2, n // 2) if n < 20 else (n // 10, 10)
    taskset = load("synthetic", {"n_clusters": clusters, "tasks_per_cluster": per})
    warm_up(taskset)
    out: dict[str, Any] = {"tasks": n}
    results = {}
    for side, device in DEVICES.items():
        _sync()
        start = time.perf_counter()
        results[side] = joint_run(taskset, taskset.task_names, AnalyzeConfig(), ModelConfig(), seed=0,
                                    keep_records=False, device=device)
        _sync()
        out[f"{side}_s"] = time.perf_counter() - start
    for measure in ("gradient_cosine", "lookahead"):
        a = np.asarray(results["gpu"][measure]["matrix"])
        b = np.asarray(results["cpu"][measure]["matrix"])
        out[f"max_abs_diff_{measure}"] = float(np.max(np.abs(a - b)))
    return out


def _taskgroup(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "taskgroup.cli", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})})


def end_to_end(steps: int) -> dict[str, Any]:
    out: dict[str, Any] = {"steps": steps}
    with tempfile.TemporaryDirectory() as tmp:
        cfg = Path(tmp) / "small.toml"
        cfg.write_text(RUN_CONFIG.format(steps=steps))
        docs = {}
        for side, device in DEVICES.items():
            run_dir = Path(tmp) / side
            start = time.perf_counter()
            done = _taskgroup("run", str(cfg), "--out", str(run_dir), "--device", device, "--quiet")
            out[f"{side}_s"] = time.perf_counter() - start
            if done.returncode != 0:
                out[f"{side}_error"] = (done.stderr or done.stdout).strip().splitlines()[-1:]
                return out
            docs[side] = json.loads((run_dir / "comparison.json").read_text())
        finals = {d: sorted(sorted(g) for g in docs[d]["final"]["groups"]) for d in docs}
        out["same_final"] = finals["gpu"] == finals["cpu"]
        out["final_gpu"], out["final_cpu"] = finals["gpu"], finals["cpu"]
        # the GPU-trained models, loaded and used where no GPU is visible
        script = ("import json, sys, numpy as np, taskgroup\n"
                  "from benchmarks._common import load\n"
                  "p = taskgroup.load(sys.argv[1])\n"
                  "ts = load('synthetic', {'n_clusters': 2, 'tasks_per_cluster': 3})\n"
                  "pred = p.predict(ts.inputs[:50])\n"
                  "print(json.dumps({k: np.asarray(v).tolist() for k, v in pred.items()}))\n")
        preds = {}
        for side in DEVICES:
            done = subprocess.run([sys.executable, "-c", script, str(Path(tmp) / side)], capture_output=True,
                                  text=True, env={**os.environ, "CUDA_VISIBLE_DEVICES": ""})
            if done.returncode != 0:
                out["load_without_gpu_error"] = (done.stderr or done.stdout).strip().splitlines()[-1:]
                return out
            preds[side] = json.loads(done.stdout.strip().splitlines()[-1])
        out["loads_without_gpu"] = True
        if out["same_final"]:
            out["max_abs_diff_predictions"] = max(
                float(np.max(np.abs(np.asarray(preds["gpu"][t], float) - np.asarray(preds["cpu"][t], float))))
                for t in preds["cpu"])
    return out


def main() -> None:
    p = base_parser(__doc__.splitlines()[0])
    args = p.parse_args()
    set_threads(args.threads)
    import torch

    if not torch.cuda.is_available():
        emit({"benchmark": "gpu", "skipped": True,
              "reason": f"torch {torch.__version__} sees no CUDA GPU on this machine", **machine()})
        return
    gpu = torch.cuda.get_device_name(0)
    steps = 20 if args.smoke else 300
    emit({"benchmark": "gpu", "check": "probes", "gpu": gpu, **probes(steps), **machine()})
    for n in ([4] if args.smoke else [10, 40]):
        emit({"benchmark": "gpu", "check": "joint", "gpu": gpu, **joint(n), **machine()})
    emit({"benchmark": "gpu", "check": "end_to_end", "gpu": gpu, **end_to_end(20 if args.smoke else 200),
          **machine()})


if __name__ == "__main__":
    main()
