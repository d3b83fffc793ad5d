"""The report's content: the first screen (verdict, groups, gains) and the task table.

The other sections live in :mod:`.analysis`, :mod:`.comparison` and :mod:`.notes`;
:func:`build_document` puts them together in reading order.
"""

from __future__ import annotations

from typing import Any

from . import fmt
from .analysis import affinity_section, groupings_section
from .comparison import comparison_section
from .context import Context
from .document import Block, Bullets, Cell, Document, Para, Section, Span, Stats, Table
from .load import RunData, finite, obj
from .notes import methods_section, reproducibility_section
from .stability import stability_warning

STEPS = (("analyze", "affinity.json", "affinity"), ("group", "groupings.json", "groupings"),
         ("compare", "comparison.json", "comparison"))


def build_document(data: RunData) -> Document:
    """Everything the report says, as a :class:`Document` ready for any renderer."""
    ctx = Context.of(data)
    n = len(data.tasks)
    version = obj(obj(data.affinity).get("versions")).get("taskgroup")
    subtitle = f"{n} task{'s' if n != 1 else ''} · run directory {data.run_dir.resolve().name}"
    if version:
        subtitle += f" · taskgroup {version}"
    sections = [tasks_section(ctx), affinity_section(ctx), groupings_section(ctx), comparison_section(ctx),
                methods_section(), reproducibility_section(ctx)]
    return Document(title="Should these tasks share a network?", subtitle=subtitle, lead=lead(ctx),
                    sections=sections)


def lead(ctx: Context) -> list[Block]:
    """The first screen: steps not run yet, the verdict, the recommended networks and the gains."""
    data = ctx.data
    blocks: list[Block] = []
    missing = [(step, file) for step, file, attr in STEPS if getattr(data, attr) is None]
    if missing:
        names = ", ".join(f"{step} ({file})" for step, file in missing)
        blocks.append(Para(["Not run yet: ", Span(names, "b"),
                            ". This report shows what exists; run ", Span("taskgroup run CONFIG --out DIR", "code"),
                            " or the missing steps, then ", Span("taskgroup report DIR", "code"), " again."],
                           kind="pending"))
    blocks.append(_verdict(data))
    blocks.extend(stability_warning(data))
    blocks.extend(_groups_in_words(ctx))
    stats = _key_numbers(ctx)
    if stats:
        blocks.append(Stats(stats))
    return blocks


#: the first words of the verdict box and its colour, by decision
HEADLINES = {
    "share_for_accuracy": ("Verdict: share networks for accuracy. ", "good"),
    "share_for_cost": ("Verdict: share networks for cost. ", "good"),
    "train_separately": ("Verdict: train each task separately. ", "bad"),
    "inconclusive": ("Verdict: inconclusive. ", "pending"),
}


def decision_of(data: RunData) -> str | None:
    """The decision of comparison.json; older files without one map ``use_mtl`` onto the two clear answers."""
    verdict = obj(obj(data.comparison).get("verdict"))
    d = verdict.get("decision")
    if d in HEADLINES:
        return str(d)
    use = verdict.get("use_mtl")
    return None if use is None else ("share_for_accuracy" if use else "train_separately")


def _verdict(data: RunData) -> Para:
    verdict = obj(obj(data.comparison).get("verdict"))
    summary = str(verdict.get("summary") or "").strip()
    if data.comparison is None:
        return Para([Span("No verdict yet. ", "b"),
                     "Affinities only predict; whether sharing pays off is known once the proposed groupings "
                     "have been trained and measured against single-task networks (the compare step)."],
                    kind="pending")
    decision = decision_of(data)
    if decision is None:
        return Para([Span("Verdict: undecided. ", "b"), summary or "comparison.json holds no verdict."],
                    kind="pending")
    head, kind = HEADLINES[decision]
    return Para([Span(head, "b"), summary], kind=kind)


def networks_to_train(data: RunData, proposed: list[list[str]]) -> list[list[str]]:
    """The networks the decision says to train: its grouping when sharing, one per task otherwise."""
    verdict = obj(obj(data.comparison).get("verdict"))
    train = verdict.get("train")
    if isinstance(train, list) and train:
        return [list(g) for g in train]
    decision = decision_of(data)
    if decision in ("train_separately", "inconclusive"):
        return [[t] for t in data.tasks]
    return proposed


def _groups_in_words(ctx: Context) -> list[Block]:
    data, groups = ctx.data, ctx.groups
    if not groups:
        if data.groupings is None:
            return [Para(["No grouping proposed yet (the group step has not run)."])]
        return [Para(["groupings.json holds no recommended grouping."], kind="warn")]
    decision = decision_of(data)
    n_tasks = len(data.tasks)
    if decision in ("train_separately", "inconclusive"):
        nets = f"{len(groups)} network{'s' if len(groups) != 1 else ''}"
        why = ("but training showed no reliable gain" if decision == "train_separately"
               else "but the comparison could not yet tell whether it pays off")
        return [Para([Span(f"Train {n_tasks} networks", "b"), f", one per task. The affinities proposed {nets} "
                      f"for {n_tasks} tasks, {why}; the models saved in models/ are the single-task networks."])]
    shown = networks_to_train(data, groups) if decision else groups
    nets = f"{len(shown)} network{'s' if len(shown) != 1 else ''}"
    intro = ["Recommended: ", Span(f"train {nets}", "b"),
             f" instead of {n_tasks} separate ones:" if len(shown) < n_tasks else f" for {n_tasks} tasks:"]
    items = []
    for i, group in enumerate(shown):
        color = ctx.colors[i] if i < len(ctx.colors) else ctx.color_of(group[0])
        item = [Span(color, "swatch"), Span(f"Network {i + 1}", "b"), ": "]
        item += fmt.task_list(group)
        item.append(" share one encoder." if len(group) > 1 else " alone.")
        items.append(item)
    covered = {t for g in shown for t in g}
    uncovered = [t for t in data.tasks if t not in covered]
    if uncovered:
        items.append(["Not served by any network: "] + fmt.task_list(uncovered) + ["."])
    return [Para(intro), Bullets(items)]


