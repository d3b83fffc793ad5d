"""Grouping quality: planted-cluster and Landmine split recovery, and agreement with pairwise gains.

- **Planted clusters**: the built-in synthetic data (3 clusters x 3 tasks, each task on its own 300
  rows; data and split seed = run seed), ``analyze`` with every measure at its defaults, then
  ``group(max_groups=3)`` from each measure alone; adjusted Rand index (sklearn) of the recommended
  grouping against the planted clusters, mean over ``--seeds`` seeds. Also per measure: the
  within-cluster minus across-cluster mean affinity, the signal-to-noise figure, the analysis time,
  and the Spearman correlation of gradient cosine, lookahead and probe cosine with the measured
  pairwise gains (``affinity.json``'s agreement).
- **Landmine** (needs ../shared/data/landmine): the 29 fields, ``analyze`` with every measure at its
  defaults (``--no-landmine-transfer`` leaves out the 870 pair probes), ``group(max_groups=2)`` per
  measure, adjusted Rand index against the known split (fields 1-15 foliated, 16-29 bare earth).

``analyze`` runs its units as the CLI does (inline, one torch thread per unit).
"""

from __future__ import annotations

import json
import statistics
from typing import Any, Callable, Sequence

from ._common import (adjusted_rand, base_parser, emit, grouping_api, machine, peak_rss_mb, recommend,
                      run_config, set_threads, shared_missing, warm_up, within_minus_across)

KINDS = {"joint": ("gradient_cosine", "lookahead"), "probes": ("transfer", "probe_cosine")}
PAIRWISE = ("gradient_cosine", "lookahead", "probe_cosine")


def timed_analyze(cfg, measures: list[str], exhaustive: bool = False, store=None) -> tuple[dict[str, Any], dict[str, float]]:
    """``analyze`` plus the seconds its units took, per measure (units shared by measures count for each)."""
    from taskgroup.affinity.analyze import analyze
    from taskgroup.data import load_taskset

    taskset = load_taskset(cfg)
    seconds = {"joint": 0.0, "probes": 0.0}

    def progress(done: int, total: int, info: dict[str, Any]) -> None:
        if info.get("event") == "done" and info.get("kind") in seconds:
            seconds[info["kind"]] += float(info["seconds"])

    doc = analyze(cfg, taskset, store, measures=measures, exhaustive=exhaustive, progress=progress)
    # a measure needs one joint run; the stability runs at other seeds (same steps) are taskgroup's own
    seconds["joint"] /= 1 + cfg.analyze.stability_runs
    per_measure = {m: seconds[k] for k, ms in KINDS.items() for m in ms if m in doc["measures"]}
    if exhaustive:
        per_measure["subsets"] = seconds["probes"]
    return doc, per_measure


def _score(doc: dict[str, Any], labels: dict[str, str], k: int, seconds: dict[str, float]) -> dict[str, Any]:
    names = doc["tasks"]
    out: dict[str, Any] = {}
    for m, entry in doc["measures"].items():
        rec: dict[str, Any] = {"snr": entry.get("snr"), "informative": entry.get("informative"),
                               "within_minus_across": within_minus_across(entry["matrix"], names, labels),
                               "seconds": seconds.get(m)}
        try:
            groups = recommend(doc, m, max_groups=k)
            rec.update({"groups": groups, "ari": adjusted_rand(groups, labels)})
        except Exception as exc:  # recorded, not fatal: one measure's failure must not hide the others
            rec.update({"groups": None, "ari": None, "error": f"{type(exc).__name__}: {exc}"})
        out[m] = rec
    return out


