"""Degradation models of remote-sensing scenes: how LR training and evaluation inputs are made.

``area``: ×s average pooling (each LR pixel the mean of an s×s HR block; the
evaluation degradation of issue 5, item 6).

``anisotropic_gaussian``: the blind-SR degradation DDSR trains with (Xu et
al. 2023, following IKC, Gu et al. 2019, and DAN, Luo et al. 2020):
``LR = (HR * k) ↓s + n`` with ``k`` a random anisotropic Gaussian kernel
(widths σ1, σ2 ~ U(σ_min, σ_max), or log-uniform with ``sigma_sampling:
log_uniform`` so that sharp, well-focused PSFs are as frequent as blurry
ones; rotation θ ~ U(0, π)) and ``n`` Gaussian
noise of std ~ U(0, noise_max) in the tensor's units.  ``↓s`` is one of

* ``bicubic``: antialiased bicubic downsampling (the IKC/DAN setting);
* ``area``: ×s average pooling, i.e. the sensor integrating over its pixel
  after the optics' blur ``k`` (the point-spread function); with σ → 0.2 it
  is the ``area`` degradation itself.  Antialiased bicubic ×4 is blurrier
  than a 4-px box, so a model trained on ``bicubic`` only never sees LR as
  sharp as area-downsampled LR;
* ``stride``: s-fold decimation at the first pixel of each s×s block (IKC's
  convention); note that this shifts the LR grid by (s − 1)/2 HR pixels
  against ``area``/``bicubic`` and against GDAL's pixel-is-area geometry.

``downsample`` may also be a list: each batch element then draws one of them
uniformly.  :meth:`AnisotropicGaussian.sample` also returns the
kernels, which DDSR's kernel predictor learns to estimate.
"""
from __future__ import annotations

import math
from typing import Callable, NamedTuple, Sequence

import torch
import torch.nn.functional as F

from restore_core.degradations import antialiased_bicubic_down


def anisotropic_gaussian_kernel(sigma_1: float, sigma_2: float, theta: float, size: int = 21) -> torch.Tensor:
    """``(size, size)`` kernel ∝ exp(-½ xᵀ Σ⁻¹ x), Σ = R(θ) diag(σ1², σ2²) R(θ)ᵀ, summing to 1."""
    c, s = math.cos(theta), math.sin(theta)
    rotation = torch.tensor([[c, -s], [s, c]], dtype=torch.float64)
    sigma = rotation @ torch.diag(torch.tensor([sigma_1**2, sigma_2**2], dtype=torch.float64)) @ rotation.T
    axis = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    grid = torch.stack(torch.meshgrid(axis, axis, indexing="xy"), dim=-1)  # (size, size, 2) as (x, y)
    exponent = torch.einsum("...i,ij,...j->...", grid, torch.linalg.inv(sigma), grid)
    kernel = torch.exp(-0.5 * exponent)
    return (kernel / kernel.sum()).to(torch.float32)


def _bicubic(blurred: torch.Tensor, scale: int) -> torch.Tensor:
    return antialiased_bicubic_down(blurred, scale)


DOWNSAMPLERS: dict[str, Callable[[torch.Tensor, int], torch.Tensor]] = {
    "bicubic": _bicubic,
    "area": lambda blurred, scale: F.avg_pool2d(blurred, scale),
    "stride": lambda blurred, scale: blurred[..., ::scale, ::scale],
}


class DegradedBatch(NamedTuple):
    lr: torch.Tensor
    kernels: torch.Tensor  # (B, size, size)
    params: torch.Tensor  # (B, 3): sigma_1, sigma_2, theta
    noise_sigma: torch.Tensor  # (B,)


