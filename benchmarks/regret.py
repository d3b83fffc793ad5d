"""Regret of taskgroup's final recommendation and of the published methods against the oracle (N <= 6).

On task sets small enough to train every subset, and over several seeds (the seed draws the splits
and every initialisation), each method chooses a partition on its own:

- ``taskgroup_final``: the pipeline as a user runs it: ``analyze`` (joint run and pairwise probes),
  ``group`` (proposals from every informative measure), ``compare`` (candidates verified by training,
  successive halving) and its ``final`` grouping;
- ``standley_hoa``: pairwise probes, higher-order approximation and exact selection (Standley et al.,
  ICML 2020);
- ``standley_exhaustive``: every subset trained at probe length, exact selection (Standley et al.);
- ``tag_lookahead``: lookahead affinity with TAG's group score and selection (Fifty et al., NeurIPS 2021);
- ``cs_gradient_cosine``: gradient cosine with the same selection (TAG's "CS" baseline);
- ``all_in_one``, ``single_task`` and ``random`` (the mean over random partitions with as many groups
  as the final recommendation).

The oracle is the best partition over every subset network trained at the full budget, chosen on
validation. Every partition above is scored with the same full-budget networks (one per subset and
seed, stored once), by its test total: the sum over tasks of the test metric. ``regret`` = how much
worse than the oracle's total, in % of it (positive = worse). ``seconds`` is what the method itself
spent: its analysis units (and, for ``taskgroup_final``, the compare step); the full-budget training of
the chosen partition is common to all and not counted.

Budgets are small for a shared 2-core machine (``TRAIN``, ``ANALYZE``, one compare seed per run); the
output says which.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Any, Sequence

from ._common import base_parser, emit, machine, peak_rss_mb, run_config, set_threads, shared_missing
from .grouping_quality import timed_analyze

TARGET_WORST_PCT = 1.0
TARGET_MEAN_PCT = 0.3
LANDMINE_FIELDS = ["field01", "field02", "field03", "field16", "field17", "field18"]
SETS: dict[str, dict[str, Any]] = {
    "synthetic-shared": {"builtin": "synthetic", "options": {"n_clusters": 2, "tasks_per_cluster": 2, "rows_per_task": 400,
                                                             "shared_rows": True}},
    "synthetic-own": {"builtin": "synthetic", "options": {"n_clusters": 2, "tasks_per_cluster": 2, "rows_per_task": 200}},
    "digits": {"builtin": "digits", "options": {}, "tasks": ["is_3", "is_5", "is_1", "is_7"]},
    "sarcos": {"builtin": "sarcos", "options": {"rows": 2000}, "tasks": ["torque1", "torque2", "torque3", "torque4"],
               "needs": "sarcos/sarcos_inv_test.mat"},
    "landmine-3+3": {"builtin": "landmine", "options": {}, "tasks": LANDMINE_FIELDS,
                     "needs": "landmine/LandmineData.mat"},
    "school-5": {"builtin": "school", "options": {"max_tasks": 5}, "needs": "school"},
    "computer-5": {"builtin": "computer-survey", "options": {"max_tasks": 5}, "needs": "computer-survey"},
}
PUBLISHED = {"standley_hoa": "transfer", "standley_exhaustive": "subsets", "tag_lookahead": "lookahead",
             "cs_gradient_cosine": "gradient_cosine"}
METHODS = ("taskgroup_final", *PUBLISHED, "all_in_one", "single_task", "random")
TRAIN = {"steps": 400, "eval_every": 50, "patience": 8}
ANALYZE = {"probe_seeds": 2}
COMPARE = {"seeds": 1, "random_groupings": 0,
           "alternatives": ["recommended", "candidates", "single_task", "all_in_one"]}
RANDOM_DRAWS = 5


def total(values: dict[str, float]) -> float:
    return float(sum(values.values()))


def regret_pct(alt_total: float, oracle_total: float, lower: bool) -> float:
    """How much worse than the oracle, in percent of the oracle's total (negative: better)."""
    gap = alt_total - oracle_total if lower else oracle_total - alt_total
    return 100.0 * gap / max(abs(oracle_total), 1e-12)


def _test_total(groups: list[list[str]], results: dict, names: list[str], seeds: list[int]) -> float:
    """Sum over tasks of the mean over seeds of the test metric of the network serving the task."""
    from taskgroup.comparison.compare import NetworkSpec

    per_task: dict[str, list[float]] = {}
    for s in seeds:
        for g in groups:
            rec = results[NetworkSpec(tuple(g), s)]
            for t in g:
                per_task.setdefault(t, []).append(rec.test[t])
    return total({t: statistics.fmean(per_task[t]) for t in names})


