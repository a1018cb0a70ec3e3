"""Degradations of the turbulence plugin, for training pairs and for evaluation.

* ``turbulence``: the physical simulator (:mod:`restore_turbulence.simulator`) at a fixed strength,
  ``frames`` frames fused into the condition (reference, registered average) as the methods see it.
* ``turbulence_random``: the training distribution, every physical setting drawn per sample from
  :data:`TRAINING_RANGES` (strength, anisoplanatism, sampling, wind, noise, burst length), so one
  model covers weak to strong turbulence, single frames and bursts.
* ``warp_blur``: a *different* model for testing generalisation, never trained on: a random elastic
  warp (Gaussian-smoothed white-noise displacements, as in imgaug's ElasticTransformation that
  AT-DDPM's training code uses) and one spatially invariant Gaussian blur, plus noise.

Every degrade callable takes HR tensors (B, C, H, W) in model units [-1, 1] and a seeded CPU
generator and returns ``{"lr": (B, 2C, H, W) [reference, fused], "hr": hr}``.
"""
from __future__ import annotations

import math
from dataclasses import replace
from typing import Any, Callable, Mapping

import torch
import torch.nn.functional as F

from restore_turbulence.fusion import fuse
from restore_turbulence.simulator import TurbulenceParams, simulate

#: Per-sample ranges of the training distribution (uniform unless a list of choices).
TRAINING_RANGES: dict[str, Any] = {
    "d_r0": (1.0, 6.0),
    "isoplanatic_px": (16.0, 64.0),
    "pixels_per_diffraction": (0.7, 1.5),
    "wind": (0.3, 1.5),
    "noise": (0.0, 0.03),
    "frames": (1, 1, 2, 4, 8, 16),
}


def _seed(generator: torch.Generator | None) -> int:
    return int(torch.randint(0, 2**31 - 1, (1,), generator=generator))


def _uniform(bounds: tuple[float, float], generator: torch.Generator | None) -> float:
    low, high = bounds
    return low + (high - low) * float(torch.rand((), generator=generator))


def condition_pair(frames: torch.Tensor) -> torch.Tensor:
    """(T, C, H, W) frames in [0, 1] -> the (2C, H, W) condition [reference, fused] in [-1, 1]."""
    reference, fused = fuse(frames, reference_index=0)
    return torch.cat([reference, fused]).clamp(0, 1) * 2 - 1


def simulated_condition(hr: torch.Tensor, params: TurbulenceParams, frames: int, seed: int) -> torch.Tensor:
    """One HR image (C, H, W) in [-1, 1] through the simulator, fused: (2C, H, W) in [-1, 1]."""
    sequence = simulate((hr.clamp(-1, 1) + 1) / 2, params, frames=frames, seed=seed)
    return condition_pair(sequence)


def turbulence_degradation(d_r0: float = 3.0, frames: int = 1, **physics: float) -> Callable[..., Mapping[str, torch.Tensor]]:
    """The simulator at strength ``d_r0`` with ``frames`` frames (other settings: TurbulenceParams)."""
    params = TurbulenceParams.from_mapping({"d_r0": d_r0, **physics})

    def degrade(hr: torch.Tensor, generator: torch.Generator | None = None) -> Mapping[str, torch.Tensor]:
        lr = torch.stack([simulated_condition(image, params, int(frames), _seed(generator)) for image in hr])
        return {"lr": lr.to(hr.dtype), "hr": hr}

    return degrade


def random_turbulence_degradation(**ranges: Any) -> Callable[..., Mapping[str, torch.Tensor]]:
    """The training distribution: :data:`TRAINING_RANGES`, any of them overridden by ``ranges``."""
    unknown = set(ranges) - set(TRAINING_RANGES)
    if unknown:
        raise ValueError(f"unknown range(s) {sorted(unknown)}; known: {sorted(TRAINING_RANGES)}")
    spans = {**TRAINING_RANGES, **ranges}

    def draw(generator: torch.Generator | None) -> tuple[TurbulenceParams, int]:
        values = {k: _uniform(tuple(v), generator) for k, v in spans.items() if k != "frames"}
        choices = list(spans["frames"])
        frames = int(choices[int(torch.randint(0, len(choices), (1,), generator=generator))])
        return replace(TurbulenceParams(), **values), frames

    def degrade(hr: torch.Tensor, generator: torch.Generator | None = None) -> Mapping[str, torch.Tensor]:
        out = []
        for image in hr:
            params, frames = draw(generator)
            out.append(simulated_condition(image, params, frames, _seed(generator)))
        return {"lr": torch.stack(out).to(hr.dtype), "hr": hr}

    return degrade


