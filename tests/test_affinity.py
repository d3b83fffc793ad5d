"""Affinity measures: properties of the matrices, batched versus sequential paths, planted structure."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from taskgroup.affinity.joint import joint_run
from taskgroup.affinity.matrix import AffinityMatrix, agreement, signal_to_noise
from taskgroup.affinity.pergrad import cosine_matrix, per_task_gradients
from taskgroup.affinity.probes import ProbeSpec, train_probes
from taskgroup.config import AnalyzeConfig, ModelConfig
from taskgroup.data.synthetic import synthetic
from taskgroup.tasks import Task, TaskSet

SMALL = ModelConfig(hidden=[16, 16])
QUICK = AnalyzeConfig(steps=40, batch_size=32, every=5, window=2, probe_steps=40, probe_eval_every=10)


def _with_duplicate(seed: int = 0) -> TaskSet:
    """Four tasks: 'a' and its exact copy 'a_copy', a related task and an unrelated one, on shared rows."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(240, 6)).astype(np.float32)
    f = np.tanh(X @ rng.normal(size=6))
    g = np.tanh(X @ rng.normal(size=6))
    targets = {"a": f, "a_copy": f.copy(), "related": f + 0.5 * g, "other": g}
    return TaskSet(X, [Task(n, "regression") for n in targets], targets, {})


def _grads(scale: float = 1.0, method: str = "batched", chunk: int = 0):
    torch.manual_seed(0)
    enc = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh())
    heads = [torch.nn.Linear(8, 1) for _ in range(3)]
    x = torch.randn(16, 4)
    z = enc(x)
    losses = torch.stack([((h(z) - k) ** 2).mean() for k, h in enumerate(heads)])
    losses = losses * torch.tensor([scale, 1.0, 1.0])
    return per_task_gradients(losses, z, list(enc.parameters()), chunk, method)


def test_vmapped_and_sequential_per_task_gradients_agree():
    batched = _grads()
    assert torch.allclose(batched, _grads(method="sequential"), atol=1e-6)
    assert torch.allclose(batched, _grads(chunk=2), atol=1e-6)


def test_cosine_is_symmetric_with_unit_diagonal_and_ignores_loss_scale():
    cos = cosine_matrix(_grads())
    assert torch.allclose(cos, cos.T)
    assert torch.allclose(torch.diagonal(cos), torch.ones(3))
    assert torch.allclose(cos, cosine_matrix(_grads(scale=7.5)), atol=1e-6)


def test_identical_tasks_get_the_highest_affinity():
    ts = _with_duplicate()
    r = joint_run(ts, ts.task_names, QUICK, SMALL, seed=0)
    for measure in ("gradient_cosine", "lookahead"):
        m = np.array(r[measure]["matrix"])
        off = m[~np.eye(4, dtype=bool)]
        assert m[0, 1] == pytest.approx(off.max(), abs=1e-6), measure
    assert np.array(r["gradient_cosine"]["matrix"])[0, 1] == pytest.approx(1.0, abs=1e-5)


def test_permuting_tasks_permutes_the_matrices():
    ts = _with_duplicate()
    names = ts.task_names
    order = [2, 0, 3, 1]
    a = joint_run(ts, names, QUICK, SMALL, seed=0)
    b = joint_run(ts, [names[i] for i in order], QUICK, SMALL, seed=0)
    for measure in ("gradient_cosine", "lookahead"):
        ma = np.array(a[measure]["matrix"])[np.ix_(order, order)]
        assert np.allclose(ma, np.array(b[measure]["matrix"]), atol=1e-4), measure


def test_per_task_rows_permute_too():
    ts = synthetic(n_clusters=2, tasks_per_cluster=2, rows_per_task=80, seed=1)
    names = ts.task_names
    order = [3, 1, 0, 2]
    a = joint_run(ts, names, QUICK, SMALL, seed=0)
    b = joint_run(ts, [names[i] for i in order], QUICK, SMALL, seed=0)
    ma = np.array(a["gradient_cosine"]["matrix"])[np.ix_(order, order)]
    assert np.allclose(ma, np.array(b["gradient_cosine"]["matrix"]), atol=1e-4)


