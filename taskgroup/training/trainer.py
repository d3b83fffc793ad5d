"""The trainer: masked per-task losses, loss weighting, sampling, scheduling, early stopping.

``train_network`` trains one network (hard or soft sharing) on a group of tasks and returns a
:class:`TrainResult`, a JSON-able record of per-task validation and test metrics at the checkpoint
chosen on the checkpoint part of the validation rows alone (:mod:`.valparts`); the other parts
(select, estimate) keep each row's score for the comparison's statistics.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch

from .batching import Batcher, TaskData, evaluate
from ..config import ModelConfig, TrainConfig
from ..errors import TrainingError
from .valparts import CHECKPOINT, PARTS
from .models import HardSharedMTL, SoftSharedMTL, count_parameters, make_encoder, multiply_adds
from ..tasks import TEST, VAL, TaskSet
from ..runtime.progress import ProgressFn
from .early_stopping import EarlyStopping
from .weighting import make_weighting



@dataclass
class TrainResult:
    """What one training produced, in JSON-able form (the state dict travels separately)."""

    tasks: list[str]
    val: dict[str, float]
    test: dict[str, float]
    val_loss: dict[str, float]
    steps: int
    best_step: int
    seconds: float
    params: int
    macs: int
    history: list[dict[str, Any]] = field(default_factory=list)
    weights: list[float] = field(default_factory=list)
    val_rmse: dict[str, float] = field(default_factory=dict)
    test_rmse: dict[str, float] = field(default_factory=dict)
    """RMSE of the regression tasks (whatever their displayed metric): what Delta_m compares."""
    parts: dict[str, dict[str, float]] = field(default_factory=dict)
    scores: dict[str, dict[str, list]] = field(default_factory=dict)
    parts_rmse: dict[str, dict[str, float]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def build_model(taskset: TaskSet, names: list[str], model_cfg: ModelConfig, width: float = 1.0,
                sharing: str = "hard", soft_penalty: float = 1e-2, seed: int = 0) -> torch.nn.Module:
    """A freshly initialised network for ``names``; initialisation depends on ``seed`` only."""
    torch.manual_seed(seed)
    tasks = [taskset.task(n) for n in names]

    def make() -> torch.nn.Module:
        return make_encoder(model_cfg.encoder, taskset.input_shape, model_cfg.hidden, width * model_cfg.width,
                            model_cfg.dropout)

    if sharing == "soft":
        return SoftSharedMTL(make, tasks, soft_penalty)
    return HardSharedMTL(make(), tasks)


def check_finite(losses: torch.Tensor, names: list[str], step: int, setting: str = "train.lr") -> None:
    """Raise a one-line error naming the task whose loss turned NaN or infinite (``step`` counts from 1)."""
    bad = ~torch.isfinite(losses)
    if bool(bad.any()):
        i = int(torch.nonzero(bad)[0])
        raise TrainingError(f"task {names[i]!r}: loss became {float(losses[i].detach())} at step {step}; "
                            f"lower {setting} or check the task's targets")


def train_network(taskset: TaskSet, names: list[str], train_cfg: TrainConfig, model_cfg: ModelConfig,
                  seed: int = 0, width: float = 1.0, sharing: str = "hard", weighting: str | None = None,
                  progress: ProgressFn | None = None, data: TaskData | None = None,
                  device: torch.device | str = "cpu") -> tuple[TrainResult, dict]:
    """Train one network on the tasks ``names``; return its record and its best state dict.

    The checkpoint kept is the one with the lowest mean loss on the checkpoint part of the
    validation rows, each task's loss divided by its value at the start so that tasks of different
    scales count alike. ``parts`` holds each task's metric on every part of the validation rows and
    ``scores`` each row's score on the select and estimate parts. Test metrics are computed once, on
    that checkpoint, and never influence any choice. ``device`` is where it trains (the
    initialisation and the batches are drawn on the CPU, so they do not depend on it); the state
    dict returned is on the CPU.
    """
    start = time.perf_counter()
    device = torch.device(device)
    data = data or TaskData(taskset, names, device)
    model = build_model(taskset, names, model_cfg, width, sharing, train_cfg.soft_sharing_penalty, seed).to(device)
    wname = weighting or train_cfg.weighting
    scheme = make_weighting(wname, len(names), model.last_shared_parameters(), window=train_cfg.eval_every)
    scheme.to(device)
    params = list(model.parameters()) + list(scheme.parameters())
    opt = torch.optim.Adam(params, lr=train_cfg.lr, weight_decay=train_cfg.weight_decay)
    batcher = Batcher(data, train_cfg.batch_size, train_cfg.sampling, train_cfg.temperature, train_cfg.schedule,
                      seed=seed + 7919)

    def outputs(x: torch.Tensor) -> list[torch.Tensor]:
        return model(x)

    model.eval()
    initial = evaluate(outputs, data, CHECKPOINT)
    base = np.array([max(initial[n]["loss"], 1e-8) for n in names])
    stopping = EarlyStopping(train_cfg.patience, state=model.state_dict())
    history: list[dict[str, Any]] = []
    step = 0
    for step in range(1, train_cfg.steps + 1):
        model.train()
        batch = batcher.next(step - 1).to(device)
        out = model(data.X[batch.rows])
        per_row = data.row_losses(out, data.target_batch(batch.rows))
        losses = (per_row * batch.weights).sum(0)
        check_finite(losses, names, step)
        total = scheme.combine(losses, step) + model.penalty()
        opt.zero_grad(set_to_none=True)
        total.backward()
        opt.step()
        if step % train_cfg.eval_every == 0 or step == train_cfg.steps:
            model.eval()
            ev = evaluate(outputs, data, CHECKPOINT)
            rel = float(np.mean([ev[n]["loss"] / b for n, b in zip(names, base)]))
            history.append({"step": step, "train_loss": losses.detach().tolist(), "val_rel_loss": rel,
                            "val": {n: ev[n]["metric"] for n in names}})
            stopping.update(torch.tensor(rel, dtype=torch.float64), step, model.state_dict)
            if progress:
                progress(step, train_cfg.steps, {"val_rel_loss": rel})
            if stopping.done:
                break
    best_state = stopping.best_state
    model.load_state_dict(best_state)
    model.eval()
    val = evaluate(outputs, data, VAL)
    test = evaluate(outputs, data, TEST)
    parts = {name: evaluate(outputs, data, part, keep_scores=part != CHECKPOINT) for name, part in PARTS.items()}
    result = TrainResult(
        tasks=list(names), val={n: val[n]["metric"] for n in names}, test={n: test[n]["metric"] for n in names},
        val_loss={n: val[n]["loss"] for n in names}, steps=step, best_step=int(stopping.best_step),
        seconds=time.perf_counter() - start, params=count_parameters(model),
        macs=multiply_adds(model, taskset.input_shape), history=history, weights=scheme.weights(),
        val_rmse={n: val[n]["rmse"] for n in names if "rmse" in val[n]},
        test_rmse={n: test[n]["rmse"] for n in names if "rmse" in test[n]},
        parts={p: {n: ev[n]["metric"] for n in names} for p, ev in parts.items()},
        scores={p: {n: np.asarray(ev[n]["scores"]).tolist() for n in names}
                for p, ev in parts.items() if p != "checkpoint"},
        parts_rmse={p: {n: ev[n]["rmse"] for n in names if "rmse" in ev[n]} for p, ev in parts.items()},
    )
    # on the CPU, as the stacked path returns them: stored blobs then load on any machine
    return result, {k: v.detach().to("cpu", copy=True) for k, v in best_state.items()}
