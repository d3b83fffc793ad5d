"""Many networks of one architecture as one: parameters stacked along a leading model dimension.

``torch.func.stack_module_state`` stacks the parameters of M networks that share an architecture
(the same encoder and, slot by slot, heads of the same shape), and one vmapped forward and backward
(``functional_call`` under ``vmap``) trains them all. Adam is elementwise, so one optimizer over
the stacked tensors is exactly one optimizer per network. A stack of one network runs the same
code without vmap, which is also the fallback for user encoders that cannot be vmapped.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

from ..tasks import Task
from .batching import forward_rows
from .objectives import metric_value, predictions, rmse, row_loss


def head_signature(task: Task) -> tuple[str, int, str, str]:
    """What a task's head and loss look like; tasks with equal signatures can share a stacked slot."""
    return (task.kind, int(task.output_dim), task.head or "", task.loss or "")


class Heads(nn.Module):
    """The heads of one network, called on the shared features: a list of outputs, slot by slot."""

    def __init__(self, heads: nn.ModuleList) -> None:
        super().__init__()
        self.heads = heads

    def forward(self, z: torch.Tensor) -> list[torch.Tensor]:
        return [h(z) for h in self.heads]


class Stack:
    """M hard-sharing networks (``encoder`` + ``heads``) stacked along dim 0, with vmapped encode/decode."""

    def __init__(self, models: Sequence[nn.Module], use_vmap: bool) -> None:
        self.encoder = models[0].encoder
        self.heads = Heads(models[0].heads)
        enc_params, self.enc_buffers = stack_module_state([m.encoder for m in models])
        head_params, _ = stack_module_state([Heads(m.heads) for m in models])
        self.enc = {k: v.detach().requires_grad_() for k, v in enc_params.items()}
        self.head = {k: v.detach().requires_grad_() for k, v in head_params.items()}
        self.M = len(models)
        self.use_vmap = use_vmap and self.M > 1
        # plain Linear/ReLU encoders and linear heads run as batched matrix products, without the
        # per-call cost of vmap and functional_call (at these sizes that cost, not arithmetic, dominates)
        self.layers = _linear_layers(self.encoder) if self.use_vmap and not self.enc_buffers else None
        self.linear_heads = self.use_vmap and all(type(h) is nn.Linear for h in models[0].heads)

    def parameters(self) -> list[torch.Tensor]:
        return list(self.enc.values()) + list(self.head.values())

    def encode(self, x: torch.Tensor, shared_input: bool = False) -> torch.Tensor:
        """``x``: (M, B, ...) or, with ``shared_input``, (B, ...) fed to every network; returns (M, B, h)."""
        if not self.use_vmap:
            p = {k: v[0] for k, v in self.enc.items()}
            b = {k: v[0] for k, v in self.enc_buffers.items()}
            return functional_call(self.encoder, (p, b), (x if shared_input else x[0],)).unsqueeze(0)
        if self.layers is not None:
            h = x.flatten(start_dim=1 if shared_input else 2)
            h = h.expand(self.M, *h.shape) if shared_input else h
            for name in self.layers:
                if name is None:
                    h = torch.relu(h)
                else:
                    h = torch.baddbmm(self.enc[f"{name}.bias"].unsqueeze(1), h,
                                      self.enc[f"{name}.weight"].transpose(1, 2))
            return h
        dims = (0, 0, None if shared_input else 0)
        # randomness="different": each network draws its own dropout mask, as separate networks would
        return vmap(lambda p, b, xx: functional_call(self.encoder, (p, b), (xx,)), in_dims=dims,
                    randomness="different")(self.enc, self.enc_buffers, x)

    def decode(self, z: torch.Tensor) -> list[torch.Tensor]:
        """(M, B, h) features to one (M, B, out) tensor per head slot."""
        if not self.use_vmap:
            p = {k: v[0] for k, v in self.head.items()}
            return [o.unsqueeze(0) for o in functional_call(self.heads, p, (z[0],))]
        if self.linear_heads:
            return [torch.baddbmm(self.head[f"heads.{k}.bias"].unsqueeze(1), z,
                                  self.head[f"heads.{k}.weight"].transpose(1, 2)) for k in range(len(self.heads.heads))]
        return vmap(lambda p, zz: functional_call(self.heads, p, (zz,)), randomness="different")(self.head, z)

    def named(self) -> dict[str, torch.Tensor]:
        """The stacked parameter tensors by name (the keys of :meth:`snapshot`)."""
        return {**self.enc, **self.head}

    def snapshot(self) -> dict[str, torch.Tensor]:
        return {k: v.detach().clone() for k, v in {**self.enc, **self.head}.items()}

    def keep_improved(self, best: dict[str, torch.Tensor], improved: torch.Tensor) -> None:
        """Copy the current parameters of the networks marked in ``improved`` (M,) into ``best``."""
        if not bool(improved.any()):
            return
        current = self.snapshot()
        for k in best:
            sel = improved.view(-1, *([1] * (current[k].dim() - 1)))
            best[k] = torch.where(sel, current[k], best[k])

    def load(self, params: dict[str, torch.Tensor]) -> None:
        with torch.no_grad():
            for k, v in params.items():
                (self.enc if k in self.enc else self.head)[k].copy_(v)

    def state_dict(self, m: int, params: dict[str, torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
        """Network ``m``'s state dict, named like :class:`~taskgroup.training.models.HardSharedMTL`'s, on the CPU."""
        params = params if params is not None else self.snapshot()
        out = {f"encoder.{k}": params[k][m].detach().to("cpu", copy=True) for k in self.enc}
        out.update({f"encoder.{k}": v[m].detach().to("cpu", copy=True) for k, v in self.enc_buffers.items()})
        out.update({k: params[k][m].detach().to("cpu", copy=True) for k in self.head})
        return out


def _linear_layers(encoder: nn.Module) -> list[str | None] | None:
    """The built-in MLP encoder as a list of its Linear layers' names (None for a ReLU), or None for
    any other encoder (which then runs under vmap)."""
    net = getattr(encoder, "net", None)
    if type(encoder).__name__ != "MLPEncoder" or not isinstance(net, nn.Sequential):
        return None
    out: list[str | None] = []
    for i, mod in enumerate(net):
        if type(mod) is nn.Linear and mod.bias is not None:
            out.append(f"net.{i}")
        elif type(mod) is nn.ReLU:
            out.append(None)
        else:
            return None
    return out


def vmap_works(stack: Stack, x: torch.Tensor) -> bool:
    """Whether the stack's encoder runs under vmap (``x``: (M, B, ...))."""
    try:
        stack.decode(stack.encode(x[: stack.M]))
        return True
    except Exception:  # user encoders with in-place buffer updates or data-dependent control flow
        return False


class SlotData:
    """The rows of M stacked networks: network m's k-th head serves task ``active[m][k]`` of ``data``.

    Losses are computed slot by slot (every network's k-th task has the same kind of head and loss),
    targets are gathered for all networks at once, and each network is evaluated on the rows of its
    own tasks only, padded to one length.
    """

    def __init__(self, data: Any, active: Sequence[Sequence[int]]) -> None:
        self.data = data
        self.dev = data.device
        self.active = [list(a) for a in active]
        self.M, self.K = len(active), len(active[0])
        self.slot_task = torch.tensor(self.active, dtype=torch.long, device=self.dev)  # (M, K)
        self.slot_kind = [data.tasks[self.active[0][k]] for k in range(self.K)]
        shapes = {tuple(y.shape) for y in data.targets}
        self.table = torch.stack(data.targets) if len(shapes) == 1 else None
        self._splits: dict[int, tuple[torch.Tensor, torch.Tensor, list[list[tuple[int, int]]]]] = {}

    def targets(self, k: int, rows: torch.Tensor) -> torch.Tensor:
        """Targets of slot ``k``'s task at ``rows[m]`` for every network m: (M, R, ...)."""
        tasks = self.slot_task[:, k]
        if self.table is not None:
            return self.table[tasks.unsqueeze(1), rows]
        return torch.stack([self.data.targets[int(t)][r] for t, r in zip(tasks, rows)])

    def losses(self, outs: list[torch.Tensor], rows: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        """(M, K) weighted losses from the slots' outputs; ``rows`` (M, R), ``w`` (M, R, K)."""
        per_row = torch.stack([row_loss(self.slot_kind[k], outs[k], self.targets(k, rows)) for k in range(self.K)],
                              dim=-1)
        return (per_row * w).sum(1)

    def slot_weights(self, full: torch.Tensor) -> torch.Tensor:
        """(M, R, T) batch weights over all tasks of ``data`` to (M, R, K) over each network's slots."""
        return torch.gather(full, 2, self.slot_task.unsqueeze(1).expand(self.M, full.shape[1], self.K))

    def split(self, split: int) -> tuple[torch.Tensor, torch.Tensor, list[list[tuple[int, int]]]]:
        """Padded rows (M, L), their weights (M, L, K) (1/rows of the slot's task, 0 on padding),
        and each network's (start, end) per slot."""
        if split not in self._splits:
            segments, lists = [], []
            for a in self.active:
                rows, seg, at = [], [], 0
                for t in a:
                    r = self.data.rows[split][t]
                    rows.append(r)
                    seg.append((at, at + len(r)))
                    at += len(r)
                segments.append(seg)
                lists.append(torch.cat(rows))
            L = max(len(r) for r in lists)
            idx = torch.stack([torch.cat([r, r[:1].expand(L - len(r))]) for r in lists]).to(self.dev)
            w = torch.zeros(self.M, L, self.K, device=self.dev)
            for m, seg in enumerate(segments):
                for k, (a0, a1) in enumerate(seg):
                    w[m, a0:a1, k] = 1.0 / max(a1 - a0, 1)
            self._splits[split] = (idx, w, segments)
        return self._splits[split]

    def split_losses(self, stack: Stack, split: int) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """(M, K) mean loss of every network's tasks on ``split``, and the outputs it came from."""
        idx, w, _ = self.split(split)
        with torch.no_grad():
            outs = forward_rows(lambda x: stack.decode(stack.encode(x)), self.data.X, idx, dim=1)
            return self.losses(outs, idx, w), outs

    def metrics(self, outs: list[torch.Tensor], split: int, m: int,
                scores: dict[str, list] | None = None) -> tuple[dict[str, float], dict[str, float], dict[str, float]]:
        """Network ``m``'s metric, mean loss and (regression tasks) RMSE per task on ``split``, from
        :meth:`split_losses`' outputs; each row's score goes into ``scores`` when given."""
        data = self.data
        _, _, segments = self.split(split)
        val, loss, err = {}, {}, {}
        for k, t in enumerate(self.active[m]):
            r = data.rows[split][t]
            a0, a1 = segments[m][k]
            o = outs[k][m, a0:a1]
            task = data.tasks[t]
            score = predictions(task, o)
            if task.kind == "regression":
                score = score * data.std[t] + data.mean[t]
            y = data.raw_targets[t][r.numpy()]
            if scores is not None:
                scores[task.name] = np.asarray(score).tolist()
            val[task.name] = metric_value(task, y, score)
            if task.kind == "regression":
                err[task.name] = rmse(y, score)
            loss[task.name] = float(row_loss(task, o, data.targets[t][r.to(self.dev)]).mean())
        return val, loss, err
