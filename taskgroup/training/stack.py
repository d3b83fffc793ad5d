"""Many networks of one architecture as one: parameters stacked along a leading model dimension.

``torch.func.stack_module_state`` stacks the parameters of M networks that share an architecture
(the same encoder and, slot by slot, heads of the same shape), and one vmapped forward and backward
(``functional_call`` under ``vmap``) trains them all. Adam is elementwise, so one optimizer over
the stacked tensors is exactly one optimizer per network. A stack of one network runs the same
code without vmap, which is also the fallback for user encoders that cannot be vmapped.
"""

from __future__ import annotations

from dataclasses import dataclass
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
    """M networks (``encoder`` + ``heads``) stacked along dim 0, with vmapped encode/decode.

    Hard sharing: one encoder per network, features (M, B, h). Soft sharing
    (:class:`~taskgroup.training.models.SoftSharedMTL`): E encoders per network (one per task), all
    M x E stacked, features (M, E, B, h), slot k's head reading encoder k's features.
    """

    def __init__(self, models: Sequence[nn.Module], use_vmap: bool) -> None:
        first = models[0]
        self.soft = hasattr(first, "encoders")
        encoders = [e for m in models for e in (m.encoders if self.soft else [m.encoder])]
        self.E = len(first.encoders) if self.soft else 1
        self.strength = float(getattr(first, "strength", 0.0))
        self.encoder = encoders[0]
        self.heads = Heads(first.heads)
        enc_params, self.enc_buffers = stack_module_state(encoders)
        head_params, _ = stack_module_state([Heads(m.heads) for m in models])
        self.enc = {k: v.detach().requires_grad_() for k, v in enc_params.items()}
        self.head = {k: v.detach().requires_grad_() for k, v in head_params.items()}
        self.M = len(models)
        self.use_vmap = use_vmap and len(encoders) > 1
        # plain Linear/ReLU encoders and linear heads run as batched matrix products, without the
        # per-call cost of vmap and functional_call (at these sizes that cost, not arithmetic, dominates)
        self.layers = _linear_layers(self.encoder) if self.use_vmap and not self.enc_buffers else None
        self.linear_heads = self.use_vmap and all(type(h) is nn.Linear for h in first.heads)
        #: with ``keep_trace``, :meth:`encode` keeps the last layer's input and output (for gradient norms)
        self.keep_trace = False
        self.trace: tuple[torch.Tensor, torch.Tensor] | None = None

    def parameters(self) -> list[torch.Tensor]:
        return list(self.enc.values()) + list(self.head.values())

    def encode(self, x: torch.Tensor, shared_input: bool = False, pos: torch.Tensor | None = None) -> torch.Tensor:
        """``x``: (M, B, ...) or, with ``shared_input``, (B, ...) fed to every network; returns (M, B, h),
        or with soft sharing (M, E, B, h). ``pos`` (E, L), soft sharing only: encoder k reads only the
        rows ``pos[k]`` of ``x`` (its own task's rows), giving (M, E, L, h)."""
        if shared_input:
            x = x.expand(self.M, *x.shape)
        if self.soft:
            x = x[:, pos] if pos is not None else x.unsqueeze(1).expand(x.shape[0], self.E, *x.shape[1:])
            x = x.reshape(self.M * self.E, *x.shape[2:])
        if not self.use_vmap:
            p = {k: v[0] for k, v in self.enc.items()}
            b = {k: v[0] for k, v in self.enc_buffers.items()}
            return functional_call(self.encoder, (p, b), (x[0],)).unsqueeze(0)
        if self.layers is not None:
            h = x.flatten(start_dim=2)
            a = h
            for name in self.layers:
                if name is None:
                    h = torch.relu(h)
                else:
                    a = h
                    h = torch.baddbmm(self.enc[f"{name}.bias"].unsqueeze(1), h,
                                      self.enc[f"{name}.weight"].transpose(1, 2))
            if self.keep_trace:
                self.trace = (a, h)
        else:
            # randomness="different": each network draws its own dropout mask, as separate networks would
            h = vmap(lambda p, b, xx: functional_call(self.encoder, (p, b), (xx,)), randomness="different")(
                self.enc, self.enc_buffers, x)
        return h.view(self.M, self.E, *h.shape[1:]) if self.soft else h

    def decode(self, z: torch.Tensor) -> list[torch.Tensor]:
        """(M, B, h) features (soft sharing: (M, E, B, h)) to one (M, B, out) tensor per head slot."""
        if not self.use_vmap:
            p = {k: v[0] for k, v in self.head.items()}
            return [o.unsqueeze(0) for o in functional_call(self.heads, p, (z[0],))]
        n = len(self.heads.heads)
        if self.linear_heads:
            return [torch.baddbmm(self.head[f"heads.{k}.bias"].unsqueeze(1), z[:, k] if self.soft else z,
                                  self.head[f"heads.{k}.weight"].transpose(1, 2)) for k in range(n)]
        if self.soft:
            return [vmap(lambda p, zz, k=k: functional_call(self.heads.heads[k], p, (zz,)), randomness="different")(
                {name.split(".", 2)[2]: v for name, v in self.head.items() if name.startswith(f"heads.{k}.")},
                z[:, k]) for k in range(n)]
        return vmap(lambda p, zz: functional_call(self.heads, p, (zz,)), randomness="different")(self.head, z)

    def named(self) -> dict[str, torch.Tensor]:
        """The stacked parameter tensors by name (the keys of :meth:`snapshot`)."""
        return {**self.enc, **self.head}
    def penalty(self) -> torch.Tensor | None:
        """Soft sharing's penalty of every network, (M,): ``strength * sum_k ||theta_k - mean||^2``
        over corresponding encoder parameters; None for hard sharing."""
        if not self.soft:
            return None
        total = torch.zeros(self.M, device=next(iter(self.enc.values())).device)
        for v in self.enc.values():
            per = v.reshape(self.M, self.E, -1)
            total = total + ((per - per.mean(1, keepdim=True)) ** 2).sum((1, 2))
        return self.strength * total

    def last_layer(self) -> list[str]:
        """Names of the parameters of the encoder's last layer that has any (where GradNorm measures)."""
        last, module = [(n, m) for n, m in self.encoder.named_modules()
                        if any(True for _ in m.parameters(recurse=False))][-1]
        return [f"{last}.{p}" if last else p for p, _ in module.named_parameters(recurse=False)]

    def snapshot(self) -> dict[str, torch.Tensor]:
        return {k: v.detach().clone() for k, v in {**self.enc, **self.head}.items()}

    def keep_improved(self, best: dict[str, torch.Tensor], improved: torch.Tensor) -> None:
        """Copy the current parameters of the networks marked in ``improved`` (M,) into ``best``."""
        if not bool(improved.any()):
            return
        current = self.snapshot()
        per_encoder = improved.repeat_interleave(self.E)
        for k in best:
            mark = per_encoder if k in self.enc else improved
            sel = mark.view(-1, *([1] * (current[k].dim() - 1)))
            best[k] = torch.where(sel, current[k], best[k])

    def load(self, params: dict[str, torch.Tensor]) -> None:
        with torch.no_grad():
            for k, v in params.items():
                (self.enc if k in self.enc else self.head)[k].copy_(v)

    def state_dict(self, m: int, params: dict[str, torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
        """Network ``m``'s state dict, named like its module's (:class:`~taskgroup.training.models.HardSharedMTL`
        or ``SoftSharedMTL``), on the CPU."""
        params = params if params is not None else self.snapshot()
        out: dict[str, torch.Tensor] = {}
        for e in range(self.E):
            prefix, i = (f"encoders.{e}.", m * self.E + e) if self.soft else ("encoder.", m)
            out.update({prefix + k: params[k][i].detach().to("cpu", copy=True) for k in self.enc})
            out.update({prefix + k: v[i].detach().to("cpu", copy=True) for k, v in self.enc_buffers.items()})
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


@dataclass(frozen=True)
class OwnRows:
    """Where each slot's task rows sit in every network's batch: ``pos`` (K, L) batch positions,
    ``mask`` (K, L) 1 on a real position, 0 on padding. Only rows there weigh in slot k's loss."""

    pos: torch.Tensor
    mask: torch.Tensor

    @staticmethod
    def of(counts: Sequence[Sequence[int]], device: torch.device) -> OwnRows | None:
        """From each network's rows per slot, laid out one slot after another in its batch (the
        ``all`` schedule with rows owned by each task); None unless every network's layout is the same."""
        if any(list(c) != list(counts[0]) for c in counts):
            return None
        c = list(counts[0])
        L = max(max(c), 1)
        starts = np.cumsum([0] + c[:-1])
        pos = torch.tensor([[int(s) + min(i, n - 1) if n else 0 for i in range(L)] for s, n in zip(starts, c)],
                           dtype=torch.long, device=device)
        mask = torch.tensor([[1.0 if i < n else 0.0 for i in range(L)] for n in c], device=device)
        return OwnRows(pos, mask)

    @staticmethod
    def everywhere(k: int, rows: int, device: torch.device) -> OwnRows:
        """Every slot reads all ``rows`` of the batch (rows shared by all tasks, or no common layout)."""
        return OwnRows(torch.arange(rows, device=device).expand(k, rows), torch.ones(k, rows, device=device))


def slot_groups(tasks: Sequence[Task]) -> list[list[int]]:
    """Slot indices grouped by head signature: the slots whose heads and losses run as one batched op."""
    groups: dict[tuple, list[int]] = {}
    for k, t in enumerate(tasks):
        groups.setdefault(head_signature(t), []).append(k)
    return list(groups.values())


def decode_slots(stack: Stack, zs: torch.Tensor, groups: Sequence[Sequence[int]]) -> list[torch.Tensor]:
    """Linear heads on slot features ``zs`` (M, K, L, h) (slot k's head reads ``zs[:, k]``): one
    (M, G, L, out) tensor per group of :func:`slot_groups`, each group one batched matrix product."""
    M, K, L, h = zs.shape
    out = []
    for g in groups:
        w = torch.stack([stack.head[f"heads.{k}.weight"] for k in g], 1)  # (M, G, o, h)
        b = torch.stack([stack.head[f"heads.{k}.bias"] for k in g], 1)  # (M, G, o)
        zg = zs if len(g) == K else zs[:, list(g)]
        G, o = len(g), w.shape[2]
        y = torch.baddbmm(b.reshape(M * G, 1, o), zg.reshape(M * G, L, h), w.reshape(M * G, o, h).transpose(1, 2))
        out.append(y.view(M, G, L, o))
    return out


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

    def losses(self, outs: list[torch.Tensor], rows: torch.Tensor, w: torch.Tensor,
               own: OwnRows | None = None) -> torch.Tensor:
        """(M, K) weighted losses from the slots' outputs; ``rows`` (M, R), ``w`` (M, R, K). With
        ``own``, slot k's outputs are for the rows ``own.pos[k]`` of the batch only."""
        if own is not None:
            return torch.stack([(row_loss(self.slot_kind[k], outs[k], self.targets(k, rows[:, own.pos[k]]))
                                 * w[:, own.pos[k], k] * own.mask[k]).sum(1) for k in range(self.K)], dim=-1)
        per_row = torch.stack([row_loss(self.slot_kind[k], outs[k], self.targets(k, rows)) for k in range(self.K)],
                              dim=-1)
        return (per_row * w).sum(1)

    def grouped_losses(self, outs: list[torch.Tensor], groups: Sequence[Sequence[int]], rows: torch.Tensor,
                       w: torch.Tensor, at: OwnRows) -> torch.Tensor:
        """(M, K) weighted losses from :func:`decode_slots`' outputs, slot k's at the batch positions
        ``at.pos[k]``; ``rows`` (M, R), ``w`` (M, R, K). One loss call per group of slots."""
        M, K = self.M, self.K
        wk = w.transpose(1, 2)  # (M, K, R)
        cols = []
        for g, out in zip(groups, outs):
            g = list(g)
            pos = at.pos[g]  # (G, L)
            r = rows[:, pos]  # (M, G, L)
            tasks = self.slot_task[:, g]  # (M, G)
            if self.table is not None:
                y = self.table[tasks.unsqueeze(-1), r]
            else:
                y = torch.stack([torch.stack([self.data.targets[int(tasks[m, j])][r[m, j]] for j in range(len(g))])
                                 for m in range(M)])
            ww = torch.gather(wk[:, g], 2, pos.expand(M, *pos.shape)) * at.mask[g]
            cols.append((row_loss(self.slot_kind[g[0]], out, y) * ww).sum(-1))
        if len(groups) == 1:
            return cols[0]
        order = torch.tensor([k for g in groups for k in g], device=self.dev)
        return torch.cat(cols, 1)[:, torch.argsort(order)]

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
