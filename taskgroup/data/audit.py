"""What ``taskgroup check`` says about a task set's split: counts, groups per split, warnings.

Plain data (lines of text and a table); the CLI prints them. Nothing here trains or writes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..tasks import SPLIT_NAMES, TaskSet
from .splits import group_codes


@dataclass(frozen=True)
class SplitAudit:
    """The task table (with missing labels per task), notes on the split, and warnings."""

    rows: list[tuple[str, ...]]
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def audit(ts: TaskSet) -> SplitAudit:
    """Tasks with their rows per split and missing labels; how the rows were split; what looks risky."""
    counts = ts.counts()
    rows = [("task", "kind", "train", "val", "test", "missing", "metric")]
    for t in ts.tasks:
        c = counts[t.name]
        direction = "lower is better" if t.lower_is_better else "higher is better"
        missing = ts.n_rows - int(ts.masks[t.name].sum())
        rows.append((t.name, t.kind, str(c["train"]), str(c["val"]), str(c["test"]), str(missing),
                     f"{t.metric} ({direction})"))
    split = ts.row_split
    sizes = ", ".join(f"{int(np.sum(split == k))} {name}" for k, name in SPLIT_NAMES.items())
    notes = [f"split by {ts.split_method}: {sizes} rows (hash {ts.split_hash()})"]
    if ts.groups is not None:
        codes = group_codes(ts.groups)
        per = {name: len(np.unique(codes[split == k])) for k, name in SPLIT_NAMES.items()}
        notes.append(f"groups per split: {per['train']} train, {per['val']} val, {per['test']} test "
                     f"(of {int(codes.max()) + 1}); no group is in two splits")
    warnings = []
    if ts.groups is None and ts.given_split is None:
        for col in ts.meta.get("repeated_columns", []):
            warnings.append(f"warning: column {col!r} repeats its values across many rows; if rows sharing a value "
                            f"belong to one subject, set data.groups = \"{col}\" so no subject is in two splits")
    return SplitAudit(rows, notes, warnings)


__all__ = ["SplitAudit", "audit"]
