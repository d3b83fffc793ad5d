"""Report section for the compare step: alternatives, per-task metrics, Delta_m and cost, evidence."""

from __future__ import annotations

import math
from typing import Any

from . import figures, fmt
from .context import Context
from .document import Block, Cell, Figure, Heading, Para, Section, Span, Table
from .load import finite, obj

_MARK = {"better": " ▲", "worse": " ▼"}
#: alternatives per table of per-task metrics (more are split over several tables)
PER_TABLE = 4


def comparison_section(ctx: Context) -> Section:
    """What training the alternatives showed, from comparison.json."""
    data = ctx.data
    section = Section("Comparison after training", "comparison")
    if data.comparison is None:
        section.blocks.append(Para(["Not measured yet: run ", Span("taskgroup compare DIR", "code"),
                                    " to train the recommended grouping next to the alternatives."], kind="pending"))
        return section
    alts = data.alternatives()
    if not alts:
        section.blocks.append(Para(["comparison.json holds no alternative."], kind="warn"))
        return section
    section.blocks.append(Para([
        "Every alternative was trained to convergence and scored on the test split. ",
        Span("Δm", "b"), " is the mean over tasks of each task's relative gain over its single-task network, "
        "signed so that positive is better (Maninis et al. 2019); regression tasks are compared on RMSE, bounded "
        "metrics on the distance from chance (see the method notes)."]))
    section.blocks += _excluded_blocks(obj(obj(data.comparison.get("delta_m_basis")).get("excluded")))
    section.blocks += _halving_blocks(obj(data.comparison.get("halving")))
    section.blocks += _alternatives_table(alts)
    dm = [(str(a.get("name")), finite(a.get("delta_m")), finite(a.get("delta_m_std")) or 0.0) for a in alts]
    dm = [(n, m, s) for n, m, s in dm if m is not None]
    if dm:
        section.blocks.append(Heading("Gain over single-task networks"))
        section.blocks.append(Figure(
            fmt.slug("delta_m", ctx.figure_names),
            figures.delta_m_bars([n for n, _, _ in dm], [m for _, m, _ in dm], [s for _, _, s in dm],
                                 labels={n: fmt.alternative_name(n) for n, _, _ in dm}),
            alt="Bar chart of Delta_m for each alternative with error bars",
            caption=["Δm of each alternative (green: better than single-task, red: worse; the recommended "
                     "grouping is outlined). Error bars: ±1 standard deviation over seeds; bars whose error "
                     "bars cross 0 are within seed noise."]))
    section.blocks += _per_task_blocks(ctx, alts)
    section.blocks += _cost_blocks(ctx, alts)
    section.blocks += _evidence_blocks(obj(data.comparison.get("verdict")))
    return section


def _halving_blocks(halving: dict[str, Any]) -> list[Block]:
    """One paragraph on successive halving: how many candidates, which budgets, which reached the full one."""
    if not halving or not isinstance(halving.get("candidates"), list):
        return []
    survivors = [fmt.alternative_name(str(n)) for n in halving.get("full_budget") or []]
    budgets = ", ".join(str(b) for b in halving.get("budgets") or [])
    return [Para([Span("Successive halving", "b"), f": {len(halving['candidates'])} candidate groupings were trained "
                  f"at step budgets {budgets}, keeping the better half on the select part of the validation rows each "
                  f"round; {len(survivors)} reached the full budget ({', '.join(survivors) or 'none'}) and are the "
                  "candidates shown below. The recommended grouping and the baselines were trained at the full "
                  "budget."])]


def _excluded_blocks(excluded: dict[str, Any]) -> list[Block]:
    """Name the tasks left out of Δm because their single-task baseline cannot carry a relative change."""
    if not excluded:
        return []
    names = "; ".join(f"{t}: {why}" for t, why in excluded.items())
    return [Para([Span("Left out of Δm", "b"), f" (degenerate single-task baseline): {names}. Their metrics are "
                  "still shown per task; fix the split or drop the task to include them."], kind="warn")]


def _alternatives_table(alts: list[dict[str, Any]]) -> list[Block]:
    rows = []
    for a in alts:
        name = str(a.get("name"))
        groups = [[str(t) for t in g] for g in a.get("groups") or []]
        label = fmt.alternative_name(name)
        rows.append([
            Cell([Span(label, "b" if name == "recommended" else "")]),
            Cell([str(len(groups)) if groups else fmt.DASH], "num"),
            Cell(_chips(groups) or [fmt.DASH]),
            Cell([fmt.count(a.get("params"))], "num"),
            Cell([fmt.quantity(a.get("inference_cost"))], "num"),
            Cell([fmt.seconds(a.get("train_seconds"))], "num"),
            Cell([fmt.delta(a.get("delta_m"), a.get("delta_m_std")) + _MARK.get(_sign_class(a).strip(), "")],
                 "num" + _sign_class(a)),
        ])
    return [Heading("Alternatives"), Table(
        ["Alternative", "Networks", "Groups", "Parameters", "Inference cost", "Training time", "Δm ± std"], rows,
        numeric=(1, 3, 4, 5, 6),
        caption="Parameters: total over the alternative's networks. Inference cost: cost to predict every "
                "task for one example (lower is cheaper). Δm is green or red only when it is more than one "
                "standard deviation away from 0 (▲ better, ▼ worse).")]


def _sign_class(a: dict[str, Any]) -> str:
    m, s = finite(a.get("delta_m")), finite(a.get("delta_m_std")) or 0.0
    if m is None or abs(m) <= s or m == 0:
        return ""
    return " better" if m > 0 else " worse"