def test_batched_and_one_at_a_time_probes_agree():
    ts = synthetic(n_clusters=2, tasks_per_cluster=2, rows_per_task=80, kind="mixed", seed=2)
    names = ts.task_names
    specs = [ProbeSpec((n,), 0) for n in names] + [ProbeSpec((names[0], names[1]), 0), ProbeSpec((names[1], names[3]), 1)]
    clock = time.perf_counter()
    batched = train_probes(ts, specs, QUICK, SMALL, batched=True)
    elapsed = time.perf_counter() - clock
    alone = train_probes(ts, specs, QUICK, SMALL, batched=False)
    # each probe's time is its share of its stack's training (it was once overwritten by a row offset)
    assert 0 < sum(r["seconds"] for r in batched) <= elapsed
    for a, b in zip(batched, alone):
        assert a["tasks"] == b["tasks"] and a["best_step"] == b["best_step"]
        for t in a["val"]:
            assert a["val"][t] == pytest.approx(b["val"][t], rel=1e-4, abs=1e-4)
        assert np.allclose(a["cosine"], b["cosine"], atol=1e-4)


def _within_minus_across(matrix: np.ndarray, clusters: list[str]) -> float:
    same = np.array([[a == b for b in clusters] for a in clusters])
    off = ~np.eye(len(clusters), dtype=bool)
    return float(matrix[same & off].mean() - matrix[~same].mean())


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1])
def test_planted_clusters_show_in_every_measure(seed):
    ts = synthetic(n_clusters=2, tasks_per_cluster=3, rows_per_task=150, seed=seed)
    names = ts.task_names
    clusters = [ts.meta["clusters"][n] for n in names]
    cfg = AnalyzeConfig(probe_steps=150, probe_eval_every=25, probe_seeds=2)
    joint = joint_run(ts, names, cfg, ModelConfig(), seed=seed)
    for measure in ("gradient_cosine", "lookahead"):
        assert _within_minus_across(np.array(joint[measure]["matrix"]), clusters) > 0, measure
    from taskgroup.affinity.analyze import transfer_matrices

    specs = [ProbeSpec((n,), s) for s in range(2) for n in names]
    specs += [ProbeSpec((a, b), s) for s in range(2) for i, a in enumerate(names) for b in names[i + 1:]]
    transfer, probe_cos = transfer_matrices(train_probes(ts, specs, cfg, ModelConfig()), ts)
    assert _within_minus_across(transfer.matrix, clusters) > 0
    assert _within_minus_across(probe_cos.matrix, clusters) > 0


def test_signal_to_noise_grows_with_spread_and_falls_with_error():
    m = np.array([[1, 0.5, -0.5], [0.5, 1, 0.0], [-0.5, 0.0, 1]])
    low = signal_to_noise(m, np.full((3, 3), 0.3))
    high = signal_to_noise(m, np.full((3, 3), 0.05))
    assert high > low > 0
    noise = np.random.default_rng(0).normal(size=(40, 40))
    assert signal_to_noise(noise, np.ones((40, 40))) < 0.2
    assert AffinityMatrix("x", list("abc"), m, np.full((3, 3), 0.05)).to_dict()["informative"]


def test_agreement_is_spearman_over_off_diagonal_entries():
    m = np.array([[0, 1, 2], [3, 0, 4], [5, 6, 0]], dtype=float)
    a = AffinityMatrix("p", list("abc"), m, np.zeros((3, 3)))
    b = AffinityMatrix("q", list("abc"), m * 10 + 1, np.zeros((3, 3)))
    c = AffinityMatrix("r", list("abc"), -m, np.zeros((3, 3)))
    agr = agreement({"p": a, "q": b, "r": c})
    assert agr["p~q"] == pytest.approx(1.0)
    assert agr["p~r"] == pytest.approx(-1.0)


