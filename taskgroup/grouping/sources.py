"""Reading affinity.json for grouping: strict validation and the choice of score source.

The source of group scores is the measured subsets (exhaustive mode: per-task relative gain of
every subset against its single-task network), one pairwise measure's matrix, or ``calibrated``:
the predictor fit on the measured gains of a few trained groups (:mod:`.calibration`).

Rule for ``measure="auto"``:

1. measured subsets, when the document holds them: they are measurements, not predictions;
2. otherwise, when the calibration on the measured groups made a choice: the calibrated predictor
   if it beat every raw measure held out, else the raw measure that agrees best with the measured
   gains (see :mod:`.calibration`);
3. otherwise the first of ``gradient_cosine``, ``lookahead`` (both with TAG's group score),
   ``transfer`` (pairwise gains, HOA), then any other measure in alphabetical order, skipping an uninformative
   one: its ``informative`` flag is false, or, without the flag, its ``snr`` is below ``MIN_SNR``
   (the differences between its pairs are small next to the noise of one entry; see
   ``taskgroup.affinity.matrix.signal_to_noise``, whose threshold the analyze step uses too);
4. when every measure is uninformative, the one with the highest ``snr`` (a missing ``snr`` counts
   as infinite: no noise was measured), ties to the preference order.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from taskgroup.affinity.matrix import INFORMATIVE_SNR
from taskgroup.errors import ConfigError, DataError
from taskgroup.grouping.calibration import CALIBRATED, Calibration

PREFERENCE = ("gradient_cosine", "lookahead", "transfer")
"""Measures in the order ``auto`` prefers them. Gradient cosine comes first on measurement: it
recovered the planted clusters of the synthetic sets and the known Landmine split (adjusted Rand
index 1.0 on both), where pairwise transfer gains recovered the synthetic clusters but not the
Landmine split (0.32): on Landmine a few source tasks help every target, which swamps the split."""

MIN_SNR = INFORMATIVE_SNR
"""A measure whose stated signal-to-noise ratio is below this counts as uninformative (the same
threshold that marks a measure uninformative in affinity.json and the report)."""

HOA_MEASURES = ("transfer",)
"""Measures whose entries are pairwise gains, so that group scores are the HOA; others use TAG's."""


@dataclass(frozen=True)
class Source:
    """The chosen score source: a measure name or ``"subsets"``, why, and its group-score rule."""

    name: str
    reason: str
    rule: str  # "measured", "hoa" or "tag"


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _matrix(value: Any, n: int, where: str) -> np.ndarray:
    if not isinstance(value, list) or len(value) != n or not all(isinstance(r, list) and len(r) == n for r in value):
        raise DataError(f"{where}: expected a {n} x {n} matrix (one row per task)")
    out = np.full((n, n), np.nan)
    for i, row in enumerate(value):
        for j, cell in enumerate(row):
            if cell is None or (_is_number(cell) and math.isnan(cell)):
                continue  # a missing entry
            if not _is_number(cell) or not math.isfinite(cell):
                raise DataError(f"{where}[{i}][{j}]: expected a finite number or null, got {cell!r}")
            out[i, j] = float(cell)
    return out


def validate(doc: Any, source: str = "affinity.json") -> dict:
    """Check the parts of affinity.json that grouping reads; return them normalised.

    Returns ``{"tasks": [...], "measures": {name: {"matrix": array, "stderr": array | None,
    "snr": float | None}}, "subsets": list | None, "network_cost": float}``.
    """
    if not isinstance(doc, dict):
        raise DataError(f"{source}: expected a JSON object with 'tasks' and 'measures'")
    tasks = doc.get("tasks")
    if not isinstance(tasks, list) or not tasks or not all(isinstance(t, str) and t for t in tasks):
        raise DataError(f"{source}: 'tasks' must be a non-empty list of task names")
    if len(set(tasks)) != len(tasks):
        dup = next(t for t in tasks if tasks.count(t) > 1)
        raise DataError(f"{source}: tasks: task '{dup}' is listed twice")
    n = len(tasks)
    raw = doc.get("measures", {})
    if not isinstance(raw, dict):
        raise DataError(f"{source}: 'measures' must be an object mapping measure name to its matrices")
    measures = {}
    for name, entry in raw.items():
        where = f"{source}: measures.{name}"
        if not isinstance(entry, dict) or "matrix" not in entry:
            raise DataError(f"{where}: expected an object with a 'matrix'")
        stderr = entry.get("stderr")
        snr = entry.get("snr")
        if snr is not None and (not _is_number(snr) or math.isnan(snr)):
            raise DataError(f"{where}.snr: expected a number, got {snr!r}")
        informative = entry.get("informative")
        if informative is not None and not isinstance(informative, bool):
            raise DataError(f"{where}.informative: expected true or false, got {informative!r}")
        if informative is None:
            informative = snr is None or snr >= MIN_SNR
        measures[name] = {
            "matrix": _matrix(entry["matrix"], n, f"{where}.matrix"),
            "stderr": None if stderr is None else _matrix(stderr, n, f"{where}.stderr"),
            "snr": None if snr is None else float(snr),
            "informative": informative,
        }
    subsets = _subsets(doc.get("subsets"), tasks, source)
    measured = _subsets(doc.get("measured_groups"), tasks, source, "measured_groups")
    if not measures and subsets is None:
        raise DataError(f"{source}: holds no measure and no measured subsets to group from")
    cost = doc.get("network_cost", 1.0)
    if not _is_number(cost) or not math.isfinite(cost) or cost <= 0:
        raise DataError(f"{source}: network_cost must be a number > 0, got {cost!r}")
    return {"tasks": list(tasks), "measures": measures, "subsets": subsets, "measured_groups": measured,
            "network_cost": float(cost)}


