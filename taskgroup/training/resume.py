"""Checkpoints of stacked trainings that a longer budget continues from.

When a stack (:func:`.stacked.train_stacked`) reaches its step budget, every network that early
stopping has not ended yet leaves a :class:`Checkpoint`: its current parameters, its Adam moments,
its early-stopping state (best score, best step, evaluations without improvement, best
parameters, history), the validation losses its relative scores are measured against, and the
states of its batch generators. A later call with a longer budget restores all of it and trains
on from the next step, so with step budgets that are multiples of ``train.eval_every`` (the
evaluation schedules then agree) the network ends as if it had been trained for the longer budget
in one go, up to floating-point rounding. A network that early stopping ended needs no checkpoint:
a longer budget would not train it further.
"""

from __future__ import annotations

import io
from dataclasses import asdict, dataclass, field
from typing import Any, Sequence

import torch

Tensors = dict[str, torch.Tensor]


@dataclass
class Checkpoint:
    """Where one network of a stack stood when its budget ran out (tensors on the CPU)."""

    step: int
    params: Tensors                  # current parameters, keyed like the stack's tensors
    exp_avg: Tensors                 # Adam's first moments, same keys
    exp_avg_sq: Tensors              # Adam's second moments, same keys
    best_params: Tensors
    base: list[float]                # validation losses at initialisation, per task slot
    best: float
    best_step: int
    bad: int
    history: list[dict[str, Any]] = field(default_factory=list)
    generator: torch.Tensor | None = None              # the batcher's own generator state
    task_generators: dict[str, torch.Tensor] = field(default_factory=dict)   # per task name
    seconds: float = 0.0             # training time spent so far

    def to_bytes(self) -> bytes:
        buf = io.BytesIO()
        torch.save(asdict(self), buf)
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, blob: bytes) -> Checkpoint:
        return cls(**torch.load(io.BytesIO(blob), weights_only=True))


def _slot(tensors: dict[str, torch.Tensor], m: int) -> Tensors:
    return {k: v[m].detach().to("cpu", copy=True) for k, v in tensors.items()}


def capture(m: int, step: int, named: dict[str, torch.Tensor], opt: torch.optim.Optimizer, best_params: Tensors,
            base: torch.Tensor, best: float, best_step: int, bad: int, history: list[dict[str, Any]],
            batcher: Any, seconds: float) -> Checkpoint:
    """The checkpoint of stack member ``m`` after ``step`` steps (``named``: the stack's tensors by name)."""
    moments = {k: opt.state[p] for k, p in named.items()}
    names = batcher.data.names
    return Checkpoint(
        step=step, params=_slot(named, m),
        exp_avg=_slot({k: s["exp_avg"] for k, s in moments.items()}, m),
        exp_avg_sq=_slot({k: s["exp_avg_sq"] for k, s in moments.items()}, m),
        best_params=_slot(best_params, m), base=[float(x) for x in base[m]], best=float(best), best_step=int(best_step),
        bad=int(bad), history=list(history), generator=batcher.gen.get_state(),
        task_generators={names[t]: batcher.task_gen[t].get_state() for t in batcher.active}, seconds=float(seconds))


def restore(checkpoints: Sequence[Checkpoint], named: dict[str, torch.Tensor], opt: torch.optim.Optimizer,
            best_params: Tensors, base: torch.Tensor, batchers: Sequence[Any]) -> int:
    """Load every member's checkpoint into the stack, its optimizer, best parameters, baseline
    losses and batchers; returns the step they all stopped at (the members must agree on it)."""
    steps = {c.step for c in checkpoints}
    if len(steps) != 1:
        raise ValueError(f"a stack continues from one step, not from {sorted(steps)}")
    step = steps.pop()
    with torch.no_grad():
        for k, p in named.items():
            p.copy_(torch.stack([c.params[k] for c in checkpoints]).to(p.device))
            best_params[k] = torch.stack([c.best_params[k] for c in checkpoints]).to(p.device)
            opt.state[p] = {"step": torch.tensor(float(step)),
                            "exp_avg": torch.stack([c.exp_avg[k] for c in checkpoints]).to(p.device),
                            "exp_avg_sq": torch.stack([c.exp_avg_sq[k] for c in checkpoints]).to(p.device)}
        base.copy_(torch.tensor([c.base for c in checkpoints], dtype=base.dtype))
    for c, b in zip(checkpoints, batchers):
        if c.generator is not None:
            b.gen.set_state(c.generator)
        for t in b.active:
            state = c.task_generators.get(b.data.names[t])
            if state is not None:
                b.task_gen[t].set_state(state)
    return step
