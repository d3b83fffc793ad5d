"""Stacked training of compare's networks: the same results as one network at a time, resumable."""

from __future__ import annotations

import io

import pytest
import torch

from taskgroup.comparison.compare import NetworkSpec, compare, network_key
from taskgroup.comparison.stacked import plan_stacks, train_networks
from taskgroup.config import CompareConfig, Config, DataConfig, ModelConfig, TrainConfig
from taskgroup.data import load_taskset
from taskgroup.data.synthetic import synthetic
from taskgroup.runtime.store import RunStore
from taskgroup.training.stacked import StackMember, train_stacked
from taskgroup.training.trainer import train_network

TRAIN = TrainConfig(steps=160, eval_every=20, patience=3, batch_size=32)
SMALL = ModelConfig(hidden=[16, 16])


def _close(a: dict, b: dict, tol: float = 1e-4) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert a[k] == pytest.approx(b[k], rel=tol, abs=tol), k


@pytest.mark.parametrize("members", [
    [StackMember(("c0_t0",), s) for s in (0, 1)] + [StackMember(("c1_t2",), 3), StackMember(("c0_t2",), 0)],
    [StackMember(("c0_t0", "c0_t2"), s) for s in (0, 1)] + [StackMember(("c1_t0", "c1_t2"), 5)],
    [StackMember(("c0_t0",), 1, 0.5), StackMember(("c1_t0",), 1, 0.5)],
    [StackMember(("c0_t1", "c0_t0"), 2), StackMember(("c1_t1", "c1_t2"), 2)],
])
def test_stacked_training_matches_one_network_at_a_time(members):
    _matches_one_at_a_time(synthetic(n_clusters=2, tasks_per_cluster=3, rows_per_task=80, kind="mixed", seed=2),
                           members)


ALL3 = ("c0_t0", "c0_t1", "c0_t2")


@pytest.mark.parametrize("shared_rows", [False, True], ids=["own_rows", "shared_rows"])
@pytest.mark.parametrize("members", [
    [StackMember(ALL3, s, weighting="uncertainty") for s in (0, 1, 2)],
    [StackMember(ALL3, s, weighting="gradnorm") for s in (0, 1, 2)],  # norms in closed form
    [StackMember(ALL3, 4, weighting="gradnorm")],  # a stack of one: norms by autograd
    [StackMember(ALL3, s, weighting="dwa") for s in (0, 3)],
    [StackMember(ALL3, s, sharing="soft") for s in (0, 1, 2)],
    [StackMember(ALL3, 1, sharing="soft", weighting="uncertainty"),
     StackMember(("c1_t0", "c1_t1", "c1_t2"), 2, sharing="soft", weighting="uncertainty")],
], ids=["uncertainty", "gradnorm", "gradnorm_alone", "dwa", "soft", "soft_uncertainty"])
def test_learnt_weightings_and_soft_sharing_stack_like_one_at_a_time(members, shared_rows):
    """Uncertainty, GradNorm and DWA weightings and soft sharing: every newly stackable kind agrees
    with one-at-a-time training, with tasks owning their rows and with rows shared by all tasks.

    60 steps: the two paths differ by float rounding (~1e-7) from the first step, and over longer
    runs that drift can grow (GradNorm's update takes the sign of a difference, so a near tie flips
    it; seen after ~80 steps), beyond what a 1e-4 tolerance can tell from a bug."""
    ts = synthetic(n_clusters=2, tasks_per_cluster=3, rows_per_task=80, kind="mixed", seed=2,
                   shared_rows=shared_rows)
    _matches_one_at_a_time(ts, members, TrainConfig(steps=60, eval_every=10, patience=2, batch_size=32,
                                                    soft_sharing_penalty=0.05))


