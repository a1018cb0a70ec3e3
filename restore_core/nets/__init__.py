"""Denoisers and encoders as plain ``nn.Module``s, built from plain config dicts.

A config is a mapping whose ``name`` picks the class from a registry and whose
other keys are that class's constructor arguments, e.g.
``{"name": "conditional_unet", "spatial_dims": 2, "target_channels": 1,
"cond_channels": 1}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import nn

from restore_core.nets.rrdb import RRDBEncoder
from restore_core.nets.unet import ConditionalUNet, pad_to_multiple

DENOISERS: dict[str, type[nn.Module]] = {"conditional_unet": ConditionalUNet}
ENCODERS: dict[str, type[nn.Module]] = {"rrdb": RRDBEncoder}

_NO_ENCODER_NAMES = (None, "", "none")


def _build(cfg: Mapping[str, Any], registry: Mapping[str, type[nn.Module]], kind: str) -> nn.Module:
    if "name" not in cfg:
        raise KeyError(f"{kind} config needs a 'name' key; known: {sorted(registry)}")
    kwargs = dict(cfg)
    name = kwargs.pop("name")
    if name not in registry:
        raise KeyError(f"unknown {kind} {name!r}; known: {sorted(registry)}")
    try:
        return registry[name](**kwargs)
    except TypeError as err:  # unknown/missing constructor argument: say which config it came from
        raise TypeError(f"cannot build {kind} {name!r} from {sorted(kwargs)}: {err}") from err


def build_denoiser(cfg: Mapping[str, Any]) -> nn.Module:
    """Build a denoiser from ``{"name": <key of DENOISERS>, **constructor_args}``."""
    return _build(cfg, DENOISERS, "denoiser")


def build_encoder(cfg: Mapping[str, Any] | None) -> nn.Module | None:
    """Build an LR encoder from ``{"name": <key of ENCODERS>, **args}``; ``None`` if there is none.

    ``cfg`` being ``None``, empty, or named ``None``/``""``/``"none"`` means the
    method has no encoder.
    """
    if not cfg or cfg.get("name") in _NO_ENCODER_NAMES:
        return None
    return _build(cfg, ENCODERS, "encoder")


def count_parameters(module: nn.Module, trainable_only: bool = False) -> int:
    """Number of scalar parameters in ``module`` (only ``requires_grad`` ones if asked)."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


__all__ = [
    "DENOISERS",
    "ENCODERS",
    "ConditionalUNet",
    "RRDBEncoder",
    "build_denoiser",
    "pad_to_multiple",
    "build_encoder",
    "count_parameters",
]
