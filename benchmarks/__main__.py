"""``python -m benchmarks [--smoke] [--out DIR] [--only NAMES]``: run the suite, write RESULTS.md.

Each benchmark runs in its own process (its JSON lines are collected, its stderr logged under
``OUT/logs/``); one that fails or is skipped leaves a row that says so. Writes ``OUT/results.json``
(every JSON line, by benchmark), ``OUT/RESULTS.md`` (one row per figure: what was measured,
taskgroup's figure, the baseline or anchor figure on the same work, their ratio, the target and
whether it is met, the machine) and ``OUT/quality_vs_cost.png``. ``OUT`` defaults to this folder
for the full suite; ``--smoke`` (tiny sizes, seconds per benchmark, what CI runs) defaults to a new
temporary folder so that the committed results are never overwritten by a smoke run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Sequence

from ._common import ROOT, emit, machine, run_module, set_threads
from ._calibration_rows import calibration_row_builders
from ._recommend_rows import recommend_row_builders
from ._scale_rows import scale_row_builders
from .halving import rows as halving_rows

# (name, module, full-run timeout in seconds, extra arguments); the issue-3 benchmarks first
SUITE: tuple[tuple[str, str, int, tuple[str, ...]], ...] = (
    ("probe_speed", "benchmarks.probe_speed", 1800, ()),
    ("affinity_overhead", "benchmarks.affinity_overhead", 1800, ("--sequential-probes",)),
    ("measure_cost", "benchmarks.measure_cost", 1200, ()),
    ("scaling", "benchmarks.scaling", 1800, ()),
    ("selection_parity", "benchmarks.selection_parity", 300, ()),
    ("selection_scale", "benchmarks.selection_scale", 600, ()),
    ("grouping_quality", "benchmarks.grouping_quality", 2400, ()),
    ("regret", "benchmarks.regret", 10800, ()),
    ("calibration", "benchmarks.calibration", 2400, ()),
    ("leak_check", "benchmarks.leak_check", 900, ()),
    ("verdict_calibration", "benchmarks.verdict_calibration", 3600, ("--landmine",)),
    ("compare_stacked", "benchmarks.compare_stacked", 3600, ("--sample", "8", "--steps", "300")),
    ("probe_growth", "benchmarks.probe_growth", 1800, ()),
    ("joint_growth", "benchmarks.joint_growth", 1800, ()),
    ("table_load", "benchmarks.table_load", 1200, ()),
    ("plan_accuracy", "benchmarks.plan_accuracy", 1800, ()),
    ("flop_rate", "benchmarks.flop_rate", 900, ()),
    ("end_to_end", "benchmarks.end_to_end", 3600, ()),
    ("gpu", "benchmarks.gpu", 1200, ()),
    ("large_sets", "benchmarks.large_sets", 7200, ()),
    ("halving", "benchmarks.halving", 5400, ()),
)
FOREIGN = ("selection_parity", "selection_scale")  #: written with the grouping step; called, not duplicated
SMOKE_TIMEOUT = 300
Row = dict[str, Any]


def _f(x: Any, unit: str = "", digits: int = 3) -> str:
    if x is None:
        return "n/a"
    if isinstance(x, str):
        return x
    if isinstance(x, bool):
        return "yes" if x else "no"
    v = float(x)
    if abs(v) >= 100:
        s = f"{v:,.0f}"
    elif abs(v) >= 10:
        s = f"{v:.1f}"
    else:
        s = f"{v:.{digits}g}"
    return s + unit


def _status(ok: bool | None) -> str:
    return "info" if ok is None else ("pass" if ok else "**miss**")


def _row(section: str, what: str, ours: Any, base: Any = None, ratio: Any = None, target: str = "",
         ok: bool | None = None, note: str = "") -> Row:
    return {"section": section, "what": what, "taskgroup": ours, "baseline": base, "ratio": ratio,
            "target": target, "status": _status(ok), "note": note}


def _one(lines: list[dict[str, Any]], name: str, **match: Any) -> dict[str, Any] | None:
    for r in lines:
        if r.get("benchmark") == name and all(r.get(k) == v for k, v in match.items()):
            return r
    return None


# -- rows per benchmark -----------------------------------------------------------------------------

def rows_probe_speed(lines: list[dict[str, Any]]) -> list[Row]:
    r = _one(lines, "probe_speed")
    if not r:
        return []
    how = "extrapolated from " + str(r["sequential_probes_timed"]) if r.get("sequential_extrapolated") else "all"
    return [_row("speed", f"Probe training, {r['tasks']} tasks: {r['singles']} singles + {r['pairs']} pairs, "
                 f"{r['probe_steps']} steps each, width {r['probe_width']}: batched (one stacked network) vs one "
                 f"network at a time ({how} probes timed)",
                 _f(r["batched_s"], " s"), _f(r["sequential_s"], " s"), _f(r["ratio"], "x"), r["target"] + "x",
                 r["pass"], f"max abs difference of results {r['max_abs_diff']:.2g}; same best step "
                 f"{r['same_best_step']}")]


def rows_overhead(lines: list[dict[str, Any]]) -> list[Row]:
    r = _one(lines, "affinity_overhead")
    if not r:
        return []
    s = r["schedule"]
    sched = f"steps {s['steps']}, every {s['every']}, window {s['window']}, phase {s['phase']}"
    out = [_row("speed", f"One-run affinities (gradient cosine + lookahead, {sched}) vs the same joint training "
                f"without measurement, {r['tasks']} tasks", _f(r["measured_s"], " s"), _f(r["plain_s"], " s"),
                _f(r["ratio"], "x"), r["ratio_target"] + "x", r["ratio_pass"],
                f"median of {len(r['measured_runs_s'])} interleaved runs each")]
    if "vs_probes" in r:
        out.append(_row("speed", f"One run vs the full pairwise probe set at the same data ({r['probes']} probes: "
                        f"{r['probe_seeds']} seeds, {r['probe_steps']} steps, early stopping, batched)",
                        _f(r["measured_s"], " s"), _f(r["probes_s"], " s"), _f(r["vs_probes"], "x"),
                        r["vs_probes_target"] + "x", r["vs_probes_pass"],
                        "TAG reports 11.6x over Standley et al. on Taskonomy"))
    if "vs_sequential_probes" in r:
        out.append(_row("speed", "One run vs the same pairwise probe set trained one network at a time (the anchors' "
                        "way)", _f(r["measured_s"], " s"), _f(r["sequential_probes_s"], " s"),
                        _f(r["vs_sequential_probes"], "x"), "", None, "TAG's 11.6x is against this way of training"))
    ra = r["rank_agreement"]
    ref = r.get("reference")
    if ref is None:   # older runs: the every-step, window-1 reference of one seed at a time
        ref_text, ref_cell = "measuring at every step (every 1, window 1)", "every-step matrix"
    else:
        ref_text = (f"a reference measuring every step of the phase, accumulated over it (every {ref['every']}, "
                    f"window {ref['window']}), mean of seeds {ref['seeds']}")
        ref_cell = "reference"
    ceiling = r.get("reference_ceiling") or {}
    other = r.get("rank_agreement_other_seeds") or {}
    for m in ("gradient_cosine", "lookahead"):
        note = "per seed: " + ", ".join(_f(v) for v in r["rank_agreement_per_seed"][m])
        if m in other:
            note += f"; against the other seeds' reference only: {_f(other[m])}"
        out.append(_row("fidelity", f"Rank agreement (Spearman, off-diagonal) of {m} on the default schedule with "
                        f"{ref_text}, mean over seeds {r['rank_seeds']}", _f(ra[m]), ref_cell, "", r["rank_target"],
                        ra[m] >= 0.9, note))
        if m in ceiling:
            out.append(_row("fidelity", f"Ceiling: seed-to-seed agreement of the {m} reference itself (mean over pairs "
                            "of seeds)", _f(ceiling[m]), "", "", "", None,
                            ", ".join(_f(v) for v in r["reference_ceiling_pairs"][m])))
    out.append(_row("fidelity", "Rank agreement, minimum over measures", _f(ra["min"]), "", "", r["rank_target"],
                    r["rank_pass"]))
    if "rank_agreement_same_window" in r:
        rw, ref = r["rank_agreement_same_window"], r["same_window_reference"]
        out.append(_row("fidelity", f"Rank agreement with every step measured in windows of the same length (every "
                        f"{ref['every']}, window {ref['window']}): subsampling alone", _f(rw["min"]) + " (min)", "", "",
                        "", None, ", ".join(f"{m} {_f(rw[m])}" for m in ("gradient_cosine", "lookahead"))))
    return out


def rows_cost(lines: list[dict[str, Any]]) -> list[Row]:
    r = _one(lines, "measure_cost")
    if not r:
        return []
    d = r["data"]
    data = f"{r['tasks']} tasks ({d['n_clusters']}x{d['tasks_per_cluster']} synthetic)"
    pairs = r["measures"].get("transfer", {}).get("seconds")
    exh = r["measures"].get("exhaustive", {}).get("seconds")
    out = []
    for m, v in r["measures"].items():
        if m in ("exhaustive",):
            continue
        out.append(_row("cost", f"Cost of {m} at {data}; baseline: pairwise probes / exhaustive subsets "
                        f"({r['measures'].get('exhaustive', {}).get('trainings', '?')} trainings)",
                        _f(v["seconds"], " s"), f"{_f(pairs, ' s')} / {_f(exh, ' s')}",
                        f"{_f(v['pairs_over_this'], 'x')} / {_f(v['exhaustive_over_this'], 'x')}", "", None,
                        f"x = times cheaper; {_f(v['over_plain'], 'x')} plain training"))
    for m, v in r["measures"].items():
        if m in ("probe_cosine",):
            continue
        out.append(_row("memory", f"Peak resident memory of {m} at {data} (own process)",
                        _f(v["peak_rss_mb"], " MiB"), "", "", "", None,
                        f"+{_f(v['peak_increment_mb'], ' MiB')} over the process before the run"))
    return out


def rows_scaling(lines: list[dict[str, Any]]) -> list[Row]:
    r = _one(lines, "scaling")
    if not r:
        return []
    out = []
    for p in r["points"]:
        sel = "; ".join(f"group from {m}: " + (_f(v.get("seconds"), " s") if "seconds" in v else
                                                 v.get("skipped") or v.get("error", "?"))
                        for m, v in p["selection"].items())
        extra = f", time extrapolated from the first {p['probes_timed']}" if p.get("probes_extrapolated") else ""
        out.append(_row("scaling", f"N = {p['tasks']}: one-run affinities vs pairwise probes ({p['probes']} probes, "
                        f"{p['probe_steps']} steps, 1 seed{extra})", _f(p["one_run_s"], " s"), _f(p["probes_s"], " s"),
                        _f(p["probes_s"] / p["one_run_s"], "x"), "", None, sel))
    g = r["growth_exponent"]
    out.append(_row("scaling", f"Growth exponent b of time ~ N^b, N = {r['sizes']}: one-run vs pairwise probes",
                    _f(g["one_run"]), _f(g["probes"]), "", "", None,
                    f"time per probe grows as N^{_f(g.get('probe_each'))} (N^0 would mean probes cost O(N^2)); "
                    "selection (group): " + ", ".join(f"{k[10:]} {_f(v)}" for k, v in g.items()
                                                      if k.startswith("selection_"))))
    return out


def rows_parity(lines: list[dict[str, Any]]) -> list[Row]:
    out = []
    for r in lines:
        if r.get("benchmark") != "selection_parity":
            continue
        if r.get("skipped"):
            return [_row("parity", "Standley et al. selection curves", "skipped", note=r.get("reason", ""))]
        out.append(_row("parity", f"Standley et al. setting {r['setting']}, {r['method']}: max abs error of the "
                        f"test-loss totals over budgets 1-5", _f(r["max_abs_error"], digits=2), "published curve", "",
                        f"<= {r['tolerance']:g}", r["within_tolerance"],
                        f"solver {_f(r['solver_seconds'], ' s')} for {len(r['budgets'])} budgets"))
    return out


def rows_selection_scale(lines: list[dict[str, Any]]) -> list[Row]:
    s = next((r for r in lines if r.get("benchmark") == "selection_scale" and r.get("summary")), None)
    if not s:
        return []
    pts = [r for r in lines if r.get("benchmark") == "selection_scale" and not r.get("summary")]
    note = "group() s by N: " + ", ".join(f"{p['n_tasks']}: {_f(p['group_s'])}" for p in pts)
    if "measured_seconds" not in s:
        return [_row("scaling", "Selection at scale (random block affinities)", "", note=note)]
    return [_row("scaling", "group() on a 30-task lookahead matrix (proposals, pool, exact selection)",
                 _f(s["measured_seconds"], " s"), "", "", f"< {s['target_seconds']:g} s", s["meets_target"],
                 note + f"; growth exponent {_f(s['growth_exponent_group'])}")]


def rows_quality(lines: list[dict[str, Any]]) -> list[Row]:
    out = []
    p = _one(lines, "planted_recovery")
    if p and p.get("skipped"):
        out.append(_row("quality", "Planted-cluster recovery", "skipped", note=p["skipped"]))
    elif p:
        d = p["data"]
        anchor = p["measures"].get("transfer", {}).get("ari_mean")
        for m, v in p["measures"].items():
            vals = ", ".join(_f(x, digits=2) for x in v["ari_values"])
            out.append(_row("quality", f"Planted-cluster recovery ARI from {m} ({d['n_clusters']}x"
                            f"{d['tasks_per_cluster']} synthetic, own rows, group max_groups={p['max_groups']}), "
                            f"mean over {len(p['seeds'])} seeds", _f(v["ari_mean"]),
                            _f(anchor) + " (pairwise gains)" if m != "transfer" else "", "", "", None,
                            f"seeds: {vals}; within-minus-across affinity {_f(v['within_minus_across_mean'])}"
                            + (f"; errors: {v['errors']}" if v["errors"] else "")))
        for m, v in p["spearman_vs_transfer"].items():
            out.append(_row("quality", f"Spearman of {m} with the measured pairwise gains (planted sets)",
                            _f(v["mean"]), "", "", "", None, "per seed: " + ", ".join(_f(x) for x in v["values"])))
    lm = _one(lines, "landmine_recovery")
    if lm and lm.get("skipped"):
        out.append(_row("quality", "Landmine split recovery", "skipped", note=lm["skipped"]))
    elif lm:
        for m, v in lm["measures"].items():
            out.append(_row("quality", f"Landmine split recovery ARI from {m} (29 fields, group max_groups=2)",
                            _f(v.get("ari")), "", "", ">= 0.8", None if v.get("ari") is None else v["ari"] >= 0.8,
                            v.get("error", f"groups of sizes {[len(g) for g in v['groups']]}")))
        if lm.get("transfer_skipped"):
            out.append(_row("quality", "Landmine split recovery ARI from transfer", "skipped",
                            note=lm["transfer_skipped"]))
    return out


def rows_regret(lines: list[dict[str, Any]]) -> list[Row]:
    r = _one(lines, "regret")
    if not r:
        return []
    if r.get("skipped") and isinstance(r["skipped"], str):
        return [_row("quality", "Regret against the oracle", "skipped", note=r["skipped"])]
    out = []
    s = r["summary"]
    where = f"{', '.join(r['sets'])}; seeds {', '.join(map(str, r.get('seeds', [])))}"
    for m in r.get("methods", list(s)):
        v = s.get(m)
        if not v or v.get("regret_pct_mean") is None:
            continue
        target, ok = "", None
        if m == "taskgroup_final":
            target = f"worst <= {r['target_worst_pct']:g} %, mean <= {r['target_mean_pct']:g} %"
            ok = v.get("pass")
        note = f"mean {_f(v['regret_pct_mean'], ' %')} over {v['runs']} runs; {_f(v['analysis_seconds_mean'], ' s')} per run"
        if v.get("beats"):
            note += "; lower mean than " + (", ".join(k for k, b in v["beats"].items() if b) or "none") + \
                    "; not lower than " + (", ".join(k for k, b in v["beats"].items() if not b) or "none")
        out.append(_row("quality", f"Regret of {m} vs the oracle (best partition of full-budget subset networks), "
                        f"% of the oracle's test total, worst over sets and seeds ({where})",
                        _f(v["regret_pct_max"], " %"), "", "", target, ok, note))
    for name, why in (r.get("skipped") or {}).items():
        out.append(_row("quality", f"Regret on {name}", "skipped", note=why))
    return out


def rows_leak_check(lines: list[dict[str, Any]]) -> list[Row]:
    r = _one(lines, "leak_check")
    if not r:
        return []
    setting = (f"task c ({r['small_task_rows']} rows) inside task a ({r['rows']} rows), same noise target, "
               f"{r['seeds']} split seeds, {r['steps']} steps")
    return [
        _row("honesty", f"Leak check: rows in one task's validation/test split that are another task's training "
             f"rows; {setting}", str(r["crossed_rows"]), "", "", "0", r["crossed_rows"] == 0),
        _row("honesty", f"Leak check: RMSE of c on its validation/test rows, network sharing a and c / c's own "
             f"network (pooled over seeds; noise floor 1.0); {setting}", _f(r["shared_rmse"]), _f(r["single_rmse"]),
             _f(r["ratio"]), f">= {r['target']:g}", r["ratio"] >= r["target"],
             "below 1 when sharing helps honestly, e.g. when c's own network overfits its few rows; "
             "a shared RMSE at or above the noise floor means no memorised labels"),
    ]
def rows_verdict(lines: list[dict[str, Any]]) -> list[Row]:
    out = []
    for r in lines:
        if r.get("benchmark") != "verdict_calibration":
            continue
        if r.get("kind") == "summary":
            what = ("unrelated tasks (synthetic-unrelated, 3 groups of 3): share_for_accuracy is a false positive"
                    if r["target_kind"] == "false_positive" else
                    "planted clusters (synthetic 3 x 3, the planted grouping): share_for_accuracy is a true positive")
            d = r["decisions"]
            out.append(_row("verdict", f"Decision over {r['reps']} repetitions (fresh data and seeds, 3 training "
                            f"seeds each) on {what}", _f(100 * r["share_for_accuracy_rate"], " %"), "", "",
                            ("<= " if r["target_kind"] == "false_positive" else ">= ") + f"{100 * r['target']:g} %",
                            r["pass"], f"decisions: {d['share_for_accuracy']} accuracy, {d['share_for_cost']} cost, "
                            f"{d['train_separately']} separately, {d['inconclusive']} inconclusive; mean test "
                            f"Delta_m {_f(r['mean_delta_m_test'], ' %')}"))
        elif r.get("kind") == "landmine":
            if r.get("skipped"):
                out.append(_row("verdict", "Landmine: validation vs test Delta_m", "skipped", note=r["skipped"]))
                continue
            for a in r["rows"]:
                if "overlap" not in a:
                    continue
                out.append(_row("verdict", f"Landmine ({r['tasks']} tasks, {r['steps']} steps, {r['seeds']} seeds): "
                                f"Delta_m of '{a['alternative']}' on the validation rows set apart for the decision vs "
                                f"test", _f(a["delta_m_estimate"], " %"), _f(a["delta_m_test"], " %") + " (test)", "",
                                "95 % intervals overlap", a["overlap"],
                                f"validation interval {_f(a['estimate_interval'][0])} to "
                                f"{_f(a['estimate_interval'][1])}; test (seeds) {_f(a['test_interval_seeds'][0])} to "
                                f"{_f(a['test_interval_seeds'][1])}; whole-validation Delta_m "
                                f"{_f(a['delta_m_val_whole'], ' %')}; decision {r['decision']}"))
    return out


ROW_BUILDERS: dict[str, Callable[[list[dict[str, Any]]], list[Row]]] = {
    "probe_speed": rows_probe_speed, "affinity_overhead": rows_overhead, "measure_cost": rows_cost,
    "scaling": rows_scaling, "selection_parity": rows_parity, "selection_scale": rows_selection_scale,
    "grouping_quality": rows_quality, "regret": rows_regret, "leak_check": rows_leak_check,
    "verdict_calibration": rows_verdict,
    **scale_row_builders(_row, _f, _one),
    **recommend_row_builders(_row, _f, _one),
    "halving": lambda lines: halving_rows(lines, _row, _f),
    **calibration_row_builders(_row, _f, _one),
}


# -- plot and report --------------------------------------------------------------------------------

def plot(results: dict[str, Any], path: Path) -> bool:
    """Quality versus cost, one point per measure: planted ARI and regret against analysis seconds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lines = {name: b["lines"] for name, b in results["benchmarks"].items()}
    planted = _one(lines.get("grouping_quality", []), "planted_recovery")
    regret = _one(lines.get("regret", []), "regret")
    panels = []
    if planted and "measures" in planted:
        pts = {m: (v["seconds_mean"], v["ari_mean"]) for m, v in planted["measures"].items()
               if v.get("seconds_mean") and v.get("ari_mean") is not None}
        panels.append(("Planted clusters: ARI (higher is better)", "ARI", pts))
    if regret and "summary" in regret:
        pts = {m: (v["analysis_seconds_mean"], v["regret_pct_mean"]) for m, v in regret["summary"].items()
               if isinstance(v, dict) and v.get("analysis_seconds_mean") and v.get("regret_pct_mean") is not None}
        panels.append(("N = 4-6 sets: regret vs oracle (lower is better)", "mean regret over sets and seeds, % of oracle total", pts))
    panels = [p for p in panels if p[2]]
    if not panels:
        return False
    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 4.2), squeeze=False)
    from matplotlib.ticker import ScalarFormatter

    for ax, (title, ylabel, pts) in zip(axes[0], panels):
        merged: dict[tuple[float, float], list[str]] = {}
        for m, (x, y) in pts.items():  # measures from the same run at the same quality share one point
            merged.setdefault((round(x, 6), round(y, 6)), []).append(m)
        for (x, y), ms in merged.items():
            ax.scatter([x], [y], s=50)
            ax.annotate(" = ".join(ms), (x, y), textcoords="offset points", xytext=(5, 4), fontsize=9)
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(ScalarFormatter())
        ax.xaxis.set_minor_formatter(ScalarFormatter())
        ax.margins(x=0.25, y=0.12)
        ax.set_xlabel("analysis time per task set, s (log scale)")
        ax.set_ylabel(ylabel)
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def _total(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.4f}"