def _gaussian_kernel(sigma: float) -> torch.Tensor:
    radius = max(1, math.ceil(3 * sigma))
    x = torch.arange(-radius, radius + 1, dtype=torch.float32)
    k = torch.exp(-0.5 * (x / sigma) ** 2)
    return k / k.sum()


def _smooth(field: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian smoothing of (N, 1, H, W)."""
    k = _gaussian_kernel(sigma)
    r = k.numel() // 2
    field = F.conv2d(F.pad(field, (r, r, 0, 0), mode="reflect"), k.view(1, 1, 1, -1))
    return F.conv2d(F.pad(field, (0, 0, r, r), mode="reflect"), k.view(1, 1, -1, 1))


def warp_blur_frames(image: torch.Tensor, frames: int, tilt_px: float, correlation_px: float, blur_px: float, noise: float,
                     generator: torch.Generator | None) -> torch.Tensor:
    """The elastic-warp + Gaussian-blur model: (C, H, W) in [0, 1] -> (frames, C, H, W) in [0, 1]."""
    c, h, w = image.shape
    out = []
    base_y, base_x = torch.meshgrid(torch.linspace(-1, 1, h), torch.linspace(-1, 1, w), indexing="ij")
    kernel = _gaussian_kernel(blur_px) if blur_px > 0 else None
    for _ in range(frames):
        field = torch.randn(2, 1, h, w, generator=generator)
        field = _smooth(field, correlation_px)
        field = field / field.std().clamp_min(1e-8) * tilt_px
        grid = torch.stack([base_x + field[0, 0] * 2 / max(w - 1, 1), base_y + field[1, 0] * 2 / max(h - 1, 1)], dim=-1)
        warped = F.grid_sample(image[None], grid[None], mode="bilinear", padding_mode="reflection", align_corners=True)[0]
        if kernel is not None:
            r = kernel.numel() // 2
            x = F.pad(warped[:, None], (r, r, r, r), mode="reflect")
            x = F.conv2d(F.conv2d(x, kernel.view(1, 1, 1, -1)), kernel.view(1, 1, -1, 1))
            warped = x[:, 0]
        warped = warped + torch.randn(warped.shape, generator=generator) * noise
        out.append(warped.clamp(0, 1))
    return torch.stack(out)


def warp_blur_degradation(tilt_px: float = 1.5, correlation_px: float = 12.0, blur_px: float = 1.5, noise: float = 0.01,
                          frames: int = 1) -> Callable[..., Mapping[str, torch.Tensor]]:
    """The generalisation test model (module docstring): random smooth warp, Gaussian blur, noise."""
    if tilt_px < 0 or correlation_px <= 0 or blur_px < 0 or noise < 0 or frames < 1:
        raise ValueError("warp_blur needs tilt_px >= 0, correlation_px > 0, blur_px >= 0, noise >= 0, frames >= 1")

    def degrade(hr: torch.Tensor, generator: torch.Generator | None = None) -> Mapping[str, torch.Tensor]:
        lr = [condition_pair(warp_blur_frames((image.clamp(-1, 1) + 1) / 2, int(frames), tilt_px, correlation_px, blur_px, noise, generator))
              for image in hr]
        return {"lr": torch.stack(lr).to(hr.dtype), "hr": hr}

    return degrade


__all__ = [
    "TRAINING_RANGES", "condition_pair", "random_turbulence_degradation", "simulated_condition",
    "turbulence_degradation", "warp_blur_degradation", "warp_blur_frames",
]
