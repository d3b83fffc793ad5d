"""Report sections for the analyze and group steps: heatmaps, agreement, dendrogram, graph, candidates."""

from __future__ import annotations

import numpy as np

from . import figures, fmt
from .context import Context
from .document import Block, Cell, Columns, Figure, Heading, Para, Section, Span, Table

SIDE_BY_SIDE_MAX_N = 8  # heatmaps of up to this many tasks fit two to a row
from .load import finite, obj
from .stability import stability_blocks

READ_HEATMAP = ("Each heatmap shows how training on the source task (row) affects the target task (column): "
                "blue means the source helps the target, red that it hurts, white no effect. Rows and columns "
                "follow the task table. Values are printed when there are at most "
                f"{figures.ANNOTATE_MAX_N} tasks (with ± one standard error when there are at most 8).")


def affinity_section(ctx: Context) -> Section:
    """One heatmap per measure with its signal-to-noise, then the agreement between measures."""
    data = ctx.data
    section = Section("Task affinities", "affinity")
    if data.affinity is None:
        section.blocks.append(Para(["Not measured yet: run ", Span("taskgroup analyze DIR", "code"),
                                    " to measure how the tasks affect each other."], kind="pending"))
        return section
    measures = data.measures()
    if not measures:
        section.blocks.append(Para(["affinity.json holds no measure."], kind="warn"))
        return section
    section.blocks.append(Para([READ_HEATMAP]))
    per_measure = [_measure_blocks(ctx, name, body) for name, body in measures.items()]
    if len(per_measure) > 1 and len(data.tasks) <= SIDE_BY_SIDE_MAX_N:
        section.blocks.append(Columns(per_measure))
    else:
        section.blocks.extend(b for blocks in per_measure for b in blocks)
    section.blocks.extend(_agreement_blocks(obj(data.affinity.get("agreement")), data.measures()))
    return section


def _measure_blocks(ctx: Context, name: str, body: dict) -> list[Block]:
    data = ctx.data
    matrix = data.matrix(name)
    blocks: list[Block] = [Heading(fmt.measure_name(name))]
    snr, informative = finite(body.get("snr")), body.get("informative")
    status: list = []
    if snr is not None:
        status.append(f"Signal-to-noise ratio {snr:.2f} ")
        status.append("(how far the entries stand from 'no relationship', counting both their common level and "
                      "their differences between pairs, in units of their own measurement noise). ")
    if informative is False:
        blocks.append(Para([Span("Not informative: ", "b"), *status,
                            "The entries are within measurement noise of no relationship; do not base a grouping "
                            "on this measure alone."], kind="warn"))
    elif status:
        blocks.append(Para(status + (["Informative: the entries stand out from their noise."]
                                     if informative else [])))
    conflict = data.matrix(name, "conflict_rate")
    if conflict is not None:
        off = conflict[~np.eye(len(conflict), dtype=bool)]
        off = off[np.isfinite(off)]
        if off.size:
            blocks.append(Para([f"Gradients pointed in conflicting directions (negative cosine) in "
                                f"{100 * off.mean():.0f}% of measured steps on average over task pairs "
                                f"(from {100 * off.min():.0f}% to {100 * off.max():.0f}%)."]))
    if matrix is None:
        blocks.append(Para([f"affinity.json holds no matrix for {name}."], kind="warn"))
        return blocks
    png = figures.heatmap(matrix, data.affinity_tasks(), fmt.measure_name(name), fmt.MEASURE_UNITS.get(name, name),
                          stderr=data.matrix(name, "stderr"))
    blocks.append(Figure(fmt.slug("heatmap_" + name, ctx.figure_names), png,
                         alt=f"Heatmap of {fmt.measure_name(name)}: source tasks in rows, target tasks in columns",
                         caption=[Span(fmt.measure_name(name), "b"), f": {fmt.MEASURE_UNITS.get(name, name)}, "
                                  "source task (row) onto target task (column); grey cells are a task onto "
                                  "itself or pairs not measured."]))
    return blocks


def _agreement_blocks(agreement: dict, measures: dict) -> list[Block]:
    """Agreement between measures, read only between informative ones (noise agreeing means nothing)."""
    if not agreement:
        return []
    rows = []
    for key, rho in agreement.items():
        a, _, b = str(key).partition("~")
        r = finite(rho)
        noisy = [fmt.measure_name(m) for m in (a, b) if obj(measures.get(m)).get("informative") is False]
        if noisy:
            reading = f"not read: {' and '.join(noisy)} {'is' if len(noisy) == 1 else 'are'} not informative"
            rows.append([Cell([fmt.measure_name(a)]), Cell([fmt.measure_name(b) if b else fmt.DASH]),
                         Cell([fmt.num(r, 2)], "num muted"), Cell([reading], "muted")])
            continue
        reading = (fmt.DASH if r is None else "strong agreement" if r >= 0.7 else "moderate agreement"
                   if r >= 0.4 else "weak or no agreement" if r > -0.2 else "they disagree")
        rows.append([Cell([fmt.measure_name(a)]), Cell([fmt.measure_name(b) if b else fmt.DASH]),
                     Cell([fmt.num(r, 2)], "num"), Cell([reading], "" if r is None or r >= 0.4 else "muted")])
    return [Heading("Agreement between measures"),
            Table(["Measure", "Measure", "ρ", "Reading"], rows, numeric=(2,),
                  caption="ρ: correlation between the off-diagonal entries of two measures' matrices. "
                          "Measures that agree make the proposed grouping more trustworthy; a measure marked "
                          "not informative is within its noise, so its agreement is not read.")]


