"""Verdict calibration: how often the decision says "share" when sharing cannot help, and when it does.

Each repetition builds a fresh synthetic task set (its own data seed) with 3 x 3 tasks (500 rows per
task, split 40/40/20 % into train/validation/test) and compares
one grouping of three networks of three tasks against single-task networks over 3 training seeds,
through :func:`taskgroup.compare` (the decision of :mod:`taskgroup.comparison.decision`):

- ``synthetic-unrelated``: every task has its own function; sharing cannot improve accuracy, so a
  ``share_for_accuracy`` decision is a false positive (target: at most 5 % of repetitions);
- ``synthetic``: the grouping is the planted clusters, where pooling rows helps; a
  ``share_for_accuracy`` decision is a true positive (target: at least 90 %).

``--landmine`` adds the Landmine check: all 29 tasks, all-in-one and the known two-group split
against single-task networks over 3 seeds, comparing the Delta_m estimated on the validation rows
set apart for it with the test Delta_m (do their 95 % intervals overlap?).

Prints one JSON line per repetition and one summary line per task set.
Run: ``python -m benchmarks.verdict_calibration [--smoke] [--reps N] [--landmine]``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from scipy import stats as sps

from ._common import emit, machine, set_threads

NAME = "verdict_calibration"
#: rows per task and the train/validation/test split of the synthetic sets: a decision needs
#: validation rows (a third picks checkpoints, the rest estimates the effect)
ROWS, SPLIT = 500, [0.4, 0.4, 0.2]
SETS = {"synthetic-unrelated": ("false_positive", 0.05), "synthetic": ("true_positive", 0.90)}


def _config(builtin: str, options: dict, steps: int, seed: int, alternatives: list[str],
            split: list[float] | None = None):
    from taskgroup.config import CompareConfig, Config, DataConfig, ModelConfig, TrainConfig

    data = DataConfig(builtin=builtin, options=options, **({"split": split} if split else {}))
    return Config(data=data, model=ModelConfig(hidden=[32, 32]),
                  train=TrainConfig(steps=steps, eval_every=max(5, steps // 12), patience=4),
                  compare=CompareConfig(seeds=3, random_groupings=0, alternatives=alternatives), seed=seed)


def repetition(builtin: str, rep: int, smoke: bool) -> dict:
    from taskgroup.comparison.compare import compare
    from taskgroup.data import load_taskset
    from taskgroup.runtime.documents import GroupingsDoc

    rows = 60 if smoke else ROWS
    cfg = _config(builtin, {"n_clusters": 3, "tasks_per_cluster": 3, "rows_per_task": rows, "seed": 1000 + rep},
                  20 if smoke else 300, 100 * rep, ["recommended", "single_task"], split=SPLIT)
    ts = load_taskset(cfg)
    names = ts.task_names
    groups = [names[i:i + 3] for i in range(0, len(names), 3)]
    start = time.perf_counter()
    groupings = GroupingsDoc.from_json({"schema": 1, "tasks": names,
                                        "recommended": {"groups": groups, "method": "fixed",
                                                        "chosen_on_validation": False}})
    doc = compare(cfg, ts, groupings, None).to_json()
    v = doc["verdict"]
    rec = next(a for a in doc["alternatives"] if a["name"] == "recommended")
    return {"benchmark": NAME, "kind": "repetition", "set": builtin, "rep": rep, "decision": v["decision"],
            "use_mtl": v["use_mtl"], "interval": [v["interval"]["low"], v["interval"]["high"]],
            "delta_m_estimate": v["interval"]["mean"], "delta_m_test": rec["delta_m"],
            "seconds": round(time.perf_counter() - start, 2)}


def summary(builtin: str, recs: list[dict]) -> dict:
    kind, target = SETS[builtin]
    n = len(recs)
    acc = sum(r["decision"] == "share_for_accuracy" for r in recs)
    share = sum(r["use_mtl"] for r in recs)
    rate = acc / n if n else float("nan")
    ok = rate <= target if kind == "false_positive" else rate >= target
    counts = {d: sum(r["decision"] == d for r in recs) for d in
              ("share_for_accuracy", "share_for_cost", "train_separately", "inconclusive")}
    return {"benchmark": NAME, "kind": "summary", "set": builtin, "reps": n, "share_for_accuracy_rate": rate,
            "any_share_rate": share / n if n else float("nan"), "decisions": counts, "target_kind": kind,
            "target": target, "pass": bool(ok), "mean_delta_m_test": float(np.mean([r["delta_m_test"] for r in recs])),
            "seconds": round(sum(r["seconds"] for r in recs), 1)}


def landmine(smoke: bool) -> dict:
    from taskgroup.comparison.compare import compare
    from taskgroup.data import load_taskset
    from taskgroup.runtime.documents import GroupingsDoc

    steps = 20 if smoke else 300
    cfg = _config("landmine", {}, steps, 0, ["recommended", "single_task", "all_in_one"])
    try:
        ts = load_taskset(cfg)
    except Exception as exc:  # the shared data folder is absent
        return {"benchmark": NAME, "kind": "landmine", "skipped": f"{type(exc).__name__}: {exc}"}
    from taskgroup.data.synthetic import planted_groups

    names = ts.task_names
    split = planted_groups(ts)                # fields 1-15 (foliated) and 16-29 (bare): the known split
    start = time.perf_counter()
    groupings = GroupingsDoc.from_json({"schema": 1, "tasks": names,
                                        "recommended": {"groups": split, "method": "known split",
                                                        "chosen_on_validation": False}})
    doc = compare(cfg, ts, groupings, None).to_json()
    out = {"benchmark": NAME, "kind": "landmine", "tasks": len(names), "steps": steps, "seeds": 3,
           "seconds": round(time.perf_counter() - start, 1), "decision": doc["verdict"]["decision"], "rows": []}
    for a in doc["alternatives"]:
        if a["name"] == "single_task":
            continue
        est = np.asarray(a["delta_m_estimate_values"])
        test = np.asarray(a["delta_m_values"])
        q = sps.t.ppf(0.975, len(test) - 1)
        test_iv = [float(test.mean() - q * test.std(ddof=1) / np.sqrt(len(test))),
                   float(test.mean() + q * test.std(ddof=1) / np.sqrt(len(test)))]
        row = {"alternative": a["name"], "delta_m_estimate": float(est.mean()), "delta_m_test": float(test.mean()),
               "delta_m_val_whole": a["delta_m_val"], "test_interval_seeds": test_iv}
        if a["name"] == doc["verdict"]["alternative"]:
            iv = doc["verdict"]["interval"]
            row["estimate_interval"] = [iv["low"], iv["high"]]
            row["overlap"] = bool(iv["low"] <= test_iv[1] and test_iv[0] <= iv["high"])
        out["rows"].append(row)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--smoke", action="store_true", help="2 repetitions of tiny sets")
    p.add_argument("--reps", type=int, default=20)
    p.add_argument("--landmine", action="store_true", help="add the Landmine validation-vs-test check")
    p.add_argument("--threads", type=int, default=None)
    a = p.parse_args(argv)
    set_threads(a.threads)
    reps = 2 if a.smoke else a.reps
    for builtin in SETS:
        recs = []
        for rep in range(reps):
            recs.append(repetition(builtin, rep, a.smoke))
            emit(recs[-1])
        emit({**summary(builtin, recs), "machine": machine()})
    if a.landmine:
        emit(landmine(a.smoke))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
