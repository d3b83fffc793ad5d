"""Successive halving over candidate groupings (Li et al., JMLR 2018: the inner loop of Hyperband).

Every candidate grouping is trained with a short step budget, the better half on the select part
of the validation rows is kept, the budget doubles, and so on up to the full budget, where the
survivors are trained like every other alternative. The controls (single-task, all-in-one, random,
the variants) and the affinity-based recommendation are trained at the full budget as without
halving; the single-task networks are the reference of every round's Delta_m.

Cost is counted in networks, not candidates: a round trains each network its surviving candidates
use once (candidates share many groups). A network trained for a budget is one stored unit keyed
by its budget, and a longer budget **continues** from the shorter one's checkpoint (parameters,
Adam moments, early-stopping state, batch generators; :mod:`taskgroup.training.resume`) instead of
starting over, so a network that reaches the full budget costs what one full training costs, and
ends as the network trained at the full budget in one go (up to floating-point rounding: budgets
are multiples of ``train.eval_every``, so the evaluation schedules agree). A network that early
stopping ended at a shorter budget is carried to the longer one untrained.
"""

from __future__ import annotations

import io
import math
import time
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Sequence

from ..config import Config
from ..runtime.documents import HalvingRecord, HalvingRound
from ..runtime.execution import INLINE, Execution
from ..runtime.progress import ProgressFn
from ..runtime.store import RunStore
from ..tasks import TaskSet
from .stacked import train_networks


def budgets(full: int, min_steps: int, eval_every: int) -> list[int]:
    """Step budgets of the rounds, shortest first, ending at ``full``: ``full / 2**k`` rounded down
    to a multiple of ``eval_every``, for every k whose budget is still ``min_steps`` or more."""
    out = [int(full)]
    k = 1
    while True:
        b = (int(full) >> k) // eval_every * eval_every
        if b < max(int(min_steps), eval_every) or b >= out[0]:
            return out
        out.insert(0, b)
        k += 1


def halve(contestants: Sequence[str], steps: Sequence[int],
          score_at: Callable[[list[str], int], dict[str, float]]) -> tuple[list[str], list[HalvingRound]]:
    """The rounds below the full budget; returns the contestants that reach it, and the rounds.

    ``score_at(names, budget)`` trains the named contestants at ``budget`` steps and returns each
    one's validation score (higher is better). The better half (rounded up) survives each round,
    ties to the earlier contestant; the rounds end once a single contestant is left.
    """
    alive = list(contestants)
    rounds: list[HalvingRound] = []
    for budget in steps[:-1]:
        if len(alive) <= 1:
            break
        scores = score_at(alive, budget)
        ranked = sorted(range(len(alive)), key=lambda i: (-scores[alive[i]], i))
        kept = set(alive[i] for i in ranked[:math.ceil(len(alive) / 2)])
        rounds.append(HalvingRound(steps=int(budget), scores={n: round(float(scores[n]), 8) for n in alive},
                                   kept=[n for n in alive if n in kept]))
        alive = [n for n in alive if n in kept]
    return alive, rounds


@dataclass
class BudgetedTraining:
    """Trains networks at a step budget, continuing each from its checkpoint at the last shorter
    budget it was trained for. ``key(spec, cfg)`` is a network's store key under ``cfg``."""

    cfg: Config
    taskset: TaskSet
    store: RunStore
    key: Callable[[Any, Config], str]
    execution: Execution = INLINE
    progress: ProgressFn | None = None
    stacked: bool = True
    last: dict[Any, str] = field(default_factory=dict)          # spec -> key at the last budget trained
    trained: dict[int, int] = field(default_factory=dict)       # budget -> networks trained (not reused)
    seconds: dict[int, float] = field(default_factory=dict)     # budget -> wall seconds spent

    def train(self, specs: Sequence[Any], steps: int) -> list[dict[str, Any]]:
        """Every network of ``specs`` at ``steps`` steps (the full budget: stored as compare stores it)."""
        import torch

        start = time.perf_counter()
        full = steps == self.cfg.train.steps
        cfg = self.cfg if full else replace(self.cfg, train=replace(self.cfg.train, steps=int(steps)))
        keys = [self.key(sp, cfg) for sp in specs]
        todo, resume = [], []
        for i, (sp, k) in enumerate(zip(specs, keys)):
            prev = self.last.get(sp)
            if self.store.has(k) or prev is None:
                todo.append(i)
                resume.append(None)
                continue
            saved = torch.load(io.BytesIO(self.store.get_blob(prev) or b""), weights_only=True)
            if saved["checkpoint"] is None:  # early stopping ended it: the longer budget changes nothing
                state = saved["state"] if full else saved
                buf = io.BytesIO()
                torch.save(state, buf)
                record = self.store.get(prev) or {}
                self.store.put(k, "network", record, blob=buf.getvalue(), seconds=0.0)
                continue
            todo.append(i)
            resume.append(saved["checkpoint"])
        missing = sum(not self.store.has(keys[i]) for i in todo)
        self.trained[int(steps)] = self.trained.get(int(steps), 0) + missing
        train_networks([specs[i] for i in todo], [keys[i] for i in todo], cfg, self.taskset, self.store,
                       self.execution, self.progress, self.stacked,
                       resume=resume if any(r is not None for r in resume) else None, checkpoints=not full)
        for sp, k in zip(specs, keys):
            self.last[sp] = k
        self.seconds[int(steps)] = self.seconds.get(int(steps), 0.0) + time.perf_counter() - start
        return [self.store.get(k) or {} for k in keys]


def record_of(steps: list[int], min_steps: int, contestants: list[str], survivors: list[str],
              rounds: list[HalvingRound], trainer: BudgetedTraining, controls_seconds: float) -> HalvingRecord:
    """The ``halving`` entry of comparison.json."""
    for r in rounds:
        r.networks_trained = trainer.trained.get(r.steps, 0)
        r.seconds = round(trainer.seconds.get(r.steps, 0.0), 3)
    return HalvingRecord(budgets=steps, min_steps=min_steps, candidates=contestants, full_budget=survivors,
                         rounds=rounds, full_budget_networks_trained=trainer.trained.get(steps[-1], 0),
                         controls_seconds=round(controls_seconds, 3),
                         full_budget_seconds=round(trainer.seconds.get(steps[-1], 0.0), 3))
