"""Report sections that explain and pin down the run: method notes and reproducibility."""

from __future__ import annotations

from typing import Any

from . import fmt
from .context import Context
from .document import Bullets, Cell, Heading, Para, Pre, Section, Span, Table
from .load import obj

DELTA_M = ("Δm = (1/N) · Σ_t (−1)^l_t · (M_t − M_t,single) / D_t × 100 %\n"
           "  M_t         test value of task t in the alternative (RMSE for regression, else its metric)\n"
           "  M_t,single  the same value of task t's own single-task network\n"
           "  l_t         1 when lower is better (RMSE), else 0\n"
           "  D_t         regression: max(M_t,single, 0.05 · sd of the training targets)\n"
           "              AUC, accuracy, F1: max(|M_t,single − chance|, 0.1 · (1 − chance)),\n"
           "              chance = 0.5 (AUC), 1/classes (accuracy), 0 (F1)\n"
           "  each term is clipped to ±1000 %; a task whose single-task value is not a number or is\n"
           "  worse than chance by more than the floor is left out of Δm and named")


def methods_section() -> Section:
    """Short definitions of every quantity the report shows."""
    items = [
        [Span("Gradient cosine", "b"), ": cos(g_i, g_j), where g_t is the gradient of task t's loss with "
         "respect to the shared encoder's parameters on the same batch, averaged over the measured steps of "
         "one joint training. Symmetric; negative values mean the tasks pull the shared weights apart."],
        [Span("Lookahead transfer (TAG)", "b"), " (Fifty et al., NeurIPS 2021): Z[i][j] = 1 − L_j(θ after one "
         "step on task i alone) / L_j(θ before), on the same batch with the heads fixed, averaged over the "
         "measured steps. Positive: a step for task i also lowers task j's loss."],
        [Span("Pairwise transfer gain", "b"), " (Standley et al., ICML 2020): the signed relative improvement "
         "of task j's validation metric when j is trained in a pair with i, against j trained alone."],
        [Span("Probe gradient cosine", "b"), ": the gradient cosine measured inside each pair probe, so that "
         "cosine and gain come from the same training."],
        [Span("Group scores (HOA)", "b"), ": the higher-order approximation scores a task inside a group as "
         "the mean of its pair scores with the other members (Standley et al.); TAG's group score is the mean "
         "affinity onto the task from the other members (Fifty et al.)."],
        [Span("Selection", "b"), ": the networks are chosen so that every task is served and the sum over tasks "
         "of the best predicted score is maximal within the budget (at most k networks, or a cost budget), "
         "solved exactly as an integer program."],
        [Span("Δm", "b"), " (Maninis et al., CVPR 2019): the multi-task gain against the single-task networks, "
         "mean over tasks of the signed relative difference of the test metric:"],
    ]
    return Section("Method notes", "methods", [
        Para(["In every matrix, entry [i][j] is the effect of source task i on target task j; higher means "
              "more helpful. Affinities are cheap predictions; the comparison section is the measurement."]),
        Bullets(items), Pre(DELTA_M),
        Para(["Validation rows are cut into three parts: one picks each network's checkpoint, one chooses among "
              "candidate groupings, and the third estimates the effect the decision rests on, so that no figure is "
              "scored on the rows that chose it. The test split is only reported."]),
        Para([Span("Decision", "b"), ": Δm of the grouping against single-task networks of the same seeds, paired "
              "per seed (Student-t over seeds) and over rows (bootstrap), gives a 95 % interval. Above 0: share "
              "for accuracy. Within the equivalence margin (90 % interval, two one-sided tests) with fewer "
              "networks: share for cost. Below 0: train separately. Otherwise, or with fewer than 3 seeds: "
              "inconclusive."]),
    ])


def reproducibility_section(ctx: Context) -> Section:
    """Software versions, analysis settings, the files found and the configuration, verbatim."""
    data = ctx.data
    section = Section("Reproducibility", "reproducibility")
    versions: dict[str, Any] = {}
    for doc in (data.affinity, data.groupings, data.comparison):
        versions.update(obj(obj(doc).get("versions")))
    if versions:
        section.blocks += [Heading("Software versions"),
                           Table(["Package", "Version"], [[Cell([str(k)]), Cell([fmt.value(v)])]
                                                          for k, v in versions.items()])]
    settings = obj(obj(data.affinity).get("settings"))
    if settings:
        section.blocks += [Heading("Analysis settings"),
                           Table(["Setting", "Value"], [[Cell([Span(str(k), "code")]), Cell([fmt.value(v)])]
                                                        for k, v in settings.items()])]
    files = ["config.toml", "affinity.json", "groupings.json", "comparison.json"]
    present = {"config.toml": data.config_text is not None, "affinity.json": data.affinity is not None,
               "groupings.json": data.groupings is not None, "comparison.json": data.comparison is not None}
    section.blocks += [Heading("Files this report was rendered from"), Bullets(
        [[Span(f, "code"), " — found" if present[f] else " — missing (step not run yet)"] for f in files])]
    section.blocks += [Heading("Configuration (config.toml)")]
    if data.config_text is None:
        section.blocks.append(Para(["config.toml is missing from the run directory."], kind="note"))
    else:
        section.blocks.append(Pre(data.config_text.rstrip("\n")))
    section.blocks.append(Para(["Rerender this report from the files alone with ",
                                Span("taskgroup report DIR", "code"), "; nothing is retrained."]))
    return section
