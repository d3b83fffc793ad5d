"""Read a run directory for the report: the step files that exist, checked enough to render safely.

Every step file is optional (a report can be rendered after ``analyze`` alone), but a file that is
present must be readable JSON of a schema this version understands; otherwise a one-line
:class:`RunDirError` names the file and what is wrong with it.
"""

from __future__ import annotations

import json
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import RunDirError
from ..runtime.documents import AffinityDoc, ComparisonDoc, Document, GroupingsDoc

SCHEMA = 1
STEP_FILES = ("affinity.json", "groupings.json", "comparison.json")


@dataclass
class RunData:
    """The contents of one run directory, as far as they exist."""

    run_dir: Path
    affinity_doc: AffinityDoc | None = None
    groupings_doc: GroupingsDoc | None = None
    comparison_doc: ComparisonDoc | None = None
    affinity: dict[str, Any] | None = None
    groupings: dict[str, Any] | None = None
    comparison: dict[str, Any] | None = None
    config_text: str | None = None
    config: dict[str, Any] | None = None
    tasks: list[str] = field(default_factory=list)

    # -- derived views ---------------------------------------------------------------------------
    def measures(self) -> dict[str, dict[str, Any]]:
        """Affinity measures by name (empty when analyze has not run)."""
        return dict((self.affinity or {}).get("measures") or {})

    def matrix(self, measure: str, key: str = "matrix") -> np.ndarray | None:
        """A measure's N x N array (``matrix``, ``stderr`` or ``conflict_rate``), NaN for nulls."""
        raw = self.measures().get(measure, {}).get(key)
        if raw is None:
            return None
        return _as_matrix(raw, len(self.affinity_tasks()), f"affinity.json: measures.{measure}.{key}")

    def task_info(self) -> dict[str, dict[str, Any]]:
        """Per-task details (kind, metric, rows) by task name, from affinity.json when present."""
        info = (self.affinity or {}).get("task_info") or []
        return {str(t.get("name")): t for t in info if isinstance(t, dict)}

    def recommended_groups(self) -> list[list[str]] | None:
        """The recommended grouping, from groupings.json or else the compared ``recommended``."""
        rec = (self.groupings or {}).get("recommended") or {}
        groups = rec.get("groups")
        if groups is None:
            alt = self.alternative("recommended")
            groups = alt.get("groups") if alt else None
        return _as_groups(groups) if groups is not None else None

    def alternatives(self) -> list[dict[str, Any]]:
        """The compared alternatives (empty when compare has not run)."""
        alts = (self.comparison or {}).get("alternatives") or []
        return [a for a in alts if isinstance(a, dict)] if isinstance(alts, list) else []

    def alternative(self, name: str) -> dict[str, Any] | None:
        """One compared alternative by name, or None."""
        return next((a for a in self.alternatives() if a.get("name") == name), None)

    def linkage(self) -> tuple[np.ndarray, list[str]] | None:
        """The scipy linkage matrix and its leaf labels, when group wrote a valid one."""
        link = (self.groupings or {}).get("linkage") or {}
        raw, labels = link.get("matrix"), link.get("labels")
        if raw is None:
            return None
        labels = [str(x) for x in (labels or self.tasks)]
        try:
            z = np.asarray(raw, dtype=float)
        except (TypeError, ValueError):
            raise RunDirError("groupings.json: linkage.matrix is not a table of numbers") from None
        if z.ndim != 2 or z.shape != (len(labels) - 1, 4) or not np.all(np.isfinite(z)):
            raise RunDirError(
                f"groupings.json: linkage.matrix must be {len(labels) - 1} x 4 finite numbers for "
                f"{len(labels)} labels, got shape {z.shape}")
        return z, labels

    def affinity_tasks(self) -> list[str]:
        """The row and column order of the affinity matrices."""
        return [str(t) for t in (self.affinity or {}).get("tasks") or self.tasks]


