"""Regret of each measure's recommended grouping against the best grouping in hindsight (N <= 6).

On task sets small enough to train every subset (4 tasks each: synthetic with 2 planted clusters of
2, the digits tasks is_3/is_5/is_1/is_7, SARCOS torques 1-4 on 2,000 rows), ``analyze`` runs the
one-run measures and the pairwise probes (timed), then ``--exhaustive`` (every subset, timed);
``group`` recommends a grouping from each measure alone (and from the measured subsets: Standley et
al.'s exact method); ``compare`` trains it with the alternatives and the oracle (all subsets trained,
the best partition chosen on validation) over the compare seeds, reusing every network already in
the run's store. The figure of merit is the test total: the sum over tasks of the mean test metric.

``regret`` = the oracle's total minus the grouping's total, signed so that positive is worse, as a
percentage of the oracle's total (target <= 2%). Also given: all-in-one, single-task, the mean of
the random groupings (drawn at the recommended number of groups), and each Delta_m.

Training is shortened for time (``[train] steps``, stated in the output); ``[analyze]`` is at its
defaults.
"""

from __future__ import annotations

import statistics
import tempfile
from pathlib import Path
from typing import Any, Sequence

from ._common import base_parser, emit, grouping_api, machine, peak_rss_mb, recommend, run_config, set_threads, \
    shared_missing
from .grouping_quality import timed_analyze

TARGET_PCT = 2.0
SETS: dict[str, dict[str, Any]] = {
    "synthetic": {"builtin": "synthetic", "options": {"n_clusters": 2, "tasks_per_cluster": 2, "rows_per_task": 300}},
    "digits": {"builtin": "digits", "options": {"tasks": ["is_3", "is_5", "is_1", "is_7"]}},
    "sarcos": {"builtin": "sarcos", "options": {"rows": 2000}, "tasks": ["torque1", "torque2", "torque3", "torque4"],
               "needs": "sarcos/sarcos_inv_test.mat"},
}
MEASURES = ("gradient_cosine", "lookahead", "transfer", "probe_cosine", "subsets")
TRAIN = {"steps": 400, "eval_every": 50, "patience": 8}
COMPARE = {"seeds": 2, "random_groupings": 3, "alternatives": ["recommended", "single_task", "all_in_one", "random"]}


def total(alt: dict[str, Any]) -> float:
    return float(sum(v["mean"] for v in alt["per_task"].values()))


def regret_pct(alt_total: float, oracle_total: float, lower: bool) -> float:
    """How much worse than the oracle, in percent of the oracle's total (negative: better)."""
    gap = alt_total - oracle_total if lower else oracle_total - alt_total
    return 100.0 * gap / max(abs(oracle_total), 1e-12)