def _subsets(raw: Any, tasks: list[str], source: str, part: str = "subsets") -> list[dict] | None:
    if raw is None:
        return None
    if not isinstance(raw, list):
        raise DataError(f"{source}: '{part}' must be a list of {{tasks, scores}} objects")
    known = set(tasks)
    out = []
    for i, entry in enumerate(raw):
        where = f"{source}: {part}[{i}]"
        if not isinstance(entry, dict):
            raise DataError(f"{where}: expected an object with tasks and scores")
        members = entry.get("tasks")
        if not isinstance(members, list) or not members or len(set(members)) != len(members):
            raise DataError(f"{where}.tasks: expected a non-empty list of distinct task names")
        unknown = [t for t in members if t not in known]
        if unknown:
            raise DataError(f"{where}.tasks: task '{unknown[0]}' is not in 'tasks'")
        for key in ("scores", "stderr"):
            values = entry.get(key)
            if key == "stderr" and values is None:
                continue
            if not isinstance(values, dict):
                raise DataError(f"{where}.{key}: expected an object mapping task to number")
            for t, v in values.items():
                if t not in members:
                    raise DataError(f"{where}.{key}: task '{t}' is not in this subset")
                if not _is_number(v) or not math.isfinite(v):
                    raise DataError(f"{where}.{key}.{t}: expected a finite number, got {v!r}")
        cost = entry.get("cost")
        if cost is not None and (not _is_number(cost) or not math.isfinite(cost) or cost < 0):
            raise DataError(f"{where}.cost: expected a number >= 0, got {cost!r}")
        out.append(entry)
    return out


def _ordered_measures(measures: dict) -> list[str]:
    return [m for m in PREFERENCE if m in measures] + sorted(m for m in measures if m not in PREFERENCE)


def choose_source(affinity: dict, measure: str = "auto", calibration: Calibration | None = None) -> Source:
    """The score source for ``measure`` (a measure name, ``"subsets"``, ``"calibrated"`` or ``"auto"``;
    see the module docstring). ``affinity`` is the output of ``validate``; ``calibration`` (of its
    measured groups) lets ``auto`` follow what the measured group gains say."""
    measures = affinity["measures"]
    if measure == CALIBRATED:
        if calibration is None or calibration.model is None:
            why = calibration.reason if calibration is not None else "no calibration"
            raise ConfigError(f"measure 'calibrated': {why}")
        return Source(CALIBRATED, "requested", CALIBRATED)
    if measure == "subsets":
        if affinity["subsets"] is None:
            raise ConfigError("measure 'subsets': affinity.json holds no measured subsets (run analyze --exhaustive)")
        return Source("subsets", "requested", "measured")
    if measure != "auto":
        if measure not in measures:
            available = ", ".join(_ordered_measures(measures) + (["subsets"] if affinity["subsets"] else []))
            raise ConfigError(f"measure '{measure}' is not in affinity.json (available: {available})")
        return Source(measure, "requested", "hoa" if measure in HOA_MEASURES else "tag")
    if affinity["subsets"] is not None:
        return Source("subsets", "measured subsets are measurements, not predictions", "measured")
    if calibration is not None and calibration.choice is not None:
        name = calibration.choice
        return Source(name, calibration.reason, CALIBRATED if name == CALIBRATED else
                      "hoa" if name in HOA_MEASURES else "tag")
    ordered = _ordered_measures(measures)
    for name in ordered:
        if measures[name]["informative"]:
            reason = "first measure in order of preference" if name == ordered[0] else (
                "first informative measure in order of preference")
            return Source(name, reason, "hoa" if name in HOA_MEASURES else "tag")

    def snr(m: str) -> float:
        value = measures[m]["snr"]
        return math.inf if value is None else value

    name = max(ordered, key=lambda m: (snr(m), -ordered.index(m)))
    return Source(name, "every measure is uninformative; this one has the highest snr",
                  "hoa" if name in HOA_MEASURES else "tag")
