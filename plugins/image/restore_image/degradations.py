"""Degradation models of natural images: how LR training inputs are made from HR.

``area`` (×s average pooling) is the core's :func:`restore_core.degradations.area_downsample`.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from restore_core.degradations import Degrade


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