def _key_numbers(ctx: Context) -> list[tuple[str, str, str]]:
    data = ctx.data
    stats: list[tuple[str, str, str]] = []
    verdict = obj(obj(data.comparison).get("verdict"))
    iv = obj(verdict.get("interval"))
    if finite(iv.get("mean")) is not None:
        rng = (f"95% interval {fmt.signed(iv.get('low'), 2)} to {fmt.signed(iv.get('high'), 2)}"
               if finite(iv.get("low")) is not None else "no interval (too few seeds)")
        stats.append(("Δm behind the decision", f"{fmt.signed(iv['mean'], 2)}%",
                      f"{rng}; validation rows that chose neither checkpoints nor the grouping, "
                      f"{iv.get('seeds')} seeds; equivalence margin ±{fmt.num(verdict.get('margin'), 3)} points"))
    rec = (data.groupings or {}).get("recommended") or {}
    if finite(rec.get("predicted")) is not None:
        measure = fmt.measure_name(str(rec.get("measure") or "")) or "the affinities"
        method = f", chosen by {rec['method']}" if rec.get("method") else ""
        stats.append(("Predicted score", fmt.signed(rec["predicted"], 3),
                      f"group score from {measure}{method}, before full training (higher is better; "
                      "not in Δm's units)"))
    alt = data.alternative(str(verdict.get("alternative") or "recommended"))
    if alt is not None:
        stats.append(("Measured gain Δm", fmt.delta(alt.get("delta_m"), alt.get("delta_m_std")),
                      "the grouping the decision is about vs single-task networks, test split (reported only), "
                      "±1 std over seeds"))
    one = data.alternative("all_in_one")
    if one is not None:
        stats.append(("All tasks in one network", fmt.delta(one.get("delta_m"), one.get("delta_m_std")),
                      "Δm of the simplest sharing, for reference"))
    if ctx.groups:
        train = networks_to_train(data, ctx.groups)
        cost = obj(verdict.get("cost"))
        ratio = finite(verdict.get("cost_ratio")) if decision_of(data) in ("share_for_accuracy", "share_for_cost") \
            else None
        note = "networks to train for the decision taken / one per task"
        if ratio is not None:
            note += f"; {ratio:.0%} of the single-task inference cost"
        elif cost:
            note += "; the proposed grouping is not adopted"
        stats.append(("Networks to train", f"{len(train)} of {len(data.tasks)}", note))
    return stats


def tasks_section(ctx: Context) -> Section:
    """Each task's kind, metric, labelled rows per split, single-task score and network."""
    data = ctx.data
    section = Section("Tasks", "tasks")
    if not data.tasks:
        section.blocks.append(Para(["No task is listed in any file of the run directory yet."], kind="pending"))
        return section
    info = data.task_info()
    single = obj(obj(data.alternative("single_task")).get("per_task"))
    config_tasks = {str(t.get("name")): t for t in (data.config or {}).get("tasks") or [] if isinstance(t, dict)}
    rows = []
    for task in data.tasks:
        ti: dict[str, Any] = obj(info.get(task))
        score = obj(single.get(task))
        metric = ti.get("metric") or score.get("metric") or config_tasks.get(task, {}).get("metric")
        lower = ti.get("lower_is_better", score.get("lower_is_better"))
        arrow = "" if lower is None else (" ↓" if lower else " ↑")
        split_rows = obj(ti.get("rows"))
        nets = ctx.networks_of(task)
        rows.append([
            Cell([Span(ctx.color_of(task), "swatch"), Span(task, "task")]),
            Cell([str(ti.get("kind") or config_tasks.get(task, {}).get("kind") or fmt.DASH)]),
            Cell([f"{metric}{arrow}" if metric else fmt.DASH]),
            *(Cell([fmt.count(split_rows.get(s))], "num") for s in ("train", "val", "test")),
            Cell([fmt.mean_std(score.get("mean"), score.get("std"))], "num"),
            Cell([", ".join(str(k) for k in nets) if nets else fmt.DASH], "num"),
        ])
    section.blocks.append(Table(
        ["Task", "Kind", "Metric", "Train rows", "Val rows", "Test rows", "Single-task score", "Network"], rows,
        caption="Rows: labelled rows of each task in each split. Metric: ↑ higher is better, ↓ lower is better. "
                "Single-task score: test metric of the task's own network (mean ± std over seeds). "
                "Network: the recommended network that serves the task (colour as in the figures).",
        numeric=(3, 4, 5, 6, 7)))
    return section
