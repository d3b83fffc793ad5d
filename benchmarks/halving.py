"""Successive halving in compare: the compare step's time with and without it, and whether the final grouping changes.

For each task set, ``analyze`` (the joint run's measures, gradient cosine and lookahead: pair probes
at 29 tasks would take longer than the comparison) and ``group`` (candidates from every informative
measure) run once; ``compare`` then runs twice on the same groupings in this process, back to back,
each in its own empty run store, with ``compare.halving`` on and off (halving first on one set and
last on the other, so that a drift in the machine's load favours neither). Reported: the wall
seconds of each compare, their ratio, the seconds the trained units took (from the store), the
networks trained, the final grouping of each, and the load average before and after. Target
(issue 14): at least 2x cheaper at 29 tasks with the same final grouping.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

from ._common import base_parser, emit, load, machine, run_config, set_threads, shared_missing

TARGET = 2.0
ANALYZE = {"measures": ["gradient_cosine", "lookahead"]}
COMPARE = {"seeds": 1, "random_groupings": 1}
SETS = {"synthetic": {"n_clusters": 2, "tasks_per_cluster": 5}, "landmine": {}}


def _compare(cfg: Any, taskset: Any, groupings: Any, affinity: Any, folder: Path) -> dict[str, Any]:
    from taskgroup.comparison.compare import compare
    from taskgroup.runtime.store import RunStore

    load_before = os.getloadavg()[0]
    with RunStore(folder / "store.sqlite") as store:
        start = time.perf_counter()
        doc = compare(cfg, taskset, groupings, store, affinity=affinity)
        seconds = time.perf_counter() - start
        summary = store.summary()
    h = doc.halving
    return {"seconds": seconds, "networks_stored": summary.get("network", {}).get("done"),
            "stacks_run": summary.get("stack", {}).get("done", 0), "final": doc.final.name,
            "final_groups": doc.final.groups, "final_delta_m_select": doc.final.selection_score,
            "alternatives": len(doc.alternatives), "loadavg_before": round(load_before, 2),
            "loadavg_after": round(os.getloadavg()[0], 2),
            "halving": None if h is None else {"budgets": h.budgets, "candidates": len(h.candidates),
                                               "full_budget": h.full_budget,
                                               "rounds": [{"steps": r.steps, "kept": len(r.kept),
                                                           "networks_trained": r.networks_trained,
                                                           "seconds": r.seconds} for r in h.rounds],
                                               "full_budget_networks_trained": h.full_budget_networks_trained,
                                               "controls_seconds": h.controls_seconds,
                                               "full_budget_seconds": h.full_budget_seconds}}


def one(dataset: str, options: dict[str, Any], train: dict[str, Any], analyze_cfg: dict[str, Any],
        compare_cfg: dict[str, Any], halving_first: bool, workdir: Path) -> dict[str, Any]:
    from taskgroup.affinity.analyze import analyze
    from taskgroup.grouping.proposals import group_all
    from taskgroup.runtime.documents import AffinityDoc, GroupingsDoc
    from taskgroup.runtime.store import RunStore

    taskset = load(dataset, options)
    base = run_config(dataset, options, train=train, analyze=analyze_cfg, compare=compare_cfg)
    start = time.perf_counter()
    with RunStore(workdir / "analyze.sqlite") as store:
        raw = analyze(base, taskset, store)
    analyze_s = time.perf_counter() - start
    start = time.perf_counter()
    grouped = group_all(raw, max_groups=base.group.max_groups, budget=base.group.budget,
                        partition=base.group.partition, seed=base.seed)
    group_s = time.perf_counter() - start
    groupings = GroupingsDoc.from_json(grouped, "<benchmark>")
    affinity = AffinityDoc.from_json(raw, "<benchmark>")
    out: dict[str, Any] = {"benchmark": "halving", "dataset": dataset, "tasks": len(taskset.task_names),
                           "steps": base.train.steps, "min_steps": base.compare.min_steps,
                           "seeds": base.compare.seeds, "candidates": len(groupings.candidates),
                           "proposal_measures": grouped["settings"].get("proposal_measures"),
                           "analyze_s": analyze_s, "group_s": group_s, "halving_first": halving_first}
    for halving in ((True, False) if halving_first else (False, True)):
        cfg = run_config(dataset, options, train=train, analyze=analyze_cfg, compare={**compare_cfg, "halving": halving})
        folder = workdir / ("halving" if halving else "full")
        folder.mkdir()
        out["halving_on" if halving else "halving_off"] = _compare(cfg, taskset, groupings, affinity, folder)
    on, off = out["halving_on"], out["halving_off"]
    out["ratio"] = off["seconds"] / on["seconds"] if on["seconds"] else None
    if on["halving"]:  # the candidates' part: without halving estimated as the total less the controls' time
        candidates_on = sum(r["seconds"] for r in on["halving"]["rounds"]) + on["halving"]["full_budget_seconds"]
        candidates_off = off["seconds"] - on["halving"]["controls_seconds"]
        out["candidates_s"] = {"halving_on": candidates_on, "halving_off_estimate": candidates_off,
                               "ratio": candidates_off / candidates_on if candidates_on else None}
    out["same_final"] = sorted(map(sorted, on["final_groups"])) == sorted(map(sorted, off["final_groups"]))
    out["target"] = f">= {TARGET:g}x with the same final grouping" if out["tasks"] >= 29 else ""
    out["pass"] = (out["ratio"] >= TARGET and out["same_final"]) if out["tasks"] >= 29 else None
    return {**out, **machine()}


def main() -> None:
    p = base_parser(__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=None, help="train.steps (default: the configuration's 1500)")
    p.add_argument("--seeds", type=int, default=COMPARE["seeds"])
    p.add_argument("--min-steps", type=int, default=None, help="compare.min_steps (default: the configuration's)")
    p.add_argument("--sets", default="synthetic,landmine")
    a = p.parse_args()
    set_threads(a.threads)
    with tempfile.TemporaryDirectory(prefix="taskgroup-halving-") as tmp:
        if a.smoke:
            emit(one("synthetic", {"n_clusters": 2, "tasks_per_cluster": 2, "rows_per_task": 60},
                     {"steps": 40, "eval_every": 10, "patience": 2},
                     {**ANALYZE, "steps": 20, "every": 5, "window": 2},
                     {**COMPARE, "min_steps": 10}, True, Path(tmp)))
            return
        train = {"steps": a.steps} if a.steps else {}
        for i, name in enumerate(s for s in a.sets.split(",") if s):
            why = shared_missing("landmine/LandmineData.mat") if name == "landmine" else None
            if why:
                emit({"benchmark": "halving", "dataset": name, "skipped": why})
                continue
            work = Path(tmp) / name
            work.mkdir()
            compare = {**COMPARE, "seeds": a.seeds, **({"min_steps": a.min_steps} if a.min_steps else {})}
            emit(one(name, SETS[name], train, ANALYZE, compare, i % 2 == 0, work))


if __name__ == "__main__":
    main()


def rows(lines: list[dict[str, Any]], row: Any, f: Any) -> list[dict[str, Any]]:
    """RESULTS.md rows (``row`` and ``f`` are the suite's ``_row`` and ``_f``)."""
    out = []
    for r in lines:
        if r.get("benchmark") != "halving":
            continue
        if r.get("skipped"):
            out.append(row("speed", f"Compare with successive halving, {r['dataset']}", "skipped", note=r["skipped"]))
            continue
        on, off = r["halving_on"], r["halving_off"]
        h = on["halving"] or {}
        c = r.get("candidates_s") or {}
        rounds = ", ".join(f"{x['steps']} steps: {x['networks_trained']} networks in {f(x.get('seconds'), ' s')}, "
                           f"{x['kept']} kept"
                           for x in h.get("rounds", []))
        out.append(row("speed", f"Compare step, {r['dataset']} ({r['tasks']} tasks, {r['candidates']} candidates from "
                       f"{', '.join(r['proposal_measures'] or [])}, {r['seeds']} seed(s), up to {r['steps']} steps): "
                       f"with successive halving vs without", f(on["seconds"], " s"), f(off["seconds"], " s"),
                       f(r["ratio"], "x"), r.get("target") or "", r.get("pass"),
                       f"same final grouping: {'yes' if r['same_final'] else 'no'} ({on['final']} vs {off['final']}); "
                       f"candidates' part {f(c.get('halving_on'), ' s')} vs {f(c.get('halving_off_estimate'), ' s')} "
                       f"({f(c.get('ratio'), 'x')}; without halving: total less the controls' "
                       f"{f(h.get('controls_seconds'), ' s')}); rounds {h.get('budgets')}: {rounds}; "
                       f"{h.get('full_budget_networks_trained')} networks continued to the full budget; "
                       f"{'halving' if r['halving_first'] else 'no halving'} ran first; load "
                       f"{off['loadavg_before'] if not r['halving_first'] else on['loadavg_before']} -> "
                       f"{on['loadavg_after'] if not r['halving_first'] else off['loadavg_after']}"))
    return out