def regret_details(results: dict[str, Any]) -> list[str]:
    """A table per regret task set and seed: each method's groups, test total, regret and seconds."""
    lines = results["benchmarks"].get("regret", {}).get("lines", [])
    sets = [r for r in lines if r.get("benchmark") == "regret_set" and "measures" in r]
    if not sets:
        return []

    def groups(g: list[list[str]] | None) -> str:
        return " ".join("{" + ", ".join(x) + "}" for x in g) if g else "n/a"

    out = ["## Regret by task set", "",
           "Test total = sum over tasks of the test metric of the network serving the task (full-budget networks, "
           "one per subset and seed); regret in % of the oracle's total, positive = worse. The oracle is the best "
           "partition over every subset network, chosen on validation, so a grouping can beat it on test "
           "(negative regret). Seconds: what the method itself spent (analysis units; for taskgroup_final also "
           "the compare step).", ""]
    for r in sets:
        direction = "lower is better" if r["lower_is_better"] else "higher is better"
        out += [f"**{r['set']}**, seed {r.get('seed', 0)} ({', '.join(r['tasks'])}; {r['metric']}, {direction})", "",
                "| method | groups | test total | regret | seconds |", "|---|---|---|---|---|"]
        o = r.get("oracle") or {}
        out.append(f"| oracle | {groups(o.get('groups'))} | {_total(o.get('total'))} | 0 | |")
        for m, v in r["measures"].items():
            if "error" in v:
                out.append(f"| {m} | error: {_cell(v['error'])} | | | |")
                continue
            shown = groups(v.get("groups")) if v.get("groups") else f"mean of random partitions, k = {v.get('k')}"
            out.append(f"| {m} | {shown} | {_total(v.get('total'))} | {_f(v.get('regret_pct'), ' %')} "
                       f"| {_f(v.get('seconds'))} |")
        out.append("")
    return out


