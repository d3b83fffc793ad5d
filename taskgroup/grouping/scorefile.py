"""The ``taskgroup select`` contract: selection over a user's own SCORES.json.

Input::

    {"lower_is_better": true,
     "networks": [{"tasks": ["s", "d"], "cost": 1.0, "scores": {"s": 0.078, "d": 0.18}}, ...]}

``lower_is_better`` (default true: scores are losses) decides whether the sum of served scores is
minimised or maximised; ``maximize=True`` forces maximisation. A network may list a task without a
score: a helper task it trains on but does not serve. Output::

    {"chosen": [indices into networks], "assignment": {"task": index}, "objective": number,
     "status": "optimal" | "time_limit", "cost": total cost of the chosen networks}
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from taskgroup.errors import DataError, TaskgroupError
from taskgroup.grouping.scores import predict_hoa_networks
from taskgroup.grouping.selection import Network, select

_TOP_KEYS = {"lower_is_better", "networks", "schema", "description"}
_NETWORK_KEYS = {"tasks", "cost", "scores", "name"}


def load_scores_file(path: str | Path) -> dict:
    """Read a SCORES.json file; a missing file or invalid JSON is a one-line ``DataError``."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot be read ({exc})") from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None
    if not isinstance(doc, dict):
        raise DataError(f"{path}: expected a JSON object with a 'networks' list")
    return doc


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def parse_networks(doc: Any, source: str = "SCORES") -> tuple[list[Network], bool]:
    """Validate a SCORES document strictly; return its networks and its ``lower_is_better`` flag.

    Every problem is a one-line ``DataError`` naming the field and the network index.
    """
    if not isinstance(doc, dict):
        raise DataError(f"{source}: expected a JSON object with a 'networks' list")
    unknown = sorted(set(doc).difference(_TOP_KEYS))
    if unknown:
        raise DataError(f"{source}: unknown key '{unknown[0]}' (expected: lower_is_better, networks)")
    lower = doc.get("lower_is_better", True)
    if not isinstance(lower, bool):
        raise DataError(f"{source}: lower_is_better must be true or false, got {lower!r}")
    raw = doc.get("networks")
    if not isinstance(raw, list) or not raw:
        raise DataError(f"{source}: 'networks' must be a non-empty list of networks")
    networks = [_parse_network(entry, i, source) for i, entry in enumerate(raw)]
    return networks, lower


def _parse_network(entry: Any, i: int, source: str) -> Network:
    where = f"{source}: networks[{i}]"
    if not isinstance(entry, dict):
        raise DataError(f"{where}: expected an object with tasks, cost and scores")
    unknown = sorted(set(entry).difference(_NETWORK_KEYS))
    if unknown:
        raise DataError(f"{where}: unknown key '{unknown[0]}' (expected: tasks, cost, scores)")
    for key in ("tasks", "cost", "scores"):
        if key not in entry:
            raise DataError(f"{where}: missing '{key}'")
    tasks = entry["tasks"]
    if not isinstance(tasks, list) or not tasks or not all(isinstance(t, str) and t for t in tasks):
        raise DataError(f"{where}.tasks: expected a non-empty list of task names")
    if len(set(tasks)) != len(tasks):
        dup = next(t for t in tasks if tasks.count(t) > 1)
        raise DataError(f"{where}.tasks: task '{dup}' is listed twice")
    cost = entry["cost"]
    if not _number(cost) or cost < 0:
        raise DataError(f"{where}.cost: expected a number >= 0, got {cost!r}")
    scores = entry["scores"]
    if not isinstance(scores, dict):
        raise DataError(f"{where}.scores: expected an object mapping task to score")
    for task, value in scores.items():
        if task not in tasks:
            raise DataError(f"{where}.scores: task '{task}' is not in this network's tasks")
        if not _number(value):
            raise DataError(f"{where}.scores.{task}: expected a finite number, got {value!r}")
    return Network(tuple(tasks), float(cost), dict(scores))


def select_from_scores(
    doc: dict,
    budget: float | None,
    max_networks: int | None = None,
    predict: str | None = None,
    maximize: bool | None = False,
    partition: bool = False,
    time_limit: float | None = None,
    source: str = "SCORES",
) -> dict:
    """Run the ``taskgroup select`` contract on a parsed SCORES document (see the module docstring).

    ``maximize`` true forces maximisation; false or None leaves it to ``lower_is_better``.
    ``predict="hoa"`` replaces the scores of networks with three or more tasks by the pair-mean
    prediction before selecting; the reported objective is then the predicted one.
    """
    networks, lower = parse_networks(doc, source)
    if predict not in (None, "hoa"):
        raise TaskgroupError(f"predict: expected 'hoa' or nothing, got {predict!r}")
    if predict == "hoa":
        networks = predict_hoa_networks(networks)
    result = select(networks, budget=budget, max_networks=max_networks, partition=partition,
                    maximize=bool(maximize) or not lower, time_limit=time_limit)
    return {
        "chosen": list(result.chosen),
        "assignment": dict(result.assignment),
        "objective": result.objective,
        "status": result.status,
        "cost": result.cost,
    }
