"""Train a list of compare networks, stacking those that share an architecture and a budget.

:func:`train_networks` is what compare (and successive halving) calls for a list of
:class:`~.compare.NetworkSpec`: networks already in the store are reused; the rest are planned as
units, either a *stack* (networks of equal :func:`~taskgroup.training.stacked.stack_signature`
trained together by :func:`~taskgroup.training.stacked.train_stacked`: the single-task networks of
all tasks and seeds, the seeds of one grouping, equal-size groups, the seeds of a network with a
learnt loss weighting or soft sharing) or a single network when it cannot be stacked (dropout, a
weighting without a stacked form). A finished stack is committed
as one unit, then also stored as one record and state dict per network, so a rerun resumes at the
granularity of a stack and later steps find every network under its own key.
"""

from __future__ import annotations

import io
from dataclasses import asdict
from typing import Any, Sequence

from ..config import Config, ModelConfig, TrainConfig
from ..runtime.device import choose_device, resolve_device
from ..runtime.execution import INLINE, Execution
from ..runtime.executors import Unit, run_units
from ..runtime.hashing import content_hash
from ..runtime.progress import ProgressFn
from ..runtime.store import RunStore
from ..tasks import TaskSet
#: at most this many networks in one stack (bounds memory and keeps units resumable)
MAX_STACK = 64


def network_payload(result: Any, state: dict[str, Any], spec: dict[str, Any]) -> tuple[dict[str, Any], bytes]:
    """A trained network's stored record (its last history entry only) and its state dict as bytes."""
    import torch

    buf = io.BytesIO()
    torch.save(state, buf)
    out = result.to_dict()
    out["history"] = result.history[-1:] if result.history else []
    out["spec"] = spec
    return out, buf.getvalue()


def stack_unit(args: dict[str, Any]) -> dict[str, Any]:
    """Unit function: train a stack of networks; one record per network, all state dicts in the blob."""
    import torch

    from ..runtime.device import resolve_device
    from ..training.stacked import StackMember, train_stacked

    from ..training.resume import Checkpoint

    specs = args["specs"]
    members = [StackMember(tuple(s["tasks"]), s["seed"], s["width"], s.get("sharing", "hard"),
                           s.get("weighting", "equal")) for s in specs]
    resume = [Checkpoint(**c) for c in args["resume"]] if args.get("resume") else None
    checkpoints: list | None = [] if args.get("checkpoints") else None
    trained = train_stacked(args["taskset"], members, TrainConfig(**args["train"]), ModelConfig(**args["model"]),
                            device=resolve_device(args["train"].get("device", "cpu")), resume=resume,
                            checkpoints=checkpoints)
    records, states = [], []
    for m, ((result, state), spec) in enumerate(zip(trained, specs)):
        payload, _ = network_payload(result, state, spec)
        records.append(payload)
        states.append(state if checkpoints is None else
                      {"state": state, "checkpoint": None if checkpoints[m] is None else asdict(checkpoints[m])})
    buf = io.BytesIO()
    torch.save(states, buf)
    return {"networks": records, "blob": buf.getvalue()}


def plan_stacks(specs: Sequence[Any], taskset: TaskSet, cfg: Config, stacked: bool = True,
                max_stack: int = MAX_STACK) -> list[list[int]]:
    """Indices of ``specs`` grouped into stacks (a group of one trains alone), in a stable order."""
    from ..training.stacked import stack_signature, stackable

    groups: dict[tuple, list[int]] = {}
    alone: list[list[int]] = []
    for i, sp in enumerate(specs):
        if stacked and stackable(cfg.model, sp.sharing, sp.weighting):
            groups.setdefault(stack_signature(taskset, sp.tasks, sp.width, sp.sharing, sp.weighting), []).append(i)
        else:
            alone.append([i])
    out = [g[s:s + max_stack] for g in groups.values() for s in range(0, len(g), max_stack)]
    return out + alone


