"""Report blocks for the stability of the recommendation: the first-screen warning and the co-assignment heatmap."""

from __future__ import annotations

import numpy as np

from ..runtime.documents import FinalStability, StabilityDoc
from . import figures, fmt
from .context import Context
from .document import Block, Figure, Heading, Para, Span
from .load import RunData

WARN_BELOW = 0.5
"""A final grouping reproduced in fewer than this share of the resamples earns a first-screen warning."""


def _group_stability(data: RunData) -> StabilityDoc | None:
    doc = data.groupings_doc
    stab = doc.stability if doc is not None else None
    return stab if stab is not None and stab.resamples and stab.co_assignment is not None else None


def _final_stability(data: RunData) -> FinalStability | None:
    doc = data.comparison_doc
    final = doc.final if doc is not None else None
    return final.stability if final is not None and final.stability is not None and final.stability.resamples else None


def stability_warning(data: RunData) -> list[Block]:
    """One line for the first screen when the final grouping is reproduced in under half of the resamples."""
    final = _final_stability(data)
    if final is None or final.reproduced >= WARN_BELOW:
        return []
    return [Para([Span("Unstable grouping: ", "b"),
                  f"the final grouping came out again in only {_pct(final.reproduced)} of {final.resamples} "
                  "resamples of the affinity measurements; the groups may change with another seed or sample."],
                 kind="warn")]


def stability_blocks(ctx: Context) -> list[Block]:
    """How often each pair of tasks lands in one group under resampling, as a heatmap with a sentence."""
    data = ctx.data
    group, final = _group_stability(data), _final_stability(data)
    if group is None and final is None:
        return []
    names = list(data.groupings_doc.tasks if data.groupings_doc is not None else data.tasks)
    n = final.resamples if final is not None else group.resamples  # type: ignore[union-attr]
    parts = [f"The affinity measurements were resampled {n} times (joint runs at other seeds, bootstrap over "
             "measured windows and probe seeds) and the grouping redone from each: "]
    said = []
    if group is not None and group.reproduced is not None:
        said.append(f"the affinity-based recommendation came out the same in {_pct(group.reproduced)}")
    if final is not None:
        said.append(f"the final grouping in {_pct(final.reproduced)} (verifying, in each resample, the "
                    "trained groupings it proposed)")
        if final.untrained:
            said.append(f"in {_pct(final.untrained)} of the resamples the recommended grouping was not one of "
                        "those trained, and the answer is the best of those that were")
    parts.append("; ".join(said) + ". The heatmap shows how often each pair of tasks shared a group "
                 "(1: always, 0: never).")
    matrix = np.asarray(final.co_assignment if final is not None else group.co_assignment,  # type: ignore[union-attr]
                        dtype=float)
    what = "final grouping" if final is not None else "recommended grouping"
    png = figures.heatmap(matrix, names, f"Co-assignment, {what}", "share of resamples in one group", share=True)
    return [Heading("Stability"), Para(["".join(parts)]),
            Figure(fmt.slug("co_assignment", ctx.figure_names), png,
                   alt="Heatmap of how often each pair of tasks was grouped together under resampling",
                   caption=["Share of resamples in which the two tasks shared a group."])]


def _pct(share: float) -> str:
    return f"{100 * share:.0f}%"
