"""Cost of each measure against pairwise probes and exhaustive subset training, at the same data.

taskgroup's version of TAG's "x times faster than Standley et al.": on the built-in synthetic data
with 6 tasks (2 planted clusters x 3 tasks, own rows), each of these runs in a fresh process, so its
peak resident memory (``resource.getrusage``) is its own:

- ``plain``: the joint training without measurement (the floor);
- ``gradient_cosine``, ``lookahead``: the joint run measuring one of them; ``one_run``: both at once
  (what ``analyze`` does);
- ``transfer``: every single and pair probe (default probe seeds, steps, width, early stopping;
  probe cosine comes from the same probes at no extra cost);
- ``exhaustive``: every non-empty subset (63 at 6 tasks) over the same seeds: Standley et al.'s
  exact method and the ground truth for regret.

All with ``[analyze]`` defaults, batched in chunks of 64 as ``analyze`` plans them. Prints one JSON
line per item and a summary line with each measure's time relative to pairs and to exhaustive.
"""

from __future__ import annotations

from typing import Any, Sequence

from ._common import Timer, base_parser, emit, load, machine, peak_rss_mb, rss_mb, run_module, set_threads, \
    warm_up

ITEMS = ("plain", "gradient_cosine", "lookahead", "one_run", "transfer", "exhaustive")
FULL = {"n_clusters": 2, "tasks_per_cluster": 3, "rows_per_task": 300}
SMOKE = {"n_clusters": 1, "tasks_per_cluster": 3, "rows_per_task": 40}
SMOKE_ANALYZE = {"steps": 20, "every": 5, "window": 2, "probe_steps": 10, "probe_seeds": 1}


def measure_one(item: str, smoke: bool, seed: int = 0) -> dict[str, Any]:
    """Run one item in this process and return its time and memory."""
    from dataclasses import replace

    from taskgroup.affinity.analyze import probe_specs
    from taskgroup.affinity.joint import joint_run
    from taskgroup.affinity.probes import ProbeSpec, train_probes
    from taskgroup.config import AnalyzeConfig, ModelConfig

    taskset = load("synthetic", {**(SMOKE if smoke else FULL), "seed": seed}, seed=seed)
    names = taskset.task_names
    cfg = replace(AnalyzeConfig(), **(SMOKE_ANALYZE if smoke else {}))
    model = ModelConfig()
    warm_up(taskset)
    base = rss_mb()
    joint = {"plain": (), "gradient_cosine": ("gradient_cosine",), "lookahead": ("lookahead",),
             "one_run": ("gradient_cosine", "lookahead")}
    with Timer() as t:
        if item in joint:
            joint_run(taskset, names, cfg, model, seed=seed, measures=joint[item], keep_records=False)
            units = 1
        else:
            specs = [ProbeSpec(s, k) for s, k in probe_specs(names, cfg.probe_seeds, seed, item == "exhaustive")]
            train_probes(taskset, specs, cfg, model, batched=True, max_stack=64)
            units = len(specs)
    return {"benchmark": "measure_cost_item", "item": item, "tasks": len(names), "trainings": units,
            "seconds": t.seconds, "peak_rss_mb": peak_rss_mb(), "base_rss_mb": base,
            "peak_increment_mb": peak_rss_mb() - base}


def run(smoke: bool, threads: int | None) -> dict[str, Any]:
    """Run every item in its own process; summarise relative costs."""
    items: dict[str, dict[str, Any]] = {}
    failures: dict[str, str] = {}
    extra = ["--smoke"] if smoke else []
    if threads:
        extra += ["--threads", str(threads)]
    for item in ITEMS:
        if smoke:  # in this process: the smoke run tests the plumbing, not the memory figures
            code, lines = 0, [measure_one(item, smoke)]
        else:
            code, lines, _ = run_module("benchmarks.measure_cost", ["--only", item, *extra])
        rec = next((r for r in lines if r.get("item") == item), None)
        if code != 0 or rec is None:
            failures[item] = f"exit code {code}"
            continue
        items[item] = rec
        emit(rec)
    pairs = items.get("transfer", {}).get("seconds")
    exhaustive = items.get("exhaustive", {}).get("seconds")
    plain = items.get("plain", {}).get("seconds")
    measures: dict[str, dict[str, Any]] = {}
    for name, item in (("gradient_cosine", "gradient_cosine"), ("lookahead", "lookahead"),
                       ("one_run (both)", "one_run"), ("transfer", "transfer"), ("probe_cosine", "transfer"),
                       ("exhaustive", "exhaustive")):
        if item not in items:
            continue
        s = items[item]["seconds"]
        measures[name] = {"seconds": s, "trainings": items[item]["trainings"],
                          "pairs_over_this": pairs / s if pairs else None,
                          "exhaustive_over_this": exhaustive / s if exhaustive else None,
                          "over_plain": s / plain if plain else None,
                          "peak_rss_mb": items[item]["peak_rss_mb"],
                          "peak_increment_mb": items[item]["peak_increment_mb"]}
    return {"benchmark": "measure_cost", "data": {"builtin": "synthetic", **(SMOKE if smoke else FULL)},
            "tasks": next(iter(items.values()))["tasks"] if items else None,
            "plain_s": plain, "measures": measures, "failures": failures, "machine": machine()}


def main(argv: Sequence[str] | None = None) -> None:
    p = base_parser(__doc__.splitlines()[0])
    p.add_argument("--only", choices=ITEMS, help="run one item in this process (used by the parent)")
    a = p.parse_args(argv)
    set_threads(a.threads)
    if a.only:
        emit(measure_one(a.only, a.smoke))
    else:
        emit(run(a.smoke, a.threads))


if __name__ == "__main__":
    main()
