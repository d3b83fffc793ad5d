"""Exact budgeted network selection: the integer program against brute force, its properties, its
errors, and the ``taskgroup select`` contract over SCORES documents."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from taskgroup.errors import DataError, TaskgroupError
from taskgroup.grouping import (
    Network,
    load_scores_file,
    predict_hoa_networks,
    select,
    select_exhaustive,
    select_from_scores,
)

FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FEWER = settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])

TASKS = ("a", "b", "c", "d")


@st.composite
def instances(draw, max_networks: int = 7):
    """Small random selection problems: networks over up to four tasks, some with helper tasks,
    costs in halves, scores on a coarse grid so that ties are common."""
    n_tasks = draw(st.integers(2, 4))
    tasks = TASKS[:n_tasks]
    networks = []
    for _ in range(draw(st.integers(1, max_networks))):
        members = draw(st.lists(st.sampled_from(tasks), min_size=1, max_size=n_tasks, unique=True))
        scored = [t for t in members if draw(st.integers(0, 5)) > 0]  # about 1 in 6 is a helper
        scores = {t: draw(st.integers(-4, 4)) / 2 for t in scored}
        networks.append(Network(tuple(members), draw(st.sampled_from([0.5, 1.0, 1.5, 2.0])), scores))
    budget = draw(st.one_of(st.none(), st.sampled_from([0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0])))
    max_networks = draw(st.one_of(st.none(), st.integers(1, 3)))
    return networks, budget, max_networks


def _outcome(solver, networks, **kwargs):
    try:
        return solver(networks, **kwargs)
    except TaskgroupError as exc:
        return exc


def _slots(networks, chosen):
    return sum(len(networks[n].tasks) for n in chosen)


def _assert_valid(networks, sel, budget, max_networks, partition):
    """A selection respects its bounds, serves each task from a chosen network that scores it,
    and reports the objective of that assignment."""
    assert list(sel.chosen) == sorted(set(sel.chosen))
    if budget is not None:
        assert sel.cost <= budget + 1e-9
    if max_networks is not None:
        assert len(sel.chosen) <= max_networks
    for task, n in sel.assignment.items():
        assert n in sel.chosen and task in networks[n].scores
    if partition:
        members = [t for n in sel.chosen for t in networks[n].tasks]
        assert len(members) == len(set(members))
    assert sel.objective == pytest.approx(math.fsum(networks[n].scores[t] for t, n in sel.assignment.items()))


@FAST
@given(instances(), st.booleans(), st.booleans())
def test_integer_program_matches_exhaustive_search(instance, partition, maximize):
    networks, budget, max_networks = instance
    kwargs = dict(budget=budget, max_networks=max_networks, partition=partition, maximize=maximize)
    exact = _outcome(select, networks, **kwargs)
    brute = _outcome(select_exhaustive, networks, **kwargs)
    assert type(exact) is type(brute)
    if isinstance(brute, TaskgroupError):
        assert str(exact) == str(brute)
        return
    _assert_valid(networks, exact, budget, max_networks, partition)
    assert exact.objective == pytest.approx(brute.objective, abs=1e-9)
    # the same tie preferences: fewest networks, then cheapest, then fewest task slots
    assert (len(exact.chosen), exact.cost, _slots(networks, exact.chosen)) == pytest.approx(
        (len(brute.chosen), brute.cost, _slots(networks, brute.chosen))
    )


@FAST
@given(instances(), st.permutations(TASKS), st.booleans())
def test_renaming_and_reordering_tasks_renames_the_answer(instance, perm, partition):
    networks, budget, max_networks = instance
    rename = dict(zip(TASKS, perm))
    renamed = [
        Network(tuple(rename[t] for t in n.tasks), n.cost, {rename[t]: s for t, s in n.scores.items()})
        for n in networks
    ]
    kwargs = dict(budget=budget, max_networks=max_networks, partition=partition)
    first = _outcome(select, networks, **kwargs)
    second = _outcome(select, renamed, **kwargs)
    if isinstance(first, TaskgroupError):
        assert isinstance(second, TaskgroupError)
        return
    assert second.chosen == first.chosen
    assert second.assignment == {rename[t]: n for t, n in first.assignment.items()}
    assert second.objective == pytest.approx(first.objective)


@FAST
@given(instances(), st.randoms(use_true_random=False))
def test_reordering_networks_keeps_the_optimum(instance, rng):
    networks, budget, max_networks = instance
    order = list(range(len(networks)))
    rng.shuffle(order)
    shuffled = [networks[i] for i in order]
    first = _outcome(select, networks, budget=budget, max_networks=max_networks)
    second = _outcome(select, shuffled, budget=budget, max_networks=max_networks)
    if isinstance(first, TaskgroupError):
        assert isinstance(second, TaskgroupError)
        return
    assert second.objective == pytest.approx(first.objective)
    assert (len(second.chosen), second.cost) == pytest.approx((len(first.chosen), first.cost))


@FEWER
@given(instances(), st.booleans(), st.booleans())
def test_raising_the_budget_never_makes_the_objective_worse(instance, partition, maximize):
    networks, _, max_networks = instance
    previous = None
    for budget in (0.5, 1.0, 2.0, 3.0, 8.0):
        sel = _outcome(select, networks, budget=budget, max_networks=max_networks, partition=partition,
                       maximize=maximize)
        if isinstance(sel, TaskgroupError):
            assert previous is None, "a larger budget cannot make a feasible problem infeasible"
            continue
        if previous is not None:
            assert sel.objective >= previous - 1e-9 if maximize else sel.objective <= previous + 1e-9
        previous = sel.objective


@FAST
@given(instances(), st.sampled_from(TASKS), st.booleans())
def test_identical_tasks_are_served_by_the_same_network(instance, original, partition):
    """A twin task sits in exactly the networks of its original with the same scores."""
    networks, budget, max_networks = instance
    twin = original + "_twin"
    twinned = [
        Network(n.tasks + ((twin,) if original in n.tasks else ()), n.cost,
                {**n.scores, **({twin: n.scores[original]} if original in n.scores else {})})
        for n in networks
    ]
    sel = _outcome(select, twinned, budget=budget, max_networks=max_networks, partition=partition)
    if isinstance(sel, TaskgroupError) or original not in sel.assignment:
        return
    assert sel.assignment[twin] == sel.assignment[original]


def test_same_input_gives_the_same_answer_on_ties():
    # four equally good ways to serve a and b; the preferred one is a single cheap network
    networks = [
        Network(("a",), 1.0, {"a": 1.0}),
        Network(("b",), 1.0, {"b": 1.0}),
        Network(("a", "b", "c"), 1.0, {"a": 1.0, "b": 1.0}),
        Network(("a", "b"), 1.0, {"a": 1.0, "b": 1.0}),
    ]
    answers = {select(networks, budget=3).chosen for _ in range(3)}
    assert answers == {(3,)}  # one network; of the two single networks, the one with fewer task slots
    assert select_exhaustive(networks, budget=3).chosen == (3,)


def test_overlap_serves_each_task_by_its_best_network_and_allows_helpers():
    networks = [
        Network(("a", "b"), 1.0, {"a": 0.9, "b": 0.2}),
        Network(("b", "c"), 1.0, {"b": 0.8}),  # c is a helper here: trained on, never served
        Network(("c",), 1.0, {"c": 0.5}),
    ]
    sel = select(networks, budget=3)
    assert sel.chosen == (0, 1, 2)
    assert sel.assignment == {"a": 0, "b": 1, "c": 2}
    assert sel.objective == pytest.approx(0.9 + 0.8 + 0.5)


def test_partition_forbids_overlap_and_networks_with_unscored_targets():
    networks = [
        Network(("a", "b"), 1.0, {"a": 0.9, "b": 0.2}),
        Network(("b", "c"), 1.0, {"b": 0.8}),  # cannot serve c, so cannot be chosen in partition mode
        Network(("c",), 1.0, {"c": 0.5}),
        Network(("b",), 1.0, {"b": 0.1}),
    ]
    sel = select(networks, budget=3, partition=True)
    assert sel.chosen == (0, 2)
    assert sel.objective == pytest.approx(0.9 + 0.2 + 0.5)


def test_minimising_losses():
    networks = [Network(("a", "b"), 1.0, {"a": 0.3, "b": 0.4}), Network(("a",), 0.5, {"a": 0.1})]
    assert select(networks, budget=1.5, maximize=False).assignment == {"a": 1, "b": 0}
    assert select(networks, budget=1.0, maximize=False).chosen == (0,)


def test_a_budget_too_small_says_what_the_cheapest_cover_costs():
    networks = [Network(("a",), 1.0, {"a": 1}), Network(("b",), 1.0, {"b": 1}), Network(("a", "b"), 2.5, {"a": 0, "b": 0})]
    with pytest.raises(TaskgroupError, match=r"within budget 1\.5: the cheapest choice that does costs 2$"):
        select(networks, budget=1.5)
    with pytest.raises(TaskgroupError, match=r"at most 1 networks serves every task: it takes at least 2"):
        select(networks[:2], max_networks=1)
    with pytest.raises(TaskgroupError, match=r"budget 2 with at most 1 networks"):
        select(networks, budget=2, max_networks=1)


def test_a_task_nobody_scores_is_named():
    with pytest.raises(TaskgroupError, match="task 'z' has a score in no network"):
        select([Network(("a", "z"), 1.0, {"a": 1.0})], tasks=["a", "z"])


@pytest.mark.parametrize(
    ("network", "message"),
    [
        (Network(("a", "a"), 1.0, {"a": 1}), r"networks\[0\]\.tasks: a task is listed twice"),
        (Network(("a",), -1.0, {"a": 1}), r"networks\[0\]\.cost"),
        (Network(("a",), 1.0, {"b": 1}), r"networks\[0\]\.scores: task 'b'"),
        (Network(("a",), 1.0, {"a": math.nan}), r"networks\[0\]\.scores\.a"),
    ],
)
def test_invalid_networks_raise_data_errors(network, message):
    with pytest.raises(DataError, match=message):
        select([network])


def test_time_limit_reports_the_status():
    networks = [Network((t,), 1.0, {t: 1.0}) for t in "abc"]
    assert select(networks, time_limit=30).status == "optimal"


# ------------------------------------------------------------------------------------------------
# the `taskgroup select` contract

EXAMPLE = {
    "lower_is_better": True,
    "networks": [
        {"tasks": ["s"], "cost": 0.5, "scores": {"s": 0.080}},
        {"tasks": ["d"], "cost": 0.5, "scores": {"d": 0.17}},
        {"tasks": ["s", "d"], "cost": 1.0, "scores": {"s": 0.078, "d": 0.18}},
        {"tasks": ["k"], "cost": 1.0, "scores": {"k": 0.09}},
        {"tasks": ["s", "k"], "cost": 1.0, "scores": {"s": 0.077, "k": 0.097}},
        {"tasks": ["d", "k"], "cost": 1.0, "scores": {"d": 0.171, "k": 0.093}},
        {"tasks": ["s", "d", "k"], "cost": 1.0, "scores": {"s": 0.079, "d": 0.186, "k": 0.1}},
    ],
}


def test_select_from_scores_follows_the_contract():
    out = select_from_scores(EXAMPLE, budget=2.0)
    assert set(out) >= {"chosen", "assignment", "objective", "status"}
    assert out["status"] == "optimal"
    assert out["chosen"] == [0, 1, 3]  # two half-size singles and keypoints: 0.080 + 0.17 + 0.09
    assert out["assignment"] == {"s": 0, "d": 1, "k": 3}
    assert out["objective"] == pytest.approx(0.34)
    json.dumps(out)


def test_lower_is_better_false_or_maximize_flag_maximises():
    maximised = select_from_scores(EXAMPLE, budget=1.0, maximize=True)
    flipped = select_from_scores({**EXAMPLE, "lower_is_better": False}, budget=1.0)
    assert maximised == flipped
    assert maximised["chosen"] == [6]


def test_predict_hoa_replaces_scores_of_networks_with_three_or_more_tasks():
    predicted = predict_hoa_networks([_net(e) for e in EXAMPLE["networks"]])
    assert predicted[:6] == [_net(e) for e in EXAMPLE["networks"][:6]]
    assert predicted[6].scores == pytest.approx({"s": (0.078 + 0.077) / 2, "d": (0.18 + 0.171) / 2, "k": (0.097 + 0.093) / 2})
    out = select_from_scores(EXAMPLE, budget=1.0, predict="hoa")
    assert out["chosen"] == [6] and out["objective"] == pytest.approx(0.0775 + 0.1755 + 0.095)


def _net(entry):
    return Network(tuple(entry["tasks"]), entry["cost"], entry["scores"])


def _e():
    return {"tasks": ["a"], "cost": 1, "scores": {"a": 1}}


MALFORMED = [
    ([], r"expected a JSON object"),
    ({"networks": []}, r"'networks' must be a non-empty list"),
    ({"lower_is_better": "yes", "networks": [_e()]}, r"lower_is_better must be true or false"),
    ({"networks": [{"tasks": ["a"], "cost": 1}]}, r"networks\[0\]: missing 'scores'"),
    ({"networks": [{"tasks": [], "cost": 1, "scores": {}}]}, r"networks\[0\]\.tasks"),
    ({"networks": [{"tasks": ["a", "a"], "cost": 1, "scores": {}}]}, r"networks\[0\]\.tasks: task 'a' is listed twice"),
    ({"networks": [_e(), {"tasks": ["a"], "cost": "1", "scores": {"a": 1}}]}, r"networks\[1\]\.cost"),
    ({"networks": [_e(), {"tasks": ["a"], "cost": True, "scores": {"a": 1}}]}, r"networks\[1\]\.cost"),
    ({"networks": [_e(), {"tasks": ["a"], "cost": -1, "scores": {"a": 1}}]}, r"networks\[1\]\.cost"),
    ({"networks": [{"tasks": ["a"], "cost": 1, "scores": {"b": 1}}]}, r"networks\[0\]\.scores: task 'b'"),
    ({"networks": [{"tasks": ["a"], "cost": 1, "scores": {"a": None}}]}, r"networks\[0\]\.scores\.a"),
    ({"networks": [{"tasks": ["a"], "cost": 1, "scores": {"a": float("inf")}}]}, r"networks\[0\]\.scores\.a"),
    ({"networks": [{"tasks": ["a"], "cost": 1, "scores": [1]}]}, r"networks\[0\]\.scores: expected an object"),
    ({"networks": [{"tasks": ["a"], "cost": 1, "scores": {"a": 1}, "score": {}}]}, r"networks\[0\]: unknown key 'score'"),
    ({"network": []}, r"unknown key 'network'"),
]


@pytest.mark.parametrize(("doc", "message"), MALFORMED)
def test_malformed_scores_documents_raise_one_line_data_errors(doc, message):
    with pytest.raises(DataError, match=message) as info:
        select_from_scores(doc, budget=1.0)
    assert "\n" not in str(info.value)


def test_load_scores_file_names_the_file(tmp_path):
    with pytest.raises(DataError, match=r"missing\.json: no such file"):
        load_scores_file(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text('{"networks": [', encoding="utf-8")
    with pytest.raises(DataError, match=r"bad\.json: not valid JSON \(line 1"):
        load_scores_file(bad)
    good = tmp_path / "good.json"
    good.write_text(json.dumps(EXAMPLE), encoding="utf-8")
    assert select_from_scores(load_scores_file(good), budget=2.0)["chosen"] == [0, 1, 3]
