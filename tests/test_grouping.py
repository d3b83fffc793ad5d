"""Group scores, the affinity graph, clustering proposals, candidate pools and ``group``."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from taskgroup.errors import ConfigError, DataError
from taskgroup.grouping import affinity_graph, candidate_pool, group, hoa_group_scores, propose, tag_group_scores
from taskgroup.grouping.graph import CLUSTERINGS, average_linkage
from taskgroup.grouping.pools import greedy_growth, neighbours, subset_size_for, subsets_up_to
from taskgroup.grouping.scores import MeasuredScorer, matrix_scorer
from taskgroup.grouping.sources import MIN_SNR


def planted(sizes, seed, within=0.4, across=-0.2, noise=0.1):
    """A noisy affinity matrix with planted blocks of related tasks; returns it and the blocks."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(len(sizes)), sizes)
    matrix = np.where(labels[:, None] == labels[None, :], within, across) + rng.normal(0, noise, (len(labels),) * 2)
    np.fill_diagonal(matrix, 1.0)
    names = [f"t{i:02d}" for i in range(len(labels))]
    blocks = tuple(tuple(names[i] for i in np.flatnonzero(labels == b)) for b in range(len(sizes)))
    return matrix, names, blocks


def affinity_doc(matrix, names, measure="lookahead", stderr=0.01, snr=None):
    entry = {"matrix": np.asarray(matrix).tolist(), "stderr": np.full(np.shape(matrix), stderr).tolist()}
    if snr is not None:
        entry["snr"] = snr
    return {"schema": 1, "tasks": list(names), "measures": {measure: entry}}


# ------------------------------------------------------------------------------------------------
# group scores


def test_hoa_is_the_mean_pair_gain_onto_each_member_and_a_singleton_scores_zero():
    gains = np.array([[0.0, 0.2, -0.1], [0.4, 0.0, 0.3], [0.1, 0.5, 0.0]])
    assert hoa_group_scores(gains, [0, 1, 2]) == pytest.approx({0: 0.25, 1: 0.35, 2: 0.1})
    assert hoa_group_scores(gains, [0, 2]) == pytest.approx({0: 0.1, 2: -0.1})
    assert hoa_group_scores(gains, [1]) == {1: 0.0}
    assert tag_group_scores(gains, [0, 1, 2]) == hoa_group_scores(gains, [0, 1, 2])
    assert tag_group_scores(gains, [2]) == {2: 0.0}


def test_missing_entries_are_skipped_in_the_means():
    gains = np.array([[0.0, np.nan, 0.2], [0.1, 0.0, 0.3], [0.4, 0.5, 0.0]])
    assert hoa_group_scores(gains, [0, 1, 2])[1] == pytest.approx(0.5)
    assert hoa_group_scores(gains, [0, 1])[1] == 0.0


def test_measured_subsets_are_the_primary_source_and_pairs_fill_the_gaps():
    subsets = [
        {"tasks": ["a", "b"], "scores": {"a": 0.1, "b": 0.2}},
        {"tasks": ["a", "c"], "scores": {"a": 0.3, "c": -0.1}},
        {"tasks": ["b", "c"], "scores": {"b": 0.0, "c": 0.5}},
        {"tasks": ["a", "b", "c"], "scores": {"a": 0.9, "b": 0.8, "c": 0.7}},
    ]
    scorer = MeasuredScorer(["a", "b", "c"], subsets)
    assert scorer([0, 1, 2]) == {0: 0.9, 1: 0.8, 2: 0.7}
    assert scorer([0]) == {0: 0.0}
    assert scorer.has_all_pairs()
    partial = MeasuredScorer(["a", "b", "c"], subsets[:3])
    assert partial([0, 1, 2]) == pytest.approx({0: 0.2, 1: 0.1, 2: 0.2})  # HOA over measured pairs


# ------------------------------------------------------------------------------------------------
# graph and clustering


def test_affinity_graph_has_symmetrised_signed_weights():
    matrix = np.array([[1.0, 0.4, -0.2], [0.0, 1.0, 0.6], [-0.4, 0.2, 1.0]])
    graph = affinity_graph(matrix, ["a", "b", "c"])
    assert sorted(graph.nodes) == ["a", "b", "c"]
    assert graph["a"]["b"]["weight"] == pytest.approx(0.2)
    assert graph["a"]["c"]["weight"] == pytest.approx(-0.3)
    assert graph["b"]["c"]["weight"] == pytest.approx(0.4)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("method", CLUSTERINGS.names)
def test_every_method_recovers_planted_blocks_at_the_true_k(method, seed):
    matrix, names, blocks = planted([4, 5, 3], seed)
    proposals = CLUSTERINGS.load(method)(matrix, names, 3, seed)
    assert proposals and all(p.method == method for p in proposals)
    at_three = [p for p in proposals if p.k == 3]
    if "exact_k" in CLUSTERINGS[method].traits:
        assert sorted(p.k for p in proposals) == [2, 3], "one proposal per k"
    assert at_three, "a proposal with three groups"
    for p in at_three:
        assert p.groups == blocks


