"""Properties every registered method must have, checked over each registry (new methods included).

In the spirit of TorchJD's aggregator property tests: each loss weighting, sampling, schedule,
encoder, clustering method and affinity measure is held to the same contract, so adding one to its
registry is enough to have it tested.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
from torch import nn

from taskgroup.affinity.measures import MEASURES, REQUESTABLE
from taskgroup.grouping.graph import CLUSTERINGS
from taskgroup.registry import Registry
from taskgroup.runtime.execution import EXECUTORS
from taskgroup.training.batching import Batcher, TaskData, allocation
from taskgroup.training.encoders import ENCODERS
from taskgroup.training.sampling import SAMPLINGS, SCHEDULES
from taskgroup.training.weighting import WEIGHTINGS, make_weighting
from taskgroup.training.weighting._base import Weighting

REGISTRIES = [WEIGHTINGS, SAMPLINGS, SCHEDULES, ENCODERS, CLUSTERINGS, MEASURES, EXECUTORS]


@pytest.mark.parametrize("registry", REGISTRIES, ids=lambda r: r.kind)
def test_every_entry_loads_and_says_what_it_is(registry: Registry) -> None:
    assert registry.names
    for name in registry:
        assert callable(registry.load(name)), name
        assert registry[name].summary and "\n" not in registry[name].summary


def test_the_names_are_readable_without_torch() -> None:
    code = ("import sys\n"
            "from taskgroup.config import Config\n"
            "from taskgroup.cli import main\n"
            "from taskgroup.training.weighting import WEIGHTINGS\n"
            "from taskgroup.training.sampling import SAMPLINGS, SCHEDULES\n"
            "from taskgroup.training.encoders import ENCODERS\n"
            "from taskgroup.affinity.measures import MEASURES\n"
            "assert 'torch' not in sys.modules, 'torch was imported'\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr


def test_the_cli_offers_what_the_registries_hold() -> None:
    from taskgroup.cli import main

    executor = next(p for p in main.commands["run"].params if p.name == "executor")
    assert tuple(executor.type.choices) == EXECUTORS.names
    assert REQUESTABLE == tuple(n for n in MEASURES if "derived" not in MEASURES[n].traits)


# -- loss weightings ---------------------------------------------------------------------------------

class _Toy(nn.Module):
    """A shared layer and one linear head per task, with fixed data: losses that depend on the shared layer."""

    def __init__(self, heads: list[nn.Linear]) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.shared = nn.Linear(3, 5)
        self.heads = nn.ModuleList(heads)
        gen = torch.Generator().manual_seed(1)
        self.x = torch.randn(16, 3, generator=gen)

    def losses(self, scale: torch.Tensor) -> torch.Tensor:
        z = torch.relu(self.shared(self.x))
        return torch.stack([(h(z) ** 2).mean() * s for h, s in zip(self.heads, scale)])


def _run(name: str, heads: list[nn.Linear], scales: list[torch.Tensor]) -> tuple[list[float], list[float]]:
    toy = _Toy(heads)
    w = make_weighting(name, len(heads), shared=list(toy.shared.parameters()), window=2)
    values = []
    for step, scale in enumerate(scales):
        total = w.combine(toy.losses(scale), step)
        assert total.dim() == 0
        values.append(float(total.detach()))
    return values, w.weights()


@pytest.mark.parametrize("name", WEIGHTINGS.names)
def test_every_weighting_gives_finite_non_negative_weights_that_follow_the_tasks(name: str) -> None:
    torch.manual_seed(0)
    heads = [nn.Linear(5, 1) for _ in range(4)]
    gen = torch.Generator().manual_seed(2)
    scales = [torch.rand(4, generator=gen) + 0.1 for _ in range(7)]
    assert isinstance(make_weighting(name, 4), Weighting)
    values, weights = _run(name, heads, scales)
    assert len(weights) == 4
    assert all(np.isfinite(values)) and all(np.isfinite(weights)) and min(weights) >= 0
    # the same tasks listed in another order: the same loss, the same weights in that order
    perm = [2, 0, 3, 1]
    values_p, weights_p = _run(name, [heads[i] for i in perm], [s[perm] for s in scales])
    np.testing.assert_allclose(values_p, values, rtol=1e-5)
    np.testing.assert_allclose(weights_p, [weights[i] for i in perm], rtol=1e-5)


@pytest.mark.parametrize("name", WEIGHTINGS.names)
def test_every_weighting_ignores_an_absent_task(name: str) -> None:
    """A task with no rows in the batch (loss 0) adds nothing to the gradient of the shared layer."""
    torch.manual_seed(0)
    toy = _Toy([nn.Linear(5, 1) for _ in range(3)])
    w = make_weighting(name, 3, shared=list(toy.shared.parameters()), window=2)
    losses = toy.losses(torch.tensor([1.0, 1.0, 0.0]))
    total = w.combine(losses, 0)
    grad_absent = torch.autograd.grad(total, toy.heads[2].weight, allow_unused=True)[0]
    assert grad_absent is None or float(grad_absent.abs().max()) == 0.0


# -- samplings and schedules -----------------------------------------------------------------------

@pytest.mark.parametrize("name", SAMPLINGS.names)
def test_every_sampling_fills_the_batch_whatever_the_task_order(name: str) -> None:
    sizes, names = [120, 30, 300, 60], ["a", "b", "c", "d"]
    counts = allocation(sizes, 32, name, 2.0, names)
    assert sum(counts) == 32 and min(counts) >= 1
    perm = [3, 1, 0, 2]
    assert allocation([sizes[i] for i in perm], 32, name, 2.0, [names[i] for i in perm]) == [counts[i] for i in perm]


@pytest.mark.parametrize("name", SCHEDULES.names)
def test_every_schedule_trains_every_task_with_unit_weight(name: str, tiny_taskset) -> None:
    data = TaskData(tiny_taskset)
    batcher = Batcher(data, 12, schedule=name, seed=0)
    seen = torch.zeros(data.n_tasks)
    for step in range(data.n_tasks):
        batch = batcher.next(step)
        assert batch.weights.shape == (len(batch.rows), data.n_tasks) and float(batch.weights.min()) >= 0
        sums = batch.weights.sum(0)
        trained = sums > 0
        torch.testing.assert_close(sums[trained], torch.ones(int(trained.sum())))
        seen += trained
    assert bool((seen > 0).all())


# -- encoders ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ENCODERS.names)
def test_every_encoder_maps_a_batch_to_features(name: str) -> None:
    from taskgroup.training.models import make_encoder

    shape = (1, 8, 8) if name == "cnn" else (6,)
    encoder = make_encoder(name, shape, [16, 8], width=0.5)
    out = encoder(torch.zeros(3, *shape))
    assert out.shape == (3, encoder.out_features) and bool(torch.isfinite(out).all())


# -- clustering methods -----------------------------------------------------------------------------

def _blocks(seed: int) -> tuple[np.ndarray, list[str]]:
    rng = np.random.default_rng(seed)
    labels = np.repeat([0, 1, 2], [3, 4, 2])
    m = np.where(labels[:, None] == labels[None, :], 0.8, -0.2) + rng.normal(0, 0.05, (9, 9))
    return m, [f"t{i}" for i in range(9)]


@pytest.mark.parametrize("name", CLUSTERINGS.names)
def test_every_clustering_method_partitions_the_tasks_whatever_their_order(name: str) -> None:
    m, names = _blocks(0)
    method = CLUSTERINGS.load(name)
    found = {p.k: {frozenset(g) for g in p.groups} for p in method(m, names, 4, 0)}
    assert found
    for k, groups in found.items():
        assert len(groups) == k and sorted(t for g in groups for t in g) == sorted(names)
    perm = list(np.random.default_rng(1).permutation(9))
    again = {p.k: {frozenset(g) for g in p.groups} for p in method(m[np.ix_(perm, perm)], [names[i] for i in perm], 4, 0)}
    assert again == found


# -- affinity measures ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def measured() -> tuple[dict, dict, list[int]]:
    """Every measure on a tiny task set, once in task order and once with the tasks permuted."""
    from taskgroup.affinity.analyze import analyze
    from taskgroup.config import AnalyzeConfig, Config, DataConfig, ModelConfig
    from taskgroup.data.synthetic import synthetic

    taskset = synthetic(n_clusters=2, tasks_per_cluster=2, rows_per_task=60, n_features=6, seed=0)
    cfg = Config(DataConfig(builtin="synthetic"), model=ModelConfig(hidden=[8]),
                 analyze=AnalyzeConfig(measures=list(REQUESTABLE), steps=40, every=5, window=2, probe_steps=30,
                                       probe_eval_every=10, batch_size=16, rows_per_task=8))
    perm = [2, 0, 3, 1]
    names = taskset.task_names
    return analyze(cfg, taskset, None), analyze(cfg, taskset.subset([names[i] for i in perm]), None), perm


@pytest.mark.slow
@pytest.mark.parametrize("name", MEASURES.names)
def test_every_measure_is_a_finite_square_matrix_that_follows_the_task_order(name: str, measured) -> None:
    doc, permuted, perm = measured
    m = np.asarray(doc["measures"][name]["matrix"])
    n = len(doc["tasks"])
    assert m.shape == (n, n) and np.isfinite(m).all()
    assert np.isfinite(np.asarray(doc["measures"][name]["stderr"])).all()
    if "symmetric" in MEASURES[name].traits:
        np.testing.assert_allclose(m, m.T, atol=1e-7)
    if "unit_diagonal" in MEASURES[name].traits:
        np.testing.assert_allclose(np.diag(m), 1.0, atol=1e-7)
    # permutation-equivariant: listing the tasks in another order permutes rows and columns alike
    np.testing.assert_allclose(np.asarray(permuted["measures"][name]["matrix"]), m[np.ix_(perm, perm)],
                               atol=1e-4 * max(1.0, float(np.abs(m).max())))


def test_taskgroup_methods_lists_every_registry() -> None:
    from click.testing import CliRunner

    from taskgroup.cli import main

    result = CliRunner().invoke(main, ["methods"])
    assert result.exit_code == 0
    for registry in REGISTRIES:
        for name in registry:
            assert f"{registry.kind}: {name} " in result.output


def test_a_measure_with_its_own_unit_function_needs_only_its_registry_line(
        monkeypatch: pytest.MonkeyPatch, tiny_taskset) -> None:
    """The analyze step runs a newly registered measure and writes it into affinity.json."""
    from taskgroup.affinity.analyze import analyze
    from taskgroup.config import Config, DataConfig
    from taskgroup.registry import Entry

    if __package__:
        from . import _units
    else:
        import _units
    monkeypatch.setitem(MEASURES._entries, "toy", Entry("toy", f"{_units.__name__}:toy_measure", "a test measure"))
    doc = analyze(Config(DataConfig(builtin="synthetic")), tiny_taskset, None, measures=["toy"])
    n = len(tiny_taskset.task_names)
    assert list(doc["measures"]) == ["toy"] and doc["measures"]["toy"]["matrix"] == [[1.0] * n] * n
