"""Denoisers and encoders as plain ``nn.Module``s, built by registry name from plain config dicts.

A config is a mapping whose ``name`` picks a network registered through the
hooks ``register_denoisers`` / ``register_conditioning`` (the core's own
``conditional_unet`` and ``rrdb`` among them, :mod:`restore_core.builtin`) and
whose other keys are that network's constructor arguments, e.g.
``{"name": "conditional_unet", "spatial_dims": 2, "target_channels": 1,
"cond_channels": 1}``.  Without a plugin's registry, the core's own
contributions are used.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import nn

from restore_core.nets.rrdb import RRDBEncoder
from restore_core.nets.unet import ConditionalUNet, pad_to_multiple

_NO_ENCODER_NAMES = (None, "", "none")


def _build(cfg: Mapping[str, Any], registry: Any, kind: str, label: str) -> nn.Module:
    from restore_core.registry import core_registry

    entries = (registry or core_registry()).entries[kind]
    if "name" not in cfg:
        raise KeyError(f"{label} config needs a 'name' key; known: {sorted(entries)}")
    kwargs = dict(cfg)
    name = kwargs.pop("name")
    if name not in entries:
        raise KeyError(f"unknown {label} {name!r}; known: {sorted(entries)}")
    try:
        return entries[name].factory(**kwargs)
    except TypeError as err:  # unknown/missing constructor argument: say which config it came from
        raise TypeError(f"cannot build {label} {name!r} from {sorted(kwargs)}: {err}") from err


def build_denoiser(cfg: Mapping[str, Any], registry: Any = None) -> nn.Module:
    """Build a registered denoiser from ``{"name": <registered name>, **constructor_args}``."""
    return _build(cfg, registry, "denoisers", "denoiser")


def build_encoder(cfg: Mapping[str, Any] | None, registry: Any = None) -> nn.Module | None:
    """Build a registered LR encoder (``register_conditioning``) from ``{"name": ..., **args}``; ``None`` if there is none.

    ``cfg`` being ``None``, empty, or named ``None``/``""``/``"none"`` means the
    method has no encoder.
    """
    if not cfg or cfg.get("name") in _NO_ENCODER_NAMES:
        return None
    return _build(cfg, registry, "conditioning", "encoder")


def count_parameters(module: nn.Module, trainable_only: bool = False) -> int:
    """Number of scalar parameters in ``module`` (only ``requires_grad`` ones if asked)."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


__all__ = [
    "ConditionalUNet",
    "RRDBEncoder",
    "build_denoiser",
    "pad_to_multiple",
    "build_encoder",
    "count_parameters",
]