def test_a_joint_run_with_no_measurement_window_is_a_one_line_config_error():
    from taskgroup.errors import ConfigError

    ts = synthetic(n_clusters=1, tasks_per_cluster=2, rows_per_task=40, seed=0)
    cfg = AnalyzeConfig(measures=["transfer"], steps=4, phase=0.5, window=5, every=10)  # valid: no joint measure
    with pytest.raises(ConfigError, match="no measurement window of 5 steps fits in the measured 2 steps") as info:
        joint_run(ts, ts.task_names, cfg, SMALL, measures=("gradient_cosine",))
    assert "\n" not in str(info.value)
    with pytest.raises(ConfigError, match="no measurement window"):
        AnalyzeConfig(steps=4, phase=0.5, window=5, every=10)  # the default measures need the joint run


def test_probes_with_own_heads_reproduce_the_all_heads_probes():
    """Records saved from the earlier probes, which carried a head for every task of the set."""
    import itertools
    import json
    from pathlib import Path

    saved = json.loads((Path(__file__).parent / "fixtures" / "probes_all_heads.json").read_text())["records"]
    ts = synthetic(n_clusters=2, tasks_per_cluster=3, rows_per_task=80, kind="mixed", seed=2)
    names = ts.task_names
    specs = [ProbeSpec((n,), s) for s in (0, 1) for n in names]
    specs += [ProbeSpec(p, s) for s in (0, 1) for p in itertools.combinations(names, 2)]
    from dataclasses import replace

    records = train_probes(ts, specs, replace(QUICK, lr=3e-3), SMALL, batched=True, device="cpu")  # as saved
    assert len(records) == len(saved)
    for new, old in zip(records, saved):
        assert (new["tasks"], new["seed"]) == (old["tasks"], old["seed"])
        assert np.allclose(new["cosine"], old["cosine"], atol=1e-5)  # the same training
        if len(old["tasks"]) == 1:
            assert new["best_step"] == old["best_step"]
            for t in old["val"]:
                assert new["val"][t] == pytest.approx(old["val"][t], rel=1e-5, abs=1e-6)
        else:  # the saved pairs were read at one checkpoint; now each task at its own best
            for t in old["val_loss"]:
                assert new["val_loss"][t] <= old["val_loss"][t] + 1e-6


def test_a_probe_carries_only_its_own_heads(monkeypatch):
    from taskgroup.affinity import probes as probes_module

    built = []
    real = probes_module.build_model

    def spy(taskset, names, *args, **kwargs):
        built.append(list(names))
        return real(taskset, names, *args, **kwargs)

    monkeypatch.setattr(probes_module, "build_model", spy)
    ts = synthetic(n_clusters=2, tasks_per_cluster=3, rows_per_task=60, seed=0)
    names = ts.task_names
    train_probes(ts, [ProbeSpec((names[0],), 0), ProbeSpec((names[1], names[4]), 0)], QUICK, SMALL, device="cpu")
    assert sorted(map(len, built)) == [1, 2]


def test_feature_gradients_through_linear_heads_match_the_batched_backward():
    from taskgroup.affinity.pergrad import linear_feature_gradients

    torch.manual_seed(0)
    enc = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh())
    heads = [torch.nn.Linear(8, 1 + k % 2) for k in range(3)]
    x = torch.randn(12, 4)
    z = enc(x)
    outs = [h(z) for h in heads]
    w = torch.rand(12, 3)
    losses = torch.stack([((o - 0.3 * k) ** 2).sum(-1) @ w[:, k] for k, o in enumerate(outs)])
    params = list(enc.parameters())
    dz = linear_feature_gradients(losses, outs, heads)
    assert torch.allclose(per_task_gradients(losses, z, params, feature_grads=dz),
                          per_task_gradients(losses, z, params, method="sequential"), atol=1e-6)
    assert linear_feature_gradients(losses, outs, [torch.nn.Sequential(h) for h in heads]) is None
