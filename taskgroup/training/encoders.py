"""The built-in shared encoders by name (readable without torch); the networks are in ``models``.

``model.encoder`` is one of these names, ``auto`` (a CNN for image-shaped inputs, an MLP
otherwise), or a user factory's import path ``"package.module:factory"``.
"""

from __future__ import annotations

from ..errors import ConfigError
from ..registry import Registry, suggestion

ENCODERS = Registry("encoder", [
    ("mlp", "taskgroup.training.models:mlp_encoder", "fully connected layers (model.hidden)"),
    ("cnn", "taskgroup.training.models:cnn_encoder", "a small convolutional network for image inputs"),
])
AUTO = "auto"


def check_encoder_spec(spec: str, where: str) -> str:
    """``spec`` if it is ``auto``, a registered encoder or an import path, else a one-line error."""
    names = (*ENCODERS.names, AUTO)
    if spec in names or ":" in spec:
        return spec
    raise ConfigError(f"{where} = {spec!r} is not one of {', '.join(names)} nor an import path "
                      f"'package.module:factory'{suggestion(spec, names)}")


def resolve_auto(spec: str, input_shape: tuple[int, ...]) -> str:
    """``auto`` as the encoder it stands for with inputs of ``input_shape``."""
    if spec != AUTO:
        return spec
    return "cnn" if len(input_shape) >= 2 else "mlp"