class AnisotropicGaussian:
    """Random anisotropic Gaussian blur + ×s downsampling + noise; one kernel per batch element."""

    def __init__(
        self, scale: int, kernel_size: int = 21, sigma_min: float = 0.2, sigma_max: float | None = None,
        noise_max: float = 0.0, downsample: str | Sequence[str] = "bicubic", sigma_sampling: str = "uniform",
    ) -> None:
        if sigma_sampling not in ("uniform", "log_uniform"):
            raise ValueError(f"sigma_sampling must be 'uniform' or 'log_uniform', got {sigma_sampling!r}")
        self.sigma_sampling = sigma_sampling
        modes = (downsample,) if isinstance(downsample, str) else tuple(downsample)
        unknown = [m for m in modes if m not in DOWNSAMPLERS]
        if not modes or unknown:
            raise ValueError(f"downsample must be one or a list of {sorted(DOWNSAMPLERS)}, got {downsample!r}")
        if kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd, got {kernel_size}")
        self.scale, self.kernel_size = int(scale), int(kernel_size)
        # IKC's ranges: sigma in [0.2, 2] at x2, [0.2, 4] at x4.
        self.sigma_min, self.sigma_max = float(sigma_min), float(sigma_max if sigma_max is not None else scale)
        self.noise_max, self.downsample = float(noise_max), modes

    def random_params(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        u = torch.rand((n, 3), generator=generator, dtype=torch.float64)
        if self.sigma_sampling == "log_uniform":
            low, high = math.log(self.sigma_min), math.log(self.sigma_max)
            sigmas = torch.exp(low + (high - low) * u[:, :2])
        else:
            sigmas = self.sigma_min + (self.sigma_max - self.sigma_min) * u[:, :2]
        return torch.stack([sigmas[:, 0], sigmas[:, 1], math.pi * u[:, 2]], dim=1)

    def sample(self, hr: torch.Tensor, generator: torch.Generator | None = None) -> DegradedBatch:
        """Degrade ``(B, C, H, W)`` and return the LR batch with its kernels and noise levels."""
        batch, channels = hr.shape[:2]
        params = self.random_params(batch, generator)
        kernels = torch.stack([anisotropic_gaussian_kernel(*map(float, p), size=self.kernel_size) for p in params])
        weight = kernels.to(hr.dtype).to(hr.device).repeat_interleave(channels, dim=0)[:, None]
        pad = self.kernel_size // 2
        padded = F.pad(hr.reshape(1, batch * channels, *hr.shape[2:]), (pad, pad, pad, pad), mode="reflect")
        blurred = F.conv2d(padded, weight, groups=batch * channels).reshape(hr.shape)
        height, width = (hr.shape[-2] // self.scale) * self.scale, (hr.shape[-1] // self.scale) * self.scale
        blurred = blurred[..., :height, :width]  # whole LR pixels only, so every downsampler gives one size
        if len(self.downsample) == 1:
            lr = DOWNSAMPLERS[self.downsample[0]](blurred, self.scale)
        else:  # each sample through the downsampler it drew, each downsampler run once on its samples
            choice = torch.randint(len(self.downsample), (batch,), generator=generator).to(hr.device)
            lr = blurred.new_empty((batch, channels, height // self.scale, width // self.scale))
            for index, mode in enumerate(self.downsample):
                rows = choice == index
                if bool(rows.any()):
                    lr[rows] = DOWNSAMPLERS[mode](blurred[rows], self.scale)
        noise_sigma = self.noise_max * torch.rand(batch, generator=generator, dtype=torch.float64)
        if self.noise_max > 0:
            noise = torch.randn(lr.shape, generator=generator, dtype=lr.dtype)
            lr = lr + noise.to(lr.device) * noise_sigma.to(lr.dtype).to(lr.device)[:, None, None, None]
        return DegradedBatch(lr.contiguous(), kernels, params.to(torch.float32), noise_sigma.to(torch.float32))

    def __call__(self, hr: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return self.sample(hr, generator).lr


def anisotropic_gaussian(scale: int, **params: float | int | str) -> AnisotropicGaussian:
    """Factory registered as ``anisotropic_gaussian`` (``factory(scale=s, **params)``)."""
    return AnisotropicGaussian(scale, **params)  # type: ignore[arg-type]