def test_proposals_cover_each_k_and_are_canonical():
    matrix, names, _ = planted([3, 3], seed=4)
    proposals = propose(matrix, names, 4)
    assert {(p.method, p.k) for p in proposals} >= {("all_in_one", 1), ("greedy_modularity", 4),
                                                   ("spectral", 2), ("hierarchical", 3)}
    order = {t: i for i, t in enumerate(names)}
    for p in proposals:
        assert len(p.groups) == p.k
        assert sorted(t for g in p.groups for t in g) == sorted(names)
        assert all(list(g) == sorted(g, key=order.get) for g in p.groups)
        assert [order[g[0]] for g in p.groups] == sorted(order[g[0]] for g in p.groups)
    assert proposals == propose(matrix, names, 4)


def test_average_linkage_gives_a_dendrogram():
    matrix, names, _ = planted([3, 3], seed=5)
    tree = average_linkage(matrix)
    assert tree.shape == (len(names) - 1, 4)
    assert np.all(np.diff(tree[:, 2]) >= -1e-12)  # merge heights never decrease (average linkage)


# ------------------------------------------------------------------------------------------------
# pools


def test_pool_parts():
    assert len(subsets_up_to(5, 2)) == 5 + 10
    assert subset_size_for(30) == 2 and subset_size_for(10) == 10
    assert neighbours((1, 2), 4) == [(1, 2), (2,), (1,), (0, 1, 2), (1, 2, 3)]
    matrix, _, _ = planted([3, 3], seed=6)
    grown = greedy_growth(6, matrix_scorer(matrix))
    assert (0, 1, 2) in grown and (3, 4, 5) in grown


def test_pool_holds_singletons_everything_and_the_clusters_with_their_neighbours():
    matrix, _, _ = planted([10, 10, 10], seed=7)
    pool = candidate_pool(30, matrix_scorer(matrix), clusters=[list(range(10))])
    assert {(i,) for i in range(30)} <= set(pool)
    assert tuple(range(30)) in pool
    assert tuple(range(10)) in pool and tuple(range(9)) in pool and tuple(range(11)) in pool
    assert len(pool) == len(set(pool))


# ------------------------------------------------------------------------------------------------
# group()


def test_group_recovers_two_planted_blocks_with_two_groups():
    matrix, names, blocks = planted([5, 4], seed=8)
    out = group(affinity_doc(matrix, names), max_groups=2)
    assert out["recommended"]["groups"] == [list(b) for b in blocks]
    assert out["recommended"]["k"] == 2
    assert "selection" in out["recommended"]["proposed_by"]


def test_groupings_document_follows_the_schema_and_is_deterministic():
    matrix, names, _ = planted([3, 3, 2], seed=9)
    doc = affinity_doc(matrix, names, measure="transfer")
    out = group(doc)
    assert out == group(doc)
    json.dumps(out, allow_nan=False)
    assert out["schema"] == 1 and out["tasks"] == names
    rec = out["recommended"]
    assert {"groups", "method", "measure", "predicted", "assignment"} <= set(rec)
    assert rec["measure"] == "transfer" and out["settings"]["score_rule"] == "hoa"
    for cand in out["candidates"]:
        assert {"groups", "method", "k", "measure", "predicted", "predicted_stderr", "assignment"} <= set(cand)
        assert cand["k"] == len(cand["groups"]) <= 6
        assert set(cand["assignment"]) == set(names)
        assert all(t in cand["groups"][g] for t, g in cand["assignment"].items())
    assert rec["predicted"] >= max(c["predicted"] for c in out["candidates"]) - rec["predicted_stderr"] - 1e-9
    assert len(out["linkage"]["matrix"]) == len(names) - 1
    keys = [tuple(map(tuple, c["groups"])) for c in out["candidates"]]
    assert len(keys) == len(set(keys)), "identical groupings are listed once"


def test_predicted_is_the_mean_served_score():
    matrix, names, _ = planted([2, 2], seed=10)
    out = group(affinity_doc(matrix, names), max_groups=1)
    (only,) = out["candidates"]
    assert only["groups"] == [names]
    scores = tag_group_scores(matrix, range(4))
    assert only["predicted"] == pytest.approx(sum(scores.values()) / 4)


def test_budget_bounds_cost_and_partition_forbids_overlap():
    matrix, names, _ = planted([3, 3, 3], seed=11, noise=0.3)
    out = group(affinity_doc(matrix, names), budget=2, partition=True)
    for cand in out["candidates"]:
        assert cand["cost"] <= 2
        members = [t for g in cand["groups"] for t in g]
        assert sorted(members) == sorted(names)


