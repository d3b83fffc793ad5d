"""A longer budget continues from the checkpoint of a shorter one and ends where training in one go ends."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from taskgroup.config import ModelConfig, TrainConfig
from taskgroup.data.synthetic import synthetic
from taskgroup.training.resume import Checkpoint
from taskgroup.training.stacked import StackMember, train_stacked

SMALL = ModelConfig(hidden=[16, 16])


@pytest.mark.parametrize("patience", [3, 50])
def test_continuing_from_a_checkpoint_equals_training_in_one_go(patience):
    ts = synthetic(n_clusters=2, tasks_per_cluster=3, rows_per_task=80, kind="mixed", seed=2)
    full = TrainConfig(steps=160, eval_every=20, patience=patience, batch_size=32)
    short = dataclasses.replace(full, steps=80)
    members = [StackMember(("c0_t0", "c0_t2"), 0), StackMember(("c1_t0", "c1_t2"), 1),
               StackMember(("c0_t1", "c1_t1"), 2)]
    direct = train_stacked(ts, members, full, SMALL)
    ckpts: list = []
    first = train_stacked(ts, members, short, SMALL, checkpoints=ckpts)
    assert len(ckpts) == len(members)
    go_on = [i for i, c in enumerate(ckpts) if c is not None]
    assert go_on or patience == 3
    for i, c in enumerate(ckpts):       # through bytes, as the store keeps them
        ckpts[i] = None if c is None else Checkpoint.from_bytes(c.to_bytes())
    rest = train_stacked(ts, [members[i] for i in go_on], full, SMALL, resume=[ckpts[i] for i in go_on])
    for i, (res, state) in enumerate(direct):
        got, got_state = rest[go_on.index(i)] if i in go_on else first[i]
        assert (got.best_step, got.steps) == (res.best_step, res.steps)
        assert [h["step"] for h in got.history] == [h["step"] for h in res.history]
        for part in res.parts:
            for t in res.parts[part]:
                assert got.parts[part][t] == pytest.approx(res.parts[part][t], rel=1e-5, abs=1e-6)
        for k in state:
            assert torch.allclose(got_state[k], state[k], atol=1e-6), k