def _cell(x: Any) -> str:
    return str(x if x not in (None, "") else "").replace("|", "\\|").replace("\n", " ")


def render(results: dict[str, Any], rows: list[Row], plotted: bool) -> str:
    m = results["machine"]
    mach = f"{m['cores']} cores, torch {m['torch']}"
    head = ["# taskgroup benchmark results", "",
            f"Generated by `python -m benchmarks{' --smoke' if results['smoke'] else ''}` on "
            f"{results['started']} to {results.get('finished', results['started'])} ({results['seconds'] / 60:.1f} min of benchmarks; each "
            "benchmark's latest run is kept in `runs/NAME.json`, so `--only` refreshes a few rows).",
            f"Machine: {m['cores']} usable cores ({m['cpu']}), torch {m['torch']}, Python {m['python']}, "
            f"torch threads {m['torch_threads']} per benchmark process (set explicitly; `taskgroup`'s own units run with "
            "1 thread each; on this shared machine two threads made the 10-task joint run 18x slower, 30 s vs 1.7 s "
            f"back to back, so two-thread timings would measure the scheduler). Load average at start {m['loadavg_1m']}, at end "
            f"{results['machine_end']['loadavg_1m']}: the machine was shared with other work, so absolute seconds "
            "are slower than on an idle machine; ratios come from interleaved or back-to-back runs in one process.",
            "", "Every figure below comes from `results.json` (all JSON lines of every benchmark). "
            "x = times; pass/miss compares with the issue's target.", ""]
    table = ["| section | what was measured | taskgroup | baseline / anchor (same work) | ratio | target | result "
             "| machine | notes |", "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        table.append("| " + " | ".join(_cell(r[k]) for k in ("section", "what", "taskgroup", "baseline", "ratio",
                                                                  "target", "status")) + f" | {mach} | {_cell(r['note'])} |")
    misses = [r for r in rows if r["status"] == "**miss**"]
    body = head + table + [""]
    if plotted:
        body += ["## Quality versus cost", "",
                 "One point per measure: the analysis time it needs (one-run measures share one joint training; "
                 "transfer and probe cosine share the pair probes; subsets = every subset trained) against the "
                 "quality of the grouping it recommends.", "", "![quality versus cost](quality_vs_cost.png)", ""]
    body += regret_details(results)
    body += ["## Targets missed", ""]
    body += [f"- {r['what']}: {r['taskgroup']} (target {r['target']})" for r in misses] or ["- none"]
    failed = {n: b for n, b in results["benchmarks"].items() if b["exit_code"] != 0}
    if failed:
        body += ["", "## Benchmarks that did not finish", ""]
        body += [f"- {n}: exit code {b['exit_code']} after {b['seconds']:.0f} s (its log: {results['logs']}/{n}.log)"
                 for n, b in failed.items()]
    body += ["", "## Sizes", "", *results["sizes"], ""]
    return "\n".join(body)