def _subset_networks(cfg, taskset, store, seeds: list[int]) -> dict:
    """Every subset's full-budget network for ``seeds`` (from the store when compare trained it)."""
    import itertools

    from taskgroup.comparison.compare import NetworkSpec, Trained, network_key
    from taskgroup.comparison.stacked import train_networks

    names = taskset.task_names
    specs = [NetworkSpec(tuple(c), s) for s in seeds for k in range(1, len(names) + 1)
             for c in itertools.combinations(names, k)]
    keys = [network_key(taskset.fingerprint(), sp, cfg) for sp in specs]
    payloads = train_networks(specs, keys, cfg, taskset, store)
    return {sp: Trained.of(key, p) for sp, key, p in zip(specs, keys, payloads)}


def one_run(name: str, spec: dict[str, Any], seed: int, workdir: Path, train: dict[str, Any],
            analyze_cfg: dict[str, Any], compare_cfg: dict[str, Any]) -> dict[str, Any]:
    """Every method on one task set at one seed."""
    from taskgroup.comparison.compare import compare, random_groupings
    from taskgroup.data import load_taskset
    from taskgroup.grouping import group
    from taskgroup.grouping.proposals import group_all
    from taskgroup.runtime.documents import AffinityDoc, GroupingsDoc
    from taskgroup.runtime.rundir import open_run

    cfg = run_config(spec["builtin"], spec.get("options"), seed=seed, tasks=spec.get("tasks"),
                     train=train, compare=compare_cfg, analyze=analyze_cfg)
    taskset = load_taskset(cfg)
    names = taskset.task_names
    lowers = {t.lower_is_better for t in taskset.tasks}
    out: dict[str, Any] = {"benchmark": "regret_set", "set": name, "seed": seed, "tasks": names,
                           "metric": taskset.tasks[0].metric}
    if len(lowers) != 1:
        return {**out, "skipped": "metrics of mixed directions: no single total"}
    lower = out["lower_is_better"] = lowers.pop()
    measures = ["gradient_cosine", "lookahead", "transfer"]
    with open_run(workdir / f"{name}-{seed}", cfg, taskset.fingerprint(), force=True) as store:
        affinity, seconds = timed_analyze(cfg, measures, store=store)
        analysis_seconds = seconds.get("gradient_cosine", 0.0) + seconds.get("transfer", 0.0)
        chosen: dict[str, Any] = {}
        start = time.perf_counter()
        groupings = GroupingsDoc.from_json(group_all(affinity, partition=True), "<regret>")
        doc = compare(cfg, taskset, groupings, store, affinity=AffinityDoc.from_json(affinity, "<regret>"))
        final = doc.final
        chosen["taskgroup_final"] = {"groups": final.groups, "by": final.name, "proposed_by": final.proposed_by,
                                     "seconds": analysis_seconds + time.perf_counter() - start}
        ex_affinity, ex_seconds = timed_analyze(cfg, measures, exhaustive=True, store=store)
        for method, measure in PUBLISHED.items():
            try:
                g = group(ex_affinity if measure == "subsets" else affinity, measure=measure, partition=True)
                secs = ex_seconds["subsets"] if measure == "subsets" else seconds.get(measure)
                chosen[method] = {"groups": [list(x) for x in g["recommended"]["groups"]], "seconds": secs}
            except Exception as exc:  # recorded: one method's failure must not hide the others
                chosen[method] = {"error": f"{type(exc).__name__}: {exc}"}
        chosen["all_in_one"] = {"groups": [list(names)], "seconds": 0.0}
        chosen["single_task"] = {"groups": [[t] for t in names], "seconds": 0.0}
        # the oracle: the best partition of every subset's full-budget network, chosen on validation
        seeds = list(doc.seeds)
        oracle_doc = compare(cfg, taskset, GroupingsDoc.from_json(
            {"tasks": names, "recommended": {"groups": [list(names)], "method": "all"}, "candidates": []},
            "<regret>"), store, affinity=AffinityDoc.from_json(ex_affinity, "<regret>"))
        oracle = next(a for a in oracle_doc.alternatives if a.name == "oracle")
        results = _subset_networks(cfg, taskset, store, seeds)
        oracle_total = _test_total(oracle.groups, results, names, seeds)
        out["oracle"] = {"groups": oracle.groups, "total": oracle_total}
        k = len(chosen["taskgroup_final"]["groups"])
        draws = random_groupings(names, k, RANDOM_DRAWS, seed + 101)
        rnd = statistics.fmean(_test_total(g, results, names, seeds) for g in draws)
        chosen["random"] = {"groups": None, "k": k, "total": rnd, "seconds": 0.0}
        for method, c in chosen.items():
            if "error" in c:
                continue
            if c.get("groups") is not None:
                c["total"] = _test_total(c["groups"], results, names, seeds)
            c["regret_pct"] = regret_pct(c["total"], oracle_total, lower)
    out["measures"] = chosen
    return out


