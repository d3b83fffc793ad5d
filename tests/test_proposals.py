"""Candidates from every informative measure, deduplicated, each naming who proposed it."""

from __future__ import annotations

from taskgroup.grouping.proposals import group_all, proposal_sources
from taskgroup.runtime.documents import GroupingsDoc

NAMES = ["a", "b", "c", "d"]
GOOD = [[1, .9, 0, 0], [.9, 1, 0, 0], [0, 0, 1, .9], [0, 0, .9, 1]]
OTHER = [[1, 0, .9, 0], [0, 1, 0, .9], [.9, 0, 1, 0], [0, .9, 0, 1]]
NOISE = [[1, .1, .2, .1], [.1, 1, .1, .2], [.2, .1, 1, .1], [.1, .2, .1, 1]]


def _key(groups):
    return tuple(sorted(tuple(sorted(g)) for g in groups))


def _affinity(**measures):
    return {"tasks": NAMES, "measures": {m: {"matrix": x, "informative": inf} for m, (x, inf) in measures.items()}}


def test_proposals_come_from_every_informative_measure_once():
    aff = _affinity(gradient_cosine=(GOOD, True), lookahead=(OTHER, True), transfer=(NOISE, False))
    doc = group_all(aff, max_groups=2, partition=True)
    keys = [_key(c["groups"]) for c in doc["candidates"]]
    assert len(keys) == len(set(keys))                                   # deduplicated
    assert (("a", "b"), ("c", "d")) in keys and (("a", "c"), ("b", "d")) in keys
    assert doc["settings"]["proposal_measures"] == ["gradient_cosine", "lookahead"]   # not the uninformative one
    crossed = next(c for c in doc["candidates"] if _key(c["groups"]) == (("a", "c"), ("b", "d")))
    assert crossed["measure"] == "lookahead" and crossed["proposed_by"]
    assert all(m.endswith("@lookahead") for m in crossed["proposed_by"])
    assert doc["recommended"]["groups"] == [["a", "b"], ["c", "d"]]       # the main source's recommendation stays
    assert all(m.endswith("@gradient_cosine") for m in doc["recommended"]["proposed_by"])
    GroupingsDoc.from_json(doc)                                            # still a valid groupings.json


def test_a_grouping_two_measures_propose_lists_both():
    aff = _affinity(gradient_cosine=(GOOD, True), lookahead=(GOOD, True))
    doc = group_all(aff, max_groups=2, partition=True)
    assert len({_key(c["groups"]) for c in doc["candidates"]}) == len(doc["candidates"])
    split = next(c for c in doc["candidates"] if _key(c["groups"]) == (("a", "b"), ("c", "d")))
    sources = {m.split("@")[1] for m in split["proposed_by"]}
    assert sources == {"gradient_cosine", "lookahead"}
    assert doc["recommended"]["proposed_by"] == split["proposed_by"]


def test_measured_subsets_join_the_pool_when_a_measure_is_the_main_source():
    subsets = [{"tasks": [t], "scores": {t: 0.0}} for t in NAMES]
    good = {("a", "d"), ("b", "c")}        # measured pair gains that disagree with gradient cosine
    subsets += [{"tasks": [x, y], "scores": {x: g, y: g}} for i, x in enumerate(NAMES) for y in NAMES[i + 1:]
                for g in [0.5 if (x, y) in good else -0.5]]
    aff = {**_affinity(gradient_cosine=(GOOD, True)), "subsets": subsets}
    assert proposal_sources(aff, "gradient_cosine") == ["subsets"]
    assert proposal_sources(aff, "subsets") == ["gradient_cosine"]
    doc = group_all(aff, max_groups=2, partition=True, measure="gradient_cosine")
    assert (("a", "d"), ("b", "c")) in {_key(c["groups"]) for c in doc["candidates"]}
