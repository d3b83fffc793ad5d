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
    ts = synthetic(n_clusters=2, tasks_per_cluster=3, rows_per_task=80, kind="mixed", seed=2)
    stacked = train_stacked(ts, members, TRAIN, SMALL, device="cpu")
    for mb, (res, state) in zip(members, stacked):
        alone, alone_state = train_network(ts, list(mb.tasks), TRAIN, SMALL, seed=mb.seed, width=mb.width,
                                           device="cpu")
        assert (res.best_step, res.steps, res.params, res.macs) == (alone.best_step, alone.steps, alone.params,
                                                                    alone.macs)
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
             NetworkSpec((n[0], n[1]), 0, weighting="gradnorm"), NetworkSpec((n[2],), 0, width=0.5)]
    assert sorted(map(sorted, plan_stacks(specs, ts, cfg))) == [[0, 1], [2, 3], [4], [5], [6]]
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
