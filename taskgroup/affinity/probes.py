"""Probe trainings: many small networks, one per (task subset, seed), trained at once.

All probes share one architecture (the encoder at ``probe_width`` and a head for every task; a probe
only trains the heads of its own tasks), so their parameters stack along a leading model dimension
and one vmapped forward and backward trains them all (``torch.func.stack_module_state`` and
``functional_call``). Adam is elementwise, so one optimizer over the stacked tensors is exactly one
optimizer per probe. The one-at-a-time path runs the same code with one probe per stack, which is
also the fallback for user encoders that cannot be vmapped. Both give the same numbers.

Each probe reports, at its best validation checkpoint, every task's validation metric, and (for two
or more tasks) the gradient cosine between its tasks measured during its own training.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

from ..training.batching import Batcher, TaskData, forward_rows, stack_batches
from ..training.early_stopping import EarlyStopping
from ..config import AnalyzeConfig, ModelConfig
from ..training.objectives import row_loss
from ..tasks import VAL, TaskSet
from ..training.trainer import build_model, check_finite
from ..runtime.progress import ProgressFn
from .pergrad import cosine_matrix


@dataclass(frozen=True)
class ProbeSpec:
    """A probe: the tasks it trains on and its seed (the seed fixes its initialisation and batches)."""

    tasks: tuple[str, ...]
    seed: int


class _Heads(nn.Module):
    def __init__(self, heads: nn.ModuleList) -> None:
        super().__init__()
        self.heads = heads

    def forward(self, z: torch.Tensor) -> list[torch.Tensor]:
        return [h(z) for h in self.heads]


class _Stack:
    """M probes' parameters stacked along dim 0, with vmapped encode/decode."""

    def __init__(self, models: list[nn.Module], use_vmap: bool) -> None:
        self.encoder = models[0].encoder
        self.heads = _Heads(models[0].heads)
        enc_params, self.enc_buffers = stack_module_state([m.encoder for m in models])
        head_params, _ = stack_module_state([_Heads(m.heads) for m in models])
        self.enc = {k: v.detach().requires_grad_() for k, v in enc_params.items()}
        self.head = {k: v.detach().requires_grad_() for k, v in head_params.items()}
        self.M = len(models)
        self.use_vmap = use_vmap and self.M > 1

    def parameters(self) -> list[torch.Tensor]:
        return list(self.enc.values()) + list(self.head.values())

    def encode(self, x: torch.Tensor, shared_input: bool = False) -> torch.Tensor:
        """``x``: (M, B, ...) or, with ``shared_input``, (B, ...) fed to every probe; returns (M, B, h)."""
        if not self.use_vmap:
            p = {k: v[0] for k, v in self.enc.items()}
            b = {k: v[0] for k, v in self.enc_buffers.items()}
            return functional_call(self.encoder, (p, b), (x if shared_input else x[0],)).unsqueeze(0)
        dims = (0, 0, None if shared_input else 0)
        # randomness="different": each probe draws its own dropout mask, as separate networks would
        return vmap(lambda p, b, xx: functional_call(self.encoder, (p, b), (xx,)), in_dims=dims,
                    randomness="different")(
            self.enc, self.enc_buffers, x)

    def decode(self, z: torch.Tensor) -> list[torch.Tensor]:
        if not self.use_vmap:
            p = {k: v[0] for k, v in self.head.items()}
            return [o.unsqueeze(0) for o in functional_call(self.heads, p, (z[0],))]
        return vmap(lambda p, zz: functional_call(self.heads, p, (zz,)), randomness="different")(self.head, z)

    def snapshot(self) -> dict[str, torch.Tensor]:
        return {k: v.detach().clone() for k, v in {**self.enc, **self.head}.items()}


def _vmap_works(stack: _Stack, x: torch.Tensor) -> bool:
    try:
        stack.decode(stack.encode(x[: stack.M]))
        return True
    except Exception:  # user encoders with in-place buffer updates or data-dependent control flow
        return False


def train_probes(taskset: TaskSet, specs: list[ProbeSpec], cfg: AnalyzeConfig, model_cfg: ModelConfig,
                 batched: bool = True, progress: ProgressFn | None = None, data: TaskData | None = None,
                 max_stack: int = 0) -> list[dict[str, Any]]:
    """Train every probe in ``specs``; return one JSON-able record per probe, in order.

    ``batched`` stacks up to ``max_stack`` probes (0: all) into one vmapped network; otherwise each
    probe trains alone. Records hold ``tasks``, ``seed``, ``val`` (metric per task), ``val_loss``,
    ``best_step``, ``cosine`` (matrix over the probe's tasks) and ``seconds``.
    """
    data = data or TaskData(taskset)
    size = (max_stack or len(specs)) if batched else 1
    out: list[dict[str, Any]] = []
    done = 0
    for s in range(0, len(specs), size):
        chunk = specs[s:s + size]
        out.extend(_train_stack(taskset, chunk, cfg, model_cfg, data, batched))
        done += len(chunk)
        if progress:
            progress(done, len(specs), {})
    return out


