"""Task sets larger than the oracle can reach (issue 14, item 7): Landmine (29 tasks) and a 30-task
synthetic set with planted clusters.

``taskgroup run`` with the default settings, then, in the same run directory (so every network
already trained is reused), compare once more with the groupings the published methods choose on
their own from the same affinity document and random partitions with as many groups as the final
recommendation:

- TAG (Fifty et al., NeurIPS 2021): lookahead affinity with TAG's group score and selection;
- CS: gradient cosine with the same selection (TAG's baseline);
- Standley et al. (ICML 2020): pairwise probes, higher-order approximation, exact selection (only
  where the run trained pairwise probes: ``analyze.pairs = auto`` trains them up to 30 tasks).

Each row: the test Delta_m (mean over the compare seeds, in % over single-task networks) of the final
recommendation, all-in-one, single-task (0 by definition), each published choice and the random
partitions (their mean), and the adjusted Rand index of every grouping with the planted truth
(Landmine: the foliated fields 1-15 against the bare-earth and desert fields 16-29).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Any, Sequence

from ._common import adjusted_rand, base_parser, emit, machine, peak_rss_mb, run_config, set_threads, shared_missing

PUBLISHED = {"tag_lookahead": "lookahead", "cs_gradient_cosine": "gradient_cosine", "standley_hoa": "transfer"}
SETS: dict[str, dict[str, Any]] = {
    "landmine": {"builtin": "landmine", "options": {}, "needs": "landmine/LandmineData.mat"},
    "synthetic-30": {"builtin": "synthetic", "options": {"n_clusters": 6, "tasks_per_cluster": 5}},
}
RANDOM_DRAWS = 3


def one_set(name: str, spec: dict[str, Any], workdir: Path, sections: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Run the pipeline on one set, then train the published methods' choices and random partitions."""
    from taskgroup.comparison.compare import compare, random_groupings
    from taskgroup.data import load_taskset
    from taskgroup.grouping import group
    from taskgroup.pipeline import run
    from taskgroup.runtime.documents import AffinityDoc, ComparisonDoc, GroupingsDoc
    from taskgroup.runtime.rundir import open_run

    cfg = run_config(spec["builtin"], spec.get("options"), seed=0, **sections)
    taskset = load_taskset(cfg)
    names = taskset.task_names
    labels = taskset.meta["clusters"]
    out_dir = workdir / name
    start = time.perf_counter()
    run(cfg, out_dir, force=True)
    seconds = time.perf_counter() - start
    doc = ComparisonDoc.load(out_dir / "comparison.json")
    affinity = AffinityDoc.load(out_dir / "affinity.json")
    final = doc.final
    rec: dict[str, Any] = {"benchmark": "large_set", "set": name, "tasks": len(names), "seconds": seconds,
                           "seeds": list(doc.seeds), "clusters": len(set(labels.values()))}
    groupings: dict[str, list[list[str]]] = {}
    for method, measure in PUBLISHED.items():
        if measure not in affinity.measures:
            rec.setdefault("not_measured", []).append(method)
            continue
        g = group(affinity.to_json(), measure=measure, partition=True)
        groupings[method] = [list(x) for x in g["recommended"]["groups"]]
    k = len(final.groups)
    draws = random_groupings(names, k, RANDOM_DRAWS, 101)
    extra = [{"groups": g, "method": m} for m, g in groupings.items()] + \
            [{"groups": g, "method": f"random-{i}"} for i, g in enumerate(draws)]
    extra_doc = GroupingsDoc.from_json({"tasks": names, "recommended": {"groups": final.groups, "method": "final"},
                                        "candidates": extra}, "<large_sets>")
    with open_run(out_dir, cfg, taskset.fingerprint()) as store:
        second = compare(cfg, taskset, extra_doc, store, affinity=affinity)
    by_groups = {_key(a.groups): a for a in second.alternatives
                 if a.sharing == "hard" and a.weighting == "equal" and a.width == 1.0 and a.groups}
    alts = {a.name: a for a in second.alternatives}

    def row(groups: list[list[str]] | None, alt=None) -> dict[str, Any]:
        alt = alt or by_groups.get(_key(groups))
        return {"groups": [list(g) for g in alt.groups] if alt else groups, "k": len(alt.groups) if alt else None,
                "delta_m_test": alt.delta_m if alt else None, "delta_m_val": alt.delta_m_val if alt else None,
                "ari": adjusted_rand(alt.groups, labels) if alt and alt.groups else None}

    rec["final"] = {**row(final.groups), "name": final.name, "proposed_by": final.proposed_by,
                    "decision": final.decision}
    rec["all_in_one"] = row([list(names)], alts.get("all_in_one"))
    rec["single_task"] = row([[t] for t in names], alts.get("single_task"))
    for m, g in groupings.items():
        rec[m] = row(g)
    rnd = [row(g) for g in draws]
    vals = [r["delta_m_test"] for r in rnd if r["delta_m_test"] is not None]
    rec["random"] = {"k": k, "draws": len(draws), "delta_m_test_mean": statistics.fmean(vals) if vals else None,
                     "delta_m_test_min": min(vals) if vals else None, "delta_m_test_max": max(vals) if vals else None,
                     "ari_mean": statistics.fmean(r["ari"] for r in rnd)}
    return rec


def _key(groups) -> tuple:
    return tuple(sorted(tuple(sorted(g)) for g in groups or []))


def main(argv: Sequence[str] | None = None) -> None:
    p = base_parser(__doc__.splitlines()[0])
    p.add_argument("--sets", default=",".join(SETS), help="comma-separated: " + ", ".join(SETS))
    p.add_argument("--workdir", default=None, help="keep the run directories here (default: a temporary folder)")
    a = p.parse_args(argv)
    set_threads(a.threads)
    sections: dict[str, dict[str, Any]] = {}
    specs = SETS
    sets = [s.strip() for s in a.sets.split(",") if s.strip()]
    if a.smoke:
        specs = {"synthetic-30": {"builtin": "synthetic", "options": {"n_clusters": 2, "tasks_per_cluster": 3,
                                                                       "rows_per_task": 60}}}
        sets = ["synthetic-30"]
        sections = {"train": {"steps": 20, "eval_every": 10, "patience": 2},
                    "analyze": {"steps": 20, "every": 5, "window": 2, "probe_steps": 10, "probe_seeds": 1},
                    "compare": {"seeds": 2, "random_groupings": 1}}
    with tempfile.TemporaryDirectory(prefix="taskgroup-large-") as tmp:
        base = Path(a.workdir) if a.workdir else Path(tmp)
        for name in sets:
            spec = specs[name]
            if spec.get("needs") and (why := shared_missing(spec["needs"])):
                emit({"benchmark": "large_set", "set": name, "skipped": why})
                continue
            emit({**one_set(name, spec, base, sections), "peak_rss_mb": peak_rss_mb(), **machine()})


if __name__ == "__main__":
    main()
