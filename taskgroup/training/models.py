"""Networks: encoders (MLP, small CNN, user factory), task heads, hard and soft parameter sharing.

Every multi-task network exposes ``encode(x) -> features`` and ``decode(features) -> list of head
outputs`` so that affinity measures can take gradients with respect to the shared features and push
them back through the encoder in one batched pass.
"""

from __future__ import annotations

import inspect
import math
from typing import Callable, Sequence

import torch
from torch import nn

from ..errors import DataError
from ..registry import import_object
from ..tasks import Task
from .encoders import ENCODERS, resolve_auto


class MLPEncoder(nn.Module):
    """Fully connected ReLU layers for vector inputs."""

    def __init__(self, in_features: int, hidden: Sequence[int], dropout: float = 0.0) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        prev = in_features
        for h in hidden:
            layers += [nn.Linear(prev, h), nn.ReLU()]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            prev = h
        self.net = nn.Sequential(*layers)
        self.out_features = prev

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.flatten(start_dim=-1 if x.dim() == 1 else 1))


class CNNEncoder(nn.Module):
    """Two 3x3 convolutions, global average pooling and a linear layer, for small images.

    No batch normalisation, so that stacked (vmapped) copies behave exactly like separate ones.
    """

    def __init__(self, in_shape: Sequence[int], channels: int, out_features: int, dropout: float = 0.0) -> None:
        super().__init__()
        c_in = in_shape[0] if len(in_shape) == 3 else 1
        self.in_shape = tuple(in_shape) if len(in_shape) == 3 else (1, *in_shape)
        self.conv = nn.Sequential(
            nn.Conv2d(c_in, channels, 3, padding=1), nn.ReLU(),
            nn.Conv2d(channels, 2 * channels, 3, padding=1), nn.ReLU(),
            nn.AdaptiveAvgPool2d(2),
        )
        self.fc = nn.Sequential(nn.Flatten(), nn.Linear(8 * channels, out_features), nn.ReLU())
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.out_features = out_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == len(self.in_shape):
            x = x.unsqueeze(0)
            return self.dropout(self.fc(self.conv(x.reshape(-1, *self.in_shape)))).squeeze(0)
        return self.dropout(self.fc(self.conv(x.reshape(-1, *self.in_shape))))


def _scaled(n: int, width: float) -> int:
    return max(2, int(math.ceil(n * width)))


def mlp_encoder(input_shape: tuple[int, ...], hidden: Sequence[int], width: float, dropout: float) -> nn.Module:
    """Registered as ``mlp``: fully connected layers of ``hidden`` widths scaled by ``width``."""
    return MLPEncoder(int(math.prod(input_shape)), [_scaled(h, width) for h in hidden], dropout)


def cnn_encoder(input_shape: tuple[int, ...], hidden: Sequence[int], width: float, dropout: float) -> nn.Module:
    """Registered as ``cnn``: a small CNN whose output width is the last of ``hidden``, scaled."""
    return CNNEncoder(input_shape, channels=_scaled(16, width), out_features=_scaled(hidden[-1], width),
                      dropout=dropout)


def make_encoder(spec: str, input_shape: tuple[int, ...], hidden: Sequence[int], width: float = 1.0,
                 dropout: float = 0.0) -> nn.Module:
    """Build the shared encoder named by ``spec`` at ``width`` times its nominal size.

    ``spec`` is a name of :data:`~taskgroup.training.encoders.ENCODERS`, ``auto`` (CNN for
    image-shaped inputs, MLP otherwise) or an import path ``"package.module:factory"``; a factory is called as ``factory(input_shape=..., width=...)``
    with whichever of those arguments it accepts, and must return a module whose output is
    ``(batch, features)``.
    """
    spec = resolve_auto(spec, tuple(input_shape))
    if spec in ENCODERS:
        return ENCODERS.load(spec)(tuple(input_shape), list(hidden), width, dropout)
    factory = import_object(spec, "encoder", DataError)
    if not callable(factory):
        raise DataError(f"encoder {spec!r} is not callable")
    params = inspect.signature(factory).parameters
    kwargs = {k: v for k, v in (("input_shape", input_shape), ("width", width)) if k in params}
    enc = factory(**kwargs)
    if not isinstance(enc, nn.Module):
        raise DataError(f"encoder {spec!r} returned {type(enc).__name__}, not a torch.nn.Module")
    if not hasattr(enc, "out_features"):
        with torch.no_grad():
            out = enc(torch.zeros(2, *input_shape))
        if out.dim() != 2:
            raise DataError(f"encoder {spec!r} must return (batch, features), got shape {tuple(out.shape)}")
        enc.out_features = int(out.shape[1])
    return enc


