"""Early stopping: one object for a single network and for a stack of networks."""

from __future__ import annotations

import torch

from taskgroup.training.early_stopping import EarlyStopping


def test_a_single_run_keeps_its_best_step_and_state_and_stops_after_patience() -> None:
    w = torch.zeros(2)
    stopping = EarlyStopping(patience=2, state={"w": w})
    for step, (score, value) in enumerate([(1.0, 1.0), (0.5, 2.0), (0.6, 3.0), (0.5, 4.0)], start=1):
        w.fill_(value)
        stopping.update(score, step, lambda: {"w": w})
        assert stopping.done == (step == 4)
    assert int(stopping.best_step) == 2 and float(stopping.best) == 0.5
    assert stopping.best_state["w"].tolist() == [2.0, 2.0]  # a copy, not the live tensor


def test_a_stack_stops_each_run_on_its_own() -> None:
    w = torch.zeros(3, 2)
    stopping = EarlyStopping(patience=1, runs=3, state={"w": w})
    scores = [torch.tensor([1.0, 1.0, 1.0]), torch.tensor([0.5, 2.0, 0.9]), torch.tensor([0.4, 0.1, 0.95])]
    for step, s in enumerate(scores, start=1):
        w.fill_(float(step))
        improved = stopping.update(s, step, lambda: {"w": w})
        if step == 2:
            assert improved.tolist() == [True, False, True]
    # run 1 stopped at step 2 and ignores its later, better score; run 2 stopped at step 3
    assert stopping.best_step.tolist() == [3, 1, 2] and stopping.stopped.tolist() == [False, True, True]
    assert stopping.best_state["w"][:, 0].tolist() == [3.0, 1.0, 2.0]
