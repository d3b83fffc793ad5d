"""The signal-and-noise study behind the joint run's defaults (README, "Signal and noise").

For each setting, a joint run on the built-in synthetic set (2 planted clusters x 3 tasks) measures
gradient cosine and lookahead; the figure is the separation between within-cluster and
across-cluster entries, (mean within - mean across) / its standard error, where the standard error
combines the entries' own standard errors. Run: ``python scripts/signal_noise_study.py [--seeds N]``;
prints one JSON line per (data, setting, seed).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time

import numpy as np
import torch

from taskgroup.affinity.joint import joint_run
from taskgroup.affinity.matrix import AffinityMatrix
from taskgroup.config import AnalyzeConfig, ModelConfig
from taskgroup.data import load_builtin

SETTINGS = {
    "default": {},
    "whole_run": {"phase": 1.0},
    "lr_1e-3": {"lr": 1e-3},
    "window_1": {"window": 1},
    "lr_3e-4": {"lr": 3e-4},
    "lr_1e-3_whole_run": {"lr": 1e-3, "phase": 1.0},
}


def separation(matrix: np.ndarray, stderr: np.ndarray, clusters: np.ndarray) -> float:
    n = len(matrix)
    off = ~np.eye(n, dtype=bool)
    same = (clusters[:, None] == clusters[None, :]) & off
    across = clusters[:, None] != clusters[None, :]
    diff = matrix[same].mean() - matrix[across].mean()
    se = np.sqrt((stderr[same] ** 2).mean() / same.sum() + (stderr[across] ** 2).mean() / across.sum())
    return float(diff / se) if se > 0 else float("inf")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--settings", default=",".join(SETTINGS))
    args = ap.parse_args()
    torch.set_num_threads(1)
    for shared in (True, False):
        ts = load_builtin("synthetic", {"n_clusters": 2, "tasks_per_cluster": 3, "rows_per_task": 150,
                                        "shared_rows": shared})
        clusters = np.array([int(t.split("_")[0][1:]) for t in ts.task_names])
        for name in args.settings.split(","):
            cfg = dataclasses.replace(AnalyzeConfig(), **SETTINGS[name])
            for seed in range(args.seeds):
                t0 = time.perf_counter()
                res = joint_run(ts, ts.task_names, cfg, ModelConfig(), seed=seed, keep_records=False)
                out = {"shared_rows": shared, "setting": name, "seed": seed,
                       "seconds": round(time.perf_counter() - t0, 2)}
                for m in ("gradient_cosine", "lookahead"):
                    mat, se = np.asarray(res[m]["matrix"]), np.asarray(res[m]["stderr"])
                    out[m] = {"separation": round(separation(mat, se, clusters), 3),
                              "snr": round(AffinityMatrix(m, ts.task_names, mat, se).snr, 3)}
                print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
