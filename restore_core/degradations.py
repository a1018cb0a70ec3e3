"""Degradations every plugin may register: the contract's ``Degrade`` type and ×s area downsampling.

A degradation is ``degrade(hr, generator) -> lr`` (or a mapping with ``"lr"``
and extra tensors; see :mod:`restore_core.engine.pairs`): ``hr`` is a CPU
tensor ``(B, C, *spatial)``, and every random number comes from ``generator``
so the same seed gives the same LR on any machine.
"""
from __future__ import annotations

from typing import Any, Callable

import torch

from restore_core.diffusion.operators import AveragePoolSR

Degrade = Callable[[torch.Tensor, "torch.Generator | None"], Any]


def area_downsample(scale: int, spatial_dims: int = 2) -> Degrade:
    """×s average pooling: each LR pixel is the mean of an s×s (×s) HR block.

    This is the operator A of DDNM's average-pool SR (Wang et al. 2023, sec. 3.3),
    so a model trained on it can run with exact range-space consistency; for
    rasters it is the sensor's pixel integration.
    """
    operator = AveragePoolSR(int(scale), spatial_dims)

    def degrade(hr: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        # trailing pixels that do not fill a whole block are dropped, as average pooling floors
        whole = tuple(slice(0, n - n % operator.scale) for n in hr.shape[2:])
        return operator.A(hr[(slice(None), slice(None), *whole)])

    return degrade


__all__ = ["Degrade", "area_downsample"]