def test_gradient_norms_in_closed_form_equal_autograd():
    from taskgroup.training.batching import Batcher, TaskData, stack_batches
    from taskgroup.training.stack import OwnRows, SlotData, Stack, decode_slots, slot_groups
    from taskgroup.training.stack_norms import autograd_norms, can_trace, traced_norms
    from taskgroup.training.trainer import build_model

    ts = synthetic(n_clusters=2, tasks_per_cluster=2, rows_per_task=60, kind="mixed", seed=1)
    names = ts.task_names
    data = TaskData(ts, names)
    stack = Stack([build_model(ts, names, SMALL, seed=s) for s in (0, 1)], use_vmap=True)
    assert can_trace(stack)
    stack.keep_trace = True
    batchers = [Batcher(data, 16, seed=s) for s in (0, 1)]
    batch = stack_batches([b.next(0) for b in batchers])
    slots = SlotData(data, [list(range(len(names)))] * 2)
    groups = slot_groups(slots.slot_kind)
    assert len(groups) == 2  # binary and regression heads
    w = slots.slot_weights(batch.weights)
    z = stack.encode(data.X[batch.rows])
    plain = slots.losses(stack.decode(z), batch.rows, w)
    for at in (OwnRows.of([b.counts for b in batchers], torch.device("cpu")),
               OwnRows.everywhere(len(names), batch.rows.shape[1], torch.device("cpu"))):
        zs = z[:, at.pos]
        outs = decode_slots(stack, zs, groups)
        losses = slots.grouped_losses(outs, groups, batch.rows, w, at)
        assert torch.allclose(losses, plain, rtol=1e-5)
        exact = autograd_norms(stack, losses)
        assert exact.shape == (2, len(names)) and bool((exact > 0).all())
        assert torch.allclose(traced_norms(stack, outs, groups, losses, at, zs), exact, rtol=1e-5)


def _matches_one_at_a_time(ts, members, train: TrainConfig = TRAIN) -> None:
    stacked = train_stacked(ts, members, train, SMALL, device="cpu")
    for mb, (res, state) in zip(members, stacked):
        alone, alone_state = train_network(ts, list(mb.tasks), train, SMALL, seed=mb.seed, width=mb.width,
                                           sharing=mb.sharing, weighting=mb.weighting, device="cpu")
        assert (res.best_step, res.steps, res.params, res.macs) == (alone.best_step, alone.steps, alone.params,
                                                                    alone.macs)
        assert res.weights == pytest.approx(alone.weights, rel=1e-4, abs=1e-5)
        _close(res.val, alone.val)
        _close(res.test, alone.test)
        _close(res.val_loss, alone.val_loss)
        assert res.history[-1]["step"] == alone.history[-1]["step"]
        for part in alone.parts:
            _close(res.parts[part], alone.parts[part])
        for part in alone.scores:
            for t in alone.scores[part]:
                assert res.scores[part][t] == pytest.approx(alone.scores[part][t], rel=1e-4, abs=1e-4)
        assert state.keys() == alone_state.keys()
        for k in state:
            assert torch.allclose(state[k], alone_state[k], atol=1e-5), k


def _cfg(**compare) -> Config:
    return Config(data=DataConfig(builtin="synthetic", options={"n_clusters": 2, "tasks_per_cluster": 2,
                                                               "rows_per_task": 80}),
                  model=SMALL, train=TRAIN,
                  compare=CompareConfig(seeds=2, random_groupings=1, **compare), seed=0)


