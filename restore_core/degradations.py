"""Degradations every plugin may register: the contract's ``Degrade`` type and ×s area downsampling.

A degradation is ``degrade(hr, generator) -> lr`` (or a mapping with ``"lr"``
and extra tensors; see :mod:`restore_core.engine.pairs`): ``hr`` is a CPU
tensor ``(B, C, *spatial)``, and every random number comes from ``generator``
so the same seed gives the same LR on any machine.
"""
from __future__ import annotations

import math
from typing import Any, Callable

import torch
import torch.nn.functional as F

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


#: The downsamplers :func:`mixed_downsample` draws from.
MIXED_KINDS = ("area", "bicubic", "blur_area")


def antialiased_bicubic_down(hr: torch.Tensor, scale: int) -> torch.Tensor:
    """Antialiased bicubic ×``scale`` downsampling of ``(B, C, H, W)`` (Matlab ``imresize``'s convention,
    the common LR of SR datasets); trailing pixels that fill no whole LR pixel are dropped."""
    size = (hr.shape[-2] // scale, hr.shape[-1] // scale)
    return F.interpolate(hr, size=size, mode="bicubic", align_corners=False, antialias=True)


def gaussian_blur(hr: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable 2-D Gaussian blur of std ``sigma`` HR pixels, reflected borders."""
    radius = max(1, int(math.ceil(3 * sigma)))
    taps = torch.arange(-radius, radius + 1, dtype=hr.dtype, device=hr.device)
    kernel = torch.exp(-(taps**2) / (2 * sigma**2))
    kernel = (kernel / kernel.sum()).view(1, 1, -1)
    channels = hr.shape[1]
    x = F.pad(hr, (radius, radius, radius, radius), mode="reflect")
    x = F.conv2d(x, kernel.view(1, 1, 1, -1).expand(channels, 1, 1, -1), groups=channels)
    return F.conv2d(x, kernel.view(1, 1, -1, 1).expand(channels, 1, -1, 1), groups=channels)


def mixed_downsample(
    scale: int,
    kinds: tuple[str, ...] = MIXED_KINDS,
    blur_sigma: tuple[float, float] = (0.2, 0.6),
    noise_sigma: tuple[float, float] = (0.0, 0.01),
    p_noise: float = 0.5,
) -> Degrade:
    """Per sample, one of several ×s downsamplers, then Gaussian noise with probability ``p_noise``.

    Users' LR images are made in more than one way, so a model trained on one
    (area only) fails on the others. Each sample draws from ``kinds``:

    * ``area``: ×s average pooling (:func:`area_downsample`; a sensor's pixel integration);
    * ``bicubic``: antialiased bicubic (Matlab ``imresize``, the common convention of SR datasets);
    * ``blur_area``: a Gaussian PSF of std drawn uniformly in ``blur_sigma`` × s HR pixels, then area.

    Noise std is drawn uniformly in ``noise_sigma`` (data units: the model's, e.g. [-1, 1]). The
    recipe is a light form of the random blur/downsample/noise chains of Real-ESRGAN (Wang et al.
    2021, sec. 3) and BSRGAN (Zhang et al. 2021), limited to what the shipped small models can learn.
    2-D only.
    """
    unknown = set(kinds) - set(MIXED_KINDS)
    if not kinds or unknown:
        raise ValueError(f"kinds must be drawn from {', '.join(MIXED_KINDS)}, got {list(kinds)}")
    area = area_downsample(scale, 2)

    def one(hr: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        kind = kinds[int(torch.randint(len(kinds), (1,), generator=generator))]
        if kind == "bicubic":
            lr = antialiased_bicubic_down(hr, scale)
        elif kind == "blur_area":
            low, high = blur_sigma
            sigma = scale * (low + (high - low) * float(torch.rand((), generator=generator)))
            lr = area(gaussian_blur(hr, sigma))
        else:
            lr = area(hr)
        if float(torch.rand((), generator=generator)) < p_noise:
            low, high = noise_sigma
            std = low + (high - low) * float(torch.rand((), generator=generator))
            lr = lr + std * torch.randn(lr.shape, generator=generator, dtype=lr.dtype)
        return lr

    def degrade(hr: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        if hr.ndim != 4:
            raise ValueError(f"mixed_downsample is 2-D: expected (B, C, H, W), got {tuple(hr.shape)}")
        return torch.cat([one(hr[i : i + 1], generator) for i in range(hr.shape[0])])

    return degrade


__all__ = ["Degrade", "MIXED_KINDS", "antialiased_bicubic_down", "area_downsample", "gaussian_blur", "mixed_downsample"]