def load_run(run_dir: str | Path) -> RunData:
    """Read DIR's step files and config; raise :class:`RunDirError` when none of them exists."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RunDirError(f"run directory {str(run_dir)!r} does not exist or is not a directory; "
                          "run 'taskgroup run CONFIG --out DIR' first")
    data = RunData(run_dir=run_dir)
    data.affinity_doc = _read_doc(run_dir, AffinityDoc)
    data.groupings_doc = _read_doc(run_dir, GroupingsDoc)
    data.comparison_doc = _read_doc(run_dir, ComparisonDoc)
    data.affinity = data.affinity_doc.to_json() if data.affinity_doc else None
    data.groupings = data.groupings_doc.to_json() if data.groupings_doc else None
    data.comparison = data.comparison_doc.to_json() if data.comparison_doc else None
    cfg_path = run_dir / "config.toml"
    if cfg_path.is_file():
        data.config_text = cfg_path.read_text(encoding="utf-8", errors="replace")
        try:
            data.config = tomllib.loads(data.config_text)
        except tomllib.TOMLDecodeError:
            data.config = None  # shown verbatim all the same
    if not any((data.affinity, data.groupings, data.comparison, data.config_text)):
        raise RunDirError(
            f"{str(run_dir)!r} holds none of config.toml, {', '.join(STEP_FILES)}; "
            "run 'taskgroup run CONFIG --out DIR' first")
    data.tasks = _tasks(data)
    _check_shapes(data)
    return data


def _check_shapes(data: RunData) -> None:
    """Refuse malformed containers now, so that rendering cannot fail half-way through."""
    measures = (data.affinity or {}).get("measures") or {}
    if not isinstance(measures, dict) or not all(isinstance(m, dict) for m in measures.values()):
        raise RunDirError("affinity.json: 'measures' must map each measure's name to an object with a 'matrix'")
    for name in measures:
        for key in ("matrix", "stderr", "conflict_rate"):
            data.matrix(name, key)
    for doc, name, key in ((data.comparison, "comparison.json", "alternatives"),
                           (data.groupings, "groupings.json", "candidates")):
        items = (doc or {}).get(key) or []
        if not isinstance(items, list) or not all(isinstance(x, dict) for x in items):
            raise RunDirError(f"{name}: '{key}' must be a list of objects")
    for alt in data.alternatives():
        if not isinstance(alt.get("per_task") or {}, dict):
            raise RunDirError(f"comparison.json: alternative {alt.get('name')!r} has a 'per_task' that is not an object")
    for doc, name, key in ((data.comparison, "comparison.json", "verdict"),
                           (data.groupings, "groupings.json", "recommended")):
        if not isinstance((doc or {}).get(key) or {}, dict):
            raise RunDirError(f"{name}: '{key}' must be an object")


def _read_doc(run_dir: Path, cls: type[Document]) -> Any:
    """The typed document when its file exists (validated, one-line error naming file and field)."""
    path = run_dir / cls.FILE
    return cls.load(path) if path.exists() else None


def _tasks(data: RunData) -> list[str]:
    """Task names in run order: the first step file that lists them, else the config's [[tasks]]."""
    for doc in (data.affinity, data.groupings, data.comparison):
        if doc and doc.get("tasks"):
            return list(doc["tasks"])
    entries = (data.config or {}).get("tasks") or []
    return [str(t["name"]) for t in entries if isinstance(t, dict) and "name" in t]


def _as_matrix(raw: Any, n: int, where: str) -> np.ndarray:
    try:
        m = np.array([[math.nan if v is None else float(v) for v in row] for row in raw], dtype=float)
    except (TypeError, ValueError):
        raise RunDirError(f"{where} must be a square table of numbers (null for missing)") from None
    if m.shape != (n, n):
        raise RunDirError(f"{where} has shape {m.shape}, expected {n} x {n} (one row and column per task)")
    return m


def _as_groups(groups: Any) -> list[list[str]]:
    if not isinstance(groups, list) or not all(isinstance(g, list) for g in groups):
        raise RunDirError("groups must be a list of lists of task names")
    return [[str(t) for t in g] for g in groups]


def obj(x: Any) -> dict[str, Any]:
    """``x`` when it is a JSON object, else an empty one (optional fields of any shape read as absent)."""
    return x if isinstance(x, dict) else {}


def finite(x: Any) -> float | None:
    """``x`` as a float when it is a finite number, else None (JSON nulls, NaN, strings)."""
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return None
    return float(x) if math.isfinite(x) else None