def test_auto_prefers_gradient_cosine_then_lookahead_then_transfer_unless_uninformative():
    matrix, names, _ = planted([2, 2], seed=12)
    doc = affinity_doc(matrix, names, "lookahead")
    doc["measures"]["transfer"] = dict(doc["measures"]["lookahead"])
    assert group(doc)["settings"]["measure"] == "lookahead"
    doc["measures"]["gradient_cosine"] = dict(doc["measures"]["lookahead"], snr=MIN_SNR / 2)
    assert group(doc)["settings"]["measure"] == "lookahead"  # gradient cosine is too noisy
    doc["measures"]["gradient_cosine"]["snr"] = MIN_SNR * 2
    assert group(doc)["settings"]["measure"] == "gradient_cosine"
    doc["measures"]["gradient_cosine"]["informative"] = False  # the analyze step's own verdict wins
    assert group(doc)["settings"]["measure"] == "lookahead"
    del doc["measures"]["gradient_cosine"]["informative"]
    doc["measures"]["lookahead"]["snr"] = MIN_SNR / 2
    doc["measures"]["gradient_cosine"]["snr"] = MIN_SNR / 2
    assert group(doc)["settings"]["measure"] == "transfer"
    for m in doc["measures"].values():
        m["snr"] = MIN_SNR / 10
    doc["measures"]["transfer"]["snr"] = MIN_SNR / 2
    assert group(doc)["settings"]["measure"] == "transfer"  # all noisy: the least noisy one
    assert group(doc, measure="lookahead")["settings"]["measure"] == "lookahead"


def test_measured_subsets_drive_the_recommendation():
    names = ["a", "b", "c", "d"]
    # pairs say {a, b} and {c, d}; the measured whole set beats them and must win with one group
    subsets = [{"tasks": [t], "scores": {t: 0.0}} for t in names]
    for i, s in enumerate(names):
        for t in names[i + 1:]:
            good = {s, t} in ({"a", "b"}, {"c", "d"})
            subsets.append({"tasks": [s, t], "scores": {s: 0.2 if good else -0.2, t: 0.2 if good else -0.2}})
    subsets.append({"tasks": names, "scores": {t: 0.5 for t in names}})
    out = group({"schema": 1, "tasks": names, "measures": {}, "subsets": subsets}, max_groups=2)
    assert out["settings"]["measure"] == "subsets"
    assert out["recommended"]["groups"] == [names]
    assert out["recommended"]["predicted"] == pytest.approx(0.5)


def test_group_errors_name_the_problem():
    matrix, names, _ = planted([2, 2], seed=13)
    doc = affinity_doc(matrix, names)
    with pytest.raises(ConfigError, match="measure 'transfer' is not in affinity.json"):
        group(doc, measure="transfer")
    with pytest.raises(ConfigError, match="max_groups"):
        group(doc, max_groups=0)
    with pytest.raises(DataError, match=r"measures\.lookahead\.matrix: expected a 4 x 4 matrix"):
        group({**doc, "measures": {"lookahead": {"matrix": [[1.0]]}}})
    with pytest.raises(DataError, match=r"'tasks' must be a non-empty list"):
        group({"measures": {}})
    bad = {**doc, "subsets": [{"tasks": ["t00", "zz"], "scores": {}}]}
    with pytest.raises(DataError, match=r"subsets\[0\]\.tasks: task 'zz'"):
        group(bad)


def test_thirty_tasks_group_in_seconds():
    matrix, names, blocks = planted([10, 10, 10], seed=14, noise=0.2)
    out = group(affinity_doc(matrix, names), max_groups=3)
    assert out["selection"]["status"] == "optimal"
    assert out["recommended"]["groups"] == [list(b) for b in blocks]


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("partition", [True, False])
def test_identical_tasks_share_the_recommended_group(seed, partition):
    """Two copies of one task (same affinities to every other task, the highest with each other)."""
    rng = np.random.default_rng(seed)
    matrix = rng.normal(0, 0.3, (6, 6))
    matrix[1, :], matrix[:, 1] = matrix[0, :], matrix[:, 0]
    matrix[0, 1] = matrix[1, 0] = matrix.max() + 0.5
    names = [f"t{i}" for i in range(6)]
    out = group(affinity_doc(matrix, names), max_groups=1 + seed % 3, partition=partition)
    assert out["recommended"]["assignment"]["t0"] == out["recommended"]["assignment"]["t1"]


def test_landmine_split_is_recovered_from_one_run(shared_dir, tmp_path):
    """Landmine's 29 fields split into 1-15 (foliated) and 16-29 (bare earth); default settings find it."""
    from click.testing import CliRunner
    from sklearn.metrics import adjusted_rand_score

    from taskgroup.cli import main

    cfg = tmp_path / "landmine.toml"
    cfg.write_text('[data]\nbuiltin = "landmine"\n')
    runner = CliRunner()
    out = tmp_path / "run"
    result = runner.invoke(main, ["analyze", str(cfg), "--out", str(out), "--measures", "gradient_cosine,lookahead",
                                  "--quiet"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(main, ["group", str(out), "--max-groups", "2"])
    assert result.exit_code == 0, result.output
    doc = json.loads((out / "groupings.json").read_text())
    label = {t: i for i, g in enumerate(doc["recommended"]["groups"]) for t in g}
    names = doc["tasks"]
    truth = [int(n.removeprefix("field")) > 15 for n in names]
    assert adjusted_rand_score(truth, [label[n] for n in names]) >= 0.8


def test_the_library_default_partition_is_the_configs() -> None:
    import inspect

    from taskgroup.config import GroupConfig

    assert inspect.signature(group).parameters["partition"].default is GroupConfig().partition
