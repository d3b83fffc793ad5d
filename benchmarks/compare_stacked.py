"""Compare's networks trained stacked versus one at a time, same units (issue 15, item 1).

For each data set, the networks ``compare`` plans with default settings (3 seeds; alternatives:
the recommended grouping, single-task, all-in-one with three weightings, soft sharing, 3 random
groupings) are trained twice in this process: by ``train_networks`` with stacking and with every
network alone (``stacked=False``), no store, the same torch thread count. The recommended grouping
is the data set's known split (synthetic: the planted clusters; Landmine: fields 1-15 and 16-29),
so no analysis runs first. Reports both times, their ratio, the time by unit kind, and the largest
difference between the two paths' validation metrics.

``--steps`` shortens training (default: the configuration's 1500 with early stopping, as a user
gets); ``--sample K`` trains only K networks of each stackable kind one at a time and extrapolates
that path's time for the kind from their mean (the stacked path always trains all).
"""

from __future__ import annotations

import time
from typing import Any

from ._common import base_parser, emit, load, machine, run_config, set_threads, shared_missing, warm_up

TARGET = 4.0


def _groupings(taskset: Any, dataset: str) -> Any:
    names = taskset.task_names
    if dataset == "landmine":
        groups = [names[:15], names[15:]]
    else:
        clusters = taskset.meta["clusters"]
        labels = sorted(set(clusters.values()))
        groups = [[n for n in names if clusters[n] == c] for c in labels]
    from taskgroup.runtime.documents import GroupingsDoc

    return GroupingsDoc.from_json({"tasks": names, "recommended": {"groups": groups, "method": "known split"},
                                   "candidates": []}, "<benchmark>")


def run(dataset: str, options: dict[str, Any], steps: int | None, sample: int) -> dict[str, Any]:
    from taskgroup.comparison.compare import network_key, plan
    from taskgroup.comparison.stacked import plan_stacks, train_networks

    train = {"steps": steps} if steps else {}
    cfg = run_config(dataset, options, train=train)
    taskset = load(dataset, options)
    warm_up(taskset)
    _alts, specs, _seeds = plan(cfg, taskset, _groupings(taskset, dataset), None)
    fp = taskset.fingerprint()
    keys = [network_key(fp, sp, cfg) for sp in specs]
    stacks = plan_stacks(specs, taskset, cfg)
    start = time.perf_counter()
    stacked = train_networks(specs, keys, cfg, taskset, None, stacked=True)
    stacked_s = time.perf_counter() - start
    stack_sizes = sorted((len(g) for g in stacks), reverse=True)
    # one at a time: every network alone, or a sample of each stackable kind (extrapolated)
    kinds: dict[str, list[int]] = {}
    for g in stacks:
        kinds.setdefault("stackable" if len(g) > 1 else "alone", []).extend(g)
    alone_s, timed, by_kind = 0.0, 0, {}
    max_diff = 0.0
    for kind, idx in kinds.items():
        chosen = idx if (kind == "alone" or not sample or sample >= len(idx)) else idx[:: max(1, len(idx) // sample)][:sample]
        start = time.perf_counter()
        recs = train_networks([specs[i] for i in chosen], [keys[i] for i in chosen], cfg, taskset, None, stacked=False)
        seconds = time.perf_counter() - start
        for i, rec in zip(chosen, recs):
            max_diff = max([max_diff] + [abs(rec["val"][t] - stacked[i]["val"][t]) for t in rec["val"]])
        est = seconds * len(idx) / len(chosen)
        by_kind[kind] = {"networks": len(idx), "timed": len(chosen), "one_at_a_time_s": est,
                         "stacked_s": sum(stacked[i]["seconds"] for i in idx)}
        alone_s += est
        timed += len(chosen)
    ratio = alone_s / stacked_s
    return {"benchmark": "compare_stacked", "dataset": dataset, "tasks": len(taskset.task_names),
            "networks": len(specs), "stacks": sum(1 for g in stacks if len(g) > 1), "largest_stack": stack_sizes[0],
            "steps": cfg.train.steps, "stacked_s": stacked_s, "one_at_a_time_s": alone_s, "ratio": ratio,
            "target": f">= {TARGET:g}" if dataset == "landmine" else "", "pass": ratio >= TARGET if dataset == "landmine"
            else None, "by_kind": by_kind, "one_at_a_time_timed": timed,
            "extrapolated": timed < len(specs), "max_abs_diff_val": max_diff, **machine()}


def main() -> None:
    p = base_parser(__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=None)
    p.add_argument("--sample", type=int, default=0)
    p.add_argument("--no-landmine", action="store_true")
    args = p.parse_args()
    set_threads(args.threads)
    if args.smoke:
        emit(run("synthetic", {"n_clusters": 2, "tasks_per_cluster": 2, "rows_per_task": 60}, 30, 0))
        return
    emit(run("synthetic", {"n_clusters": 2, "tasks_per_cluster": 5}, args.steps, args.sample))
    why = shared_missing("landmine/LandmineData.mat")
    if args.no_landmine or why:
        emit({"benchmark": "compare_stacked", "dataset": "landmine", "skipped": True,
              "reason": why or "--no-landmine"})
        return
    emit(run("landmine", {}, args.steps, args.sample))


if __name__ == "__main__":
    main()