def summarise(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean and worst regret and mean seconds of each method over every (set, seed)."""
    summary: dict[str, Any] = {}
    done = [r for r in results if "measures" in r]
    for m in METHODS:
        vals = [r["measures"][m]["regret_pct"] for r in done if r["measures"].get(m, {}).get("regret_pct") is not None]
        secs = [r["measures"][m]["seconds"] for r in done if r["measures"].get(m, {}).get("seconds") is not None]
        summary[m] = {"regret_pct_mean": statistics.fmean(vals) if vals else None,
                      "regret_pct_max": max(vals) if vals else None, "runs": len(vals),
                      "analysis_seconds_mean": statistics.fmean(secs) if secs else None}
    final = summary["taskgroup_final"]
    if final["runs"]:
        final["pass"] = final["regret_pct_max"] <= TARGET_WORST_PCT and final["regret_pct_mean"] <= TARGET_MEAN_PCT
        final["beats"] = {m: (summary[m]["regret_pct_mean"] is not None
                              and final["regret_pct_mean"] < summary[m]["regret_pct_mean"]) for m in PUBLISHED}
    return summary


def _one_job(job: tuple) -> dict[str, Any]:
    name, spec, seed, base, train, analyze_cfg, compare_cfg, threads = job
    set_threads(threads)
    return one_run(name, spec, seed, base, train, analyze_cfg, compare_cfg)


def run(sets: Sequence[str], seeds: Sequence[int], train: dict[str, Any], analyze_cfg: dict[str, Any],
        compare_cfg: dict[str, Any], workdir: Path | None = None,
        specs: dict[str, dict[str, Any]] | None = None, jobs: int = 1, threads: int | None = None) -> dict[str, Any]:
    """Every (set, seed) run, ``jobs`` of them at a time in separate processes; the summary over all."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    specs = specs or SETS
    skipped = {}
    with tempfile.TemporaryDirectory(prefix="taskgroup-regret-") as tmp:
        base = Path(workdir) if workdir else Path(tmp)
        todo = []
        for name in sets:
            spec = specs[name]
            if spec.get("needs") and (why := shared_missing(spec["needs"])):
                skipped[name] = why
                continue
            todo += [(name, spec, seed, base, train, analyze_cfg, compare_cfg, threads) for seed in seeds]
        todo.sort(key=lambda job: job[2])  # seed by seed: a run cut short has every set at the first seeds
        results = []
        if jobs > 1:  # each run's line is written as it finishes, so a run cut short keeps what it did
            with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
                for future in as_completed([pool.submit(_one_job, job) for job in todo]):
                    results.append(future.result())
                    emit(results[-1])
        else:
            for job in todo:
                results.append(_one_job(job))
                emit(results[-1])
    return {"benchmark": "regret", "target_worst_pct": TARGET_WORST_PCT, "target_mean_pct": TARGET_MEAN_PCT,
            "train": train, "analyze": analyze_cfg, "compare": compare_cfg, "seeds": list(seeds),
            "sets": [s for s in sets if s not in skipped], "skipped": skipped, "methods": list(METHODS),
            "jobs": jobs, "summary": summarise(results)}


def main(argv: Sequence[str] | None = None) -> None:
    p = base_parser(__doc__.splitlines()[0])
    p.add_argument("--sets", default=",".join(SETS), help="comma-separated: " + ", ".join(SETS))
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--train-steps", type=int, default=TRAIN["steps"])
    p.add_argument("--jobs", type=int, default=1, help="(set, seed) runs at a time, each in its own process")
    p.add_argument("--workdir", default=None, help="keep the run directories here (default: a temporary folder)")
    a = p.parse_args(argv)
    set_threads(a.threads)
    if a.smoke:
        tiny = {"synthetic": {"builtin": "synthetic",
                              "options": {"n_clusters": 1, "tasks_per_cluster": 3, "rows_per_task": 40}}}
        emit({**run(["synthetic"], [0], {"steps": 20, "eval_every": 10, "patience": 2},
                    {"steps": 20, "every": 5, "window": 2, "probe_steps": 10, "probe_seeds": 1},
                    COMPARE, specs=tiny), "machine": machine()})
        return
    res = run([s.strip() for s in a.sets.split(",") if s.strip()], list(range(a.seeds)),
              {**TRAIN, "steps": a.train_steps}, ANALYZE, COMPARE, Path(a.workdir) if a.workdir else None,
              jobs=a.jobs, threads=a.threads)
    emit({**res, "peak_rss_mb": peak_rss_mb(), "machine": machine()})


if __name__ == "__main__":
    main()