def _graph_measure(ctx: Context) -> str | None:
    measures = ctx.data.measures()
    wanted = ((ctx.data.groupings or {}).get("recommended") or {}).get("measure")
    if wanted in measures and ctx.data.matrix(wanted) is not None:
        return wanted
    ranked = sorted(measures, key=lambda m: measures[m].get("informative") is not True)
    return next((m for m in ranked if ctx.data.matrix(m) is not None), None)


def groupings_section(ctx: Context) -> Section:
    """The dendrogram, the affinity graph coloured by recommended network, and the candidate groupings."""
    data = ctx.data
    section = Section("Proposed groupings", "groupings")
    if data.groupings is None:
        section.blocks.append(Para(["Not proposed yet: run ", Span("taskgroup group DIR", "code"),
                                    " to turn the affinities into candidate groupings."], kind="pending"))
    link = data.linkage()
    if link is not None:
        z, labels = link
        png = figures.dendrogram_figure(z, labels, [ctx.color_of(t) for t in labels], ctx.colors,
                                        ctx.group_names())
        section.blocks += [Heading("Dendrogram"), Figure(
            fmt.slug("dendrogram", ctx.figure_names), png,
            alt="Dendrogram of the tasks, leaves marked by recommended network",
            caption=["Hierarchical clustering of the tasks from their affinities: tasks that merge at a small "
                     "distance are alike. The square at each leaf has the colour of the recommended network "
                     "that serves the task."])]
    elif data.groupings is not None:
        section.blocks.append(Para(["groupings.json holds no linkage, so no dendrogram is drawn."], kind="note"))
    measure = _graph_measure(ctx)
    if measure is not None:
        title = f"Affinity graph: {fmt.measure_name(measure)}, symmetrised"
        png = figures.graph_figure(data.matrix(measure), data.affinity_tasks(),
                                   [ctx.color_of(t) for t in data.affinity_tasks()], ctx.colors,
                                   ctx.group_names(), title)
        n = len(data.tasks)
        more = (f" Only the {n} strongest positive and {max(3, n // 2)} strongest negative edges are drawn."
                if n > figures.ANNOTATE_MAX_N else "")
        section.blocks += [Heading("Affinity graph"), Figure(
            fmt.slug("graph", ctx.figure_names), png, alt=title,
            caption=["Tasks as nodes coloured by recommended network; an edge's colour is the sign of the "
                     "mean affinity of the pair in both directions (solid blue helps, dashed red hurts) and its "
                     "width the strength." + more + " Close nodes attract each other (spring layout, fixed seed)."])]
    section.blocks.extend(_calibration_blocks(ctx))
    section.blocks.extend(_candidates_blocks(ctx))
    section.blocks.extend(stability_blocks(ctx))
    return section


def _calibration_blocks(ctx: Context) -> list[Block]:
    """One line on the score source the calibration chose, and the measures' weights."""
    doc = ctx.data.groupings_doc
    cal = doc.calibration if doc is not None else None
    if cal is None:
        return []
    used = "the calibrated predictor" if cal.used == "calibrated" else fmt.measure_name(str(cal.used or ""))
    line: list = ["Group scores: ", Span(used or fmt.DASH, "b"), f" ({cal.reason})."]
    if cal.weights:
        weights = ", ".join(f"{fmt.measure_name(m)} {w:.2f}" for m, w in
                            sorted(cal.weights.items(), key=lambda kv: -kv[1]))
        line.append(f" Weights of the measures in the predictor fit on {cal.groups} trained groups: {weights}.")
    return [Para(line, kind="note")]


def _candidates_blocks(ctx: Context) -> list[Block]:
    doc = ctx.data.groupings or {}
    candidates = [c for c in doc.get("candidates") or [] if isinstance(c, dict)]
    if not candidates:
        return []
    rec_groups = sorted(map(sorted, ctx.groups))
    rows = []
    for c in candidates:
        groups = [[str(t) for t in g] for g in c.get("groups") or []]
        is_rec = sorted(map(sorted, groups)) == rec_groups
        rows.append([Cell([Span(str(c.get("name") or c.get("method") or fmt.DASH), "b" if is_rec else "")]
                          + ([" (recommended)"] if is_rec else [])),
                     Cell([fmt.measure_name(str(c.get("measure") or "")) or fmt.DASH]),
                     Cell([str(c.get("k", len(groups)))], "num"),
                     Cell([fmt.signed(c.get("predicted"), 3)], "num"),
                     Cell([fmt.groups_text(groups)])])
    return [Heading("Candidate groupings"),
            Table(["Method", "Measure", "Networks", "Predicted", "Groups"], rows, numeric=(2, 3),
                  caption="Every grouping proposed from the affinities. Predicted: the group score from pair "
                          "affinities (higher is better), before any full training.")]