def _per_task_blocks(ctx: Context, alts: list[dict[str, Any]]) -> list[Block]:
    tasks = ctx.data.tasks
    single = obj(obj(ctx.data.alternative("single_task")).get("per_task"))
    cols = [a for a in alts if a.get("per_task")]
    if not cols or not tasks:
        return []
    blocks: list[Block] = [Heading("Per-task test metric of every alternative")]
    # a few alternatives per table, so that every table fits a 1280-pixel screen without scrolling
    chunks = [cols[i:i + PER_TABLE] for i in range(0, len(cols), PER_TABLE)]
    for k, chunk in enumerate(chunks):
        rows = []
        for task in tasks:
            base = obj(single.get(task))
            metric = base.get("metric") or next((obj(a["per_task"].get(task)).get("metric") for a in cols
                                                 if obj(a["per_task"].get(task)).get("metric")), None)
            row = [Cell([Span(ctx.color_of(task), "swatch"), Span(task, "task")]), Cell([str(metric or fmt.DASH)])]
            for a in chunk:
                row.append(_score_cell(obj(a["per_task"].get(task)), base, a.get("name") == "single_task"))
            rows.append(row)
        header = ["Task", "Metric"] + [fmt.alternative_name(str(a.get("name"))) for a in chunk]
        last = k == len(chunks) - 1
        blocks.append(Table(
            header, rows, numeric=tuple(range(2, len(header))),
            caption="" if not last else
            "Mean ± std over seeds; below it, the task's mean relative change against the single-task "
            "network as it enters Δm (positive is better whatever the metric's direction; RMSE for "
            "regression). Green ▲ or red ▼: the difference "
            "exceeds the combined seed spread of the two; unmarked: within seed noise."))
    return blocks


def _score_cell(score: dict[str, Any], base: dict[str, Any], is_base: bool) -> Cell:
    text = fmt.mean_std(score.get("mean"), score.get("std"))
    m, b, rel = finite(score.get("mean")), finite(base.get("mean")), finite(score.get("change"))
    if is_base or m is None or b is None or rel is None:
        return Cell([text], "num")
    lower = score.get("lower_is_better", base.get("lower_is_better"))
    sign = -1.0 if lower else 1.0
    spread = math.hypot(finite(score.get("std")) or 0.0, finite(base.get("std")) or 0.0)
    known = finite(score.get("std")) is not None and finite(base.get("std")) is not None
    cls = ""
    if known and abs(m - b) > spread:
        cls = " better" if sign * (m - b) > 0 else " worse"
    return Cell([text, Span(f"{rel:+.1f}%" + _MARK.get(cls.strip(), ""), "sub")], "num" + cls)


def _cost_blocks(ctx: Context, alts: list[dict[str, Any]]) -> list[Block]:
    points = []
    for a in alts:
        c, m = finite(a.get("inference_cost")), finite(a.get("delta_m"))
        if c is not None and m is not None:
            points.append(figures.Point(str(a.get("name")), c, m, finite(a.get("delta_m_std")) or 0.0,
                                        a.get("name") == "recommended"))
    curve = []
    for p in (ctx.data.comparison or {}).get("budget_curve") or []:
        if not isinstance(p, dict):
            continue
        c, m = finite(p.get("inference_cost")), finite(p.get("delta_m"))
        if c is not None and m is not None:
            curve.append(figures.Point(str(p.get("name", "")), c, m, finite(p.get("delta_m_std")) or 0.0))
    if len(points) < 2 and not curve:
        return [Para(["Too few alternatives with an inference cost to plot performance against cost."], kind="note")]
    unit = (ctx.data.comparison or {}).get("inference_cost_unit")
    png = figures.cost_figure(points, curve, f"inference cost ({unit})" if unit else "inference cost per example",
                              labels={p.name: fmt.alternative_name(p.name) for p in points})
    return [Heading("Performance against inference cost"), Figure(
        fmt.slug("cost", ctx.figure_names), png, alt="Delta_m against inference cost for each alternative",
        caption=["Each point is an alternative, numbered as in the list beside the plot (the star is the "
                 "recommended grouping); the dashed step line is the Pareto front, the best Δm reachable at each cost"
                 + ("; the purple step line is the best selection found at each budget" if curve else "")
                 + ", in the spirit of the budget plots of Standley et al. (ICML 2020)."])]


def _evidence_blocks(verdict: dict[str, Any]) -> list[Block]:
    evidence = obj(verdict.get("evidence"))
    if not evidence:
        return []
    rows = [[Cell([fmt.evidence_label(str(k))]), Cell(_evidence_value(str(k), v))] for k, v in evidence.items()]
    return [Heading("Evidence behind the verdict"), Table(["Evidence", "Value"], rows)]


def _evidence_value(key: str, value: Any) -> list[Any]:
    """An evidence value in words: groups as chips, alternatives by their label, shares in percent."""
    if isinstance(value, list) and value and all(isinstance(g, list) for g in value):
        return _chips([[str(t) for t in g] for g in value])
    if isinstance(value, str) and key.startswith("best_"):
        return [fmt.alternative_name(value)]
    if isinstance(value, str):
        return [fmt.measure_name(value) if key.endswith("_measure") else value]
    v = finite(value)
    if v is not None and not isinstance(value, bool):
        if key.endswith("_share"):
            return [f"{100 * v:.0f}%"]
        if "ratio" in key:
            return [f"{v:.2f}×"]
        if key == "seeds":
            return [str(int(v))]
        return [fmt.num(v, 4)]
    return [fmt.value(value)]


def _chips(groups: list[list[str]]) -> list[Any]:
    """A grouping as one chip per group."""
    return [Span(", ".join(g), "chip") for g in groups]
