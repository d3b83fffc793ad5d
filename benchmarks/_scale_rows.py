"""RESULTS.md rows of the scale and speed benchmarks (issue 15), built with the suite's own helpers."""

from __future__ import annotations

from typing import Any, Callable

Lines = list[dict[str, Any]]


def scale_row_builders(row: Callable[..., dict[str, Any]], f: Callable[..., str],
                       one: Callable[..., dict[str, Any] | None]) -> dict[str, Callable[[Lines], list[dict[str, Any]]]]:
    """Row builders keyed by benchmark name; ``row``, ``f`` and ``one`` are the suite's ``_row``, ``_f``, ``_one``."""

    def compare_stacked(lines: Lines) -> list[dict[str, Any]]:
        out = []
        for r in lines:
            if r.get("benchmark") != "compare_stacked":
                continue
            if r.get("skipped"):
                out.append(row("speed", f"Compare stacked vs one at a time, {r['dataset']}", "skipped",
                               note=r.get("reason", "")))
                continue
            how = f"one-at-a-time time extrapolated from {r['one_at_a_time_timed']} networks" if r["extrapolated"] \
                else "all networks timed both ways"
            out.append(row("speed", f"Compare, {r['dataset']} ({r['tasks']} tasks, {r['networks']} networks, "
                           f"{r['stacks']} stacks, up to {r['steps']} steps): stacked vs one network at a time",
                           f(r["stacked_s"], " s"), f(r["one_at_a_time_s"], " s"), f(r["ratio"], "x"),
                           (r["target"] + "x") if r.get("target") else "", r.get("pass"),
                           f"{how}; " + "; ".join(
                               f"{k} networks ({v['networks']}): {f(v['stacked_s'], ' s')} vs "
                               f"{f(v['one_at_a_time_s'], ' s')}" for k, v in r["by_kind"].items())
                           + f"; max abs difference of validation metrics {r['max_abs_diff_val']:.2g}; "
                           f"load {r.get('loadavg_1m')}"))
        return out

    def probe_growth(lines: Lines) -> list[dict[str, Any]]:
        r = one(lines, "probe_growth")
        if not r:
            return []
        pts = ", ".join(f"N={q['tasks']}: {f(q['seconds'], ' s')}{' (extrap.)' if q['extrapolated'] else ''}"
                        for q in r["points"])
        return [row("scaling", f"Probe set (N singles + N(N-1)/2 pairs, 1 seed, {r['probe_steps']} steps, own "
                    f"heads only): growth exponent over N = {r['sizes']}", f(r["growth_exponent"]), "2.4 (all heads)",
                    "", r["target"], r["pass"], pts + f"; load {r.get('loadavg_1m')}")]

    def joint_growth(lines: Lines) -> list[dict[str, Any]]:
        r = one(lines, "joint_growth")
        if not r:
            return []
        pts = ", ".join(f"N={q['tasks']}: {f(q['seconds'], ' s')}" for q in r["points"])
        out = [row("scaling", f"One-run measurement (default schedule) growth exponent over N = {r['sizes']}",
                   f(r["growth_exponent"]), "3.2 before", "", "about 2", r["pass_exponent"],
                   pts + f"; load {r.get('loadavg_1m')}")]
        if r.get("seconds_100") is not None:
            out.append(row("scaling", "One-run measurement at 100 tasks", f(r["seconds_100"], " s"), "565 s before", "",
                           "< 90 s", r["pass_100"], f"load {r.get('loadavg_1m')}"))
        return out

    def table_load(lines: Lines) -> list[dict[str, Any]]:
        r = one(lines, "table_load")
        if not r:
            return []
        what = f"Load a {r['rows']:,}-row, {r['columns']}-column CSV ({f(r['csv_mib'], ' MiB')}) into a task set"
        if r.get("arrow_skipped"):
            return [row("speed", what + ": plain reader (pyarrow row skipped)", f(r["plain_s"], " s"), "", "", "", None,
                        r.get("reason", "") + f"; load {r.get('loadavg_1m')}")]
        return [row("speed", what + ": pyarrow fast path vs the standard-library reader", f(r["arrow_s"], " s"),
                    f(r["plain_s"], " s"), f(r["ratio"], "x"), "", None,
                    f"same inputs {f(r['same_inputs'])}, same targets {f(r.get('same_targets'))}; the same table "
                    f"from Parquet {f(r['parquet_s'], ' s')} (same inputs {f(r.get('parquet_same_inputs'))}); "
                    f"load {r.get('loadavg_1m')}")]

    def plan_accuracy(lines: Lines) -> list[dict[str, Any]]:
        r = one(lines, "plan_accuracy")
        if not r:
            return []
        return [row("planning", f"taskgroup plan's estimate vs the actual taskgroup run, {q['set']}, "
                    f"{q['train_steps']} training steps", f(q["estimate_s"], " s"), f(q["actual_s"], " s"),
                    f(q["ratio"], "x"), "0.5x to 2x", q["pass"],
                    f"the run's own plan line: {f(q['run_line_estimate_s'], ' s')}; load {q.get('loadavg_at_run'):.1f}")
                for q in r["points"]]

    def end_to_end(lines: Lines) -> list[dict[str, Any]]:
        out = []
        for r in lines:
            if r.get("benchmark") != "end_to_end":
                continue
            steps = ", ".join(f"{k} {f(v, ' s')}" for k, v in r["steps"].items())
            if r.get("cpu_seconds"):
                steps += "; CPU time " + ", ".join(f"{k} {f(v, ' s')}" for k, v in r["cpu_seconds"].items())
            ok = r.get("pass") or {}
            what = f"taskgroup run, {r['tasks']} tasks ({r['clusters']} planted clusters), default settings, " \
                   f"executor {r['executor']} x{r['workers']}"
            out.append(row("end to end", what + ": total time", f(r["seconds"] / 60, " min"), "", "",
                           "< 30 min" if ok else "", ok.get("seconds"), steps + f"; load {r.get('loadavg_1m')}"))
            if ok:
                out.append(row("end to end", what + ": peak resident memory", f(r["peak_rss_mib"], " MiB"), "", "",
                               "< 4096 MiB", ok.get("memory")))
                out.append(row("end to end", what + f": adjusted Rand index of the {r['grouping_source']} grouping "
                               "with the planted clusters", f(r["ari"]), "", "", ">= 0.9", ok.get("ari"),
                               f"{r['groups']} groups"))
            if r.get("plan_estimate_s"):
                ratio = r["plan_ratio"]
                out.append(row("end to end", what + ": taskgroup plan's estimate vs the actual time",
                               f(r["plan_estimate_s"] / 60, " min"), f(r["seconds"] / 60, " min"), f(ratio, "x"),
                               "within 2x", 0.5 <= ratio <= 2.0))
        return out

    def flop_rate(lines: Lines) -> list[dict[str, Any]]:
        r = one(lines, "flop_rate")
        if not r:
            return []
        return [row("machine", f"Stacked probe training at width {q['width']} ({q['probes']} probes): achieved "
                    "rate vs this machine's peak matmul rate", f(q["gflops"], " GFLOP/s"), f(r["peak_gflops"], " GFLOP/s"),
                    f(q["of_peak"] * 100, " %"), "", None,
                    f"{f(q['outside_matmul_share'] * 100, ' %')} of a step outside matrix products (profiler)")
                for q in r["points"]]

    def gpu(lines: Lines) -> list[dict[str, Any]]:
        out = []
        for r in lines:
            if r.get("benchmark") != "gpu":
                continue
            if r.get("skipped"):
                out.append(row("device", "The same work on a CUDA GPU and on the CPU", "skipped", note=r.get("reason", "")))
                continue
            where = f"{r['gpu']}; CPU side: {r['cores']} cores, {r['torch_threads']} torch thread(s), torch {r['torch']}"
            ratio = r["cpu_s"] / r["gpu_s"] if r.get("gpu_s") and r.get("cpu_s") else None
            if r["check"] == "probes":
                out.append(row("device", f"Stacked probe set on the GPU vs the CPU ({r['probes']} probes, "
                               f"{r['steps']} steps)", f(r["gpu_s"], " s"), f(r["cpu_s"], " s"), f(ratio, "x"), "", None,
                               f"{where}; max abs difference of validation metrics {r['max_abs_diff_val']:.2g}"))
            elif r["check"] == "joint":
                out.append(row("device", f"One-run measurement on the GPU vs the CPU, {r['tasks']} tasks",
                               f(r["gpu_s"], " s"), f(r["cpu_s"], " s"), f(ratio, "x"), "", None,
                               f"{where}; max abs difference: gradient cosine "
                               f"{r['max_abs_diff_gradient_cosine']:.2g}, lookahead {r['max_abs_diff_lookahead']:.2g}"))
            else:
                ok = bool(r.get("same_final") and r.get("loads_without_gpu"))
                out.append(row("device", f"taskgroup run --device cuda vs --device cpu, small synthetic set "
                               f"({r['steps']} steps), then the GPU-trained models loaded where no GPU is visible",
                               f(r.get("gpu_s"), " s"), f(r.get("cpu_s"), " s"), f(ratio, "x"),
                               "same final grouping; loads without a GPU", ok,
                               f"{where}; same final grouping: {r.get('same_final')}; "
                               f"max abs difference of predictions {r.get('max_abs_diff_predictions')}; "
                               + "; ".join(f"{k}: {r[k]}" for k in ("gpu_error", "cpu_error", "load_without_gpu_error")
                                           if r.get(k))))
        return out

    return {"gpu": gpu, "compare_stacked": compare_stacked, "probe_growth": probe_growth, "joint_growth": joint_growth,
            "end_to_end": end_to_end, "flop_rate": flop_rate, "table_load": table_load,
            "plan_accuracy": plan_accuracy}