def _train_stack(taskset: TaskSet, specs: list[ProbeSpec], cfg: AnalyzeConfig, model_cfg: ModelConfig,
                 data: TaskData, batched: bool) -> list[dict[str, Any]]:
    clock = time.perf_counter()
    names = data.names
    index = {n: i for i, n in enumerate(names)}
    active = [[index[t] for t in sp.tasks] for sp in specs]
    models = [build_model(taskset, names, model_cfg, width=cfg.probe_width, seed=sp.seed) for sp in specs]
    stack = _Stack(models, use_vmap=batched)
    if stack.use_vmap and not _vmap_works(stack, data.X[: len(specs)].unsqueeze(1)):
        return [r for sp in specs for r in _train_stack(taskset, [sp], cfg, model_cfg, data, False)]
    M, T = len(specs), len(names)
    batchers = [Batcher(data, cfg.batch_size, seed=sp.seed * 7919 + 17, active=a) for sp, a in zip(specs, active)]
    mask = torch.zeros(M, T)
    for m, a in enumerate(active):
        mask[m, a] = 1.0
    opt = torch.optim.Adam(stack.parameters(), lr=cfg.lr)

    # each probe is evaluated on the validation rows of its own tasks only, padded to one length
    segments: list[dict[int, tuple[int, int]]] = []
    row_lists = []
    for a in active:
        rows, seg, start = [], {}, 0
        for t in a:
            r = data.rows[VAL][t]
            rows.append(r)
            seg[t] = (start, start + len(r))
            start += len(r)
        segments.append(seg)
        row_lists.append(torch.cat(rows))
    L = max(len(r) for r in row_lists)
    val_idx = torch.stack([torch.cat([r, r[:1].expand(L - len(r))]) for r in row_lists])  # (M, L)
    val_w = torch.zeros(M, L, T)
    for m, seg in enumerate(segments):
        for t, (a0, a1) in seg.items():
            val_w[m, a0:a1, t] = 1.0 / (a1 - a0)
    x_val = data.X[val_idx] if isinstance(data.X, torch.Tensor) else None  # streamed: read when evaluated
    val_targets = [y[val_idx] for y in data.targets]

    def val_outputs() -> list[torch.Tensor]:
        with torch.no_grad():
            if x_val is not None:
                return stack.decode(stack.encode(x_val))
            return forward_rows(lambda x: stack.decode(stack.encode(x)), data.X, val_idx, dim=1)

    def val_losses() -> torch.Tensor:
        return (data.row_losses(val_outputs(), val_targets) * val_w).sum(1)  # (M, T)

    base = val_losses().clamp_min(1e-8)
    stopping = EarlyStopping(cfg.probe_patience, runs=M, state=stack.snapshot())
    K = max(len(a) for a in active)
    slot_onehot = torch.zeros(K, M, T)
    for m, a in enumerate(active):
        for k, t in enumerate(a):
            slot_onehot[k, m, t] = 1.0
    cos_sum = torch.zeros(M, K, K)
    cos_n = 0
    multi = [m for m in range(M) if len(active[m]) > 1]
    shared_keys = list(stack.enc)
    for step in range(1, cfg.probe_steps + 1):
        stacked = stack_batches([b.next(step - 1) for b in batchers])
        rows, weights = stacked.rows, stacked.weights
        z = stack.encode(data.X[rows])
        outs = stack.decode(z)
        targets = [y[rows] for y in data.targets]
        losses = (data.row_losses(outs, targets) * weights).sum(1)  # (M, T)
        if not bool(torch.isfinite(losses).all()):
            check_finite(losses[int(torch.nonzero(~torch.isfinite(losses))[0][0])], names, step, "analyze.lr")
        total = losses.sum()
        measure = multi and (step - 1) % cfg.every == 0
        if measure:
            # per-task gradients of every probe's shared encoder for its own tasks only (slot k = the
            # probe's k-th task), in one batched pass through the shared features z
            slot_losses = torch.stack([(losses * slot_onehot[k]).sum(1) for k in range(K)])  # (K, M)
            (dz,) = torch.autograd.grad(slot_losses.sum(1), z, grad_outputs=torch.eye(K), is_grads_batched=True,
                                        retain_graph=True)
            g = torch.autograd.grad(z, [stack.enc[k] for k in shared_keys], grad_outputs=dz,
                                    is_grads_batched=True, retain_graph=True)
            flat = torch.cat([x.reshape(K, M, -1) for x in g], dim=2)  # (K, M, P)
            for m in multi:
                k = len(active[m])
                cos_sum[m][:k, :k] += cosine_matrix(flat[:k, m])
            cos_n += 1
        opt.zero_grad(set_to_none=True)
        total.backward()
        opt.step()
        if step % cfg.probe_eval_every == 0 or step == cfg.probe_steps:
            rel = ((val_losses() / base) * mask).sum(1) / mask.sum(1)
            stopping.update(rel, step, stack.snapshot)
            if stopping.done:
                break
    with torch.no_grad():
        for k, v in stopping.best_state.items():
            (stack.enc if k in stack.enc else stack.head)[k].copy_(v)
    outs = val_outputs()
    seconds = time.perf_counter() - clock
    records = []
    for m, sp in enumerate(specs):
        val, vloss, vrmse = {}, {}, {}
        for t in active[m]:
            r = data.rows[VAL][t]
            a0, a1 = segments[m][t]
            o = outs[t][m, a0:a1]
            found = data.scores(t, o, r)
            val[names[t]] = found["metric"]
            if "rmse" in found:
                vrmse[names[t]] = found["rmse"]
            vloss[names[t]] = float(row_loss(data.tasks[t], o, data.targets[t][r]).mean())
        k = len(active[m])
        cos = (cos_sum[m][:k, :k] / max(cos_n, 1)) if m in multi else torch.ones(1, 1)
        records.append({"tasks": list(sp.tasks), "seed": sp.seed, "val": val, "val_rmse": vrmse, "val_loss": vloss,
                        "best_step": int(stopping.best_step[m]), "cosine": cos.tolist(), "seconds": seconds / M})
    return records