def train_networks(specs: Sequence[Any], keys: Sequence[str], cfg: Config, taskset: TaskSet,
                   store: RunStore | None, execution: Execution = INLINE, progress: ProgressFn | None = None,
                   stacked: bool = True, resume: Sequence[dict[str, Any] | None] | None = None,
                   checkpoints: bool = False) -> list[dict[str, Any]]:
    """Train (or reuse from ``store``) every network in ``specs``, stored under ``keys``; return
    their records in order, on the device ``execution`` asks for (else ``train.device``).
    ``stacked=False`` trains every network alone (the reference path).

    For successive halving (:mod:`.halving`): ``resume`` gives, per network, the checkpoint of a
    shorter budget to continue from (None: from the start); with ``checkpoints`` each network's
    blob is ``{"state", "checkpoint"}`` so that a longer budget can continue from it. Both train
    through stacks (of one where needed) and keep continued and fresh networks in separate stacks."""
    from .compare import train_identity

    train, model = train_identity(cfg.train), asdict(cfg.model)
    train["device"] = choose_device(execution.device, cfg.train.device)
    resolve_device(train["device"])  # a device that is not there stops the step before any work
    units: list[Unit] = []
    members: list[list[int]] = []
    # stacks are planned over all networks, so that a stack's key does not depend on how much of a
    # previous run was stored; a stack whose networks are all stored is not run again
    for idx in _plan(specs, taskset, cfg, stacked, resume):
        if store is not None and all(store.has(keys[i]) for i in idx):
            continue
        if len(idx) == 1 and resume is None and not checkpoints:
            units.append(Unit(keys[idx[0]], "network", "taskgroup.comparison.compare:network_unit",
                              {"taskset": taskset, "spec": asdict(specs[idx[0]]), "train": train, "model": model}))
        else:
            units.append(Unit(content_hash({"kind": "stack", "networks": [keys[i] for i in idx]}), "stack",
                              "taskgroup.comparison.stacked:stack_unit",
                              {"taskset": taskset, "specs": [asdict(specs[i]) for i in idx], "train": train,
                               "model": model, "checkpoints": checkpoints,
                               "resume": [resume[i] for i in idx] if resume and resume[idx[0]] else None}))
        members.append(idx)
    payloads = run_units(units, store, execution, progress)
    found: dict[int, dict[str, Any]] = {}
    for unit, idx, payload in zip(units, members, payloads):
        if unit.kind == "network":
            found[idx[0]] = payload
            continue
        _split_stack(unit.key, idx, keys, payload, store, found)
    if store is None:
        return [found[i] for i in range(len(specs))]
    return [found[i] if i in found else store.get(k) for i, k in enumerate(keys)]  # type: ignore[misc]


def _plan(specs: Sequence[Any], taskset: TaskSet, cfg: Config, stacked: bool,
          resume: Sequence[dict[str, Any] | None] | None) -> list[list[int]]:
    """:func:`plan_stacks`, with networks stacked only with others that continue from the same step."""
    if resume is None:
        return plan_stacks(specs, taskset, cfg, stacked)
    parts: dict[int, list[int]] = {}  # by the step a network continues from (-1: from the start)
    for i, r in enumerate(resume):
        parts.setdefault(-1 if r is None else int(r["step"]), []).append(i)
    out = []
    for part in parts.values():
        out += [[part[j] for j in idx] for idx in plan_stacks([specs[i] for i in part], taskset, cfg, stacked)]
    return out


def _split_stack(key: str, idx: list[int], keys: Sequence[str], payload: dict[str, Any], store: RunStore | None,
                 found: dict[int, dict[str, Any]]) -> None:
    """Store each network of a finished stack under its own key (the stack's record stays: a finished
    unit is never rewritten)."""
    import torch

    states = None
    if store is not None:
        blob = store.get_blob(key)
        states = torch.load(io.BytesIO(blob), weights_only=True) if blob is not None else None
    for j, (i, record) in enumerate(zip(idx, payload["networks"])):
        if store is None:
            found[i] = record
            continue
        if store.has(keys[i]):  # stored before an interruption
            found[i] = store.get(keys[i])  # type: ignore[assignment]
            continue
        buf = io.BytesIO()
        if states is not None:
            torch.save(states[j], buf)
        store.put(keys[i], "network", record, blob=buf.getvalue() if states is not None else None,
                  seconds=float(record.get("seconds", 0.0)))
        found[i] = store.get(keys[i])  # type: ignore[assignment]
