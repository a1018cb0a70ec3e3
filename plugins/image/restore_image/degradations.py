"""Degradation models of natural images: how LR training inputs are made from HR.

``area`` (×s average pooling) is the core's :func:`restore_core.degradations.area_downsample`.
"""
from __future__ import annotations

import torch

from restore_core.degradations import Degrade, antialiased_bicubic_down


def bicubic_downsample(scale: int, noise_sigma: float = 0.0) -> Degrade:
    """Antialiased bicubic downsampling (Matlab ``imresize``), optional Gaussian noise."""

    def degrade(hr: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        lr = antialiased_bicubic_down(hr, scale)
        if noise_sigma > 0:
            noise = torch.randn(lr.shape, generator=generator, device="cpu").to(lr.device)
            lr = lr + noise_sigma * noise
        return lr

    return degrade