def test_compare_stacked_agrees_with_one_at_a_time(tmp_path):
    cfg = _cfg(alternatives=["recommended", "single_task", "all_in_one", "random"])
    ts = load_taskset(cfg)
    names = ts.task_names
    from taskgroup.runtime.documents import GroupingsDoc

    groupings = GroupingsDoc.from_json({"tasks": names, "recommended": {"groups": [names[:2], names[2:]],
                                                                       "method": "test"}, "candidates": []}, "<test>")
    with RunStore(tmp_path / "a.sqlite") as sa, RunStore(tmp_path / "b.sqlite") as sb:
        a = compare(cfg, ts, groupings, sa, stacked=True).to_json()
        b = compare(cfg, ts, groupings, sb, stacked=False).to_json()
        assert sa.count("stack") >= 1 and sb.count("stack") == 0
        assert sa.count("network") == sb.count("network")
        for alt_a, alt_b in zip(a["alternatives"], b["alternatives"]):
            assert alt_a["name"] == alt_b["name"]
            assert alt_a["delta_m"] == pytest.approx(alt_b["delta_m"], abs=1e-3)
            for t in names:
                assert alt_a["per_task"][t]["mean"] == pytest.approx(alt_b["per_task"][t]["mean"], rel=1e-4,
                                                                      abs=1e-4)
        key = a["models"]["networks"][0]["key"]
        blob_a, blob_b = sa.get_blob(key), sb.get_blob(key)
        sd_a = torch.load(io.BytesIO(blob_a), weights_only=True)
        sd_b = torch.load(io.BytesIO(blob_b), weights_only=True)
        assert all(torch.allclose(sd_a[k], sd_b[k], atol=1e-5) for k in sd_a)


def test_stacks_group_by_architecture_and_leave_the_rest_alone():
    cfg = _cfg()
    ts = load_taskset(cfg)
    n = ts.task_names
    specs = [NetworkSpec((n[0],), 0), NetworkSpec((n[1],), 1), NetworkSpec((n[0], n[1]), 0),
             NetworkSpec((n[2], n[3]), 0), NetworkSpec((n[0], n[1]), 0, sharing="soft"),
             NetworkSpec((n[0], n[1]), 0, weighting="gradnorm"), NetworkSpec((n[2],), 0, width=0.5),
             NetworkSpec((n[0], n[1]), 1, sharing="soft"), NetworkSpec((n[0], n[1]), 1, weighting="gradnorm"),
             NetworkSpec((n[0], n[1]), 1, sharing="soft", weighting="gradnorm")]
    assert sorted(map(sorted, plan_stacks(specs, ts, cfg))) == [[0, 1], [2, 3], [4, 7], [5, 8], [6], [9]]
    assert all(len(g) == 1 for g in plan_stacks(specs, ts, cfg, stacked=False))


def test_a_stack_resumes_as_a_unit_and_is_stored_network_by_network(tmp_path, monkeypatch):
    cfg = _cfg()
    ts = load_taskset(cfg)
    specs = [NetworkSpec((t,), s) for s in (0, 1) for t in ts.task_names]
    keys = [network_key(ts.fingerprint(), sp, cfg) for sp in specs]
    import taskgroup.training.stacked as stacked_module

    trained: list[int] = []
    real = stacked_module.train_stacked

    def counting(taskset, members, *args, **kwargs):
        trained.append(len(members))
        return real(taskset, members, *args, **kwargs)

    monkeypatch.setattr(stacked_module, "train_stacked", counting)
    with RunStore(tmp_path / "s.sqlite") as store:
        first = train_networks(specs, keys, cfg, ts, store)
        assert trained == [len(specs)]
        assert store.count("network") == len(specs) and store.count("stack") == 1
        assert all(store.get_blob(k) for k in keys)
        blob = store.get_blob(keys[4])
        # killed while the finished stack was being stored network by network: two are missing
        import sqlite3

        with sqlite3.connect(tmp_path / "s.sqlite") as conn:
            conn.executemany("DELETE FROM units WHERE key = ?", [(keys[4],), (keys[7],)])
        assert not store.has(keys[4]) and not store.has(keys[7])
        again = train_networks(specs, keys, cfg, ts, store)
        assert trained == [len(specs)]  # the stored stack is reused, not trained again
        assert again == first and store.get_blob(keys[4]) == blob
        assert train_networks(specs, keys, cfg, ts, store) == first and trained == [len(specs)]