def planted(seeds: Sequence[int], clusters: int = 3, per_cluster: int = 3, rows: int = 300,
            analyze_overrides: dict[str, Any] | None = None,
            on_seed: Callable[[dict[str, Any]], None] | None = None,
            measures: Sequence[str] = ("gradient_cosine", "lookahead", "transfer")) -> dict[str, Any]:
    """Planted-cluster recovery over ``seeds``; one record per seed and a summary."""
    from taskgroup.data import load_taskset

    runs = []
    first = True
    for seed in seeds:
        cfg = run_config("synthetic", {"n_clusters": clusters, "tasks_per_cluster": per_cluster,
                                       "rows_per_task": rows, "seed": seed}, seed=seed,
                         analyze=analyze_overrides or {})
        if first:  # so that the first seed's times do not include first-call costs
            warm_up(load_taskset(cfg))
            first = False
        doc, seconds = timed_analyze(cfg, list(measures))
        labels = load_taskset(cfg).meta["clusters"]
        rec = {"benchmark": "planted_seed", "seed": seed, "measures": _score(doc, labels, clusters, seconds),
               "agreement": doc.get("agreement", {})}
        if on_seed:
            on_seed(rec)
        runs.append(rec)
    measures = sorted({m for r in runs for m in r["measures"]})
    summary: dict[str, Any] = {}
    for m in measures:
        aris = [r["measures"][m]["ari"] for r in runs if r["measures"].get(m, {}).get("ari") is not None]
        gaps = [r["measures"][m]["within_minus_across"] for r in runs if m in r["measures"]]
        secs = [r["measures"][m]["seconds"] for r in runs if r["measures"].get(m, {}).get("seconds") is not None]
        summary[m] = {"ari_mean": statistics.fmean(aris) if aris else None,
                      "ari_std": statistics.pstdev(aris) if len(aris) > 1 else None, "ari_values": aris,
                      "within_minus_across_mean": statistics.fmean(gaps) if gaps else None,
                      "seconds_mean": statistics.fmean(secs) if secs else None,
                      "errors": [r["measures"][m].get("error") for r in runs if r["measures"].get(m, {}).get("error")]}
    spearman: dict[str, Any] = {}
    for m in PAIRWISE:
        key = "~".join(sorted((m, "transfer")))
        vals = [r["agreement"].get(key) for r in runs if r["agreement"].get(key) is not None]
        spearman[m] = {"mean": statistics.fmean(vals) if vals else None, "values": vals}
    return {"benchmark": "planted_recovery",
            "data": {"builtin": "synthetic", "n_clusters": clusters, "tasks_per_cluster": per_cluster,
                     "rows_per_task": rows, "shared_rows": False},
            "seeds": list(seeds), "max_groups": clusters, "measures": summary,
            "spearman_vs_transfer": spearman, "analyze": analyze_overrides or "defaults"}


def landmine(transfer: bool, analyze_overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Landmine split recovery per measure, or a skip record naming what is missing."""
    why = shared_missing("landmine/LandmineData.mat")
    if why:
        return {"benchmark": "landmine_recovery", "skipped": why}
    measures = ["gradient_cosine", "lookahead"] + (["transfer"] if transfer else [])
    cfg = run_config("landmine", analyze=analyze_overrides or {})
    doc, seconds = timed_analyze(cfg, measures)
    from taskgroup.data import load_taskset

    labels = load_taskset(cfg).meta["clusters"]
    out = {"benchmark": "landmine_recovery", "tasks": len(doc["tasks"]), "max_groups": 2,
           "measures": _score(doc, labels, 2, seconds), "agreement": doc.get("agreement", {}),
           "analyze": analyze_overrides or "defaults"}
    if not transfer:
        out["transfer_skipped"] = "left out by --no-landmine-transfer (29 singles + 406 pairs per seed)"
    return out


def main(argv: Sequence[str] | None = None) -> None:
    p = base_parser(__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=5, help="planted-cluster seeds (mean taken)")
    p.add_argument("--no-landmine-transfer", action="store_true", help="skip Landmine's 870 pair probes")
    p.add_argument("--no-landmine", action="store_true")
    p.add_argument("--analyze", default=None, help='[analyze] overrides as JSON, e.g. \'{"steps": 60}\'')
    p.add_argument("--measures", default="gradient_cosine,lookahead,transfer")
    a = p.parse_args(argv)
    threads = set_threads(a.threads)
    _, why = grouping_api()
    if why:
        emit({"benchmark": "planted_recovery", "skipped": why})
        emit({"benchmark": "landmine_recovery", "skipped": why})
        return
    if a.smoke:
        small = {"steps": 20, "every": 5, "window": 2, "probe_steps": 10, "probe_seeds": 1}
        emit({**planted([0, 1], clusters=2, per_cluster=2, rows=40, analyze_overrides=small, on_seed=emit),
              "machine": machine()})
        return
    overrides = json.loads(a.analyze) if a.analyze else None
    emit({**planted(range(a.seeds), analyze_overrides=overrides, on_seed=emit, measures=a.measures.split(",")),
          "peak_rss_mb": peak_rss_mb(), "machine": machine(), "threads": threads})
    if not a.no_landmine:
        emit({**landmine(not a.no_landmine_transfer, overrides), "peak_rss_mb": peak_rss_mb(), "machine": machine()})


if __name__ == "__main__":
    main()