def make_head(task: Task, in_features: int, init_seed: int | None = None) -> nn.Module:
    """A linear head for built-in kinds; a custom task's own head factory otherwise.

    With ``init_seed`` every head of the same shape starts from the same weights. The gradient a
    task sends into the shared encoder passes through its head, so heads that start alike make
    the gradients of related tasks alike from the first step, instead of scrambling them with
    each head's own random start.
    """
    if init_seed is not None:
        with torch.random.fork_rng(devices=[]):  # initialisation happens on the CPU
            torch.manual_seed(init_seed)
            return make_head(task, in_features)
    if task.kind == "custom":
        factory = import_object(task.head or "", f"task {task.name!r} head", DataError)
        return factory(in_features)
    return nn.Linear(in_features, task.output_dim)


class HardSharedMTL(nn.Module):
    """One shared encoder and one head per task (hard parameter sharing)."""

    def __init__(self, encoder: nn.Module, tasks: Sequence[Task]) -> None:
        super().__init__()
        self.encoder = encoder
        self.task_names = [t.name for t in tasks]
        seed = int(torch.randint(0, 2**31 - 1, (1,)))
        self.heads = nn.ModuleList(make_head(t, encoder.out_features, seed) for t in tasks)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)

    def decode(self, z: torch.Tensor) -> list[torch.Tensor]:
        return [head(z) for head in self.heads]

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return self.decode(self.encode(x))

    def shared_parameters(self) -> list[nn.Parameter]:
        return list(self.encoder.parameters())

    def last_shared_parameters(self) -> list[nn.Parameter]:
        """Parameters of the encoder's last layer that has any (GradNorm measures gradients there)."""
        last = [m for m in self.encoder.modules() if any(True for _ in m.parameters(recurse=False))][-1]
        return list(last.parameters(recurse=False))

    def penalty(self) -> torch.Tensor:
        return torch.zeros((), device=self.heads[0].weight.device if self.heads else None)


class SoftSharedMTL(nn.Module):
    """One encoder per task, tied by an L2 penalty on the distance between their parameters.

    The penalty is ``strength * sum_t ||theta_t - mean(theta)||^2`` over corresponding encoder
    parameters (Duong et al. 2015 style soft sharing).
    """

    def __init__(self, make: Callable[[], nn.Module], tasks: Sequence[Task], strength: float = 1e-2) -> None:
        super().__init__()
        self.task_names = [t.name for t in tasks]
        self.encoders = nn.ModuleList(make() for _ in tasks)
        out = self.encoders[0].out_features
        seed = int(torch.randint(0, 2**31 - 1, (1,)))
        self.heads = nn.ModuleList(make_head(t, out, seed) for t in tasks)
        self.strength = strength

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return [head(enc(x)) for enc, head in zip(self.encoders, self.heads)]

    def shared_parameters(self) -> list[nn.Parameter]:
        return list(self.encoders.parameters())

    def last_shared_parameters(self) -> list[nn.Parameter]:
        return list(self.encoders[-1].parameters())

    def penalty(self) -> torch.Tensor:
        total = torch.zeros((), device=next(self.encoders.parameters()).device)
        groups = zip(*(list(e.parameters()) for e in self.encoders))
        for params in groups:
            stacked = torch.stack(list(params))
            total = total + ((stacked - stacked.mean(0, keepdim=True)) ** 2).sum()
        return self.strength * total


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def multiply_adds(model: nn.Module, input_shape: tuple[int, ...]) -> int:
    """Multiply-adds of one forward pass for one example (linear and conv layers)."""
    total = 0
    hooks = []

    def linear_hook(mod: nn.Module, inp, out) -> None:
        nonlocal total
        total += mod.in_features * mod.out_features

    def conv_hook(mod: nn.Module, inp, out) -> None:
        nonlocal total
        k = math.prod(mod.kernel_size) * (mod.in_channels // mod.groups)
        total += k * out[0].numel() if out.dim() == 4 else k * out.numel()

    for m in model.modules():
        if isinstance(m, nn.Linear):
            hooks.append(m.register_forward_hook(linear_hook))
        elif isinstance(m, nn.Conv2d):
            hooks.append(m.register_forward_hook(conv_hook))
    was_training = model.training
    model.eval()
    with torch.no_grad():
        model(torch.zeros(1, *input_shape, device=next(model.parameters()).device))
    model.train(was_training)
    for h in hooks:
        h.remove()
    return int(total)