SIZES_TEXT = [
    "- probe_speed: synthetic 2x5 = 10 tasks, 300 own rows each; 55 probes (10 singles, 45 pairs), one seed, "
    "default width 0.5 and 300 steps, early stopping off so both paths train equal steps; batched timed before and "
    "after the sequential path (mean).",
    "- affinity_overhead: the same 10 tasks; `[analyze]` defaults (200 steps, every 10, window 5, phase 0.5); "
    "3 interleaved timing repeats; rank agreement over seeds 0-4 against the accumulated every-step reference of the "
    "same seeds; probes at their defaults (2 seeds, 110 probes), "
    "batched and one network at a time.",
    "- measure_cost: synthetic 2x3 = 6 tasks (63 subsets), `[analyze]` defaults, every item in its own process.",
    "- scaling: synthetic with N/5 clusters of 5 tasks, N = 5, 10, 20, 40; joint run at the defaults; pair probes "
    "at 50 steps, one seed (every N the same steps, so the growth is comparable).",
    "- grouping_quality: synthetic 3x3 = 9 tasks, own rows, seeds 0-4, `analyze` at the defaults; Landmine: all 29 "
    "fields, `analyze` at the defaults (one joint run; 870 pair probes over 2 seeds).",
    "- leak_check: task a on 1,000 rows of 8 standard-normal features, task c on 30 of them, both with the same "
    "standard-normal noise target; default training (1,500 steps, early stopping) of the network sharing a and c "
    "and of c's own network, 8 split seeds, c's validation and test rows pooled.",
    "- verdict_calibration: synthetic-unrelated and synthetic 3x3 (500 own rows per task, split 40/40/20), one "
    "grouping of 3 networks of 3 tasks vs single-task networks, 3 training seeds, 300 steps, hidden [32, 32], 20 "
    "repetitions each with fresh data; Landmine: 29 tasks, the known split and all-in-one vs single-task, 3 seeds, "
    "300 steps",
    "- regret: 4-6-task sets (synthetic 2x2 on shared rows and on own rows; digits is_3, is_5, is_1, is_7; SARCOS "
    "torques 1-4 on 2,000 rows; Landmine fields 1-3 and 16-18; School 1-5; Computer survey raters 1-5), seeds 0-2 "
    "(splits and initialisations); `analyze` at the defaults; 400 training steps and one compare seed per run; "
    "5 random partitions.",
]
SMOKE_SIZES = ["- smoke: every benchmark at tiny sizes (2-6 tasks, 5-20 steps); the figures test the plumbing only."]