def one_set(name: str, spec: dict[str, Any], workdir: Path, train: dict[str, Any], compare_cfg: dict[str, Any],
            max_groups: int | None, analyze_overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Analyze, group per measure and compare on one task set."""
    from taskgroup.comparison.compare import compare
    from taskgroup.runtime.documents import AffinityDoc, GroupingsDoc
    from taskgroup.data import load_taskset
    from taskgroup.runtime.rundir import open_run

    if spec.get("needs") and (why := shared_missing(spec["needs"])):
        return {"benchmark": "regret_set", "set": name, "skipped": why}
    cfg = run_config(spec["builtin"], spec.get("options"), seed=0, tasks=spec.get("tasks"),
                     train=train, compare=compare_cfg, analyze=analyze_overrides or {})
    taskset = load_taskset(cfg)
    lowers = {t.lower_is_better for t in taskset.tasks}
    if len(lowers) != 1:
        return {"benchmark": "regret_set", "set": name, "skipped": "metrics of mixed directions: no single total"}
    lower = lowers.pop()
    out: dict[str, Any] = {"benchmark": "regret_set", "set": name, "tasks": taskset.task_names,
                           "metric": taskset.tasks[0].metric, "lower_is_better": lower}
    with open_run(workdir / name, cfg, taskset.fingerprint(), force=True) as store:
        _, seconds = timed_analyze(cfg, ["gradient_cosine", "lookahead", "transfer"], store=store)
        affinity, ex_seconds = timed_analyze(cfg, ["gradient_cosine", "lookahead", "transfer"], exhaustive=True,
                                             store=store)
        seconds["subsets"] = ex_seconds["subsets"]
        per_measure: dict[str, Any] = {}
        baseline: dict[str, Any] | None = None  # oracle, all-in-one, single-task: the same in every comparison
        for m in MEASURES:
            try:
                groups = recommend(affinity, m, max_groups=max_groups)
            except Exception as exc:
                per_measure[m] = {"error": f"{type(exc).__name__}: {exc}"}
                continue
            groupings = {"schema": 1, "tasks": taskset.task_names,
                         "recommended": {"groups": groups, "method": m}, "candidates": []}
            doc = compare(cfg, taskset, GroupingsDoc.from_json(groupings), store,
                          affinity=AffinityDoc.from_json(affinity)).to_json()
            alts = {a["name"]: a for a in doc["alternatives"]}
            rec = alts["recommended"]
            per_measure[m] = {"groups": groups, "total": total(rec), "delta_m": rec["delta_m"],
                              "analysis_seconds": seconds.get(m)}
            baseline = baseline or alts
            oracle = alts.get("oracle")
            if oracle:
                per_measure[m]["regret_pct"] = regret_pct(total(rec), total(oracle), lower)
                randoms = [a for n, a in alts.items() if n.startswith("random-")]
                per_measure[m]["random_k"] = len(groups)
                per_measure[m]["random_mean_total"] = statistics.fmean(total(a) for a in randoms) if randoms else None
                per_measure[m]["random_regret_pct"] = (regret_pct(per_measure[m]["random_mean_total"], total(oracle), lower)
                                                       if randoms else None)
    if baseline is None:
        out["error"] = "no measure gave a grouping"
        return out
    alts = baseline
    oracle = alts.get("oracle")
    out["oracle"] = {"groups": oracle["groups"], "total": total(oracle), "delta_m": oracle["delta_m"]} if oracle else None
    for name_ in ("all_in_one", "single_task"):
        if name_ in alts and oracle:
            out[name_] = {"total": total(alts[name_]), "delta_m": alts[name_]["delta_m"],
                          "regret_pct": regret_pct(total(alts[name_]), total(oracle), lower)}
    out["measures"] = per_measure
    return out


def run(sets: Sequence[str], train: dict[str, Any], compare_cfg: dict[str, Any], max_groups: int | None,
        workdir: Path | None = None, analyze_overrides: dict[str, Any] | None = None,
        specs: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """Every set in ``sets``; a summary with each measure's mean and worst regret."""
    specs = specs or SETS
    results = []
    with tempfile.TemporaryDirectory(prefix="taskgroup-regret-") as tmp:
        base = Path(workdir) if workdir else Path(tmp)
        for name in sets:
            rec = one_set(name, specs[name], base, train, compare_cfg, max_groups, analyze_overrides)
            emit(rec)
            results.append(rec)
    summary: dict[str, Any] = {}
    for m in MEASURES:
        vals = [r["measures"][m]["regret_pct"] for r in results
                if "measures" in r and r["measures"].get(m, {}).get("regret_pct") is not None]
        secs = [r["measures"][m]["analysis_seconds"] for r in results
                if "measures" in r and r["measures"].get(m, {}).get("analysis_seconds") is not None]
        rnd = [r["measures"][m]["random_regret_pct"] for r in results
               if "measures" in r and r["measures"].get(m, {}).get("random_regret_pct") is not None]
        summary[m] = {"regret_pct_mean": statistics.fmean(vals) if vals else None,
                      "regret_pct_max": max(vals) if vals else None, "sets": len(vals),
                      "random_regret_pct_mean": statistics.fmean(rnd) if rnd else None,
                      "analysis_seconds_mean": statistics.fmean(secs) if secs else None,
                      "pass": bool(vals) and max(vals) <= TARGET_PCT}
    for ref in ("all_in_one", "single_task"):
        vals = [r[ref]["regret_pct"] for r in results if r.get(ref)]
        summary[ref] = {"regret_pct_mean": statistics.fmean(vals) if vals else None,
                        "regret_pct_max": max(vals) if vals else None, "sets": len(vals)}
    return {"benchmark": "regret", "target_pct": TARGET_PCT, "train": train, "compare": compare_cfg,
            "max_groups": max_groups, "sets": [r["set"] for r in results],
            "skipped": {r["set"]: r["skipped"] for r in results if "skipped" in r}, "summary": summary}


def main(argv: Sequence[str] | None = None) -> None:
    p = base_parser(__doc__.splitlines()[0])
    p.add_argument("--sets", default=",".join(SETS), help="comma-separated: " + ", ".join(SETS))
    p.add_argument("--train-steps", type=int, default=TRAIN["steps"])
    p.add_argument("--max-groups", type=int, default=None, help="limit on groups (default: none, as `group`)")
    p.add_argument("--workdir", default=None, help="keep the run directories here (default: a temporary folder)")
    a = p.parse_args(argv)
    set_threads(a.threads)
    _, why = grouping_api()
    if why:
        emit({"benchmark": "regret", "skipped": why})
        return
    if a.smoke:
        tiny = {"synthetic": {"builtin": "synthetic",
                              "options": {"n_clusters": 1, "tasks_per_cluster": 3, "rows_per_task": 40}}}
        emit({**run(["synthetic"], {"steps": 20, "eval_every": 10, "patience": 2},
                    {"seeds": 1, "random_groupings": 1, "alternatives": COMPARE["alternatives"]}, a.max_groups,
                    analyze_overrides={"steps": 20, "every": 5, "window": 2, "probe_steps": 10, "probe_seeds": 1},
                    specs=tiny), "machine": machine()})
        return
    res = run([s.strip() for s in a.sets.split(",") if s.strip()], {**TRAIN, "steps": a.train_steps}, COMPARE,
              a.max_groups, Path(a.workdir) if a.workdir else None)
    emit({**res, "peak_rss_mb": peak_rss_mb(), "machine": machine()})


if __name__ == "__main__":
    main()
