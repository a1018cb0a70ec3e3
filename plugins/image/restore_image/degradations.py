"""Degradation models of natural images: how LR training inputs are made from HR."""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

Degrade = Callable[[torch.Tensor, torch.Generator], torch.Tensor]


def area_downsample(scale: int) -> Degrade:
    """×s average pooling: each LR pixel is the mean of an s×s HR block.

    This is the operator A of DDNM's average-pool SR, so a model trained on it
    can be combined with exact range-space consistency.
    """

    def degrade(hr: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return F.avg_pool2d(hr, scale)

    return degrade


def bicubic_downsample(scale: int, noise_sigma: float = 0.0) -> Degrade:
    """Antialiased bicubic downsampling (Matlab ``imresize``), optional Gaussian noise."""

    def degrade(hr: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        size = (hr.shape[-2] // scale, hr.shape[-1] // scale)
        lr = F.interpolate(hr, size=size, mode="bicubic", align_corners=False, antialias=True)
        if noise_sigma > 0:
            noise = torch.randn(lr.shape, generator=generator, device="cpu").to(lr.device)
            lr = lr + noise_sigma * noise
        return lr

    return degrade


DEGRADATIONS = {"area": area_downsample, "bicubic": bicubic_downsample}


def make_degradation(name: str, scale: int, **params: float) -> Degrade:
    try:
        factory = DEGRADATIONS[name]
    except KeyError:
        raise ValueError(f"unknown degradation '{name}'; known: {', '.join(sorted(DEGRADATIONS))}") from None
    return factory(scale, **params)