def write_report(results: dict[str, Any], out: Path) -> None:
    """Rows from every benchmark's lines, the plot, ``results.json`` and ``RESULTS.md`` in ``out``."""
    rows: list[Row] = []
    for name, b in results["benchmarks"].items():
        try:
            rows += ROW_BUILDERS[name](b["lines"])
        except Exception as exc:  # a malformed record must not lose the others
            rows.append(_row(name, f"{name}: could not read its output", "error", note=f"{type(exc).__name__}: {exc}"))
    results["rows"] = rows
    plotted = plot(results, out / "quality_vs_cost.png")
    (out / "results.json").write_text(json.dumps(results, indent=1, default=str) + "\n", encoding="utf-8")
    (out / "RESULTS.md").write_text(render(results, rows, plotted), encoding="utf-8")
    print(f"[benchmarks] wrote {out / 'RESULTS.md'} and {out / 'results.json'}", file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--smoke", action="store_true", help="tiny sizes (what CI runs); writes to a temp folder")
    p.add_argument("--out", default=None, help="where RESULTS.md, results.json and the plot go")
    p.add_argument("--only", default=None, help="comma-separated benchmark names: " + ", ".join(n for n, *_ in SUITE))
    p.add_argument("--threads", type=int, default=None, help="torch threads per benchmark (default: 1)")
    p.add_argument("--render-only", action="store_true",
                   help="rebuild RESULTS.md and the plot from OUT/results.json without running anything")
    a = p.parse_args(argv)
    out = Path(a.out) if a.out else (Path(tempfile.mkdtemp(prefix="taskgroup-bench-")) if a.smoke else ROOT)
    out.mkdir(parents=True, exist_ok=True)
    logs = ROOT / "out" / "logs" if out.resolve() == ROOT else out / "logs"  # benchmarks/out is not committed
    if a.render_only:
        write_report(assemble(out, smoke=a.smoke, logs=logs), out)
        return 0
    set_threads(a.threads)
    chosen = [s for s in SUITE if not a.only or s[0] in a.only.split(",")]
    args = ["--smoke"] if a.smoke else []
    threads = ["--threads", str(a.threads)] if a.threads else []
    start = time.perf_counter()
    ran: list[str] = []
    for name, module, timeout, extra in chosen:
        print(f"[benchmarks] {name} ...", file=sys.stderr, flush=True)
        own = name not in FOREIGN  # the grouping step's benchmarks take no --threads
        began = dt.datetime.now().isoformat(timespec="seconds")
        before = machine()
        code, lines, secs = run_module(module, [*args, *(threads if own else []), *extra],
                                       timeout=SMOKE_TIMEOUT if a.smoke else timeout,
                                       log=logs / f"{name}.log")
        entry = {"module": module, "exit_code": code, "seconds": secs, "lines": lines, "started": began,
                 "machine": before, "machine_end": machine(), "smoke": a.smoke}
        save_entry(out, name, entry)
        ran.append(name)
        print(f"[benchmarks] {name}: exit {code} in {secs:.0f} s", file=sys.stderr, flush=True)
        for line in lines:
            emit(line)
    results = assemble(out, smoke=a.smoke, logs=logs)
    results["seconds_this_run"] = time.perf_counter() - start
    write_report(results, out)
    failed = [n for n in ran if results["benchmarks"][n]["exit_code"] != 0]
    return 1 if failed else 0


def save_entry(out: Path, name: str, entry: dict[str, Any]) -> None:
    """Keep one benchmark's latest result in ``OUT/runs/NAME.json``, so a run of a few benchmarks
    (``--only``) updates their rows and leaves every other benchmark's figures as they were."""
    runs = out / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    tmp = runs / f".{name}.json.tmp"
    tmp.write_text(json.dumps(entry, indent=1, default=str) + "\n", encoding="utf-8")
    tmp.replace(runs / f"{name}.json")


def assemble(out: Path, *, smoke: bool, logs: Path) -> dict[str, Any]:
    """The whole suite's results from the per-benchmark files in ``OUT/runs`` (suite order)."""
    runs = out / "runs"
    entries = {f.stem: json.loads(f.read_text(encoding="utf-8")) for f in sorted(runs.glob("*.json"))}
    order = [n for n, *_ in SUITE if n in entries] + sorted(n for n in entries if n not in {s[0] for s in SUITE})
    benchmarks = {n: entries[n] for n in order}
    starts = sorted(b["started"] for b in benchmarks.values()) or [dt.datetime.now().isoformat(timespec="seconds")]
    latest = max(benchmarks.values(), key=lambda b: b["started"], default={"machine": machine(), "machine_end": machine()})
    return {"smoke": smoke, "started": starts[0], "finished": starts[-1], "machine": latest["machine"],
            "machine_end": latest["machine_end"], "benchmarks": benchmarks,
            "seconds": sum(b["seconds"] for b in benchmarks.values()),
            "logs": str(logs.relative_to(ROOT.parent)) if logs.is_relative_to(ROOT.parent) else str(logs),
            "sizes": SMOKE_SIZES if smoke else SIZES_TEXT}


if __name__ == "__main__":
    raise SystemExit(main())
