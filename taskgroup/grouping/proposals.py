"""Proposals from every informative measure: the candidate pool that compare verifies.

:func:`~taskgroup.grouping.recommend.group` builds candidates from one score source (the one
``measure`` picks). No single affinity measure is right on every task set, and compare trains the
candidates anyway, so :func:`group_all` adds the proposals of every other informative measure (and
of the measured subsets when affinity.json holds them): each source's clustering proposals and its
exact selection. The recommendation stays the main source's. Identical groupings appear once, under
the source that proposed them first; ``proposed_by`` names every ``method@source`` that proposed
them, and ``settings.proposal_measures`` lists the sources in the order they were asked.
"""

from __future__ import annotations

from typing import Any

from taskgroup.grouping.recommend import SELECTION_TIME_LIMIT, group
from taskgroup.grouping.sources import validate


def proposal_sources(affinity: dict, main: str) -> list[str]:
    """Score sources besides ``main`` whose proposals join the pool: informative measures, then subsets."""
    doc = validate(affinity)
    out = [m for m, entry in doc["measures"].items() if entry["informative"] and m != main]
    if doc["subsets"] is not None and main != "subsets":
        out.append("subsets")
    return out


def group_all(affinity: dict, max_groups: int | None = None, budget: float | None = None, partition: bool = True,
              measure: str = "auto", seed: int = 0, time_limit: float | None = SELECTION_TIME_LIMIT) -> dict:
    """``group`` for ``measure`` (its recommendation stays), with every other source's candidates added."""
    options: dict[str, Any] = {"max_groups": max_groups, "budget": budget, "partition": partition, "seed": seed,
                               "time_limit": time_limit}
    doc = group(affinity, measure=measure, **options)
    main = doc["settings"]["measure"]
    by_key: dict[tuple, dict] = {}
    for c in doc["candidates"]:
        c["proposed_by"] = _tagged(c["proposed_by"], main)
        by_key[_key(c["groups"])] = c
    doc["recommended"]["proposed_by"] = by_key[_key(doc["recommended"]["groups"])]["proposed_by"]
    used = [main]
    for source in proposal_sources(affinity, main):
        other = group(affinity, measure=source, **options)
        used.append(source)
        for c in other["candidates"]:
            tags = _tagged(c["proposed_by"], source)
            known = by_key.get(_key(c["groups"]))
            if known is not None:
                known["proposed_by"] += [t for t in tags if t not in known["proposed_by"]]
                continue
            entry = {**c, "method": tags[0], "proposed_by": tags}
            by_key[_key(c["groups"])] = entry
            doc["candidates"].append(entry)
    doc["settings"]["proposal_measures"] = used
    return doc


def _tagged(methods: list[str], source: str) -> list[str]:
    return [m if "@" in m else f"{m}@{source}" for m in methods]


def _key(groups: list[list[str]]) -> tuple:
    return tuple(sorted(tuple(sorted(g)) for g in groups))
